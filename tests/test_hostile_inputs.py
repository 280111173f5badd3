"""Hostile and careless inputs (issue 16): each gets a clear error of the package's own type, or the
right answer, and nothing on disk is lost."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from conftest import tiny_calculator


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
