"""Screening throughput: relaxed structures per minute with 1 and 2 Dask workers.

A fixed small screen (default Cu and Pt (111), O and CO: 2 slabs, 4 gas references and 16
adsorbate placements) is run into a fresh database for each worker count. Prints a table; not a test.

    python benchmarks/bench_screening.py [--potential emt-surfaces] [--workers 1,2] [--steps 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster

from equiformer_ase.screening import Screening, ScreeningSpec


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--potential", default="emt-surfaces")
    parser.add_argument("--metals", default="Cu,Pt")
    parser.add_argument("--adsorbates", default="O,CO")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    spec = ScreeningSpec(
        args.potential,
        tuple(args.metals.split(",")),
        ("111",),
        tuple(args.adsorbates.split(",")),
        steps=args.steps,
        batch_size=args.batch_size,
        device="cpu",
        dtype=args.dtype,
    )
    print(f"{'workers':>7} {'structures':>10} {'wall s':>8} {'per minute':>10}")
    for workers in (int(w) for w in args.workers.split(",")):
        with (
            tempfile.TemporaryDirectory() as folder,
            LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: __import__("equiformer_ase.dynamics"))  # imports outside the timing
            screening = Screening(spec, Path(folder) / "bench.db", client, progress=False)
            started = time.monotonic()
            screening.run()
            wall = time.monotonic() - started
        print(
            f"{workers:>7} {screening.relaxed_count:>10} {wall:>8.1f} {60 * screening.relaxed_count / wall:>10.1f}"
        )


if __name__ == "__main__":
    main()
