"""The GPU path in one command: environment, physics tests on the device, and speed tables.

Made for short GPU loans (one run, under 8 minutes on one H100). In order:

1. the environment: device, driver, torch and CUDA versions, whether torch-cluster is there and
   built with CUDA;
2. correctness on the device: ``pytest -m gpu`` and the calculator's physics tests (invariance,
   finite-difference forces and stress, small cell = supercell, batch = one-by-one, float32 vs
   float64) rerun with ``EQUIFORMER_TEST_DEVICE=<device>``;
3. speed: energy+forces per calculator call for ``small`` and ``paper-md17-l2`` on aspirin,
   Cu(111)+O and Cu bulk up to 10^4 atoms (``bench_calculator``); MD steps of ASE's loop against
   the batched engine with 1 and 64 replicas (``bench_md``); one training step (forces in the
   loss, so a double backward) on a batch of 8 frames.

Prints the tables and writes everything as ``gpu_check.json`` (plus the pytest log) under
``--out``. ``--device cpu --quick`` is a dry run of every part in a few minutes (CI runs it).

    python benchmarks/gpu_check.py [--device cuda] [--quick] [--out DIR]

On the GPU machine, which reaches no registry, ``benchmarks/gpu_check.sh`` installs the carried
wheels (ASE, matscipy) and this package, then runs this script.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_calculator  # noqa: E402
import bench_md  # noqa: E402

import equiformer_ase as ea  # noqa: E402
from equiformer_ase.devices import resolve_device  # noqa: E402

PHYSICS_TESTS = [
    "tests/test_gpu.py",
    "tests/test_invariance.py",
    "tests/test_derivatives.py",
    "tests/test_periodic_and_batch.py",
    "tests/test_calculator.py",
]


def environment(device: torch.device) -> dict:
    """Versions and the device's name, memory and driver; torch-cluster's presence and CUDA build."""
    info = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": str(device),
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
        )
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            info["driver"] = "unknown (no nvidia-smi)"
    try:
        import torch_cluster

        info["torch_cluster"] = torch_cluster.__version__
        info["torch_cluster_cuda"] = int(torch.ops.torch_cluster.cuda_version()) > 0
    except ImportError:
        info["torch_cluster"] = None
        info["torch_cluster_cuda"] = False
    return info


def physics_tests(device: torch.device, log: Path) -> dict:
    """Run the physics test files with the calculator on ``device``; counts and exit code (skipped, and
    said so, where pytest is not installed: the main command's venv has no test extra)."""
    if importlib.util.find_spec("pytest") is None:
        summary = (
            "skipped: pytest is not installed here (pip install -e '.[test]' runs the physics tests too)"
        )
        print(summary)
        return {"returncode": None, "summary": summary, "seconds": 0.0}
    env = {**os.environ, "EQUIFORMER_TEST_DEVICE": str(device)}
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PHYSICS_TESTS],
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    log.write_text(run.stdout + run.stderr)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr.strip()[-300:]
    return {"returncode": run.returncode, "summary": summary, "seconds": time.perf_counter() - start}


def calculator_speed(presets: list[str], device: str, dtype: str, max_atoms: int, repeats: int) -> list[dict]:
    rows = []
    for preset in presets:
        for name, atoms in bench_calculator.systems(max_atoms).items():
            try:
                result = bench_calculator.bench(preset, atoms, device, dtype, repeats)
            except torch.cuda.OutOfMemoryError:
                result = {"atoms": len(atoms), "error": "out of memory"}
                torch.cuda.empty_cache()
            rows.append({"preset": preset, "system": name, **result})
            print(bench_calculator.format_row(preset, name, result), flush=True)
    return rows


def md_speed(
    presets: list[str], device: str, dtype: str, steps: int, replicas: int, max_atoms: int
) -> list[dict]:
    """Steps per second of ASE's loop, the engine on one copy and the engine on ``replicas`` copies."""
    rows = []
    for preset in presets:
        potential = ea.Potential.from_config(
            ea.EquiformerConfig.preset(preset, elements=bench_md.ELEMENTS), seed=0
        )
        for name, atoms in bench_md.systems().items():
            if len(atoms) > max_atoms:
                continue
            runs = [("ase", 1, lambda: bench_md.bench_ase(potential, atoms, device, dtype, steps))]
            runs += [
                (
                    f"engine x{r}" if r > 1 else "engine",
                    r,
                    lambda r=r: bench_md.bench_engine(potential, atoms, device, dtype, steps, r),
                )
                for r in (1, replicas)
            ]
            ase_throughput = None
            for driver, copies, run in runs:
                row = {"preset": preset, "system": name, "driver": driver, "replicas": copies}
                try:
                    seconds = run()
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    rows.append({**row, "error": "out of memory"})
                    print(f"{preset:<14} {name:<16} {driver:<12} out of memory", flush=True)
                    continue
                throughput = copies * len(atoms) * steps / seconds
                ase_throughput = ase_throughput or throughput
                row.update(
                    steps_per_s=steps / seconds,
                    atom_steps_per_s=throughput,
                    vs_ase=throughput / ase_throughput,
                )
                rows.append(row)
                print(
                    f"{preset:<14} {name:<16} {driver:<12} {row['steps_per_s']:>9.2f} {throughput:>13.0f} "
                    f"{row['vs_ase']:>6.2f}x",
                    flush=True,
                )
    return rows


