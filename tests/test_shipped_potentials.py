"""The shipped potentials load by name, and their model cards are exactly what their headers say."""

from __future__ import annotations

from pathlib import Path

import pytest
from ase.build import fcc111, molecule

import equiformer_ase as ea
from equiformer_ase.shipped import shipped_path
from equiformer_ase.training.card import render_card

SHIPPED = {"emt-surfaces": ["Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au", "H", "C", "N", "O"],
           "gfn2-md17": ["H", "C", "N", "O"]}


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


def test_shipped_potentials_give_sane_energies():
    slab = fcc111("Cu", (2, 2, 3), vacuum=6.0)
    slab.calc = ea.EquiformerCalculator("emt-surfaces", device="cpu", dtype="float64")
    assert abs(slab.get_forces().sum(axis=0)).max() < 1e-8    # Newton's third law
    ethanol = molecule("CH3CH2OH")
    ethanol.calc = ea.EquiformerCalculator("gfn2-md17", device="cpu", dtype="float64")
    assert abs(ethanol.get_forces().sum(axis=0)).max() < 1e-8
