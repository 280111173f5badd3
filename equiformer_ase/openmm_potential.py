"""An Equiformer potential inside OpenMM, through openmm-ml (extra ``openmm``).

Registered under the name ``equiformer`` in openmm-ml's entry-point group ``openmmml.potentials``::

    from openmmml import MLPotential
    potential = MLPotential("equiformer", potential="gfn2-md17")   # shipped name, path or committee
    system = potential.createSystem(topology)                      # or createMixedSystem(...)

The energy and forces come from one :class:`~equiformer_ase.calculator.EquiformerCalculator` inside an
``openmm.PythonForce`` (openmm-torch has no wheel on PyPI). Units: OpenMM's nm and kJ/mol outside,
Angstrom and eV inside; a topology's periodic box is passed on as the cell (pbc in all three directions).
Options of ``MLPotential(...)``: ``potential``, ``device`` ("auto", "cpu", "cuda"), ``dtype`` ("float64"
by default, for MD with OpenMM's integrators) and ``dispersion`` (None or "d3").
"""

from __future__ import annotations

from functools import partial

import numpy as np
import openmm
from ase import Atoms, units
from openmm import unit
from openmmml.mlpotential import MLPotentialImpl, MLPotentialImplFactory

from .calculator import EquiformerCalculator
from .dispersion import with_dispersion
from .errors import UnsupportedElementError

EV_TO_KJ_PER_MOL = 1.0 / (units.kJ / units.mol)  # 96.485...
ANGSTROM_PER_NM = 10.0


class EquiformerPotentialImplFactory(MLPotentialImplFactory):
    """Makes :class:`EquiformerPotentialImpl` objects for ``MLPotential("equiformer", ...)``."""

    def createImpl(self, name: str, **args) -> MLPotentialImpl:
        return EquiformerPotentialImpl(**args)


class EquiformerPotentialImpl(MLPotentialImpl):
    """Adds the potential to a System as one ``PythonForce`` over the ML atoms (all, or the ``atoms``
    openmm-ml passes for a mixed system)."""

    def __init__(
        self,
        potential: str = "gfn2-md17",
        device: str = "auto",
        dtype: str = "float64",
        dispersion: str | None = None,
    ):
        self.calculator = with_dispersion(
            EquiformerCalculator(potential, device=device, dtype=dtype), dispersion
        )

    def getMLLongRange(self) -> bool:
        """Local: nothing beyond the cutoff (D3's tail, where added, is cut off too)."""
        return False

    def addForces(self, topology, system, atoms, forceGroup, **args) -> None:
        topology_atoms = list(topology.atoms())
        chosen = [topology_atoms[i] for i in atoms] if atoms is not None else topology_atoms
        missing = [atom.index for atom in chosen if atom.element is None]
        if missing:
            raise ValueError(
                f"topology atoms {missing[:10]} have no element; the potential needs one for each"
            )
        symbols = [atom.element.symbol for atom in chosen]
        supported = list(_model_calculator(self.calculator).potential.config.elements)
        if set(symbols) - set(supported):
            raise UnsupportedElementError(sorted(set(symbols) - set(supported)), supported)
        periodic = topology.getPeriodicBoxVectors() is not None
        force = openmm.PythonForce(
            partial(_compute, atoms=Atoms(symbols, pbc=periodic, calculator=self.calculator))
        )
        force.setForceGroup(forceGroup)
        force.setUsesPeriodicBoundaryConditions(periodic)
        if atoms is not None:
            force.setParticles(list(atoms))
        system.addForce(force)


def _model_calculator(calculator) -> EquiformerCalculator:
    """The EquiformerCalculator in ``calculator`` (itself, or the first term of a SumCalculator)."""
    return calculator if isinstance(calculator, EquiformerCalculator) else calculator.calcs[0]


def _compute(state, atoms: Atoms) -> tuple[float, np.ndarray]:
    """PythonForce computation: the state's positions (nm) -> energy kJ/mol, forces (n, 3) kJ/mol/nm,
    through ``atoms.calc`` in Angstrom and eV."""
    atoms.positions = state.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    if atoms.pbc.all():
        atoms.cell = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.angstrom)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    return energy * EV_TO_KJ_PER_MOL, forces * (EV_TO_KJ_PER_MOL * ANGSTROM_PER_NM)
