"""One MD run as the command line makes it: replicas of each structure with their own Maxwell-Boltzmann
momenta (or the last frames of an earlier run), advanced together on the device to a total number of
steps, writing a trajectory per system and a CSV log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.md.velocitydistribution import thermalize_momenta

from .dynamics import MolecularDynamics, last_frames
from .structures import structure_list


def run_md(
    structures: Atoms | list[Atoms],
    potential,
    *,
    steps: int,
    trajectory: str | Path,
    logfile: str | Path | None = None,
    replicas: int = 1,
    temperature: float | None = None,
    seed: int = 0,
    resume: bool = False,
    interval: int = 10,
    **engine,
) -> MolecularDynamics:
    """Advance ``replicas`` copies of every structure to MD step ``steps``; returns the engine at the end.

    A fresh run starts from the structures' momenta or, given ``temperature`` (K), from Maxwell-Boltzmann
    momenta drawn with seed ``seed + k`` for system k; ``resume`` continues from the last frames of
    ``trajectory`` instead (:func:`~equiformer_ase.dynamics.last_frames`). ``temperature`` and ``seed``
    are the engine's too (NVT target, Langevin noise); ``engine``: the other options of
    :class:`~equiformer_ase.dynamics.MolecularDynamics` (``timestep`` fs, ``ensemble``, ...). Every
    ``interval`` steps a frame goes to each system's trajectory
    (:func:`~equiformer_ase.dynamics.trajectory_paths`) and a line per system to ``logfile``.
    """
    systems = [atoms.copy() for atoms in structure_list(structures) for _ in range(replicas)]
    if resume:
        systems = last_frames(trajectory, len(systems))
    elif temperature is not None:
        for k, atoms in enumerate(systems):
            thermalize_momenta(atoms, temperature, rng=np.random.default_rng(seed + k))
    md = MolecularDynamics(systems, potential, temperature=temperature, seed=seed, **engine)
    md.run(steps - md.step_count, trajectory=trajectory, logfile=logfile, interval=interval)
    return md
