"""D3(BJ) dispersion added to a potential, from simple-dftd3 (the ``dftd3`` package, extra ``d3``).

A potential trained on a dispersion-free DFT functional (PBE) misses the London dispersion that binds
molecular crystals, layered materials and adsorbates; D3 with Becke-Johnson damping for that functional
is the usual correction (MACE's ``mace_mp(dispersion=True, damping="bj", dispersion_xc="pbe")``).
Energies in eV, forces eV/A, stress eV/A^3 (ASE's). Two ways in, one D3:

* :func:`with_dispersion`: an ASE ``SumCalculator`` of a calculator and :func:`d3_calculator`;
* :class:`BatchedDispersion`: the same D3 per system for the batched MD / relaxation engine.

Adding D3 to a potential whose reference already holds dispersion (GFN2-xTB has D4) or none to correct
(EMT) warns: :func:`check_reference` reads the reference from the potential's training record.
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

DISPERSIONS = ("d3",)

# References (as written in a potential's training recipe, lower case) for which D3 is wrong, and why.
NO_D3 = {
    "gfn2-xtb": "GFN2-xTB already contains D4 dispersion",
    "emt": "EMT is a fitted metal potential, not a DFT functional missing dispersion",
}


def d3_calculator(functional: str = "PBE") -> BaseCalculator:
    """simple-dftd3's ASE calculator: D3 with Becke-Johnson damping, parameters of ``functional``."""
    try:
        from dftd3.ase import DFTD3
    except ImportError:
        raise ImportError(
            "dispersion='d3' needs simple-dftd3: pip install 'equiformer-ase[d3]' (or pip install dftd3)"
        ) from None
    return DFTD3(method=functional, damping="d3bj")


def check_dispersion(dispersion: str | None) -> None:
    """ValueError unless ``dispersion`` is None or one of :data:`DISPERSIONS`."""
    if dispersion is not None and dispersion not in DISPERSIONS:
        raise ValueError(f"unknown dispersion {dispersion!r}; choose from {', '.join(DISPERSIONS)}")


def training_reference(model) -> str | None:
    """The reference a :class:`~equiformer_ase.potential.Potential` (or a committee's first member) was
    trained on, as its training recipe names it (e.g. "GFN2-xTB (tblite.ase.TBLite)"); None if unknown."""
    metadata = model.members[0].metadata if hasattr(model, "members") else model.metadata
    recipe = (metadata.get("training") or {}).get("recipe") or {}
    return (recipe.get("recipe") or {}).get("reference")


def check_reference(model) -> None:
    """Warn when D3 is added to a potential whose reference needs none (see :data:`NO_D3`)."""
    reference = training_reference(model) or ""
    for name, reason in NO_D3.items():
        if reference.lower().startswith(name):
            warnings.warn(
                f"D3 added to a potential trained on {reference}: {reason}; the sum double counts "
                "or invents dispersion",
                stacklevel=3,
            )


def dispersion_note(reference: str) -> str:
    """The model card's sentence on dispersion for a potential trained on ``reference``."""
    for name, reason in NO_D3.items():
        if reference.lower().startswith(name):
            return f"Dispersion: {reason}; do not add D3 to it."
    if reference.lower().startswith("pyscf:"):
        functional = reference.split(":", 1)[1].split("/", 1)[0]
        return (
            f"Dispersion: none in the reference ({functional} without a dispersion correction); add D3(BJ) "
            "where molecules or surfaces interact (`with_dispersion`, `--dispersion d3`)."
        )
    return "Dispersion: not known for this reference; check it before adding D3."


def with_dispersion(calculator, dispersion: str | None = "d3", functional: str = "PBE") -> BaseCalculator:
    """``calculator`` (an :class:`~equiformer_ase.calculator.EquiformerCalculator`) plus D3(BJ) for
    ``functional`` as an ASE ``SumCalculator`` (energy, forces, stress); ``calculator`` itself when
    ``dispersion`` is None. Warns where the potential's reference needs no D3 (:func:`check_reference`)."""
    from ase.calculators.mixing import SumCalculator

    check_dispersion(dispersion)
    if dispersion is None:
        return calculator
    check_reference(calculator.potential)
    return SumCalculator([calculator, d3_calculator(functional)])


class BatchedDispersion:
    """D3(BJ) of every system of a batch, for the engine: ``templates`` give the atoms, cells and pbc;
    :meth:`__call__` maps flat positions (N, 3) A to energies (B,) eV and forces (N, 3) eV/A (numpy)."""

    def __init__(self, templates: list[Atoms], functional: str = "PBE"):
        self.systems = [atoms.copy() for atoms in templates]
        for atoms in self.systems:
            atoms.calc = d3_calculator(functional)
        self.offsets = np.cumsum([0] + [len(atoms) for atoms in templates])

    def __call__(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        energies, forces = [], []
        for atoms, start, stop in zip(self.systems, self.offsets[:-1], self.offsets[1:]):
            atoms.positions = positions[start:stop]
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        return np.array(energies), np.concatenate(forces)
