"""Reference calculators: the PySCF DFT adapter (units, analytic forces, SCF failure), the label cache,
named references, and ``label`` (committee-chosen frames relabelled, resumable, never mixed up)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import molecule
from ase.io import read, write

from equiformer_ase.cli import main
from equiformer_ase.references import (
    CachedCalculator,
    LabelCache,
    PySCFDFT,
    SCFNotConvergedError,
    reference_calculator,
    reference_description,
)
from equiformer_ase.references.label_cache import label_key
from equiformer_ase.training.generation.labelling import LabelSettings, label_frames, settings_path

pytest.importorskip("pyscf")

FAST = dict(xc="PBE", basis="sto-3g", grid_level=1, threads=1)  # seconds, not minutes, per label


def water() -> Atoms:
    atoms = molecule("H2O")
    atoms.positions += [[0.0, 0.0, 0.0], [0.05, -0.02, 0.03], [-0.04, 0.0, 0.01]]
    return atoms


def test_pyscf_energy_in_ev_and_forces_equal_finite_differences():
    from pyscf import dft, gto

    atoms = water()
    atoms.calc = PySCFDFT(**FAST)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    mol = gto.M(
        atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)],
        basis="sto-3g",
        verbose=0,
    )
    mf = dft.RKS(mol, xc="PBE").density_fit()
    mf.grids.level = 1
    assert energy == pytest.approx(mf.kernel() * units.Hartree, abs=1e-6)  # Hartree -> eV
    step, numeric = 1e-3, np.zeros(3)
    for axis in range(3):
        shifted = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[1, axis] += sign * step
            moved.calc = PySCFDFT(**FAST)
            shifted.append(moved.get_potential_energy())
        numeric[axis] = -(shifted[0] - shifted[1]) / (2 * step)
    assert np.abs(forces[1] - numeric).max() < 1e-4  # eV/A: with the grid's response, exact
    assert np.abs(forces.sum(axis=0)).max() < 1e-6


def test_previous_density_is_the_next_guess():
    atoms = water()
    calc = PySCFDFT(**{**FAST, "basis": "def2-SVP"})
    atoms.calc = calc
    atoms.get_potential_energy()
    cold = calc.scf_cycles
    atoms.positions[0] += 0.01
    atoms.get_potential_energy()
    assert 0 < calc.scf_cycles < cold


def test_unconverged_scf_raises_and_never_labels(tmp_path):
    atoms = water()
    atoms.calc = CachedCalculator(PySCFDFT(**FAST, max_cycle=1), LabelCache(tmp_path / "c.sqlite"))
    atoms.calc.inner.conv_tol = 1e-30  # unreachable, also for the Newton retry
    with pytest.raises(SCFNotConvergedError, match="did not converge"):
        atoms.get_potential_energy()
    assert len(atoms.calc.cache) == 0


def test_dft_refuses_periodic_structures():
    atoms = water()
    atoms.cell, atoms.pbc = [8, 8, 8], True
    atoms.calc = PySCFDFT(**FAST)
    with pytest.raises(ValueError, match="molecules"):
        atoms.get_potential_energy()


def test_label_cache_computes_a_geometry_once(tmp_path):
    cache = LabelCache(tmp_path / "labels.sqlite")
    calc = CachedCalculator(PySCFDFT(**FAST), cache)
    first = water()
    first.calc = calc
    energy, forces = first.get_potential_energy(), first.get_forces()
    again = water()
    again.positions += 1e-8  # below the key's rounding
    again.calc = CachedCalculator(PySCFDFT(**FAST), LabelCache(tmp_path / "labels.sqlite"))
    assert again.get_potential_energy() == energy and np.array_equal(again.get_forces(), forces)
    assert (calc.misses, again.calc.hits, again.calc.misses, len(cache)) == (1, 1, 0, 1)
    moved = water()
    moved.positions[0, 0] += 1e-4
    assert label_key(moved, calc.method) != label_key(first, calc.method)
    other_basis = PySCFDFT(xc="PBE", basis="def2-SVP")
    assert label_key(first, other_basis.method) != label_key(first, calc.method)


def test_label_cache_refuses_a_file_that_is_not_sqlite(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all, but long enough to have a header" * 10)
    with pytest.raises(ValueError, match="not a usable SQLite file"):
        LabelCache(junk)


def test_named_references():
    assert reference_description("pbe") == "pyscf:PBE/def2-SVP;ri;grid2+response;tol1e-09;charge0;spin0"
    assert reference_description("pyscf:B3LYP/def2-TZVP").startswith("pyscf:B3LYP/def2-TZVP;")
    for spec, message in [("pyscf:PBE", "pyscf:XC/BASIS"), ("nonsense", "use emt, gfn2, pbe")]:
        with pytest.raises(ValueError, match=message):
            reference_calculator(spec)


@pytest.fixture
def candidates(tmp_path, tiny_surfaces):
    """Twelve EMT frames of two systems as candidates (any reference labels them the same way)."""
    frames = read(tiny_surfaces, ":")
    chosen = [f for f in frames if not f.pbc.any()][:2] + [f for f in frames if f.pbc.all()][:10]
    path = tmp_path / "candidates.extxyz"
    write(path, chosen)
    return path


@pytest.fixture
def committee_file(tmp_path):
    from conftest import tiny_potential

    import equiformer_ase as ea

    path = tmp_path / "committee.safetensors"
    ea.Committee([tiny_potential(seed=0), tiny_potential(seed=1)]).save(path)
    return path


def test_label_chooses_labels_in_turns_and_resumes(tmp_path, candidates, monkeypatch):
    from ase.calculators.emt import EMT

    out = tmp_path / "labels" / "out.extxyz"
    settings = LabelSettings(reference="emt", max_frames=6, per_group=3)
    done = label_frames(candidates, out, settings)
    assert done["chosen"] == done["labelled"] == done["new"] == 6
    frames = read(out, ":")
    systems = [f.info["system"] for f in frames]
    assert systems[0] != systems[1]  # turns over systems
    for frame in frames:
        reference = frame.copy()
        reference.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-9)
    # killed while writing the last label, then the same command: that label only
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:-2]))
    with pytest.warns(UserWarning, match="dropping"):
        resumed = label_frames(candidates, out, settings)
    assert resumed["new"] == 1 and len(read(out, ":")) == 6
    assert [f.info["candidate_index"] for f in read(out, ":")] == [f.info["candidate_index"] for f in frames]
    with pytest.raises(ValueError, match="other settings"):
        label_frames(candidates, out, LabelSettings(reference="emt", max_frames=4, per_group=3))
    with pytest.raises(ValueError, match="candidates file"):
        label_frames(candidates, candidates, settings)


def test_label_with_a_committee_records_its_deviations(tmp_path, candidates, committee_file):
    out = tmp_path / "chosen.extxyz"
    settings = LabelSettings(reference="emt", committee=str(committee_file), max_frames=3, per_group=2)
    label_frames(candidates, out, settings)
    frames = read(out, ":")
    assert len(frames) == 3 and all(f.info["max_forces_dev"] > 0 for f in frames)
    record = settings_path(out).read_text()
    assert "committee_weights_sha256" in record and "candidates_sha256" in record


def test_label_cli_makes_the_output_folder_and_names_mistakes(tmp_path, candidates, capsys):
    out = tmp_path / "new" / "folder" / "l.extxyz"
    assert main(["label", str(candidates), "--out", str(out), "--reference", "emt", "--max-frames", "2"]) == 0
    assert "2 of 2 chosen frames labelled" in capsys.readouterr().out
    assert main(["label", str(candidates), "--out", str(tmp_path / "x.extxyz"), "--reference", "xyz"]) == 2
    assert "unknown reference calculator" in capsys.readouterr().err
    assert main(["label", str(candidates), "--out", str(tmp_path / "y.extxyz"), "--systems", "Fe"]) == 2
    assert "no candidate frame" in capsys.readouterr().err
