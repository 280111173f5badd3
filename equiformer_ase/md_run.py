"""One MD run as the command line makes it: replicas of each structure with their own Maxwell-Boltzmann
momenta (or the last frames of an earlier run), advanced together on the device to a total number of
steps, writing a trajectory per system and a CSV log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import Trajectory
from ase.md.velocitydistribution import thermalize_momenta

from .dynamics import MolecularDynamics, last_frames, trajectory_paths
from .errors import UserFileError
from .locks import locked
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
    ``trajectory`` instead (:func:`~equiformer_ase.dynamics.last_frames`), once :func:`check_resumable`
    found them readable and of these structures. The trajectories and the log are locked while it runs
    (:mod:`~equiformer_ase.locks`). ``temperature`` and ``seed``
    are the engine's too (NVT target, Langevin noise); ``engine``: the other options of
    :class:`~equiformer_ase.dynamics.MolecularDynamics` (``timestep`` fs, ``ensemble``, ...). Every
    ``interval`` steps a frame goes to each system's trajectory
    (:func:`~equiformer_ase.dynamics.trajectory_paths`) and a line per system to ``logfile``.
    """
    systems = [atoms.copy() for atoms in structure_list(structures) for _ in range(replicas)]
    paths = trajectory_paths(trajectory, len(systems))
    with locked(paths + [logfile] * bool(logfile)):
        if resume:
            check_resumable(trajectory, systems)
            systems = last_frames(trajectory, len(systems))
        elif temperature is not None:
            for k, atoms in enumerate(systems):
                thermalize_momenta(atoms, temperature, rng=np.random.default_rng(seed + k))
        md = MolecularDynamics(systems, potential, temperature=temperature, seed=seed, **engine)
        md.run(steps - md.step_count, trajectory=trajectory, logfile=logfile, interval=interval)
    return md


def check_resumable(trajectory: str | Path, systems: list[Atoms]) -> None:
    """:class:`UserFileError` unless the run in ``trajectory`` is the one of ``systems``: one readable file
    per system (:func:`~equiformer_ase.dynamics.trajectory_paths`), every frame of it readable, holding
    that system's atomic numbers."""
    paths = trajectory_paths(trajectory, len(systems))
    others = trajectory_paths(trajectory, len(systems) + 1)[-1]
    if others.exists():
        raise UserFileError(
            f"--resume: {others} exists, so the run in {trajectory} had more than the {len(systems)} system(s) "
            "of this structure file and --replicas: not the same run"
        )
    for k, (path, atoms) in enumerate(zip(paths, systems)):
        if not path.is_file():
            raise UserFileError(
                f"--resume: no trajectory {path} for system {k}: the run in {trajectory} had other systems, "
                "or never started"
            )
        readable = 0
        try:
            with Trajectory(str(path)) as frames:
                for written in frames:
                    if list(written.numbers) != list(atoms.numbers):
                        raise UserFileError(
                            f"--resume: {path} holds {written.get_chemical_formula()}, system {k} of the structure "
                            f"file is {atoms.get_chemical_formula()}: not the run in this trajectory"
                        )
                    readable += 1
        except UserFileError:
            raise
        except Exception as exc:  # ASE raises anything from struct errors to KeyError on a damaged file
            raise UserFileError(
                f"--resume: {path} is unreadable after {readable} frame(s) ({type(exc).__name__}: {exc}); it is "
                "damaged (two runs writing it?): start a fresh run with another --traj"
            ) from None
        if not readable:
            raise UserFileError(f"--resume: {path} holds no frame to resume from")
