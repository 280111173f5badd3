"""Side by side: MACE and our Equiformer trained on the same PBE frames, the same split, budget and threads.

Steps (each skipped when its output exists, so an interrupted run resumes):

1. ``split``: DATA's train / validation frames with exactly the split of ``equiformer-ase train DATA
   --validation V --test T --seed S`` (``split_indices``), written for MACE (``REF_energy`` /
   ``REF_forces`` keys) as ``OUT/train.xyz`` and ``OUT/valid.xyz``.
2. ``mace``: a venv with mace-torch only (``OUT/../venvs/mace`` unless ``--venvs``), one timing epoch,
   then ``mace_run_train`` with as many epochs as fit BUDGET, with the settings of MACE's README
   training example (``MACE_SETTINGS``: 128x0e + 128x1o, r_max 5 A, batch 10, EMA, AMSGrad, SWA over
   the last 25 % of epochs, E0s fitted by least squares on the training set, float64); peer
   ``mace-small`` trains the same at CPU size (``MACE_SMALL_SETTINGS``: 32x0e, about our parameter count).
3. ``equiformer``: ``equiformer-ase train`` on DATA with that split and ``--max-minutes BUDGET``
   (``--init-from`` a potential fine-tunes it, as ``pbe-md17`` was made); or ``--equiformer FILE``,
   a potential trained that way (it may still be training while MACE trains: it is read after).
4. ``evaluate``: our potential in this environment, MACE and the zero-shot foundation models
   (SevenNet-0 from ``sevenn``, CHGNet from ``chgnet``, weights inside their wheels) each in its own
   venv through ``peer_eval.py``, on the same held-out frames.
5. the table (force MAE and, where the energy reference is the same, energy MAE per molecule;
   parameters, training minutes, ms per energy+forces call), printed and written to ``OUT/peer_table.md``.

    python benchmarks/peer_training.py DATA HELD_OUT --out runs/peer --budget 45 --threads 1 \\
        [--equiformer runs/pbe/m0/best.safetensors] [--init-from gfn2-md17] [--peers mace mace-small sevenn chgnet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from equiformer_ase.training.fitting.dataset import split_indices

HERE = Path(__file__).resolve().parent
PEER_PACKAGES = {"mace": ["mace-torch"], "sevenn": ["sevenn"], "chgnet": ["chgnet"]}
ZERO_SHOT = {"sevenn": "7net-0", "chgnet": "CHGNet 0.3.0"}
MACE_SETTINGS = [  # MACE's README training example, CPU and float64
    "--model=MACE",
    "--hidden_irreps=128x0e + 128x1o",
    "--r_max=5.0",
    "--batch_size=10",
    "--E0s=average",
    "--ema",
    "--ema_decay=0.99",
    "--amsgrad",
    "--default_dtype=float64",
    "--device=cpu",
    "--energy_key=REF_energy",
    "--forces_key=REF_forces",
    "--seed=0",
]
# The same at CPU size (about our small preset's parameter count): 32 invariant channels, max_L 0.
MACE_SMALL_SETTINGS = [
    "--hidden_irreps=32x0e" if a.startswith("--hidden_irreps") else a for a in MACE_SETTINGS
]
MACE_RUNS = {"mace": ("MACE", MACE_SETTINGS), "mace-small": ("MACE, CPU-sized (32x0e)", MACE_SMALL_SETTINGS)}


def split_frames(frames: list[Atoms], validation: float, test: float, seed: int) -> dict[str, list[Atoms]]:
    """Train and validation frames, split as ``equiformer-ase train --validation V --test T --seed S``
    (the test part is used by neither model)."""
    indices = split_indices(len(frames), validation, test, seed)
    return {part: [frames[k] for k in indices[part]] for part in ("train", "validation")}


def mace_frames(frames: list[Atoms]) -> list[Atoms]:
    """Copies with the labels under MACE's ``REF_energy`` / ``REF_forces`` keys and no calculator."""
    out = []
    for atoms in frames:
        copy = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.info["REF_energy"] = atoms.get_potential_energy()
        copy.arrays["REF_forces"] = atoms.get_forces()
        copy.info["system"] = atoms.info.get("system", atoms.get_chemical_formula())
        out.append(copy)
    return out


