"""The shipped potentials load by name, and their model cards are exactly what their headers say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import add_adsorbate, fcc111
from ase.calculators.emt import EMT

import equiformer_ase as ea
from equiformer_ase.data import md17_molecule
from equiformer_ase.shipped import shipped_path
from equiformer_ase.training.shipping.card import render_card

SHIPPED = {
    "emt-surfaces": ["Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au", "H", "C", "N", "O"],
    "gfn2-md17": ["H", "C", "N", "O"],
    "pbe-md17": ["H", "C", "N", "O"],
}


def test_the_two_potentials_are_shipped():
    assert set(SHIPPED) <= set(ea.list_potentials())


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_card_reproduces_the_header(name):
    potential = ea.load_potential(name)
    assert sorted(potential.metadata["elements"]) == sorted(SHIPPED[name])
    card = Path(shipped_path(name)).with_suffix(".md").read_text()
    assert card == render_card(potential.metadata)
    test = potential.metadata["metrics"]["test"]["overall"]
    assert f"| overall | {test['structures']} | {test['energy_mae_mev_per_atom']:.3f} |" in card


def test_shipped_committee_loads_by_name_and_its_card_reproduces_the_header():
    from equiformer_ase.training.shipping.committee_card import render_committee_card

    assert "emt-surfaces-committee" in ea.list_potentials()
    committee = ea.load_committee("emt-surfaces-committee")
    assert committee.members[0].weights_hash() == ea.load_potential("emt-surfaces").weights_hash()
    card = Path(shipped_path("emt-surfaces-committee")).with_suffix(".md").read_text()
    assert card == render_committee_card(committee)
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "O", 1.5, "fcc")
    slab.calc = ea.EquiformerCalculator("emt-surfaces-committee", device="cpu", dtype="float64")
    slab.get_forces()
    assert (
        slab.calc.results["forces_comm"].shape == (len(committee), len(slab), 3)
        and slab.calc.results["max_forces_dev"] > 0
    )


def _errors(atoms, reference, name):
    """Energy error (meV/atom) and force MAE (meV/A) of shipped potential ``name`` against ``reference``."""
    atoms = atoms.copy()
    atoms.calc = reference
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = ea.EquiformerCalculator(name, device="cpu", dtype="float64")
    return (
        1e3 * abs(atoms.get_potential_energy() - energy) / len(atoms),
        1e3 * np.abs(atoms.get_forces() - forces).mean(),
    )


def test_emt_surfaces_reproduces_emt_on_a_fresh_structure():
    slab = fcc111("Cu", (3, 3, 4), vacuum=6.0)
    add_adsorbate(slab, "O", 1.3, "fcc")
    slab.rattle(0.05, seed=3)
    energy_error, force_mae = _errors(slab, EMT(), "emt-surfaces")
    print(f"Cu(111)+O vs EMT: energy {energy_error:.2f} meV/atom, forces MAE {force_mae:.1f} meV/A")
    assert energy_error < 20 and force_mae < 120  # an untrained model is off by eV


def test_gfn2_md17_reproduces_gfn2_xtb_on_a_fresh_structure():
    tblite = pytest.importorskip("tblite.ase")
    ethanol = md17_molecule("ethanol")
    ethanol.rattle(0.03, seed=3)
    energy_error, force_mae = _errors(ethanol, tblite.TBLite(method="GFN2-xTB", verbosity=0), "gfn2-md17")
    print(f"ethanol vs GFN2-xTB: energy {energy_error:.2f} meV/atom, forces MAE {force_mae:.1f} meV/A")
    assert energy_error < 20 and force_mae < 120


@pytest.mark.parametrize("name", ["lie-springs-t2", "lie-springs-se2"])
def test_shipped_hamiltonian_card_reproduces_the_header(name):
    from equiformer_ase import lie
    from equiformer_ase.lie.hamiltonian_card import render_hamiltonian_card

    assert name in lie.list_hamiltonians()
    header = lie.load_hamiltonian(name).header
    assert Path(shipped_path(name)).with_suffix(".md").read_text() == render_hamiltonian_card(header)


def test_shipped_t2_hamiltonian_test_error_reproduces():
    """The header's test 5-point MSE, on spring systems regenerated from the card's recipe (seed 1)."""
    import torch

    from equiformer_ase import lie
    from equiformer_ase.lie.fitting import _tensors, sample_chunks, state_mse

    model = lie.load_hamiltonian("lie-springs-t2")
    test = model.header["metrics"]["test"]
    chunks = sample_chunks(
        _tensors(lie.generate_springs(test["trajectories"], seed=1), torch.float64),
        5,
        np.random.default_rng(0),
    )
    assert float(state_mse(model, chunks)) == pytest.approx(test["mse_chunk"], rel=1e-9)
    assert test["mse_chunk"] < 1e-4


def test_shipped_se2_hamiltonian_is_exactly_invariant_under_grid_rotations():
    """Quarter turns map its 4-sample stabiliser grid onto itself, so V must not change at all."""
    from equiformer_ase import lie

    model = lie.load_hamiltonian("lie-springs-se2")
    data = lie.generate_springs(4, seed=5, ts=np.linspace(0, 0.01, 2))
    q, p, m, k = data.q[:, 0], data.p[:, 0], data.m, data.k[..., None]
    quarter_turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    moved = q @ quarter_turn.T + np.array([0.3, -1.1])
    np.testing.assert_allclose(
        model.energy(moved, p @ quarter_turn.T, m, k), model.energy(q, p, m, k), rtol=1e-12
    )


def test_files_in_this_checkout_carry_the_header_hash():
    """potentials/ of this source tree (which an editable install elsewhere may not point to):
    every file is of the current format version with a valid header hash, and loads."""
    from equiformer_ase.lie import hamiltonian_files, load_hamiltonian
    from equiformer_ase.potential import FORMAT_VERSION, read_header

    folder = Path(__file__).resolve().parents[1] / "potentials"
    for name in SHIPPED:
        assert read_header(folder / f"{name}.safetensors")["format_version"] == FORMAT_VERSION
        ea.load_potential(folder / f"{name}.safetensors")
    for path in folder.glob("lie-*.safetensors"):
        assert load_hamiltonian(path).header["format_version"] == hamiltonian_files.FORMAT_VERSION


def test_pbe_md17_data_rebuilds_from_the_package_and_reproduces_the_card(tmp_path):
    from equiformer_ase.training.fitting.metrics import group_errors
    from equiformer_ase.training.fitting.trainer import predict
    from equiformer_ase.training.generation.labelled_data import rebuild_labelled_data
    from equiformer_ase.training.shipping.card import held_out

    data = rebuild_labelled_data("pbe-md17", tmp_path / "data.extxyz")
    potential = ea.load_potential("pbe-md17").to(dtype=torch.float64)
    test = held_out(potential, data)  # refuses data whose sha256 differs from the training data's
    errors = group_errors(test, predict(potential, test, 16, "cpu"))["overall"]
    card = potential.metadata["metrics"]["test"]["overall"]
    assert errors["forces_mae_mev_per_a"] == pytest.approx(card["forces_mae_mev_per_a"], rel=1e-6)


def test_pbe_md17_reproduces_pbe_on_a_fresh_structure():
    pytest.importorskip("pyscf")
    from equiformer_ase.references import PySCFDFT

    atoms = md17_molecule("ethanol")
    atoms.rattle(0.03, seed=5)
    atoms.calc = PySCFDFT(threads=1)
    reference = atoms.get_forces()
    atoms.calc = ea.EquiformerCalculator("pbe-md17", device="cpu", dtype="float64")
    assert np.abs(atoms.get_forces() - reference).mean() < 0.08  # eV/A; probe MAE 33 meV/A on ethanol


@pytest.mark.parametrize("name", ["emt-surfaces", "gfn2-md17"])
def test_the_preset_a_card_names_still_makes_its_recipe(name):
    """``generate SUBSET --preset P`` (the card's regenerate command) makes the data the potential was
    trained on: every field of the stored recipe keeps its value and no part is added (the ``ood`` part
    was once added to ``starts``, so the command regenerated 220 frames nobody trained on)."""
    from equiformer_ase.training import make_recipe
    from equiformer_ase.training.generation.recipes import recipe_to_dict

    stored = ea.load_potential(name).training_info["recipe"]
    recipe = dict(stored["recipe"])
    if "temperature" in recipe:  # written before molecule recipes took several temperatures
        recipe["temperatures"] = [recipe.pop("temperature")]
    current = json.loads(
        json.dumps(recipe_to_dict(make_recipe(recipe["subset"], stored["preset"], recipe["seed"])))
    )
    assert {key: current.get(key) for key in recipe} == recipe
