"""The CUDA path gives the CPU's numbers (skipped without a GPU)."""

import numpy as np
import pytest
import torch
from conftest import copper_with_adsorbate, ethanol, tiny_potential
from test_backends import dense_cluster

import equiformer_ase as ea

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("backend", ["auto", "brute", "matscipy"])
def test_cuda_matches_cpu(backend):
    structures = (
        [ethanol(), dense_cluster()] if backend != "matscipy" else [ethanol(), copper_with_adsorbate()]
    )
    cpu = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64").calculate_batch(structures)
    calc = ea.EquiformerCalculator(
        tiny_potential(), device="cuda", dtype="float64", neighbour_backend=backend
    )
    for a, b in zip(cpu, calc.calculate_batch(structures)):
        assert abs(a["energy"] - b["energy"]) < 1e-8
        np.testing.assert_allclose(a["forces"], b["forces"], atol=1e-8)
        if "stress" in a:
            np.testing.assert_allclose(a["stress"], b["stress"], atol=1e-8)