def errors_by_system(frames: list[Atoms], energy: np.ndarray, forces: np.ndarray) -> dict[str, dict]:
    """Per system and ``all``: force MAE (meV/A), energy MAE (meV/atom), frames.

    ``energy`` (F,) eV and ``forces`` (sum of atoms, 3) eV/A are predictions in frame order.
    """
    atoms_total = sum(len(atoms) for atoms in frames)
    if len(forces) != atoms_total or len(energy) != len(frames):
        raise ValueError(
            f"{len(forces)} force rows and {len(energy)} energies for {atoms_total} atoms in {len(frames)} frames"
        )
    rows: dict[str, dict[str, list]] = {}
    start = 0
    for atoms, e in zip(frames, energy):
        n = len(atoms)
        df = np.abs(forces[start : start + n] - atoms.get_forces()).ravel()
        de = abs(e - atoms.get_potential_energy()) / n
        start += n
        for key in (atoms.info.get("system", atoms.get_chemical_formula()), "all"):
            rows.setdefault(key, {"f": [], "e": []})
            rows[key]["f"].append(df)
            rows[key]["e"].append(de)
    return {
        key: {
            "forces_mae": 1000 * float(np.concatenate(v["f"]).mean()),
            "energy_mae": 1000 * float(np.mean(v["e"])),
            "frames": len(v["e"]),
        }
        for key, v in rows.items()
    }


def table(results: dict[str, dict], energies: set[str]) -> str:
    """Markdown: a row per model (parameters, minutes, ms/call, F MAE per system, E MAE where in ``energies``)."""
    systems = sorted({s for r in results.values() for s in r["errors"] if s != "all"}) + ["all"]
    head = (
        "| model | parameters | training min | ms/call | " + " | ".join(f"{s} F / E" for s in systems) + " |"
    )
    lines = [head, "|---" * (4 + len(systems)) + "|"]
    for name, r in results.items():
        cells = []
        for s in systems:
            e = r["errors"].get(s)
            if e is None:
                cells.append("-")
            else:
                energy = f"{e['energy_mae']:.2f}" if name in energies else "-"
                cells.append(f"{e['forces_mae']:.1f} / {energy}")
        minutes = f"{r['minutes']:.0f}" if r.get("minutes") is not None else "zero-shot"
        lines.append(
            f"| {name} | {r['parameters']:,} | {minutes} | {r['ms_per_call']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    lines.append("")
    lines.append(
        "F: force MAE (meV/A); E: energy MAE (meV/atom), only where the model's energy reference is PBE's."
    )
    return "\n".join(lines)


def ensure_venv(name: str, root: Path) -> Path:
    """The Python of venv ``root/name`` holding the peer's packages (made on first use)."""
    python = root / name / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(root / name)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES[name]], check=True)
    return python


def run_logged(command: list[str], log: Path, env: dict | None = None, timeout: float | None = None) -> float:
    """Run ``command`` with its output in ``log``; the wall seconds it took."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True, env=env, timeout=timeout)
    return time.perf_counter() - start


def epoch_seconds(results: Path) -> float:
    """Seconds of MACE's first epoch (optimizer steps and evaluation), from its results file (JSON lines),
    without the start-up before it."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return sum(r["time"] for r in rows if r.get("epoch") == 0)


def train_mace(
    out: Path, python: Path, budget_minutes: float, threads: int, run: str = "mace"
) -> tuple[Path, float]:
    """Train MACE with the settings of ``MACE_RUNS[run]`` on OUT/train.xyz within the budget, in OUT/RUN;
    (model file, training minutes)."""
    work = out / run
    model, record = work / "mace.model", work / "training.json"
    if model.exists() and record.exists():
        return model, json.loads(record.read_text())["minutes"]
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    train = str(python.parent / "mace_run_train")
    common = [f"--train_file={out / 'train.xyz'}", f"--valid_file={out / 'valid.xyz'}", *MACE_RUNS[run][1]]
    probe_dir = work / "timing"
    probe_dir.mkdir(exist_ok=True)
    run_logged(
        [train, "--name=timing", "--max_num_epochs=1", *common, f"--work_dir={probe_dir}"],
        probe_dir / "log.txt",
        env,
    )
    seconds = epoch_seconds(probe_dir / "results" / "timing_run-0_train.txt")
    epochs = max(4, int(budget_minutes * 60 / seconds))
    start = time.perf_counter()
    run_logged(
        [
            train,
            "--name=mace",
            f"--max_num_epochs={epochs}",
            "--swa",
            f"--start_swa={max(1, int(0.75 * epochs))}",
            *common,
            f"--work_dir={work}",
        ],
        work / "log.txt",
        env,
    )
    minutes = (time.perf_counter() - start) / 60
    record.write_text(json.dumps({"epochs": epochs, "seconds_first_epoch": seconds, "minutes": minutes}))
    return model, minutes


