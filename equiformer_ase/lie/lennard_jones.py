"""Ground-truth trajectories of small 3-d Lennard-Jones clusters (ASE's LennardJones + VelocityVerlet).

Units are ASE's (Angstrom, amu, eV, ASE time; ``ts`` in ASE time). Argon-like parameters by
default. Stored in the spring-data layout (``SpringData``: q, p (B, T, n, 3), m, k (B, n), ts (T,))
with ``k`` = 1 for every atom (no per-atom feature), so the same training code reads them.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.lj import LennardJones
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from .springs import SpringData

ARGON = dict(sigma=3.4, epsilon=0.0104, mass=39.948)  # Angstrom, eV, amu


def lj_calculator(sigma: float = ARGON["sigma"], epsilon: float = ARGON["epsilon"]) -> LennardJones:
    """ASE's smooth Lennard-Jones, cutoff 3 sigma."""
    return LennardJones(sigma=sigma, epsilon=epsilon, rc=3.0 * sigma, smooth=True)


def lj_cluster_start(num_atoms: int, rng: np.random.Generator, sigma: float = ARGON["sigma"]) -> Atoms:
    """A random compact cluster of argon: atoms added one by one at 1.1-1.3 sigma from a random earlier atom,
    never closer than sigma to any other."""
    positions = [np.zeros(3)]
    while len(positions) < num_atoms:
        anchor = positions[rng.integers(len(positions))]
        direction = rng.standard_normal(3)
        candidate = anchor + rng.uniform(1.1, 1.3) * sigma * direction / np.linalg.norm(direction)
        if min(np.linalg.norm(candidate - p) for p in positions) > sigma:
            positions.append(candidate)
    return Atoms(f"Ar{num_atoms}", positions=np.array(positions))


def generate_lj_clusters(
    num_systems: int,
    num_atoms: int = 7,
    temperature: float = 30.0,
    frames: int = 200,
    interval: int = 10,
    timestep: float = 5.0,
    seed: int = 0,
) -> SpringData:
    """``num_systems`` trajectories: random cluster, Maxwell-Boltzmann momenta at ``temperature`` (K,
    no net momentum or rotation), ``frames`` frames every ``interval`` velocity-Verlet steps of
    ``timestep`` fs (the ground truth integrates ``interval`` times finer than the frame grid)."""
    if num_systems < 1 or num_atoms < 2 or frames < 2:
        raise ValueError(
            f"need num_systems >= 1, num_atoms >= 2 and frames >= 2, got {num_systems}, {num_atoms}, {frames}"
        )
    rng = np.random.default_rng(seed)
    qs, ps = [], []
    for _ in range(num_systems):
        atoms = lj_cluster_start(num_atoms, rng)
        atoms.calc = lj_calculator()
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        ZeroRotation(atoms)
        dynamics = VelocityVerlet(atoms, timestep=timestep * units.fs)
        q, p = [atoms.positions.copy()], [atoms.get_momenta()]
        for _ in range(frames - 1):
            dynamics.run(interval)
            q.append(atoms.positions.copy())
            p.append(atoms.get_momenta())
        qs.append(q)
        ps.append(p)
    masses = np.full((num_systems, num_atoms), ARGON["mass"])
    ts = np.arange(frames) * interval * timestep * units.fs
    return SpringData(np.array(qs), np.array(ps), masses, np.ones((num_systems, num_atoms)), ts)


def _lj_clusters(q: np.ndarray):
    """ase.Atoms with ``lj_calculator`` for each configuration of positions q (B, n, 3)."""
    calculator = lj_calculator()
    for positions in q:
        atoms = Atoms(f"Ar{len(positions)}", positions=positions)
        atoms.calc = calculator
        yield atoms


def lj_forces(q: np.ndarray) -> np.ndarray:
    """Forces (eV/Angstrom) on positions q (B, n, 3) -> (B, n, 3)."""
    return np.array([atoms.get_forces() for atoms in _lj_clusters(q)])


def lj_hamiltonian(q, p, m, k=None):
    """True H (eV) of LJ cluster states: q, p (..., n, 3) torch tensors, m (..., n) -> (...)."""
    import torch

    from ..integrators import particle_kinetic_energy

    shape = q.shape[:-2]
    flat_q = q.reshape(-1, *q.shape[-2:]).detach().cpu().numpy()
    potential = [atoms.get_potential_energy() for atoms in _lj_clusters(flat_q)]
    kinetic = particle_kinetic_energy(p, m).sum(-1)
    return kinetic + torch.as_tensor(np.array(potential), dtype=q.dtype).reshape(shape)
