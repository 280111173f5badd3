"""Hostile and careless inputs (issue 16): each gets a clear error of the package's own type, or the
right answer, and nothing on disk is lost."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

import equiformer_ase as ea
from conftest import ELEMENTS, tiny_calculator


@pytest.mark.parametrize("shift", [1e5, 1e8])
def test_float32_forces_far_from_the_origin(shift):
    calc = tiny_calculator("float32")
    water = molecule("H2O")
    water.calc = calc
    near = water.get_forces().copy(), water.get_potential_energy()
    far = water.copy()
    far.positions += shift
    far.calc = calc
    np.testing.assert_allclose(far.get_forces(), near[0], atol=1e-4)
    assert far.get_potential_energy() == pytest.approx(near[1], abs=1e-4)


def test_one_atom_far_away_builds_a_small_graph():
    """matscipy's cell list would bin the whole bounding box (1e5 A: ~1e13 bins); the k-d tree does not."""
    water = molecule("H2O")
    far = water + Atoms("H", positions=[[1e5, -3e4, 2e4]])
    graph = ea.build_graph([far], ELEMENTS, 4.0)
    reference = ea.build_graph([water], ELEMENTS, 4.0)
    assert graph.edge_index.tolist() == reference.edge_index.tolist()
    with pytest.raises(ValueError, match="bins"):
        ea.build_graph([far], ELEMENTS, 4.0, backend="matscipy")


def test_huge_periodic_box():
    """A 1e4 A periodic box with a dimer, on either side of a face: two edges across the face."""
    dimer = Atoms("H2", positions=[[0.2, 5.0, 5.0], [1e4 - 0.4, 5.0, 5.0]], cell=[1e4, 1e4, 1e4], pbc=True)
    graph = ea.build_graph([dimer], ELEMENTS, 4.0)
    assert sorted(map(tuple, graph.edge_index.T.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(np.linalg.norm(graph.edge_vectors().numpy(), axis=1), [0.6, 0.6])
