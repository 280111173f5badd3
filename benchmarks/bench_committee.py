"""Cost of a committee: K members on one graph against K separate calculator calls.

For each system and K: milliseconds per energy+forces call of ``EquiformerCalculator([p1..pK])``
(one neighbour list, K model evaluations), of K single-potential calculators called in turn, and
of one single potential; the ratio committee / K singles (below 1: the shared graph saves time).
Untrained ``small`` members (speed does not depend on training). Prints a table; not a test.

    python benchmarks/bench_committee.py [--members 2 3 4] [--device cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_calculator import ELEMENTS, systems, time_interleaved

import equiformer_ase as ea


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-atoms", type=int, default=500)
    args = parser.parse_args()
    cfg = ea.EquiformerConfig.preset("small", elements=ELEMENTS)
    pool = [ea.Potential.from_config(cfg, seed=seed) for seed in range(max(args.members))]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, {args.dtype}, small preset"
    )
    header = (
        f"{'system':<24} {'K':>2} {'ms committee':>13} {'ms K singles':>13} {'ms 1 single':>12} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name, atoms in systems(args.max_atoms).items():
        for k in args.members:
            committee = ea.EquiformerCalculator(pool[:k], device=args.device, dtype=args.dtype)
            singles = [ea.EquiformerCalculator(p, device=args.device, dtype=args.dtype) for p in pool[:k]]
            work = atoms.copy()

            def moved():
                work.positions += rng.normal(scale=1e-3, size=work.positions.shape)
                return work

            t = time_interleaved(
                {
                    "committee": lambda: committee.calculate_batch([moved()]),
                    "singles": lambda: [calc.calculate_batch([moved()]) for calc in singles],
                    "single": lambda: singles[0].calculate_batch([moved()]),
                },
                args.repeats,
                committee.device,
            )
            print(
                f"{name:<24} {k:>2} {1e3 * t['committee']:>13.1f} {1e3 * t['singles']:>13.1f} "
                f"{1e3 * t['single']:>12.1f} {t['committee'] / t['singles']:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
