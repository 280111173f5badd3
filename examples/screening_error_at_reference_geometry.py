"""Split a screening's error against EMT into potential-energy-surface error and relaxation error.

    python examples/screening_error_at_reference_geometry.py runs/screening.db [--potential emt-surfaces]

Takes the reference (EMT) relaxed geometries from a screening database made with ``--check-with
emt`` (for instance by ``examples/screen_emt_metals.py``): the gas molecules, the clean slabs and,
per (surface, adsorbate), the best anomaly-free site. It recomputes every energy there with the
potential, single points only, and prints per adsorbate the MAE, the mean signed error, the error's
and EMT's spread across surfaces and the Spearman correlation against EMT. Error that remains at the
reference geometries comes from the potential's energies, not from where its relaxations end.
"""

from __future__ import annotations

import argparse

from ase.db import connect

import equiformer_ase as ea
from equiformer_ase.screening import adsorption_energy, best_sites, chemical_potentials, compare_methods
from equiformer_ase.screening.report import comparison_rows, format_table


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("db")
    parser.add_argument("--potential", default="emt-surfaces")
    parser.add_argument("--reference", default="emt", help="the method whose relaxed geometries are used")
    args = parser.parse_args()
    db = connect(args.db)
    calculator = ea.EquiformerCalculator(args.potential, device="cpu", dtype="float64")

    def energy(row) -> float:
        atoms = row.toatoms()
        atoms.calc = calculator
        return atoms.get_potential_energy()

    mu = chemical_potentials(
        {row.molecule: energy(row) for row in db.select(kind="gas", method=args.reference)}
    )
    slabs = {
        (row.metal, str(row.facet)): (energy(row), row.natoms)
        for row in db.select(kind="slab", method=args.reference)
    }
    rows = list(db.select(kind="adsorbate", method=args.reference))
    reference = best_sites(rows)
    by_site = {(row.metal, str(row.facet), row.adsorbate, row.site): row for row in rows if row.anomaly == ""}
    ours = {}
    for key, best in reference.items():
        if not best["site"]:
            continue
        row = by_site[(*key, best["site"])]
        slab_energy, slab_atoms = slabs[key[:2]]
        ours[key] = {
            "adsorption_energy": adsorption_energy(energy(row), slab_energy, row.symbols[slab_atoms:], mu)
        }
    names = sorted({key[2] for key in ours})
    print(f"{args.potential} single points at the {args.reference}-relaxed geometries vs {args.reference}:")
    print(format_table(comparison_rows(compare_methods(ours, reference, names))))


if __name__ == "__main__":
    main()
