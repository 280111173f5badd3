"""Relaxation with ASE's optimizers, one structure at a time: for any ASE calculator and constraint,
and for cells (``FrechetCellFilter``), which the batched FIRE engine does not move. Each result keeps
its final energy and forces in a ``SinglePointCalculator``."""

from __future__ import annotations

import math
from collections.abc import Callable

from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE

from .calculator import EquiformerCalculator
from .committee import TRUST_LEVEL, Committee, flag_untrusted
from .dispersion import with_dispersion
from .errors import UncertaintyError
from .structures import structure_list

OPTIMIZERS = {"fire": FIRE, "bfgs": BFGS}


def relax_with_ase(
    atoms: Atoms,
    calculator: BaseCalculator,
    fmax: float,
    steps: int,
    optimizer: str = "fire",
    cell: bool = False,
    max_uncertainty: float = math.inf,
) -> bool:
    """Relax ``atoms`` in place to ``fmax`` (eV/A) in at most ``steps`` steps of ``optimizer`` ("fire" or
    "bfgs"); ``cell``: the cell too. True if converged. ``atoms`` keep a SinglePointCalculator with the
    final energy, forces (and stress with ``cell``), and a committee's ``max_forces_dev`` and ``trusted``
    in ``info`` (:func:`~equiformer_ase.committee.flag_untrusted`, at the committee's trust level).
    ``max_uncertainty`` (eV/A): :class:`~equiformer_ase.errors.UncertaintyError` as soon as a committee's
    ``max_forces_dev`` exceeds it, as in MD."""
    atoms.calc = calculator
    optimizer = OPTIMIZERS[optimizer](FrechetCellFilter(atoms) if cell else atoms, logfile=None)

    def gate():
        deviation = calculator.results.get("max_forces_dev", 0.0)
        if deviation > max_uncertainty:
            raise UncertaintyError(
                f"relaxation step {optimizer.nsteps}: committee force deviation {deviation:.3g} eV/A above "
                f"max_uncertainty={max_uncertainty:g} eV/A (outside the potential's training data)"
            )

    if max_uncertainty < math.inf:
        optimizer.attach(gate)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if cell:
        results["stress"] = atoms.get_stress()
    if "max_forces_dev" in calculator.results:
        atoms.info["max_forces_dev"] = calculator.results["max_forces_dev"]
        committee = getattr(calculator, "potential", None)
        flag_untrusted([atoms], committee.trust_level if isinstance(committee, Committee) else TRUST_LEVEL)
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
    dispersion: str | None = None,
    max_uncertainty: float = math.inf,
    finished: Callable[[int, Atoms, bool], None] | None = None,
) -> tuple[list[Atoms], list[bool]]:
    """Relax positions and cell of a copy of each structure through one
    :class:`~equiformer_ase.calculator.EquiformerCalculator` of ``potential`` (a potential, committee,
    name or path), plus D3 with ``dispersion="d3"`` (:func:`~equiformer_ase.dispersion.with_dispersion`);
    returns them (see :func:`relax_with_ase`, also for ``max_uncertainty``) and the converged flags, and
    calls ``finished(k, atoms, converged)`` as each is done, as :func:`~equiformer_ase.dynamics.relax`
    does for fixed cells."""
    calculator = with_dispersion(
        EquiformerCalculator(
            potential, device=device, dtype=dtype, allow_close_contacts=allow_close_contacts
        ),
        dispersion,
    )
    relaxed = [atoms.copy() for atoms in structure_list(structures)]
    converged = []
    for k, atoms in enumerate(relaxed):
        converged.append(relax_with_ase(atoms, calculator, fmax, steps, optimizer, True, max_uncertainty))
        if finished is not None:
            finished(k, atoms, converged[-1])
    return relaxed, converged
