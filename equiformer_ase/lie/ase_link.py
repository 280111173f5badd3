"""Learned Hamiltonian dynamics for ``ase.Atoms``, written as an ASE trajectory.

The Hamiltonian must have been trained in ASE's units (Angstrom, amu, eV, ASE time), as the
Lennard-Jones cluster data are; times are given in fs. Each frame holds positions and momenta,
so the same tools that read Equiformer MD trajectories read these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.io import Trajectory

from .hamiltonian import LearnedHamiltonian


def propagate_atoms(
    atoms: Atoms,
    hamiltonian: LearnedHamiltonian,
    timestep: float,
    steps: int,
    interval: int = 1,
    method: str = "leapfrog",
    trajectory: str | Path | None = None,
    features: np.ndarray | None = None,
) -> list[Atoms]:
    """Advance ``atoms`` by ``steps`` x ``timestep`` (fs) with ``hamiltonian``; keep every ``interval``-th frame.

    ``features``: (n, F) per-atom features when the Hamiltonian takes them. Frames are written to
    ``trajectory`` as they are produced; returns them (with ``info["hamiltonian"]``, eV).
    """
    if hamiltonian.config.dim != 3:
        raise ValueError(f"ase.Atoms are 3-d; this Hamiltonian is {hamiltonian.config.dim}-d")
    if steps < 1 or interval < 1 or timestep <= 0:
        raise ValueError(
            f"need steps >= 1, interval >= 1 and timestep > 0, got {steps}, {interval}, {timestep}"
        )
    q = atoms.positions[None]
    p = atoms.get_momenta()[None]
    masses = atoms.get_masses()[None]
    features = None if features is None else np.asarray(features)[None]
    ts = np.array([0.0, interval * timestep * units.fs])  # one frame interval, ``interval`` steps
    frames = []
    writer = Trajectory(str(trajectory), "w") if trajectory else None
    try:
        for _ in range(steps // interval):
            qs, ps = hamiltonian.rollout(q, p, ts, masses, features, method=method, substeps=interval)
            q, p = qs[:, -1], ps[:, -1]
            frame = atoms.copy()
            frame.positions, frame.calc = q[0], None
            frame.set_momenta(p[0])
            frame.info["hamiltonian"] = float(hamiltonian.energy(q, p, masses, features)[0])
            frames.append(frame)
            if writer is not None:
                writer.write(frame)
    finally:
        if writer is not None:
            writer.close()
    return frames
