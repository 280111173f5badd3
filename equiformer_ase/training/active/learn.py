"""Active learning against a reference: explore with a committee, label where it disagrees, fine-tune, repeat.

One iteration i (folder ``OUT/iter_NNN``), each stage marked done on disk (``done_<stage>.json``,
written atomically, holding the stage's numbers and wall time) so a rerun skips it:

1. ``explore``: from start structures drawn from the training data (MD at several temperatures,
   rattled and strained copies) and from random adsorbate placements relaxed with the committee
   (see :mod:`.exploration`), every frame with its ``max_forces_dev``: ``explored.extxyz``
   (task by task, so a kill loses at most one task).
2. ``select``: frames inside the trust window, spread over it and over (system, source)
   (:func:`.selection.select_frames`): ``selected.extxyz``.
3. ``label``: the reference calculator on each selected frame, appended one frame at a time to
   ``labels.extxyz`` (a kill loses at most the frame in progress, a rerun never relabels);
   ``info["source"] = "active"``, ``info["iteration"] = i``, ``explored_by``, ``max_forces_dev``.
4. ``data``: ``OUT/data.extxyz`` = DATA's frames, the added frames (if any), then the labels of
   iterations 1..i, in order
   (so the data of iteration i is a prefix of every later one), and its recipe when DATA has one
   (:mod:`.learned_data`: what ``ship`` needs to keep the labelled frames beside the potential).
5. ``train_k``: member k fine-tuned from its current weights (``init_from``, resumable) in
   ``member_k/``; the new committee is the members' ``best.safetensors``. Skipped when nothing
   was labelled.
6. ``evaluate``: ``committee.safetensors`` and the force / energy MAE of the committee mean on
   the probe set (never trained on).

``OUT/iter_000`` holds the starting members; ``OUT/learn.csv`` and ``learn.png`` one row per
iteration (0: the starting committee); ``OUT/settings.json`` the settings, the members' weight
hashes and the sha256 of DATA and PROBE: a rerun with other settings is refused (raising
``iterations`` continues a finished run).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm import tqdm

from ...calculator import EquiformerCalculator
from ...committee import Committee, is_committee_file, load_committee
from ...potential import Potential, load_potential
from ...references import reference_calculator
from ..fitting.batching import calculator_predictions
from ..fitting.dataset import read_structures, to_samples
from ..fitting.metrics import error_summary
from ..fitting.trainer import TrainingConfig, train
from ..generation.frame_store import ExtxyzFrameStore, file_sha256, read_frames
from ..generation.sampling import snapshot
from ..generation.selection import select_frames
from ..generation.tasks import run_tasks, task_rng
from ..shipping.calibration import calibration_statistics
from ..shipping.learned_data import frames_text, write_learned_recipe
from .exploration import exploration_tasks, placement_options, start_structure, system_of

CSV_FIELDS = (
    "iteration",
    "explored",
    "selected",
    "labelled",
    "below_low_fraction",
    "in_window_fraction",
    "training_frames",
    "probe_forces_mae_mev_per_a",
    "probe_energy_mae_mev_per_atom",
    "labelled_forces_mae_mev_per_a",
    "labelled_frame_spearman",
    "labelled_atom_spearman",
    "wall_s",
    "cumulative_wall_s",
)


@dataclass(frozen=True)
class LearnSettings:
    """Every number that decides what the loop does. Units: eV/A, K, fs, Angstrom; ``max_time`` minutes.

    Trust window ``[trust_low, trust_high)`` on ``max_forces_dev`` (eV/A), set from a measurement
    (``calibrate``) of the committee of the three shipped versions of ``emt-surfaces`` (each
    trained further from the one before, as the loop's members are) on 672 user-like probe frames
    (``generate surfaces --preset probe``): Spearman 0.46 per frame, 0.61 per atom; the deviation
    understates the largest atom error 1.3-4.5 times (median per bin). ``trust_low`` = 0.05 as in
    DP-GEN: only 4 % of the probe frames lie below it, and their largest atom errors (median 0.21
    eV/A) are the model's ordinary level, so a label there teaches little. ``trust_high`` = 1.0, not
    DP-GEN's 0.15: frames at 0.15-0.5 have median largest errors of 0.39-0.47 eV/A and those at
    0.5 and above of 2.0 eV/A (the 1-3 eV/A failures at user-like starts this loop is for), so a window
    ending at 0.15 would leave out half the probe and all its worst frames; the highest probe frame
    reached 1.12 and 99.6 % stay below 1.0, so frames above it come from explorations that ran off
    (MD stops at the first frame reaching ``trust_high``). Re-measure with ``calibrate`` per committee.
    """

    reference: str = "emt"
    iterations: int = 4
    trust_low: float = 0.05
    trust_high: float = 1.0
    max_selected: int = 40  # labels per iteration
    per_group: int = 4  # labels per (system, exploration source) and iteration
    systems: int = 8  # start structures drawn from the training data per iteration
    md_temperatures: tuple[float, ...] = (300.0, 600.0, 1000.0)
    md_steps: int = 200
    md_interval: int = 10  # steps between explored frames
    md_timestep: float = 1.0  # fs
    md_friction: float = 0.02  # 1/fs
    rattle_frames: int = 4  # per start structure
    rattle_stdev: float = 0.05  # Angstrom, also on strained cells
    strain_frames: int = 4  # per periodic start structure
    max_strain: float = 0.04  # largest strain component, periodic axes only
    placements: int = 8  # adsorbate placements relaxed per iteration (data with slabs)
    placement_heights: tuple[float, float] = (1.0, 2.5)  # Angstrom above the top layer
    placement_rattle: float = 0.08  # Angstrom
    placement_sizes: tuple[tuple[int, int, int], ...] = ((2, 2, 4), (3, 3, 4))
    relax_fmax: float = 0.05
    relax_steps: int = 40
    # fine-tuning of every member per iteration (fresh schedule from its current weights)
    epochs: int | None = 5
    max_time: float | None = None
    lr: float = 5e-4
    batch_size: int = 8
    energy_weight: float = 1.0
    force_weight: float = 1.0
    huber_delta: float | None = None
    validation: float = 0.1
    test: float = 0.1
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.trust_low < self.trust_high:
            raise ValueError(
                f"the trust window needs 0 <= low < high, got [{self.trust_low}, {self.trust_high})"
            )
        if self.iterations < 0 or self.max_selected < 0 or self.per_group < 1 or self.systems < 0:
            raise ValueError(
                "iterations, max_selected and systems must not be negative and per_group at least 1"
            )
        if not 1 <= self.md_interval <= self.md_steps or not self.md_temperatures:
            raise ValueError(
                f"MD needs 1 <= md_interval <= md_steps (got {self.md_interval} and {self.md_steps}) "
                "and at least one temperature"
            )
        if not all(math.isfinite(t) and t > 0 for t in self.md_temperatures):
            raise ValueError(f"MD temperatures must be > 0 K, got {list(self.md_temperatures)}")
        if not (
            self.md_timestep > 0 and self.md_friction >= 0 and self.relax_fmax > 0 and self.relax_steps >= 1
        ):
            raise ValueError(
                f"the explorations need md_timestep > 0 (got {self.md_timestep}), md_friction >= 0 "
                f"({self.md_friction}), relax_fmax > 0 ({self.relax_fmax}) and relax_steps >= 1 ({self.relax_steps})"
            )
        if min(self.rattle_frames, self.strain_frames, self.placements) < 0 or not (
            self.rattle_stdev >= 0 and self.placement_rattle >= 0 and 0 <= self.max_strain < 1
        ):
            raise ValueError(
                "rattle_frames, strain_frames and placements must not be negative, the rattles not negative "
                f"and 0 <= max_strain < 1 (got {self.max_strain})"
            )
        low, high = self.placement_heights
        if not 0 < low <= high:
            raise ValueError(
                f"placement_heights need 0 < low <= high (A), got {list(self.placement_heights)}"
            )
        self.training_config(0)  # fail now on bad training settings

    def training_config(self, member: int) -> TrainingConfig:
        """The fine-tuning run of ``member`` (its own split and shuffling seed)."""
        return TrainingConfig(
            epochs=self.epochs,
            max_time=self.max_time,
            batch_size=self.batch_size,
            lr=self.lr,
            energy_weight=self.energy_weight,
            force_weight=self.force_weight,
            huber_delta=self.huber_delta,
            validation=self.validation,
            test=self.test,
            seed=self.seed + member,
            dtype=self.dtype,
        )


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _write_frames_atomic(path: Path, frames: list[Atoms]) -> None:
    _write_atomic(path, frames_text(frames))


def _fingerprint(atoms: Atoms) -> bytes:
    """Identity of a structure: its atomic numbers and positions to 1e-6 Angstrom."""
    return atoms.numbers.tobytes() + np.round(atoms.positions, 6).tobytes()


def _stage(folder: Path, name: str, run) -> dict:
    """The stored result of stage ``name`` in ``folder``, or ``run()``'s (dict) with its wall time, stored."""
    marker = folder / f"done_{name}.json"
    if marker.exists():
        return json.loads(marker.read_text())
    started = time.monotonic()
    result = {**run(), "wall_s": time.monotonic() - started}
    _write_atomic(marker, json.dumps(result, indent=1) + "\n")
    return result


def load_members(committee) -> list[Potential]:
    """The members of ``committee``: a committee file / shipped committee name, or a list of potentials,
    paths or shipped names; checked to share elements and cutoff."""
    if isinstance(committee, (str, Path)) and is_committee_file(committee):
        return load_committee(committee).members
    if isinstance(committee, (str, Path)):
        raise ValueError(
            f"{committee} is not a committee file: give a committee file or 2+ member potentials"
        )
    members = [m if isinstance(m, Potential) else load_potential(m) for m in committee]
    return Committee(members).members


class ActiveLearning:
    """One run in ``out``; see the module docstring. Use :func:`learn`."""

    def __init__(
        self,
        data: str | Path,
        committee,
        probe: str | Path,
        out: str | Path,
        settings: LearnSettings,
        device: str = "cpu",
        added: str | Path | None = None,
    ):
        self.settings, self.device, self.out = settings, device, Path(out)
        self.reference = reference_calculator(settings.reference)
        self.members = load_members(committee)
        self.elements = self.members[0].config.elements
        self.data, self.added = Path(data), None if added is None else Path(added)
        training = to_samples(read_structures(self.data), self.elements)  # refuse bad data before any work
        if self.added is not None:
            try:
                training += to_samples(read_structures(self.added), self.elements)
            except ValueError as err:
                raise ValueError(f"added frames {added}: {err}") from None
        try:
            self.probe = to_samples(read_structures(probe), self.elements)
        except ValueError as err:
            raise ValueError(f"probe set {probe}: {err}") from None
        shared = {_fingerprint(s.atoms) for s in training} & {_fingerprint(s.atoms) for s in self.probe}
        if shared:
            raise ValueError(
                f"probe set {probe} shares {len(shared)} structures with the training data: "
                "judge on frames the potentials were never trained on"
            )
        self.out.mkdir(parents=True, exist_ok=True)
        self._claim(
            {
                "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "iterations"},
                "committee": [m.weights_hash() for m in self.members],
                "data_sha256": file_sha256(self.data),
                "probe_sha256": file_sha256(probe),
                **({"added_sha256": file_sha256(self.added)} if self.added is not None else {}),
            }
        )

    def _claim(self, description: dict) -> None:
        path = self.out / "settings.json"
        wanted = json.loads(json.dumps(description))
        if not path.exists():
            _write_atomic(path, json.dumps(wanted, indent=1) + "\n")
            return
        stored = json.loads(path.read_text())
        if stored != wanted:
            differ = [k for k in wanted["settings"] if stored["settings"].get(k) != wanted["settings"][k]]
            differ += [
                k
                for k in ("committee", "data_sha256", "probe_sha256", "added_sha256")
                if stored.get(k) != wanted.get(k)
            ]
            raise ValueError(
                f"{self.out} was made with other settings (differs in {', '.join(differ)}): "
                "rerun with the same ones or choose another output folder"
            )

    def folder(self, iteration: int) -> Path:
        path = self.out / f"iter_{iteration:03d}"
        path.mkdir(exist_ok=True)
        return path

    # ------------------------------------------------------------------ stages
    def start(self) -> dict:
        """Iteration 0: the starting members and data in OUT, and their probe errors."""
        folder = self.folder(0)

        def run() -> dict:
            paths = []
            for k, member in enumerate(self.members):
                (folder / f"member_{k}").mkdir(exist_ok=True)
                paths.append(str(folder / f"member_{k}" / "best.safetensors"))
                member.save(paths[-1])
            _write_frames_atomic(self.out / "data.extxyz", self.input_frames())
            return {"committee": paths, **self.probe_errors(paths)}

        return {"iteration": 0, **_stage(folder, "start", run)}

    def iteration(self, i: int, committee: list[str]) -> dict:
        """Run (or resume) iteration ``i`` >= 1 from the member files ``committee``; its CSV row."""
        folder = self.folder(i)
        explored = _stage(folder, "explore", lambda: self.explore(i, committee, folder))
        selected = _stage(folder, "select", lambda: self.select(i, folder))
        labelled = _stage(folder, "label", lambda: self.label(i, folder))
        data = _stage(folder, "data", lambda: self.write_data(i))
        stages = [explored, selected, labelled, data]
        members = list(committee)
        if labelled["labelled"]:
            for k, parent in enumerate(committee):
                stages.append(
                    _stage(folder, f"train_{k}", lambda: self.fine_tune(parent, folder / f"member_{k}", k))
                )
                members[k] = stages[-1]["path"]
        evaluated = _stage(folder, "evaluate", lambda: self.evaluate(members, folder))
        stages.append(evaluated)
        return {
            "iteration": i,
            **explored,
            **selected,
            **labelled,
            **data,
            **evaluated,
            "wall_s": sum(stage["wall_s"] for stage in stages),
        }

    def explore(self, i: int, committee: list[str], folder: Path) -> dict:
        s = self.settings
        frames = read_frames(self.out / "data.extxyz")
        by_system: dict[str, list[Atoms]] = {}
        for frame in frames:
            by_system.setdefault(system_of(frame), []).append(frame)
        rng = task_rng(s.seed, f"iter{i}:starts")
        names = sorted(by_system)
        chosen = [names[k] for k in sorted(rng.choice(len(names), min(s.systems, len(names)), replace=False))]
        starts = [start_structure(by_system[name][rng.integers(len(by_system[name]))]) for name in chosen]
        calc = EquiformerCalculator(committee, device=self.device, dtype=s.dtype)
        tasks = exploration_tasks(starts, placement_options(frames), calc, s, i)
        store = ExtxyzFrameStore(folder / "explored.extxyz")
        run_tasks(tasks, store, s.seed, desc=f"iteration {i}: explore")
        deviations = np.array([f.info["max_forces_dev"] for f in self._read(store.path)])
        return {
            "explored": len(deviations),
            "below_low_fraction": float(np.mean(deviations < s.trust_low))
            if len(deviations)
            else float("nan"),
            "in_window_fraction": float(np.mean((deviations >= s.trust_low) & (deviations < s.trust_high)))
            if len(deviations)
            else float("nan"),
        }

    def select(self, i: int, folder: Path) -> dict:
        s = self.settings
        explored = self._read(folder / "explored.extxyz")
        chosen = select_frames(
            np.array([f.info["max_forces_dev"] for f in explored]),
            [(system_of(f), f.info["explored_by"]) for f in explored],
            s.trust_low,
            s.trust_high,
            s.max_selected,
            s.per_group,
            seed=(s.seed, i),
        )
        _write_frames_atomic(folder / "selected.extxyz", [explored[k] for k in chosen])
        return {"selected": len(chosen)}

    def label(self, i: int, folder: Path) -> dict:
        selected = self._read(folder / "selected.extxyz")
        store = ExtxyzFrameStore(folder / "labels.extxyz")
        finished = set(store.finished_tasks())
        for j, frame in enumerate(tqdm(selected, desc=f"iteration {i}: label", unit="frame")):
            task = f"iter{i}:label{j}"
            if task in finished:
                continue
            atoms = start_structure(frame)
            atoms.calc = self.reference()
            extra = {
                key: frame.info[key]
                for key in ("explored_by", "temperature", "max_forces_dev")
                if key in frame.info
            }
            labelled = snapshot(
                atoms, **atoms.info, **extra, source="active", iteration=i, task=task, task_frames=1
            )
            store.append([labelled])
        labels = self._read(store.path)
        result = {"labelled": len(labels)}
        if labels:
            stats = calibration_statistics(
                [f.arrays["forces_dev"] for f in selected],
                [f.arrays["committee_forces"] for f in selected],
                [f.get_forces() for f in labels],
            )
            result.update(
                labelled_frame_spearman=stats["frame_spearman"],
                labelled_atom_spearman=stats["atom_spearman"],
                labelled_forces_mae_mev_per_a=stats["forces_mae_mev_per_a"],
            )
        return result

    def input_frames(self) -> list[Atoms]:
        """DATA's frames, then the added labelled frames (if any)."""
        return read_structures(self.data) + (read_structures(self.added) if self.added is not None else [])

    def write_data(self, i: int) -> dict:
        frames = self.input_frames()
        base = len(read_structures(self.data))
        for j in range(1, i + 1):
            frames += self._read(self.folder(j) / "labels.extxyz")
        _write_frames_atomic(self.out / "data.extxyz", frames)
        write_learned_recipe(
            self.out / "data.extxyz",
            self.data,
            i,
            len(frames) - base,
            self.settings.reference,
            added=len(self.input_frames()) - base,
        )
        return {"training_frames": len(frames)}

    def fine_tune(self, parent: str, out: Path, member: int) -> dict:
        train(
            self.out / "data.extxyz",
            out,
            self.settings.training_config(member),
            init_from=parent,
            resume=True,
            device=self.device,
        )
        return {"path": str(out / "best.safetensors")}

    def evaluate(self, members: list[str], folder: Path) -> dict:
        Committee([load_potential(path) for path in members]).save(folder / "committee.safetensors")
        return {"committee": members, **self.probe_errors(members)}

    def probe_errors(self, members: list[str]) -> dict:
        """Force (meV/A, components) and energy (meV/atom) MAE of the committee mean on the probe set."""
        calc = EquiformerCalculator(members, device=self.device, dtype=self.settings.dtype)
        summary = error_summary(self.probe, calculator_predictions(calc, self.probe))
        return {
            "probe_forces_mae_mev_per_a": summary["forces_mae_mev_per_a"],
            "probe_energy_mae_mev_per_atom": summary["energy_mae_mev_per_atom"],
        }

    @staticmethod
    def _read(path: Path) -> list[Atoms]:
        return read_frames(path) if path.exists() and path.stat().st_size else []

    # ------------------------------------------------------------------ report
    def report(self, rows: list[dict]) -> None:
        """``learn.csv`` (:data:`CSV_FIELDS`, one row per iteration) and ``learn.png``."""
        table, total = [], 0.0
        for row in rows:
            total += row["wall_s"]
            table.append(
                {key: row.get(key, "") for key in CSV_FIELDS} | {"cumulative_wall_s": round(total, 2)}
            )
        with open(self.out / "learn.csv.tmp", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(table)
        os.replace(self.out / "learn.csv.tmp", self.out / "learn.csv")
        _plot(table, self.out / "learn.png", self.settings.trust_low)


def _plot(table: list[dict], png: Path, trust_low: float) -> None:
    """Left: probe force MAE against cumulative wall time (the learning curve per hour), points
    labelled by iteration; right: shares of explored frames below and inside the trust window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    hours = [row["cumulative_wall_s"] / 3600 for row in table]
    mae = [row["probe_forces_mae_mev_per_a"] for row in table]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(hours, mae, "o-")
    for row, x, y in zip(table, hours, mae):
        left.annotate(str(row["iteration"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    left.set_xlabel("cumulative wall time (h)")
    left.set_ylabel("probe force MAE of the committee mean (meV/A)")
    explored = [row for row in table if row["explored"] != ""]
    for key, label in (
        ("below_low_fraction", f"max_forces_dev < {trust_low:g} eV/A"),
        ("in_window_fraction", "inside the trust window"),
    ):
        right.plot([row["iteration"] for row in explored], [row[key] for row in explored], "o-", label=label)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("iteration")
    right.set_ylabel("share of explored frames")
    right.set_ylim(0, 1)
    right.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def learn(
    data: str | Path,
    committee,
    probe: str | Path,
    out: str | Path,
    settings: LearnSettings | None = None,
    device: str = "cpu",
    added: str | Path | None = None,
) -> list[dict]:
    """Active learning from ``committee`` (a committee file or shipped name, or a list of 2+ potentials /
    paths / names) on the labelled ``data``, judged on the labelled ``probe`` set, into folder ``out``.
    ``added``: labelled frames to train on from the first fine-tuning on (appended after ``data``, before the
    loop's labels), such as the failing systems a screen exported (``screen ... --check-with``).

    Resumes whatever an earlier run with the same settings finished. Returns one dict per
    iteration (0: the starting committee) with the CSV's columns and ``committee`` (member files).
    """
    run = ActiveLearning(data, committee, probe, out, settings or LearnSettings(), device, added)
    rows = [run.start()]
    run.report(rows)
    for i in tqdm(range(1, run.settings.iterations + 1), desc="active learning", unit="iteration"):
        rows.append(run.iteration(i, rows[-1]["committee"]))
        run.report(rows)
    return rows
