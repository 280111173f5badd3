"""The Verlet skin reuses neighbour lists without changing any result."""

import numpy as np
from ase import units
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from conftest import ELEMENTS, copper_with_adsorbate, ethanol, tiny_potential

import equiformer_ase as ea


def test_skin_reuse_gives_fresh_list_forces_along_md():
    for make in (ethanol, copper_with_adsorbate):
        atoms = make()
        thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(1))
        reused = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64", skin=0.6)
        fresh = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64", skin=0.0)
        atoms.calc = reused
        steps = []
        dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
        dyn.attach(lambda: steps.append((atoms.get_forces().copy(), fresh.get_forces(atoms))), interval=1)
        dyn.run(25)
        for with_skin, without in steps:
            np.testing.assert_allclose(with_skin, without, atol=1e-10)
        assert 1 <= reused.neighbour_list.rebuilds < len(steps) // 2
        assert fresh.neighbour_list.rebuilds == len(steps)


def test_rebuild_when_an_atom_moves_half_the_skin_or_the_cell_changes():
    atoms = copper_with_adsorbate()
    neighbours = ea.graph.NeighbourList(ELEMENTS, cutoff=4.0, skin=1.0)
    neighbours([atoms])
    atoms.positions[3] += [0.0, 0.0, 0.45]
    neighbours([atoms])
    assert neighbours.rebuilds == 1
    atoms.positions[3] += [0.0, 0.0, 0.1]
    neighbours([atoms])
    assert neighbours.rebuilds == 2
    atoms.set_cell(atoms.cell.array * 1.001, scale_atoms=True)
    neighbours([atoms])
    assert neighbours.rebuilds == 3
