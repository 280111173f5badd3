"""torch.compile (inductor) against eager for energy+forces calls: compile time and calls to break even.

For each preset: an eager calculator and a ``compile=True`` one on the same untrained potential.
The compiled calculator's first call (which compiles) is timed against an eager call; then both
are called in turn, positions rattled before every call (so the edge count changes, as in MD),
and the medians compared. Break-even = compile time / time saved per call; the last column is the
largest difference of a force component between the two (eV/A). Inductor keeps its
compiled code in a cache (``TORCHINDUCTOR_CACHE_DIR``, by default under /tmp), so a second run
compiles faster: pass ``--cache-dir`` an empty folder for a cold start. Prints a table; not a test.

    python benchmarks/bench_compile.py [--presets small paper-md17-l2] [--dtype float32] [--calls 20]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from bench_calculator import load

import equiformer_ase as ea
from equiformer_ase.data import md17_molecule

ELEMENTS = ["H", "C", "N", "O"]


def bench(preset: str, dtype: str, calls: int) -> dict:
    potential = ea.Potential.from_config(ea.EquiformerConfig.preset(preset, elements=ELEMENTS), seed=0)
    atoms = md17_molecule("aspirin")
    calculators = {
        "eager": ea.EquiformerCalculator(potential, device="cpu", dtype=dtype),
        "compiled": ea.EquiformerCalculator(potential, device="cpu", dtype=dtype, compile=True),
    }
    rng = np.random.default_rng(0)

    def call(name: str) -> float:
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        start = time.perf_counter()
        calculators[name].calculate_batch([atoms])
        return time.perf_counter() - start

    call("eager")
    first_eager, first_compiled = call("eager"), call("compiled")
    times = {name: [] for name in calculators}
    for _ in range(calls):
        for name in calculators:
            times[name].append(call(name))
    eager, compiled = (float(np.median(times[name])) for name in calculators)
    compile_s = first_compiled - first_eager
    same = [calculators[name].calculate_batch([atoms])[0]["forces"] for name in calculators]
    return {
        "compile_s": compile_s,
        "eager_ms": 1e3 * eager,
        "compiled_ms": 1e3 * compiled,
        "break_even": compile_s / (eager - compiled) if eager > compiled else float("inf"),
        "max_force_diff": float(np.abs(same[0] - same[1]).max()),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["small", "paper-md17-l2"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--cache-dir", default=None, help="inductor cache folder (an empty one: a cold start)"
    )
    args = parser.parse_args()
    if args.cache_dir:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.abspath(args.cache_dir)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}, aspirin (21 atoms), "
        f"median of {args.calls} interleaved calls; load {load()}"
    )
    header = (
        f"{'preset':<14} {'compile s':>9} {'eager ms':>9} {'compiled ms':>11} {'speed-up':>8} "
        f"{'break-even calls':>16} {'max |dF|':>9}"
    )
    print(header + "\n" + "-" * len(header))
    for preset in args.presets:
        r = bench(preset, args.dtype, args.calls)
        print(
            f"{preset:<14} {r['compile_s']:>9.0f} {r['eager_ms']:>9.1f} {r['compiled_ms']:>11.1f} "
            f"{r['eager_ms'] / r['compiled_ms']:>7.2f}x {r['break_even']:>16.0f} {r['max_force_diff']:>9.1e}",
            flush=True,
        )
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
