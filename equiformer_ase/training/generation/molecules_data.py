"""GFN2-xTB reference data for the MD17 molecules: Langevin MD at 500 K from the shipped geometries.

Needs ``tblite`` (``pip install 'equiformer-ase[data]'``). Frames carry ``info`` ``subset="md17"``,
``system`` and ``molecule`` (the MD17 name), ``source="md"`` and ``temperature`` (K); energy (eV)
and forces (eV/Angstrom), no stress (non-periodic).
"""

from __future__ import annotations

import os
import warnings
from functools import partial

import numpy as np
from ase import Atoms

from ...data import md17_molecule
from ...references import gfn2_xtb
from .recipes import MoleculeRecipe
from .sampling import langevin_frames
from .tasks import Task


def _trajectory(
    recipe: MoleculeRecipe, name: str, temperature: float, rng: np.random.Generator
) -> list[Atoms]:
    atoms = md17_molecule(name)
    atoms.calc = gfn2_xtb()
    return langevin_frames(
        atoms,
        rng,
        temperature=temperature,
        timestep=recipe.timestep,
        friction=recipe.friction,
        equilibration_steps=recipe.equilibration_steps,
        interval=recipe.sample_interval,
        n_frames=recipe.frames_per_trajectory,
        subset="md17",
        system=name,
        molecule=name,
    )


def molecule_tasks(recipe: MoleculeRecipe) -> list[Task]:
    """One task per (molecule, temperature, trajectory), each with its own random stream.

    With one temperature the task ids (and so the random streams) are those of recipes written
    before temperatures could be several: ``md17:NAME:trajK``; otherwise ``md17:NAME:TK:trajK``.
    """
    gfn2_xtb()  # fail before any work if tblite is missing
    if os.environ.get("OMP_NUM_THREADS") != "1":
        warnings.warn(
            "GFN2-xTB on MD17-sized molecules is fastest single-threaded and OpenMP threads slow it "
            "down badly on busy cores; start with OMP_NUM_THREADS=1",
            stacklevel=2,
        )

    def task_id(name: str, temperature: float, k: int) -> str:
        at = "" if len(recipe.temperatures) == 1 else f"{temperature:g}K:"
        return f"md17:{name}:{at}traj{k}"

    return [
        Task(task_id(name, temperature, k), partial(_trajectory, recipe, name, temperature))
        for name in recipe.molecules
        for temperature in recipe.temperatures
        for k in range(recipe.trajectories)
    ]
