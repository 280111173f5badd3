"""Every neighbour-list backend gives the same graph and energy, never truncating neighbours."""

import importlib.util

import numpy as np
import pytest
from ase.build import bulk
from conftest import ELEMENTS, copper_with_adsorbate, tiny_potential, triclinic_copper

import equiformer_ase as ea

HAS_TORCH_CLUSTER = importlib.util.find_spec("torch_cluster") is not None
BACKENDS = ["matscipy", "kdtree", "brute"] + (["torch-cluster"] if HAS_TORCH_CLUSTER else [])


def dense_cluster():
    """A compressed Cu cluster: the central atoms have more than 32 neighbours within 4 A."""
    atoms = bulk("Cu", "fcc", a=3.0, cubic=True).repeat((3, 3, 3))
    atoms.pbc = False
    atoms.rattle(0.05, seed=11)
    return atoms


def edge_set(graph):
    return {tuple(e) for e in graph.edge_index.T.tolist()}


def test_dense_cluster_has_many_neighbours():
    graph = ea.build_graph([dense_cluster()], ELEMENTS, 4.0, backend="matscipy")
    in_degree = np.bincount(graph.edge_index[1].numpy())
    assert in_degree.max() > 32


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_agree_on_dense_cluster(backend):
    atoms = dense_cluster()
    reference = ea.build_graph([atoms, atoms[:20]], ELEMENTS, 4.0, backend="matscipy")
    graph = ea.build_graph([atoms, atoms[:20]], ELEMENTS, 4.0, backend=backend)
    assert edge_set(graph) == edge_set(reference)

    atoms.calc = ea.EquiformerCalculator(
        tiny_potential(), device="cpu", dtype="float64", neighbour_backend=backend
    )
    energy = atoms.get_potential_energy()
    reference_calc = ea.EquiformerCalculator(
        tiny_potential(), device="cpu", dtype="float64", neighbour_backend="matscipy"
    )
    assert abs(energy - reference_calc.get_potential_energy(atoms)) < 1e-9


def periodic_edge_set(graph):
    return {
        (j, i, *map(int, shift)) for (j, i), shift in zip(graph.edge_index.T.tolist(), graph.shifts.tolist())
    }


@pytest.mark.parametrize("pbc", [True, [True, True, False], [False, True, False]])
def test_kdtree_agrees_with_matscipy_on_periodic_cells(pbc):
    """Cells smaller than the cutoff, mixed periodicity, atoms outside the cell."""
    for atoms in (triclinic_copper(), copper_with_adsorbate()):
        atoms.pbc = pbc
        atoms.positions += [7.3, -11.2, 2.9]
        reference = ea.build_graph([atoms], ELEMENTS, 4.0, backend="matscipy")
        graph = ea.build_graph([atoms], ELEMENTS, 4.0, backend="kdtree")
        assert periodic_edge_set(graph) == periodic_edge_set(reference)


@pytest.mark.skipif(not HAS_TORCH_CLUSTER, reason="torch-cluster not installed")
def test_torch_cluster_cap_grows_instead_of_truncating():
    """radius_graph's default cap (32) would cut this cluster; the adaptive cap keeps every edge."""
    from torch_cluster import radius_graph

    atoms = dense_cluster()
    graph = ea.build_graph([atoms], ELEMENTS, 4.0, backend="torch-cluster")
    truncated = radius_graph(graph.positions, 4.0, max_num_neighbors=32)
    assert truncated.shape[1] < graph.edge_index.shape[1]
    assert edge_set(graph) == edge_set(ea.build_graph([atoms], ELEMENTS, 4.0, backend="matscipy"))


@pytest.mark.parametrize("backend", ["brute", "torch-cluster"])
def test_device_backends_refuse_periodic(backend):
    with pytest.raises(ValueError, match="non-periodic"):
        ea.build_graph([bulk("Cu")], ELEMENTS, 4.0, backend=backend)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown neighbour-list backend"):
        ea.build_graph([bulk("Cu")], ELEMENTS, 4.0, backend="kd-tree")