def training_step_speed(
    presets: list[str], device: torch.device, dtype: str, frames: int, repeats: int
) -> list[dict]:
    """Seconds per optimiser step (energy + force loss, double backward) on ``frames`` aspirin frames."""
    from equiformer_ase.data import md17_molecule
    from equiformer_ase.training.fitting.dataset import Sample
    from equiformer_ase.training.fitting.distributed import Distributed
    from equiformer_ase.training.fitting.loss import LossWeights
    from equiformer_ase.training.fitting.trainer import compute_gradients

    rng = np.random.default_rng(0)
    samples = []
    for _ in range(frames):
        atoms = md17_molecule("aspirin")
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        samples.append(
            Sample(
                atoms=atoms,
                energy=float(rng.normal()),
                forces=rng.normal(size=(len(atoms), 3)),
                stress=None,
                groups={},
            )
        )
    torch_dtype = getattr(torch, dtype)
    rows = []
    for preset in presets:
        cfg = ea.EquiformerConfig.preset(preset, elements=bench_md.ELEMENTS)
        potential = ea.Potential.from_config(cfg, seed=0).to(device=device, dtype=torch_dtype)
        optimizer = torch.optim.Adam(potential.parameters(), lr=1e-4)

        def step():
            optimizer.zero_grad()
            compute_gradients(potential, samples, LossWeights(), Distributed(), device, torch_dtype)
            optimizer.step()

        seconds = bench_calculator.time_interleaved({"step": step}, repeats, device)["step"]
        rows.append({"preset": preset, "frames": frames, "atoms": frames * 21, "ms_per_step": 1e3 * seconds})
        print(
            f"{preset:<14} {frames} x aspirin ({frames * 21} atoms) {1e3 * seconds:>10.1f} ms/step",
            flush=True,
        )
    return rows


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument(
        "--quick", action="store_true", help="a few-minute dry run: small systems, few repeats"
    )
    parser.add_argument(
        "--out", default=os.environ.get("OUT", "runs/gpu_check"), help="folder for the JSON and log"
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"quick": args.quick, "dtype": args.dtype}

    def save():
        (out / "gpu_check.json").write_text(json.dumps(report, indent=1))

    report["environment"] = environment(device)
    print(json.dumps(report["environment"], indent=1), flush=True)
    save()

    print("\n## physics tests on", device, flush=True)
    report["tests"] = physics_tests(device, out / "gpu_check_pytest.log")
    print(report["tests"]["summary"], flush=True)
    save()

    presets = ["small"] if args.quick else ["small", "paper-md17-l2"]
    print(f"\n## energy + forces per calculator call ({args.dtype})\n{bench_calculator.HEADER}", flush=True)
    report["calculator"] = calculator_speed(
        presets, str(device), args.dtype, 40 if args.quick else 10_000, 2 if args.quick else 5
    )
    save()

    replicas = 4 if args.quick else 64
    print(
        f"\n## MD: ASE loop vs engine ({args.dtype}, {replicas} replicas)\n"
        f"{'preset':<14} {'system':<16} {'driver':<12} {'steps/s':>9} {'atom-steps/s':>13} {'vs ASE':>7}",
        flush=True,
    )
    report["md"] = md_speed(
        presets, str(device), args.dtype, 2 if args.quick else 20, replicas, 40 if args.quick else 10_000
    )
    save()

    print(f"\n## one training step ({args.dtype})", flush=True)
    report["training"] = training_step_speed(
        presets, device, args.dtype, 2 if args.quick else 8, 1 if args.quick else 5
    )
    save()
    print(f"\nwrote {out / 'gpu_check.json'}")
    return 0 if report["tests"]["returncode"] in (0, None) else 1  # None: no pytest here, said above


if __name__ == "__main__":
    sys.exit(main())
