"""Energy invariance and force equivariance under E(3) and permutations."""

import numpy as np
import pytest
from conftest import copper_with_adsorbate, ethanol, random_rotation, tiny_calculator, triclinic_copper

VARIANTS = {
    "mlp-nonlinear": {},
    "dot-product": {"attention": "dot_product"},
    "linear-message": {"nonlinear_message": False},
    "radial-value": {"radial_value": True},
    "bessel-lmax1": {
        "radial_basis": "bessel",
        "node_channels": (16, 8),
        "head_channels": (4, 2),
        "ffn_channels": (32, 8),
    },
    "lmax3": {"node_channels": (16, 8, 4, 2), "head_channels": (4, 2, 1, 1), "ffn_channels": (16, 8, 4, 2)},
    "e3-parity": {"parity": True},
}


def energy_and_forces(calc, atoms):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_molecule_rotation_translation_permutation(variant):
    calc = tiny_calculator(**VARIANTS[variant])
    atoms = ethanol()
    e0, f0 = energy_and_forces(calc, atoms)

    rot = random_rotation(1)
    moved = atoms.copy()
    moved.positions = atoms.positions @ rot.T + np.array([3.1, -7.2, 12.5])
    e1, f1 = energy_and_forces(calc, moved)
    assert abs(e1 - e0) < 1e-8 * max(1.0, abs(e0))
    np.testing.assert_allclose(f1, f0 @ rot.T, atol=1e-8)

    order = np.random.default_rng(2).permutation(len(atoms))
    e2, f2 = energy_and_forces(calc, atoms[order])
    assert abs(e2 - e0) < 1e-8 * max(1.0, abs(e0))
    np.testing.assert_allclose(f2, f0[order], atol=1e-8)


@pytest.mark.parametrize("make", [triclinic_copper, copper_with_adsorbate])
def test_periodic_rotation_translation(calc64, make):
    atoms = make()
    e0, f0 = energy_and_forces(calc64, atoms)
    rot = random_rotation(4)
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    moved.positions = atoms.positions @ rot.T + np.array([1.3, -0.4, 2.2])
    e1, f1 = energy_and_forces(calc64, moved)
    assert abs(e1 - e0) < 1e-8 * max(1.0, abs(e0))
    np.testing.assert_allclose(f1, f0 @ rot.T, atol=1e-8)
    wrapped = atoms.copy()
    wrapped.positions += np.array([5.0, -3.0, 0.7])
    wrapped.wrap()
    assert abs(energy_and_forces(calc64, wrapped)[0] - e0) < 1e-8 * max(1.0, abs(e0))


def test_reflection_invariance_only_with_parity():
    atoms = ethanol()
    mirrored = atoms.copy()
    mirrored.positions[:, 0] *= -1

    e3 = tiny_calculator(parity=True)
    e_a, f_a = energy_and_forces(e3, atoms)
    e_b, f_b = energy_and_forces(e3, mirrored)
    assert abs(e_a - e_b) < 1e-8 * max(1.0, abs(e_a))
    np.testing.assert_allclose(f_b, f_a * np.array([-1, 1, 1]), atol=1e-8)

    se3 = tiny_calculator(parity=False)
    assert abs(energy_and_forces(se3, atoms)[0] - energy_and_forces(se3, mirrored)[0]) > 1e-6
