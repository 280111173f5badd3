"""NVT (Langevin BAOAB) of O on a Cu(111) slab with the on-device engine, several replicas at once.

    python examples/nvt_slab_adsorbate.py [--potential NAME_OR_PATH] [--temperature 500] [--steps 500]

The bottom two layers are fixed (FixAtoms). Writes ``nvt_k.traj`` and ``nvt.log`` and prints the
mean temperature of the second half of each replica against the target.
"""

from __future__ import annotations

import argparse

import numpy as np
from ase.build import add_adsorbate, fcc111
from ase.constraints import FixAtoms
from ase.md.velocitydistribution import thermalize_momenta
from example_potential import choose_potential

from equiformer_ase.dynamics import MolecularDynamics


def slab_with_oxygen():
    slab = fcc111("Cu", size=(3, 3, 4), vacuum=8.0)
    add_adsorbate(slab, "O", 1.2, "fcc")
    slab.set_constraint(
        FixAtoms(mask=slab.positions[:, 2] < np.sort(np.unique(slab.positions[:, 2].round(3)))[2] - 0.1)
    )
    return slab


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--potential", default="emt-surfaces", help="shipped name or .safetensors path")
    parser.add_argument("--temperature", type=float, default=500.0, help="K")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument("--friction", type=float, default=0.02, help="1/fs")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    systems = []
    for k in range(args.replicas):
        atoms = slab_with_oxygen()
        thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(k))
        systems.append(atoms)
    md = MolecularDynamics(
        systems,
        choose_potential(args.potential, ["O", "Cu"]),
        timestep=args.timestep,
        ensemble="nvt",
        temperature=args.temperature,
        friction=args.friction,
        seed=0,
        device=args.device,
        dtype="float32",
    )
    md.run(args.steps, trajectory="nvt.traj", logfile="nvt.log", interval=10)

    log = np.genfromtxt("nvt.log", delimiter=",", names=True)
    for k in range(args.replicas):
        rows = log[log["system"] == k]
        second_half = rows["temperature_K"][len(rows) // 2 :]
        print(
            f"replica {k}: mean T over the second half {second_half.mean():.0f} K "
            f"(target {args.temperature:.0f} K, std {second_half.std():.0f} K)"
        )


if __name__ == "__main__":
    main()
