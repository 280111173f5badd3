"""What a PBE/def2-SVP label costs here, and what each speed setting does to the forces.

Per molecule (one 500 K frame of the ``probe`` recipe, or the shipped geometry rattled by 0.05 A):

- seconds per energy + forces at 1 and 2 threads with the settings ``pbe`` uses (density fitting,
  grid level 2 with its response, conv_tol 1e-9 Hartree);
- SCF iterations from PySCF's default guess (minao) and from the density of a neighbouring frame
  (the same geometry displaced by 0.02 A per atom, as consecutive frames of a trajectory are);
- the largest and mean force difference (meV/A) of each speed setting against a tight calculation
  (no density fitting, grid level 5, conv_tol 1e-11), and the net force (meV/A), which is zero
  for forces that are the exact derivative of the energy.

Prints a markdown table, with the load average it ran under; not a test.

    OMP_NUM_THREADS=1 python benchmarks/bench_dft_labels.py [--molecules ethanol malonaldehyde ...]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from ase import Atoms

from equiformer_ase.data import md17_molecule
from equiformer_ase.references import PySCFDFT

SETTINGS = {  # name: (speed settings) -- each compared with TIGHT
    "used (RI, grid 2 + response)": dict(),
    "grid 2, no response": dict(grid_response=False),
    "grid 1 + response": dict(grid_level=1),
    "RI, grid 3 + response": dict(grid_level=3),
}
TIGHT = dict(density_fit=False, grid_level=5, conv_tol=1e-11)


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"


def frame(name: str, seed: int = 0) -> Atoms:
    atoms = md17_molecule(name)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.05, atoms.positions.shape)
    return atoms


def label(
    atoms: Atoms, threads: int, guess_from: Atoms | None = None, **settings
) -> tuple[np.ndarray, PySCFDFT]:
    calc = PySCFDFT(threads=threads, **settings)
    if guess_from is not None:
        calc.calculate(guess_from.copy(), ["energy", "forces"])
    work = atoms.copy()
    work.calc = calc
    return work.get_forces(), calc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--molecules", nargs="+", default=["ethanol", "malonaldehyde", "uracil", "benzene", "toluene"]
    )
    parser.add_argument(
        "--no-tight", action="store_true", help="skip the tight reference (slow on big molecules)"
    )
    args = parser.parse_args()
    print(f"load average at start: {load()}\n")
    print(
        "| molecule | atoms | s/label 1 thread | s/label 2 threads | SCF iter. cold | SCF iter. warm | "
        + " | ".join(f"{name}: max / mean dF" for name in SETTINGS)
        + " | net force used / no response |"
    )
    print("|---" * (7 + len(SETTINGS)) + "|")
    for name in args.molecules:
        atoms = frame(name)
        neighbour = atoms.copy()
        neighbour.positions += np.random.default_rng(1).normal(0.0, 0.02, atoms.positions.shape)
        used, calc = label(atoms, 1)
        one_thread, cold = calc.seconds, calc.scf_cycles
        _, calc2 = label(atoms, 2)
        _, warm = label(atoms, 1, guess_from=neighbour)
        tight = None if args.no_tight else label(atoms, 1, **TIGHT)[0]
        cells = []
        for settings in SETTINGS.values():
            forces = label(atoms, 1, **settings)[0]
            if tight is None:
                cells.append("-")
                continue
            diff = 1000 * np.abs(forces - tight)
            cells.append(f"{diff.max():.2f} / {diff.mean():.2f}")
        no_response = label(atoms, 1, grid_response=False)[0]
        net = f"{1000 * np.abs(used.sum(0)).max():.3f} / {1000 * np.abs(no_response.sum(0)).max():.2f}"
        print(
            f"| {name} | {len(atoms)} | {one_thread:.1f} | {calc2.seconds:.1f} | {cold} | {warm.scf_cycles} | "
            + " | ".join(cells)
            + f" | {net} |",
            flush=True,
        )
    print(f"\nload average at end: {load()}; forces in meV/A against no RI, grid 5, conv_tol 1e-11")


if __name__ == "__main__":
    main()
