"""Forces and stress are the derivatives of the energy; energy is smooth at the cutoff."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from conftest import copper_with_adsorbate, ethanol, tiny_calculator, triclinic_copper


@pytest.mark.parametrize("make", [ethanol, triclinic_copper, copper_with_adsorbate])
def test_forces_match_finite_differences(calc64, make):
    atoms = make()
    atoms.calc = calc64
    numerical = calculate_numerical_forces(atoms, eps=1e-4)
    np.testing.assert_allclose(atoms.get_forces(), numerical, atol=1e-8)


def test_forces_match_finite_differences_with_a_radial_value_mlp():
    atoms = ethanol()
    atoms.calc = tiny_calculator(radial_value=True)
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-4), atol=1e-8)


@pytest.mark.parametrize("make", [triclinic_copper, copper_with_adsorbate])
def test_stress_matches_finite_differences(calc64, make):
    atoms = make()
    atoms.calc = calc64
    numerical = calculate_numerical_stress(atoms, eps=1e-5)
    np.testing.assert_allclose(atoms.get_stress(), numerical, atol=1e-8)


def test_per_atom_energies_sum_to_energy(calc64):
    atoms = copper_with_adsorbate()
    atoms.calc = calc64
    assert abs(atoms.get_potential_energies().sum() - atoms.get_potential_energy()) < 1e-10


def test_float32_agrees_with_float64():
    for atoms in (ethanol(), triclinic_copper()):
        results = {}
        for dtype in ("float32", "float64"):
            a = atoms.copy()
            a.calc = tiny_calculator(dtype)
            results[dtype] = (a.get_potential_energy(), a.get_forces())
        e32, f32 = results["float32"]
        e64, f64 = results["float64"]
        assert abs(e32 - e64) <= 1e-4 * abs(e64)
        assert np.abs(f32 - f64).max() <= 1e-4 * max(1.0, np.abs(f64).max())


@pytest.mark.parametrize("radial_value", [False, True])
def test_energy_and_force_continuous_across_cutoff(radial_value):
    """An O atom leaving a CO molecule along a line: E and F are continuous at r = cutoff. Each atom
    has one neighbour, so its attention weight is 1 up to the cutoff: the values themselves must
    vanish there (through the enveloped weights of the first tensor product, or the value's own)."""
    calc64 = tiny_calculator(radial_value=radial_value)
    cutoff = calc64.potential.config.cutoff
    isolated = sum(calc64.potential.metadata["reference_energies"][s] for s in "CO")

    def energy_force(r):
        atoms = Atoms("CO", positions=[[0, 0, 0], [r, 0.2, -0.1]])
        atoms.calc = calc64
        return atoms.get_potential_energy(), atoms.get_forces()[1]

    distance = np.hypot(0.2, 0.1)
    r_cut = np.sqrt(cutoff**2 - distance**2)
    e_in, f_in = energy_force(r_cut - 1e-4)
    e_out, f_out = energy_force(r_cut + 1e-4)
    assert abs(e_out - isolated) < 1e-12 and np.abs(f_out).max() < 1e-12
    assert abs(e_in - e_out) < 1e-9
    assert np.abs(f_in - f_out).max() < 1e-6
    # No jump anywhere near the cutoff (a negative or noisy envelope would show up here): on this
    # 1 mA grid a smooth approach has second differences near 1e-7 eV, a jump of J eV gives J.
    energies = np.array([energy_force(r)[0] for r in np.linspace(r_cut - 0.05, r_cut + 0.01, 61)])
    assert np.abs(np.diff(energies, 2)).max() < 1e-6
