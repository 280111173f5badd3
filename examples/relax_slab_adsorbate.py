"""Relax CO on Cu(111) at several sites: ASE BFGS one by one, then all at once with the batched engine.

    python examples/relax_slab_adsorbate.py [--potential NAME_OR_PATH] [--fmax 0.05] [--device auto]

The bottom two slab layers are fixed (FixAtoms), which both drivers honour. Prints the relaxed
energy of each site from both and their difference. Without ``--potential`` it uses an untrained
"small" model (numbers are not physical, every step runs).
"""

from __future__ import annotations

import argparse
import time

from ase.build import add_adsorbate, fcc111, molecule
from ase.constraints import FixAtoms
from ase.optimize import BFGS
from example_potential import choose_potential

import equiformer_ase as ea
from equiformer_ase.dynamics import relax

SITES = ("ontop", "bridge", "fcc", "hcp")


def slab_with_co(site: str):
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, molecule("CO"), 1.9, site)
    slab.set_constraint(FixAtoms(mask=slab.positions[:, 2] < slab.positions[:, 2].min() + 2.5))
    slab.pbc = True
    return slab


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--potential", default="emt-surfaces", help="shipped name or .safetensors path")
    parser.add_argument("--fmax", type=float, default=0.05, help="eV/A")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    potential = choose_potential(args.potential, ["C", "O", "Cu"])

    start = time.perf_counter()
    calc = ea.EquiformerCalculator(potential, device=args.device, dtype="float64")
    ase_energies = []
    for site in SITES:
        atoms = slab_with_co(site)
        atoms.calc = calc
        BFGS(atoms, logfile=None).run(fmax=args.fmax, steps=args.steps)
        ase_energies.append(atoms.get_potential_energy())
    ase_seconds = time.perf_counter() - start

    start = time.perf_counter()
    relaxed, converged = relax(
        [slab_with_co(site) for site in SITES],
        potential,
        fmax=args.fmax,
        steps=args.steps,
        device=args.device,
        dtype="float64",
    )
    engine_seconds = time.perf_counter() - start

    print(f"{'site':<8} {'E ASE BFGS (eV)':>16} {'E engine FIRE (eV)':>19} {'diff (eV)':>10} converged")
    for site, e_ase, atoms, done in zip(SITES, ase_energies, relaxed, converged):
        e_engine = atoms.get_potential_energy()
        print(f"{site:<8} {e_ase:>16.4f} {e_engine:>19.4f} {e_engine - e_ase:>10.4f} {done}")
    print(f"ASE BFGS one by one: {ase_seconds:.1f} s; batched engine: {engine_seconds:.1f} s")


if __name__ == "__main__":
    main()
