"""Structures (``ase.Atoms``) in and out of batched work: one or many, the atoms they hold fixed, and
where each one's atoms are in a batch."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms


def structure_list(atoms_or_list: Atoms | list[Atoms]) -> list[Atoms]:
    """``[atoms]`` for one Atoms, else the structures as a list; ValueError for none."""
    structures = [atoms_or_list] if isinstance(atoms_or_list, Atoms) else list(atoms_or_list)
    if not structures:
        raise ValueError("no structures given")
    return structures


def fixed_atoms(atoms: Atoms) -> np.ndarray:
    """(n,) bool: the atoms a ``FixAtoms`` constraint holds (other constraints are not looked at)."""
    fixed = np.zeros(len(atoms), dtype=bool)
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            fixed[constraint.get_indices()] = True
    return fixed


def structure_slices(sizes: list[int]) -> list[slice]:
    """Where each structure's atoms are in a batch of consecutive structures of ``sizes`` atoms."""
    bounds = np.cumsum([0, *sizes]).tolist()
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
