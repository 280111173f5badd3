"""NVE molecular dynamics of an MD17 molecule on the on-device engine, with an energy-drift plot.

    python examples/nve_energy_drift.py [--potential NAME_OR_PATH] [--molecule aspirin] [--steps 1000]
                                        [--timestep 0.5] [--replicas 4] [--device auto]

Runs ``--replicas`` copies (different initial velocities) in one batched graph, writes
``nve_k.traj`` and ``nve.log`` (CSV), and plots the total-energy drift per atom of every replica
to ``nve_drift.png``.
"""

from __future__ import annotations

import argparse

import numpy as np
from ase.md.velocitydistribution import thermalize_momenta
from example_potential import choose_potential

from equiformer_ase.data import MD17_MOLECULES, md17_molecule
from equiformer_ase.dynamics import MolecularDynamics


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--potential", default="gfn2-md17", help="shipped name or .safetensors path")
    parser.add_argument("--molecule", default="aspirin", choices=MD17_MOLECULES)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="K, initial velocities")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    systems = []
    for k in range(args.replicas):
        atoms = md17_molecule(args.molecule)
        thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(k))
        systems.append(atoms)
    potential = choose_potential(args.potential, sorted(set(systems[0].get_chemical_symbols())))
    md = MolecularDynamics(systems, potential, timestep=args.timestep, device=args.device, dtype="float64")
    md.run(args.steps, trajectory="nve.traj", logfile="nve.log", interval=10)

    log = np.genfromtxt("nve.log", delimiter=",", names=True)
    n_atoms = len(systems[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k in range(args.replicas):
        rows = log[log["system"] == k]
        drift = (rows["total_eV"] - rows["total_eV"][0]) / n_atoms
        ax.plot(rows["time_fs"], drift * 1e3, label=f"replica {k}")
        print(f"replica {k}: |drift| max {np.abs(drift).max():.2e} eV/atom over {rows['time_fs'][-1]:g} fs")
    ax.set_xlabel("time (fs)")
    ax.set_ylabel("E_total - E_total(0) (meV/atom)")
    ax.set_title(f"NVE {args.molecule}, {args.timestep} fs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig("nve_drift.png", dpi=120)
    print("wrote nve_k.traj, nve.log, nve_drift.png")


if __name__ == "__main__":
    main()
