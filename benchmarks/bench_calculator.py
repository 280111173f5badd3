"""Speed of energy + forces through the ASE calculator, and the calculator's own overhead.

For each preset and system: milliseconds per calculator call (positions change every call, so
nothing is cached), throughput in atom-steps per second, the model's forward+backward
(``Potential.evaluate`` on a prebuilt graph), the neighbour list alone, and the wrapper: a full
calculator call whose ``evaluate`` returns a precomputed result, i.e. everything the calculator
adds (ASE bookkeeping, validation, neighbour list, tensor conversion). Overhead = wrapper / model.
Prints a table; not a test.

    python benchmarks/bench_calculator.py [--presets small paper-md17-l2 paper-md17-l3] [--device cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from ase.build import add_adsorbate, bulk, fcc111

import equiformer_ase as ea
from equiformer_ase.data import md17_molecule
from equiformer_ase.model import PRESETS

ELEMENTS = ["H", "C", "N", "O", "Cu"]


def load() -> str:
    """The 1, 5 and 15 minute load averages (Linux), the conditions a CPU timing was taken under."""
    return " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"


def systems(max_atoms: int):
    slab = fcc111("Cu", size=(3, 3, 4), vacuum=8.0)
    add_adsorbate(slab, "O", 1.2, "fcc")
    cases = {
        "aspirin (21, molecule)": md17_molecule("aspirin"),
        "Cu(111)+O (37, slab)": slab,
        "Cu bulk (108)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3),
        "Cu bulk (500)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat(5),
        "Cu bulk (2000)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat((5, 5, 20)),
        "Cu bulk (10000)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat((10, 10, 25)),
    }
    for atoms in cases.values():
        atoms.rattle(0.05, seed=0)
    return {name: atoms for name, atoms in cases.items() if len(atoms) <= max_atoms}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(fns: dict, repeats: int, device) -> dict:
    """Median seconds of each function, called in turn ``repeats`` times after one warm-up round.

    Interleaving makes slow drifts of a shared machine hit every function alike, so the ratios
    (the overhead) are meaningful even when the absolute times wander.
    """
    times = {name: [] for name in fns}
    for round_ in range(repeats + 1):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def bench(preset: str, atoms, device: str, dtype: str, repeats: int) -> dict:
    cfg = ea.EquiformerConfig.preset(preset, elements=ELEMENTS)
    calc = ea.EquiformerCalculator(ea.Potential.from_config(cfg, seed=0), device=device, dtype=dtype)
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(0)

    def calculator_call():
        atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)
        atoms.get_forces()

    def neighbour_list():
        ea.build_graph([atoms], cfg.elements, cfg.cutoff, device=calc.device, dtype=calc.dtype)

    graph = ea.build_graph([atoms], cfg.elements, cfg.cutoff, device=calc.device, dtype=calc.dtype)
    stress = bool(atoms.pbc.all())

    def model_call():
        calc.potential.evaluate(graph, forces=True, stress=stress)

    precomputed = calc.potential.evaluate(graph, forces=True, stress=stress)

    def wrapper_call():
        calc.potential.evaluate = lambda *args, **kwargs: precomputed
        try:
            calculator_call()
        finally:
            del calc.potential.evaluate

    t = time_interleaved(
        {"calc": calculator_call, "model": model_call, "graph": neighbour_list, "wrapper": wrapper_call},
        repeats,
        calc.device,
    )
    return {
        "atoms": len(atoms),
        "edges": graph.edge_index.shape[1],
        "ms_call": 1e3 * t["calc"],
        "atom_steps_s": len(atoms) / t["calc"],
        "ms_model": 1e3 * t["model"],
        "ms_graph": 1e3 * t["graph"],
        "ms_wrapper": 1e3 * t["wrapper"],
        "overhead": t["wrapper"] / t["model"],
    }


COLUMNS = (
    f"{'preset':<14} {'system':<24} {'atoms':>6} {'edges':>7} {'ms/call':>9} {'atom-steps/s':>13} "
    f"{'ms model':>9} {'ms nlist':>9} {'ms wrapper':>10} {'overhead':>9}"
)
HEADER = COLUMNS + "\n" + "-" * len(COLUMNS)


def format_row(preset: str, name: str, r: dict) -> str:
    """One table row of :func:`bench`'s result (or its ``error``)."""
    if "error" in r:
        return f"{preset:<14} {name:<24} {r['atoms']:>6} {r['error']}"
    return (
        f"{preset:<14} {name:<24} {r['atoms']:>6} {r['edges']:>7} {r['ms_call']:>9.1f} "
        f"{r['atom_steps_s']:>13.0f} {r['ms_model']:>9.1f} {r['ms_graph']:>9.2f} {r['ms_wrapper']:>10.2f} "
        f"{100 * r['overhead']:>8.2f}%"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-atoms", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.dtype}, "
        f"load {load()}"
    )
    print(HEADER)
    for preset in args.presets:
        for name, atoms in systems(args.max_atoms).items():
            print(
                format_row(preset, name, bench(preset, atoms, args.device, args.dtype, args.repeats)),
                flush=True,
            )
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
