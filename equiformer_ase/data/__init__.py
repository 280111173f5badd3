"""Structures shipped with the package (no downloads at run time)."""

from __future__ import annotations

from importlib import resources

from ase import Atoms
from ase.io import read

MD17_MOLECULES = (
    "aspirin",
    "benzene",
    "ethanol",
    "malonaldehyde",
    "naphthalene",
    "salicylic_acid",
    "toluene",
    "uracil",
)


def md17_molecule(name: str) -> Atoms:
    """Starting geometry of an MD17 molecule (see ``data/md17/README.md`` for how it was made)."""
    if name not in MD17_MOLECULES:
        raise ValueError(f"unknown MD17 molecule {name!r}; choose one of {', '.join(MD17_MOLECULES)}")
    with resources.as_file(resources.files(__name__) / "md17" / f"{name}.xyz") as path:
        return read(path, format="xyz")
