"""Speed of energy + forces through the ASE calculator, and the calculator's own overhead.

For each preset and system: milliseconds per call (positions change every call, so nothing is
cached), throughput in atom-steps per second, and the split of one call into neighbour list,
model forward+backward (``Potential.evaluate`` on a prebuilt graph) and the rest (conversion
to and from ASE). Prints a table; not a test.

    python benchmarks/bench_calculator.py [--presets small paper-md17-l2] [--device cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase.build import add_adsorbate, bulk, fcc111

import equiformer_ase as ea
from equiformer_ase.data import md17_molecule

ELEMENTS = ["H", "C", "N", "O", "Cu"]


def systems(max_atoms: int):
    slab = fcc111("Cu", size=(3, 3, 4), vacuum=8.0)
    add_adsorbate(slab, "O", 1.2, "fcc")
    cases = {
        "aspirin (21, molecule)": md17_molecule("aspirin"),
        "Cu(111)+O (37, slab)": slab,
        "Cu bulk (108)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3),
        "Cu bulk (500)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat(5),
        "Cu bulk (2000)": bulk("Cu", "fcc", a=3.61, cubic=True).repeat((5, 5, 20)),
    }
    for atoms in cases.values():
        atoms.rattle(0.05, seed=0)
    return {name: atoms for name, atoms in cases.items() if len(atoms) <= max_atoms}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_calls(fn, repeats: int, device) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


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

    t_calc = time_calls(calculator_call, repeats, calc.device)
    t_model = time_calls(model_call, repeats, calc.device)
    t_graph = time_calls(neighbour_list, repeats, calc.device)
    return {
        "atoms": len(atoms),
        "edges": graph.edge_index.shape[1],
        "ms_call": 1e3 * t_calc,
        "atom_steps_s": len(atoms) / t_calc,
        "ms_model": 1e3 * t_model,
        "ms_graph": 1e3 * t_graph,
        "overhead": (t_calc - t_model - t_graph) / t_model,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small", "paper-md17-l2"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-atoms", type=int, default=2000)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.dtype}")
    header = f"{'preset':<14} {'system':<24} {'atoms':>6} {'edges':>7} {'ms/call':>9} {'atom-steps/s':>13} " \
             f"{'ms model':>9} {'ms nlist':>9} {'overhead':>9}"
    print(header)
    print("-" * len(header))
    for preset in args.presets:
        for name, atoms in systems(args.max_atoms).items():
            r = bench(preset, atoms, args.device, args.dtype, args.repeats)
            print(f"{preset:<14} {name:<24} {r['atoms']:>6} {r['edges']:>7} {r['ms_call']:>9.1f} "
                  f"{r['atom_steps_s']:>13.0f} {r['ms_model']:>9.1f} {r['ms_graph']:>9.2f} {100 * r['overhead']:>8.1f}%",
                  flush=True)


if __name__ == "__main__":
    main()
