"""Periodic images, batching and the isolated-atom limit."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from conftest import ELEMENTS, copper_with_adsorbate, ethanol, tiny_potential, triclinic_copper

import equiformer_ase as ea
import equiformer_ase.potential as potential_module


def test_small_cell_matches_supercell(calc64):
    """A cell smaller than the cutoff sees its own images: energy per atom equals the 2x2x2 supercell's."""
    cell = triclinic_copper()
    assert min(cell.cell.lengths()) < calc64.potential.config.cutoff
    supercell = cell.repeat((2, 2, 2))
    results = calc64.calculate_batch([cell, supercell])
    assert abs(results[0]["energy"] / len(cell) - results[1]["energy"] / len(supercell)) < 1e-10
    np.testing.assert_allclose(results[1]["forces"][: len(cell)], results[0]["forces"], atol=1e-10)
    np.testing.assert_allclose(results[1]["stress"], results[0]["stress"], atol=1e-10)


def test_one_atom_cell_sees_its_images(calc64):
    """A primitive fcc cell (1 atom, 12 images within the cutoff) matches its conventional cell."""
    primitive = bulk("Cu", "fcc", a=3.6)
    conventional = bulk("Cu", "fcc", a=3.6, cubic=True)
    results = calc64.calculate_batch([primitive, conventional])
    assert abs(results[0]["energy"] - results[1]["energy"] / 4) < 1e-10


def test_batch_equals_one_by_one(calc64):
    structures = [ethanol(), triclinic_copper(), molecule("H2O"), copper_with_adsorbate(), Atoms("N")]
    batched = calc64.calculate_batch(structures)
    for atoms, result in zip(structures, batched):
        atoms.calc = calc64
        assert abs(result["energy"] - atoms.get_potential_energy()) < 1e-10
        np.testing.assert_allclose(result["forces"], atoms.get_forces(), atol=1e-10)
        np.testing.assert_allclose(result["energies"], atoms.get_potential_energies(), atol=1e-10)
        assert ("stress" in result) == bool(atoms.pbc.all())
        if atoms.pbc.all():
            np.testing.assert_allclose(result["stress"], atoms.get_stress(), atol=1e-10)


@pytest.mark.parametrize("symbol", ELEMENTS)
def test_isolated_atom_gives_reference_energy(calc64, symbol):
    reference = calc64.potential.metadata["reference_energies"][symbol]
    lone = Atoms(symbol, positions=[[1.0, 2.0, 3.0]])
    far_apart = Atoms(symbol * 2, positions=[[0, 0, 0], [0, 0, 10.0]])
    results = calc64.calculate_batch([lone, far_apart])
    assert abs(results[0]["energy"] - reference) < 1e-12
    assert abs(results[1]["energy"] - 2 * reference) < 1e-12
    assert np.abs(results[1]["forces"]).max() < 1e-12


def test_neighbour_list_independent_of_position():
    atoms = ethanol()
    far = atoms.copy()
    far.positions += np.array([1e4, -3e3, 250.0])
    edges = []
    for a in (atoms, far):
        graph = ea.build_graph([a], ELEMENTS, 4.0, backend="matscipy")
        edges.append({tuple(e) for e in graph.edge_index.T.tolist()})
    assert edges[0] == edges[1] and len(edges[0]) == len(atoms) * (len(atoms) - 1) - 2 * _pairs_beyond(
        atoms, 4.0
    )


def _pairs_beyond(atoms, cutoff):
    d = atoms.get_all_distances()
    return int((np.triu(d, 1) >= cutoff).sum())


def test_stress_of_a_mixed_batch_trains_without_nan():
    """Non-periodic rows are NaN, yet differentiating the periodic rows' stress keeps gradients finite."""
    potential = tiny_potential().double()
    graph = ea.build_graph([triclinic_copper(), ethanol()], ELEMENTS, potential.config.cutoff)
    out = potential.evaluate(graph, forces=True, stress=True, create_graph=True)
    assert out["stress"][0].isfinite().all() and out["stress"][1].isnan().all()
    loss = out["stress"][0].pow(2).sum() + out["forces"].pow(2).sum()
    loss.backward()
    assert all(p.grad is None or p.grad.isfinite().all() for p in potential.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in potential.parameters())


@pytest.mark.parametrize("attention", ["mlp", "dot_product"])
def test_memory_modes_give_the_same_numbers(monkeypatch, attention):
    """``memory="low"`` (per-edge pipelines recomputed chunk by chunk in the backward pass, here 7 edges
    at a time, so every block runs in many chunks) equals ``"fast"`` to round-off, and a training call
    (``create_graph=True``) still differentiates forces with respect to the weights."""
    potential = tiny_potential(seed=3, attention=attention, radial_value=True).double()
    graph = ea.build_graph([copper_with_adsorbate(), ethanol()], ELEMENTS, potential.config.cutoff)
    potential.memory = "fast"
    fast = potential.evaluate(graph, stress=True)
    monkeypatch.setitem(potential_module.MEMORY_MODES, "low", 7)
    potential.memory = "low"
    low = potential.evaluate(graph, stress=True)
    for key in ("energy", "energies", "forces", "stress"):
        np.testing.assert_allclose(low[key].numpy(), fast[key].numpy(), rtol=0, atol=1e-12)
    trained = potential.evaluate(graph, create_graph=True)
    (trained["forces"] ** 2).sum().backward()
    assert all(p.grad is not None for p in potential.model.blocks.parameters())
