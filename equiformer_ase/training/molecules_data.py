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

from ..data import md17_molecule
from .recipes import MoleculeRecipe
from .sampling import langevin_frames
from .tasks import Task


def gfn2_xtb():
    """A fresh GFN2-xTB ASE calculator from tblite, or an ImportError saying how to install it."""
    try:
        from tblite.ase import TBLite
    except ImportError as err:
        raise ImportError(
            "molecule reference data needs tblite (GFN2-xTB): pip install 'equiformer-ase[data]'"
        ) from err
    return TBLite(method="GFN2-xTB", verbosity=0)


def _trajectory(recipe: MoleculeRecipe, name: str, rng: np.random.Generator) -> list[Atoms]:
    atoms = md17_molecule(name)
    atoms.calc = gfn2_xtb()
    return langevin_frames(
        atoms,
        rng,
        temperature=recipe.temperature,
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
    """One task per (molecule, trajectory), each with its own random stream."""
    gfn2_xtb()  # fail before any work if tblite is missing
    if os.environ.get("OMP_NUM_THREADS") != "1":
        warnings.warn(
            "GFN2-xTB on MD17-sized molecules is fastest single-threaded and OpenMP threads slow it "
            "down badly on busy cores; start with OMP_NUM_THREADS=1",
            stacklevel=2,
        )
    return [
        Task(f"md17:{name}:traj{k}", partial(_trajectory, recipe, name))
        for name in recipe.molecules
        for k in range(recipe.trajectories)
    ]
