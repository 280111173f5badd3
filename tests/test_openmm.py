"""OpenMM through openmm-ml: MLPotential("equiformer") equals the ASE calculator, units converted."""

from importlib import resources

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.io import read

import equiformer_ase as ea

openmm = pytest.importorskip("openmm")
openmmml = pytest.importorskip("openmmml")
app = pytest.importorskip("openmm.app")

KJ_PER_MOL = 1.0 / (units.kJ / units.mol)  # per eV


def ethanol():
    return read(resources.files("equiformer_ase.data") / "md17" / "ethanol.xyz", index=0)


def copper_box():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    return atoms


def topology_of(atoms):
    """One residue per structure; the cell (if periodic) as the box, nm."""
    topology = app.Topology()
    residue = topology.addResidue("MOL", topology.addChain())
    for k, symbol in enumerate(atoms.get_chemical_symbols()):
        topology.addAtom(f"{symbol}{k}", app.Element.getBySymbol(symbol), residue)
    if atoms.pbc.all():
        topology.setPeriodicBoxVectors(
            [openmm.Vec3(*row) * 0.1 for row in atoms.cell[:]] * openmm.unit.nanometer
        )
    return topology


def openmm_energy_forces(system, atoms):
    """Energy (eV) and forces (n, 3) eV/A of ``system`` at ``atoms``' positions, Reference platform."""
    context = openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    if atoms.pbc.all():
        context.setPeriodicBoxVectors(*[openmm.Vec3(*row) * 0.1 for row in atoms.cell[:]])
    context.setPositions(atoms.positions * 0.1)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole) / KJ_PER_MOL
    forces = state.getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.angstrom
    )
    return energy, forces / KJ_PER_MOL


@pytest.mark.parametrize("name, make", [("gfn2-md17", ethanol), ("emt-surfaces", copper_box)])
def test_openmm_equals_the_ase_calculator(name, make):
    atoms = make()
    system = openmmml.MLPotential("equiformer", potential=name, device="cpu").createSystem(topology_of(atoms))
    energy, forces = openmm_energy_forces(system, atoms)
    atoms.calc = ea.EquiformerCalculator(name, device="cpu", dtype="float64")
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-8)
    assert system.usesPeriodicBoundaryConditions() == bool(atoms.pbc.all())


def test_missing_element_is_refused_at_create_system():
    atoms = ethanol()
    atoms.symbols[0] = "S"
    with pytest.raises(ea.UnsupportedElementError, match="S: this potential supports H, C, N, O"):
        openmmml.MLPotential("equiformer", potential="gfn2-md17").createSystem(topology_of(atoms))


def test_mixed_system_adds_the_ml_energy_to_the_mm_rest():
    """Ethanol by the potential, a neighbouring water and the ethanol-water interaction by a classical
    NonbondedForce (mechanical embedding): energy = ML(ethanol) + MM without ethanol-ethanol pairs."""
    from ase.build import molecule

    solute, water = ethanol(), molecule("H2O")
    water.positions += solute.positions.mean(axis=0) + [4.0, 0.0, 0.0]
    atoms = solute + water
    mm = openmm.System()
    nonbonded = openmm.NonbondedForce()
    for k, atom in enumerate(atoms):
        mm.addParticle(atom.mass)
        nonbonded.addParticle(0.1 * (-1) ** k, 0.3, 0.5)
    mm.addForce(nonbonded)
    ml_atoms = list(range(len(solute)))
    mixed = openmmml.MLPotential("equiformer", potential="gfn2-md17").createMixedSystem(
        topology_of(atoms), mm, ml_atoms
    )
    for i in ml_atoms:
        for j in ml_atoms[:i]:
            nonbonded.addException(i, j, 0.0, 0.3, 0.0)
    solute.calc = ea.EquiformerCalculator("gfn2-md17", device="cpu", dtype="float64")
    expected = solute.get_potential_energy() + openmm_energy_forces(mm, atoms)[0]
    assert openmm_energy_forces(mixed, atoms)[0] == pytest.approx(expected, abs=1e-8)


def test_langevin_run_keeps_a_sensible_temperature():
    atoms = ethanol()
    topology = topology_of(atoms)
    system = openmmml.MLPotential("equiformer", potential="gfn2-md17", dtype="float32").createSystem(topology)
    integrator = openmm.LangevinMiddleIntegrator(300.0, 10.0, 0.0005)  # K, 1/ps, ps
    integrator.setRandomNumberSeed(1)
    simulation = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(atoms.positions * 0.1)
    simulation.context.setVelocitiesToTemperature(300.0, 1)
    simulation.step(100)
    state = simulation.context.getState(getEnergy=True)
    dof = 3 * len(atoms) - 3  # the CMMotionRemover takes 3
    kinetic = state.getKineticEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    temperature = (
        2
        * kinetic
        / (
            dof
            * openmm.unit.MOLAR_GAS_CONSTANT_R.value_in_unit(
                openmm.unit.kilojoule_per_mole / openmm.unit.kelvin
            )
        )
    )
    assert np.isfinite(state.getPotentialEnergy()._value)
    assert 100 < temperature < 700
