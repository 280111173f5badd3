"""Relaxation with ASE's optimizers, one structure at a time: for any ASE calculator and constraint,
and for cells (``FrechetCellFilter``), which the batched FIRE engine does not move. Each result keeps
its final energy and forces in a ``SinglePointCalculator``."""

from __future__ import annotations

from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE

from .calculator import EquiformerCalculator
from .structures import structure_list

OPTIMIZERS = {"fire": FIRE, "bfgs": BFGS}


def relax_with_ase(
    atoms: Atoms,
    calculator: BaseCalculator,
    fmax: float,
    steps: int,
    optimizer: str = "fire",
    cell: bool = False,
) -> bool:
    """Relax ``atoms`` in place to ``fmax`` (eV/A) in at most ``steps`` steps of ``optimizer`` ("fire" or
    "bfgs"); ``cell``: the cell too. True if converged. ``atoms`` keep a SinglePointCalculator with the
    final energy, forces (and stress with ``cell``), and a committee's ``max_forces_dev`` in ``info``."""
    atoms.calc = calculator
    converged = bool(
        OPTIMIZERS[optimizer](FrechetCellFilter(atoms) if cell else atoms, logfile=None).run(
            fmax=fmax, steps=steps
        )
    )
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if cell:
        results["stress"] = atoms.get_stress()
    if "max_forces_dev" in calculator.results:
        atoms.info["max_forces_dev"] = calculator.results["max_forces_dev"]
    atoms.calc = SinglePointCalculator(atoms, **results)
    return converged


def relax_cells(
    structures: Atoms | list[Atoms],
    potential,
    *,
    fmax: float = 0.05,
    steps: int = 1000,
    optimizer: str = "fire",
    device: str = "auto",
    dtype: str = "float64",
    allow_close_contacts: bool = False,
) -> tuple[list[Atoms], list[bool]]:
    """Relax positions and cell of a copy of each structure through one
    :class:`~equiformer_ase.calculator.EquiformerCalculator` of ``potential`` (a potential, committee,
    name or path); returns them (see :func:`relax_with_ase`) and the converged flags, as
    :func:`~equiformer_ase.dynamics.relax` does for fixed cells."""
    calculator = EquiformerCalculator(
        potential, device=device, dtype=dtype, allow_close_contacts=allow_close_contacts
    )
    relaxed = [atoms.copy() for atoms in structure_list(structures)]
    return relaxed, [
        relax_with_ase(atoms, calculator, fmax, steps, optimizer, cell=True) for atoms in relaxed
    ]
