"""Screen the seven EMT metals' (111) and (100) surfaces with H, O, N, C, OH and CO, and compare with EMT.

    python examples/screen_emt_metals.py [--potential emt-surfaces] [--workers 2] [--db screening.db]
                                         [--facets 111,100] [--adsorbates H,O,N,C,OH,CO] [--fmax 0.05]

Every (surface, adsorbate, site) is relaxed with the batched FIRE engine on a Dask LocalCluster;
rows go to the ase.db as they finish, so an interrupted run resumes where it stopped. Each result
is then re-relaxed with EMT, and the best-site adsorption energies are compared: MAE and Spearman
rank correlation across the surfaces, per adsorbate. Writes SCREENING_summary.csv and a heatmap.
"""

from __future__ import annotations

import argparse
import time

from distributed import Client, LocalCluster

from equiformer_ase.screening import Screening, ScreeningSpec, compare_methods
from equiformer_ase.screening.report import comparison_rows, format_table, summary_rows, write_csv, write_heatmap

EMT_METALS = "Al,Ni,Cu,Pd,Ag,Pt,Au"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="emt-surfaces")
    parser.add_argument("--metals", default=EMT_METALS)
    parser.add_argument("--facets", default="111,100")
    parser.add_argument("--adsorbates", default="H,O,N,C,OH,CO")
    parser.add_argument("--db", default="screening.db")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    spec = ScreeningSpec(args.potential, tuple(args.metals.split(",")), tuple(args.facets.split(",")),
                         tuple(args.adsorbates.split(",")), fmax=args.fmax, steps=args.steps, device="cpu",
                         dtype=args.dtype)
    started = time.monotonic()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        screening = Screening(spec, args.db, client)
        screening.run(check_with="emt")
    best, emt = screening.best(), screening.best("emt")
    rows = summary_rows(best, emt)
    stem = args.db.rsplit(".", 1)[0]
    write_csv(rows, f"{stem}_summary.csv")
    write_heatmap(best, f"{stem}_heatmap.png", f"adsorption energies, {spec.method} (eV)")
    print(format_table(rows))
    comparison = compare_methods(best, emt, [a.name for a in spec.adsorbates])
    print(f"\n{spec.method} vs EMT (best site per surface; targets: MAE <= 0.1 eV, Spearman >= 0.9):")
    print(format_table(comparison_rows(comparison)))
    print(f"\n{screening.throughput()}, {args.workers} workers; {time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
