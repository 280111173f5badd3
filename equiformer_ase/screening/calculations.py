"""What a screening runs on a Dask worker (or in process): batched relaxations with the potential, and
relaxations and single points with a reference calculator.

Each takes a list of structures and returns, per structure, (a copy with a SinglePointCalculator holding
energy and forces, converged, extra row values): ``max_forces_dev`` (eV/A, at the relaxed structure) when
the potential is a committee; ``force_calls``, the reference's force evaluations, otherwise. A reference's
forces are stored as computed, fixed atoms included (ASE applies the constraints when they are read), so
its rows can label training data.
"""

from __future__ import annotations

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.optimize import FIRE

from ..references import reference_calculator

Result = tuple[Atoms, bool, dict]


def relax_with_potential(
    structures: list[Atoms],
    potential: str,
    fmax: float,
    steps: int,
    device: str,
    dtype: str,
    dispersion: str | None = None,
) -> list[Result]:
    """All ``structures`` relaxed together by the batched FIRE engine (:func:`equiformer_ase.dynamics.relax`),
    with D3 added for ``dispersion="d3"``."""
    from ..dynamics import relax  # torch only where the potential runs

    relaxed, converged = relax(
        structures,
        potential,
        fmax=fmax,
        steps=steps,
        device=device,
        dtype=dtype,
        progress=False,
        dispersion=dispersion,
    )
    return [
        (
            atoms,
            ok,
            {"max_forces_dev": atoms.info["max_forces_dev"]} if "max_forces_dev" in atoms.info else {},
        )
        for atoms, ok in zip(relaxed, converged)
    ]


def _freeze(atoms: Atoms) -> None:
    """Replace ``atoms``' calculator by a SinglePointCalculator of its energy and unconstrained forces."""
    atoms.calc = SinglePointCalculator(
        atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces(apply_constraint=False)
    )


def relax_with_reference(structures: list[Atoms], reference: str, fmax: float, steps: int) -> list[Result]:
    """Each structure relaxed by ASE's FIRE with a fresh ``reference`` calculator (a :func:`reference_calculator`
    name); ``force_calls`` = FIRE steps + 1."""
    factory, results = reference_calculator(reference), []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = factory()
        optimizer = FIRE(atoms, logfile=None)
        converged = bool(optimizer.run(fmax=fmax, steps=steps))
        _freeze(atoms)
        results.append((atoms, converged, {"force_calls": optimizer.nsteps + 1}))
    return results


def single_points(structures: list[Atoms], reference: str) -> list[Result]:
    """Energy and forces of each structure with a fresh ``reference`` calculator; ``force_calls`` = 1."""
    factory, results = reference_calculator(reference), []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = factory()
        _freeze(atoms)
        results.append((atoms, True, {"force_calls": 1}))
    return results
