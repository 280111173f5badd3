"""Bad input is refused with a message that names the problem."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from conftest import ELEMENTS

import equiformer_ase as ea


def test_unsupported_element_names_it_and_the_supported_ones(calc64):
    atoms = molecule("CH3Cl")
    atoms.calc = calc64
    with pytest.raises(ea.UnsupportedElementError) as info:
        atoms.get_potential_energy()
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "Cl" in message and all(el in message for el in ELEMENTS)


def test_nan_and_inf_positions(calc64):
    for bad in (np.nan, np.inf):
        atoms = molecule("H2O")
        atoms.positions[1, 2] = bad
        atoms.calc = calc64
        with pytest.raises(ValueError, match="NaN or inf"):
            atoms.get_potential_energy()


def test_singular_cell_with_pbc(calc64):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.cell[2] = [0.0, 0.0, 0.0]
    atoms.calc = calc64
    with pytest.raises(ValueError, match="singular cell"):
        atoms.get_potential_energy()


def test_empty_atoms(calc64):
    atoms = Atoms()
    atoms.calc = calc64
    with pytest.raises(ValueError, match="empty Atoms"):
        atoms.get_potential_energy()
    with pytest.raises(ValueError, match="no structures"):
        calc64.calculate_batch([])


def test_stress_for_non_periodic(calc64):
    atoms = molecule("H2O")
    atoms.calc = calc64
    with pytest.raises(PropertyNotImplementedError, match="periodic in all three directions"):
        atoms.get_stress()
    slab = bulk("Cu", "fcc", a=3.6, cubic=True)
    slab.pbc = [True, True, False]
    slab.calc = calc64
    with pytest.raises(PropertyNotImplementedError, match="pbc=\\[True, True, False\\]"):
        slab.get_stress()


def test_bad_calculator_arguments():
    pot = ea.Potential.from_config(ea.EquiformerConfig.preset("small", elements=["H"]))
    with pytest.raises(ValueError, match="dtype must be one of"):
        ea.EquiformerCalculator(pot, dtype="float16")
    with pytest.raises(ValueError, match="unknown preset"):
        ea.EquiformerConfig.preset("huge", elements=["H"])
    with pytest.raises(ValueError, match="duplicate elements"):
        ea.EquiformerConfig(elements=["H", "H"])
    with pytest.raises(ValueError, match="lmax must be 1, 2 or 3"):
        ea.EquiformerConfig(elements=["H"], node_channels=(8,), head_channels=(2,), ffn_channels=(8,))
