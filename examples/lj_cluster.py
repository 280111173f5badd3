"""Learn the Hamiltonian of a 7-atom argon Lennard-Jones cluster with a T(3) LieTransformer.

    python examples/lj_cluster.py [--trajectories 200] [--max-minutes 20] [--batch-size 25] [--out runs/lj]

ASE's LennardJones + VelocityVerlet make the ground truth (ASE units); a learned H = kinetic +
V_LieTransformer(q) is trained on 5-point chunks (validated on separate trajectories, seed 2), then
compared with the truth on held-out trajectories (seed 1): rollout MSE and the drift of the true
energy along RK4 and leapfrog rollouts. The floor of those figures is RK4 with the exact forces on
the same frame grid (one step per frame), printed alongside. Finally an
ase.Atoms cluster is propagated with the learned Hamiltonian into OUT/learned.traj.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta

from equiformer_ase import lie
from equiformer_ase.integrators import rk4_step
from equiformer_ase.lie.fitting import energy_drift, mean_kinetic_energy, trajectory_mse
from equiformer_ase.lie.lennard_jones import ARGON, lj_cluster_start, lj_forces


def cached_clusters(path: Path, **kwargs):
    """``generate_lj_clusters(**kwargs)``, saved to ``path`` the first time (ASE's LJ MD is slow)."""
    if path.exists():
        return lie.SpringData.load(path)
    data = lie.generate_lj_clusters(**kwargs)
    data.save(path)
    return data


def exact_rk4_rollout(test) -> dict[str, float]:
    """Rollout MSE and true-energy drift of RK4 with the exact LJ forces, one step per frame of ``test``."""
    q, p, masses = test.q[:, 0], test.p[:, 0], test.m[..., None]
    qs, ps = [q], [p]
    for dt in np.diff(test.ts):
        q, p = rk4_step(lambda _t, state: (state[1] / masses, lj_forces(state[0])), 0.0, (q, p), float(dt))
        qs.append(q)
        ps.append(p)
    q, p = torch.as_tensor(np.stack(qs, 1)), torch.as_tensor(np.stack(ps, 1))
    energy = lie.lj_hamiltonian(q, p, torch.as_tensor(test.m)[:, None])
    return {
        "mse_rollout": float(trajectory_mse(q, p, torch.as_tensor(test.q), torch.as_tensor(test.p)).mean()),
        "energy_drift_rk4": float(energy_drift(energy).mean()),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trajectories", type=int, default=200)
    parser.add_argument("--atoms", type=int, default=7)
    parser.add_argument("--max-minutes", type=float, default=20.0, help="training budget, minutes")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", default="runs/lj")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = cached_clusters(
        out / f"train_{args.trajectories}x{args.atoms}.npz",
        num_systems=args.trajectories,
        num_atoms=args.atoms,
        frames=100,
        seed=0,
    )
    validation = cached_clusters(
        out / f"validation_20x{args.atoms}.npz", num_systems=20, num_atoms=args.atoms, frames=100, seed=2
    )
    test = cached_clusters(
        out / f"test_20x{args.atoms}.npz", num_systems=20, num_atoms=args.atoms, frames=101, seed=1
    )
    model = lie.LearnedHamiltonian(
        group="T(3)", dim=3, num_particles=args.atoms, in_features=0, energy_scale=mean_kinetic_energy(train)
    ).double()
    fit = lie.HamiltonianFit(
        model,
        train,
        validation,
        lie.FitConfig(epochs=100_000, max_time=args.max_minutes, batch_size=args.batch_size, lr=args.lr),
        out,
        resume=True,
        training_info={"data": "generate_lj_clusters seed 0", "validation": "seed 2"},
    )
    fit.run()
    best = lie.load_hamiltonian(out / "best.safetensors", dtype=torch.float64)
    metrics = lie.evaluate_hamiltonian(best, test, rollout_steps=100, true_energy=lie.lj_hamiltonian)
    print(json.dumps(metrics, indent=1))
    print("RK4 with the exact forces on the same grid:", json.dumps(exact_rk4_rollout(test)))
    atoms = lj_cluster_start(args.atoms, np.random.default_rng(7))
    atoms.set_masses([ARGON["mass"]] * args.atoms)
    thermalize_momenta(atoms, temperature_K=30.0, rng=np.random.default_rng(7))
    Stationary(atoms)
    ZeroRotation(atoms)
    frames = lie.propagate_atoms(
        atoms, best, timestep=5.0, steps=1000, interval=10, trajectory=out / "learned.traj"
    )
    print(f"{len(frames)} frames of learned dynamics in {out / 'learned.traj'}")


if __name__ == "__main__":
    main()
