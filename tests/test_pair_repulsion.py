"""The ZBL short-range prior: the universal screened repulsion inside bonding distance, zero beyond it,
smooth at its cutoff, and conservative forces from a potential that carries it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces
from ase.data import atomic_numbers, covalent_radii
from conftest import ethanol, tiny_potential

import equiformer_ase as ea
from equiformer_ase.nn import ZBLRepulsion
from equiformer_ase.potential import with_weightless_change


def zbl_by_hand(z1: int, z2: int, r: float) -> float:
    """ZBL pair energy (eV) with the degree-6 switch, written out from the formula."""
    a = 0.46850 / (z1**0.23 + z2**0.23)  # Angstrom, as LAMMPS writes 0.8854 Bohr
    x = r / a
    phi = (
        0.18175 * np.exp(-3.1998 * x)
        + 0.50986 * np.exp(-0.94229 * x)
        + 0.28022 * np.exp(-0.4029 * x)
        + 0.02817 * np.exp(-0.20162 * x)
    )
    s = r / (0.75 * (covalent_radii[z1] + covalent_radii[z2]))
    switch = 1 - 28 * s**6 + 48 * s**7 - 21 * s**8 if s < 1 else 0.0
    return 14.399645 * z1 * z2 / r * phi * switch


def pair_energy(first: str, second: str, r: float) -> float:
    zbl = ZBLRepulsion([first, second])
    edges = torch.tensor([[0, 1], [1, 0]])
    energies = zbl(torch.tensor([0, 1]), edges, torch.tensor([r, r], dtype=torch.float64))
    return float(energies.sum())


@pytest.mark.parametrize(
    "first, second, r", [("O", "Cu", 0.95), ("H", "Cu", 0.85), ("C", "O", 0.9), ("H", "H", 0.3)]
)
def test_pair_energy_is_the_zbl_formula(first, second, r):
    expected = zbl_by_hand(atomic_numbers[first], atomic_numbers[second], r)
    assert pair_energy(first, second, r) == pytest.approx(expected, rel=1e-12)
    assert expected > 0


def test_zero_beyond_bonding_distance_and_smooth_at_it():
    r_max = 0.75 * (covalent_radii[8] + covalent_radii[29])
    assert pair_energy("O", "Cu", r_max) == 0.0 and pair_energy("O", "Cu", r_max + 1.0) == 0.0
    r = torch.tensor([r_max - 1e-3, r_max - 1e-3], dtype=torch.float64, requires_grad=True)
    energy = ZBLRepulsion(["O", "Cu"])(torch.tensor([0, 1]), torch.tensor([[0, 1], [1, 0]]), r).sum()
    (gradient,) = torch.autograd.grad(energy, r)
    assert float(energy.detach()) < 1e-6 and abs(float(gradient[0])) < 1e-3  # value and slope vanish at r_max


def test_potential_with_zbl_adds_the_pair_energies_and_stays_conservative():
    plain = tiny_potential().to(dtype=torch.float64)
    with_zbl = with_weightless_change(plain, pair_repulsion="zbl")
    assert with_zbl.config.pair_repulsion == "zbl" and plain.config.pair_repulsion == "none"
    atoms = Atoms("OCu", positions=[[0, 0, 0], [0.95, 0.4, 0.3]])  # 1.07 A: past the close-contact check
    r = float(np.linalg.norm(atoms.positions[1]))
    energies = []
    for potential in (plain, with_zbl):
        atoms.calc = ea.EquiformerCalculator(potential, dtype="float64")
        energies.append(atoms.get_potential_energy())
    assert energies[1] - energies[0] == pytest.approx(zbl_by_hand(8, 29, r), rel=1e-10)
    molecule = ethanol()
    oxygen = molecule.get_chemical_symbols().index("O")
    molecule.positions[-1] = molecule.positions[oxygen] + [0.3, 0.4, 0.1]  # an H pushed onto the O
    molecule.calc = ea.EquiformerCalculator(plain, dtype="float64", allow_close_contacts=True)
    without = molecule.get_potential_energy()
    molecule.calc = ea.EquiformerCalculator(with_zbl, dtype="float64", allow_close_contacts=True)
    assert molecule.get_potential_energy() - without > 1.0  # eV: the repulsion is on
    forces = molecule.get_forces()
    numeric = calculate_numerical_forces(molecule, eps=1e-5)
    assert np.abs(forces - numeric).max() < 1e-6
    assert np.abs(forces.sum(axis=0)).max() < 1e-10


def test_stored_configs_without_the_field_mean_none():
    cfg = tiny_potential().config.to_dict()
    cfg.pop("pair_repulsion")
    assert ea.EquiformerConfig.from_dict(cfg).pair_repulsion == "none"
    with pytest.raises(ValueError, match="pair_repulsion must be one of"):
        dataclasses.replace(tiny_potential().config, pair_repulsion="lj")


def test_fine_tuning_switches_it_on_and_records_the_change(tiny_surfaces, tmp_path):
    from equiformer_ase.training import TrainingConfig, train

    parent = tmp_path / "parent.safetensors"
    tiny_potential().save(parent)
    train(
        tiny_surfaces,
        tmp_path / "run",
        TrainingConfig(epochs=1, validation=4, test=4, dtype="float64"),
        init_from=str(parent),
        pair_repulsion="zbl",
    )
    tuned = ea.load_potential(tmp_path / "run" / "best.safetensors")
    assert tuned.config.pair_repulsion == "zbl"
    assert tuned.training_info["parent"]["changed"] == "pair repulsion: none -> zbl"
