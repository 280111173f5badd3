"""D3(BJ) dispersion: the potential plus D3 equals the potential plus simple-dftd3 called directly."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.fd import calculate_numerical_stress
from conftest import TEST_DEVICE, tiny_potential

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.dispersion import with_dispersion
from equiformer_ase.dynamics import BatchedSystems

interface = pytest.importorskip("dftd3.interface")


def direct_d3(atoms):
    """simple-dftd3's library, no ASE: energy eV, forces eV/A, stress (Voigt) eV/A^3 where periodic."""
    periodic = atoms.pbc.all()
    model = interface.DispersionModel(
        atoms.numbers,
        atoms.positions / units.Bohr,
        atoms.cell[:] / units.Bohr if periodic else None,
        np.array([True] * 3) if periodic else None,
    )
    result = model.get_dispersion(interface.RationalDampingParam(method="pbe"), grad=True)
    energy = result["energy"] * units.Hartree
    forces = -result["gradient"] * units.Hartree / units.Bohr
    stress = result["virial"] * units.Hartree / atoms.get_volume() if periodic else None  # (3, 3)
    return energy, forces, stress


def benzene_dimer():
    lower = molecule("C6H6")
    upper = lower.copy()
    upper.positions += [0.3, 0.2, 3.7]  # parallel displaced, 3.7 A apart
    return lower + upper


def copper_with_oxygen():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) + Atoms("O", positions=[[0.9, 0.9, 0.9]])
    atoms.rattle(0.03, seed=2)
    return atoms


def model_calculator():
    return ea.EquiformerCalculator(tiny_potential(), device=TEST_DEVICE, dtype="float64")


@pytest.mark.parametrize("make", [benzene_dimer, copper_with_oxygen])
def test_potential_plus_d3_equals_the_two_added(make):
    atoms, alone = make(), make()
    atoms.calc, alone.calc = with_dispersion(model_calculator(), "d3"), model_calculator()
    energy, forces, stress = direct_d3(atoms)
    assert energy < 0
    assert atoms.get_potential_energy() == pytest.approx(alone.get_potential_energy() + energy, abs=1e-8)
    np.testing.assert_allclose(atoms.get_forces(), alone.get_forces() + forces, atol=1e-8)
    if stress is not None:
        voigt = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        np.testing.assert_allclose(atoms.get_stress(), alone.get_stress() + voigt, atol=1e-8)
        numerical = calculate_numerical_stress(atoms, eps=1e-5, force_consistent=False)
        np.testing.assert_allclose(atoms.get_stress(), numerical, atol=1e-6)


def test_engine_adds_the_same_d3_to_each_system():
    systems = [benzene_dimer(), copper_with_oxygen()]
    engine = BatchedSystems(systems, tiny_potential(), device=TEST_DEVICE, dispersion="d3")
    forces, energy = engine.forces(engine.positions)
    for k, atoms in enumerate(systems):
        atoms.calc = with_dispersion(model_calculator(), "d3")
        assert float(energy[k]) == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
        part = slice(0, 24) if k == 0 else slice(24, None)
        np.testing.assert_allclose(forces[part].cpu().numpy(), atoms.get_forces(), atol=1e-8)


def test_d3_on_a_potential_whose_reference_needs_none_warns():
    with pytest.warns(UserWarning, match="GFN2-xTB already contains D4"):
        with_dispersion(ea.EquiformerCalculator("gfn2-md17", device="cpu"), "d3")
    with pytest.warns(UserWarning, match="EMT is a fitted metal potential"):
        with_dispersion(ea.EquiformerCalculator("emt-surfaces", device="cpu"), "d3")
    with pytest.raises(ValueError, match="unknown dispersion 'd4'; choose from d3"):
        with_dispersion(model_calculator(), "d4")


def test_relax_command_takes_dispersion_and_warns_in_one_line(tmp_path, capsys):
    from ase.io import write

    atoms = molecule("CH4")
    atoms.rattle(0.05, seed=0)
    write(tmp_path / "in.xyz", atoms)
    args = ["relax", str(tmp_path / "in.xyz"), "--potential", "gfn2-md17", "--fmax", "0.5", "--steps", "3"]
    assert main([*args, "--out", str(tmp_path / "out.extxyz"), "--dispersion", "d3", "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "equiformer-ase relax: D3 added to a potential trained on GFN2-xTB" in err
    assert len([line for line in err.splitlines() if "D3" in line]) == 1
    assert not (tmp_path / "out.png").exists()
