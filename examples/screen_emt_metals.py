"""AdsorbML-style screen of the seven EMT metals' (111) and (100) surfaces with H, O, N, C, OH and CO against EMT.

    python examples/screen_emt_metals.py [--potential emt-surfaces] [--workers 0] [--db screening.db]
                                         [--random-placements 1] [--heights 0] [--top-k 5] [--fmax 0.05]

Metal by metal, every (surface, adsorbate) system is started at its heuristic sites and
``--random-placements`` seeded random sites and relaxed with the potential (batched FIRE; ``--workers 0``
in this process, else on a Dask LocalCluster); EMT relaxes every placement too (the dense ground truth)
and computes single points at the ``--top-k`` lowest anomaly-free structures of each system (ML+SP), so
an interrupted run leaves whole metals to report on (``--metals``). Prints the summary,
the MAE / Spearman comparison of best sites, AdsorbML's success rate at k = 1 .. top-k, the ML-only
success, anomaly fractions, the EMT force calls saved, the failing systems and the wall time. Rows go
to the ase.db as they finish, so an interrupted run resumes where it stopped (the wall time printed is
that of the last run only).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from equiformer_ase.screening import Screening, ScreeningSpec
from equiformer_ase.screening.report import screening_report
from equiformer_ase.screening.run import dask_client

EMT_METALS = "Al,Ni,Cu,Pd,Ag,Pt,Au"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--potential", default="emt-surfaces")
    parser.add_argument("--metals", default=EMT_METALS)
    parser.add_argument("--facets", default="111,100")
    parser.add_argument("--adsorbates", default="H,O,N,C,OH,CO")
    parser.add_argument("--db", default="screening.db")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--random-placements", type=int, default=1)
    parser.add_argument("--heights", default="0")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    spec = ScreeningSpec(
        args.potential,
        tuple(args.metals.split(",")),
        tuple(args.facets.split(",")),
        tuple(args.adsorbates.split(",")),
        fmax=args.fmax,
        steps=args.steps,
        batch_size=args.batch_size,
        device="cpu",
        dtype=args.dtype,
        random_placements=args.random_placements,
        heights=tuple(float(h) for h in args.heights.split(",")),
    )
    started = time.monotonic()
    with dask_client(args.workers) as client:
        computed = 0
        for metal in spec.metals:  # metal by metal: an interrupted run leaves whole systems to judge
            screening = Screening(replace(spec, metals=(metal,)), args.db, client)
            screening.run(check_with="emt", verify_with="emt", top_k=args.top_k)
            computed += screening.relaxed_count + screening.single_point_count
        screening = Screening(spec, args.db, client)  # the same rows, read for all metals at once
        screening.run(check_with="emt", verify_with="emt", top_k=args.top_k)
    print(screening_report(screening, args.db, "emt", "emt", args.top_k))
    print(
        f"\n{computed} structures relaxed or single points this run, {args.workers or 'no'} Dask workers; "
        f"{time.monotonic() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