def peer_predictions(python: Path, kind: str, model: str, frames: Path, out: Path) -> dict:
    """``peer_eval.py`` in the peer's venv; its arrays (cached in ``out``)."""
    if not out.exists():
        subprocess.run(
            [str(python), str(HERE / "peer_eval.py"), kind, model, str(frames), str(out)], check=True
        )
    return dict(np.load(out))


def equiformer_predictions(potential: str, frames: list[Atoms]) -> dict:
    import equiformer_ase as ea

    calc = ea.EquiformerCalculator(potential, dtype="float64")
    energy, forces, seconds = [], [], []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = calc
        start = time.perf_counter()
        energy.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        seconds.append(time.perf_counter() - start)
    parameters = sum(p.numel() for p in calc.potential.parameters())
    return {
        "energy": np.array(energy),
        "forces": np.concatenate(forces),
        "seconds": np.array(seconds),
        "parameters": parameters,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="labelled training frames (extxyz)")
    parser.add_argument("held_out", help="labelled frames never trained on (extxyz)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget", type=float, default=45.0, help="training minutes for each model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--validation", type=float, default=0.1)
    parser.add_argument("--test", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--equiformer", help="a potential already trained on DATA with this split and budget")
    parser.add_argument("--equiformer-minutes", type=float, help="its training minutes (from its card)")
    parser.add_argument("--init-from", default="gfn2-md17", help="what our Equiformer is fine-tuned from")
    parser.add_argument(
        "--also",
        nargs=3,
        action="append",
        default=[],
        metavar=("LABEL", "POTENTIAL", "MINUTES"),
        help="another of our potentials trained on the same split (e.g. from scratch), as a row of its own",
    )
    parser.add_argument("--peers", nargs="*", default=["mace", "mace-small", "sevenn", "chgnet"])
    parser.add_argument("--venvs", type=Path, help="where the peers' venvs live (default OUT/../venvs)")
    args = parser.parse_args()
    out, venvs = args.out, args.venvs or args.out.parent / "venvs"
    out.mkdir(parents=True, exist_ok=True)
    frames = read(args.data, ":")
    held_out = read(args.held_out, ":")
    parts = split_frames(frames, args.validation, args.test, args.seed)
    if not (out / "valid.xyz").exists():
        write(out / "train.xyz", mace_frames(parts["train"]), format="extxyz")
        write(out / "valid.xyz", mace_frames(parts["validation"]), format="extxyz")
    held_out_file = out / "held_out.xyz"
    write(held_out_file, held_out, format="extxyz")
    maces = {  # first: a potential given by --equiformer may still be training beside them
        run: train_mace(out, ensure_venv("mace", venvs), args.budget, args.threads, run)
        for run in MACE_RUNS
        if run in args.peers
    }
    potential, minutes = args.equiformer, args.equiformer_minutes
    if potential is None:
        run_dir = out / "equiformer"
        potential = str(run_dir / "best.safetensors")
        if not Path(potential).exists():
            start = time.perf_counter()
            command = [sys.executable, "-m", "equiformer_ase.cli", "--threads", str(args.threads), "train",
                       args.data, "--out", str(run_dir), "--init-from", args.init_from, "--refit-references",
                       "--validation", str(args.validation), "--test", str(args.test), "--seed", str(args.seed),
                       "--max-minutes", str(args.budget)]  # fmt: skip
            run_logged(command, out / "equiformer.log")
            minutes = (time.perf_counter() - start) / 60
    results = {"Equiformer (ours)": {**equiformer_predictions(potential, held_out), "minutes": minutes}}
    for label, path, also_minutes in args.also:
        results[label] = {**equiformer_predictions(path, held_out), "minutes": float(also_minutes)}
    for peer in args.peers:
        if peer in MACE_RUNS:
            model, mace_minutes = maces[peer]
            arrays = peer_predictions(
                ensure_venv("mace", venvs), "mace", str(model), held_out_file, out / f"{peer}.npz"
            )
            results[MACE_RUNS[peer][0]] = {**arrays, "minutes": mace_minutes}
        else:
            python = ensure_venv(peer, venvs)
            arrays = peer_predictions(python, peer, ZERO_SHOT[peer], held_out_file, out / f"{peer}.npz")
            results[f"{peer} ({ZERO_SHOT[peer]}, zero-shot)"] = {**arrays, "minutes": None}
    for r in results.values():
        r["errors"] = errors_by_system(held_out, r["energy"], r["forces"])
        r["ms_per_call"] = 1000 * float(np.median(r["seconds"]))
        r["parameters"] = int(r["parameters"])
    own_reference = {
        "Equiformer (ours)",
        *(label for label, _ in MACE_RUNS.values()),
        *(a[0] for a in args.also),
    }
    text = table(results, energies=own_reference)
    (out / "peer_table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
