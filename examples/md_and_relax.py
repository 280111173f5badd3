"""Relax a molecule with ASE's BFGS, then run NVE molecular dynamics with ASE's VelocityVerlet.

    python examples/md_and_relax.py [--potential NAME_OR_PATH] [--molecule aspirin] [--steps 200] [--out DIR]

Shows the NVE progress, writes ``md.traj`` into ``--out`` (default: a new temporary folder) and prints
the energy drift. The default potential is the shipped ``gfn2-md17``
(GFN2-xTB quality for the eight MD17 molecules); in a checkout without it, an untrained "small"
model (its numbers are not physical, but every step of the pipeline runs).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ase import units
from ase.io import Trajectory
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from example_potential import choose_potential
from tqdm.auto import tqdm

import equiformer_ase as ea
from equiformer_ase.data import MD17_MOLECULES, md17_molecule


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--potential", default="gfn2-md17", help="shipped name or .safetensors path")
    parser.add_argument("--molecule", default="aspirin", choices=MD17_MOLECULES)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="K, initial velocities")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="folder for md.traj (default: a new temporary folder)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="md_and_relax-"))
    out.mkdir(parents=True, exist_ok=True)

    atoms = md17_molecule(args.molecule)
    potential = choose_potential(args.potential, sorted(set(atoms.get_chemical_symbols())))
    atoms.calc = ea.EquiformerCalculator(potential, device=args.device, dtype="float64")

    BFGS(atoms, logfile="-").run(fmax=0.05, steps=100)
    print(
        f"relaxed {args.molecule}: E = {atoms.get_potential_energy():.4f} eV, "
        f"max |F| = {np.abs(atoms.get_forces()).max():.4f} eV/A"
    )

    thermalize_momenta(atoms, temperature_K=args.temperature, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    with (
        Trajectory(out / "md.traj", "w", atoms) as traj,
        tqdm(total=args.steps, desc="NVE", unit="step") as bar,
    ):
        dyn.attach(traj.write, interval=10)
        dyn.attach(lambda: bar.update(dyn.nsteps - bar.n))
        e0 = atoms.get_total_energy()
        dyn.run(args.steps)
    drift = (atoms.get_total_energy() - e0) / len(atoms)
    print(
        f"NVE {args.steps} x {args.timestep} fs: T = {atoms.get_temperature():.0f} K, "
        f"total-energy drift {drift * 1e3:.3f} meV/atom; trajectory in {out / 'md.traj'}"
    )


if __name__ == "__main__":
    main()
