"""Committees: the mean equals the single calculators' mean, the spread is right, files round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ELEMENTS, TINY, cli_error, copper_with_adsorbate, ethanol, tiny_potential

import equiformer_ase as ea


def members(k: int = 3) -> list[ea.Potential]:
    return [tiny_potential(seed=seed) for seed in range(k)]


def test_mean_and_spread_equal_those_of_single_calculators():
    structures = [ethanol(), copper_with_adsorbate()]
    committee = ea.EquiformerCalculator(members(), device="cpu", dtype="float64")
    singles = [ea.EquiformerCalculator(m, device="cpu", dtype="float64") for m in members()]
    for atoms, result in zip(structures, committee.calculate_batch(structures)):
        each = [calc.calculate_batch([atoms])[0] for calc in singles]
        energies = np.array([r["energy"] for r in each])
        forces = np.stack([r["forces"] for r in each])
        assert abs(result["energy"] - energies.mean()) < 1e-10
        np.testing.assert_allclose(result["energy_comm"], energies, atol=1e-10)
        np.testing.assert_allclose(result["forces"], forces.mean(axis=0), atol=1e-10)
        np.testing.assert_allclose(
            result["energies"], np.mean([r["energies"] for r in each], axis=0), atol=1e-10
        )
        assert result["energy_var"] == pytest.approx(energies.var(), abs=1e-10)
        np.testing.assert_allclose(result["forces_var"], forces.var(axis=0), atol=1e-10)
        deviation = np.sqrt(((forces - forces.mean(axis=0)) ** 2).sum(axis=-1).mean(axis=0))  # DP-GEN
        np.testing.assert_allclose(result["forces_dev"], deviation, atol=1e-10)
        assert result["max_forces_dev"] == pytest.approx(deviation.max(), abs=1e-12)
        if atoms.pbc.all():
            np.testing.assert_allclose(
                result["stress"], np.mean([r["stress"] for r in each], axis=0), atol=1e-10
            )


def test_evaluate_scores_a_committee_by_its_mean(tiny_surfaces, tmp_path):
    from ase.io import read

    from equiformer_ase.training.shipping.evaluation import evaluate_potential

    path = tmp_path / "committee.safetensors"
    ea.Committee(members()).save(path)
    frames = read(tiny_surfaces, ":")
    errors = evaluate_potential(str(path), tiny_surfaces)["overall"]
    calc = ea.EquiformerCalculator(members(), device="cpu", dtype="float64")
    mean = calc.calculate_batch(frames)
    force_mae = np.mean(np.abs(np.concatenate([r["forces"] - f.get_forces() for r, f in zip(mean, frames)])))
    energy_mae = np.mean([abs(r["energy"] - f.get_potential_energy()) / len(f) for r, f in zip(mean, frames)])
    assert errors["forces_mae_mev_per_a"] == pytest.approx(1000 * force_mae, rel=1e-10)
    assert errors["energy_mae_mev_per_atom"] == pytest.approx(1000 * energy_mae, rel=1e-10)
    with pytest.raises(ValueError, match="a committee has no test split"):
        evaluate_potential(str(path), tiny_surfaces, split="test")


def test_identical_members_are_refused_and_ase_reads_the_properties():
    with pytest.raises(ValueError, match="members 0 and 1 have the same weights"):  # their spread is 0
        ea.EquiformerCalculator([tiny_potential(), tiny_potential()], device="cpu", dtype="float64")
    atoms = ethanol()
    atoms.calc = ea.EquiformerCalculator(members()[:2], device="cpu", dtype="float64")
    assert atoms.calc.get_property("max_forces_dev", atoms) > 0.0
    assert np.all(atoms.calc.get_property("forces_var", atoms) >= 0.0)
    assert atoms.calc.get_property("forces_comm", atoms).shape == (2, len(atoms), 3)


def test_committee_file_round_trips_and_loads_by_path(tmp_path):
    path = tmp_path / "committee.safetensors"
    ea.Committee(members()).save(path)
    loaded = ea.load_committee(path)
    assert len(loaded) == 3
    assert [m.weights_hash() for m in loaded.members] == [m.weights_hash() for m in members()]
    atoms = ethanol()
    by_file = ea.EquiformerCalculator(str(path), device="cpu", dtype="float64").calculate_batch([atoms])[0]
    by_list = ea.EquiformerCalculator(members(), device="cpu", dtype="float64").calculate_batch([atoms])[0]
    np.testing.assert_array_equal(by_file["forces_comm"], by_list["forces_comm"])
    tiny_potential().save(tmp_path / "single.safetensors")
    with pytest.raises(ea.PotentialFileError, match="not a committee file"):
        ea.load_committee(tmp_path / "single.safetensors")


def test_corrupt_committee_file_is_refused(tmp_path):
    path = tmp_path / "committee.safetensors"
    ea.Committee(members(2)).save(path)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # flip bits in the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ea.PotentialFileError, match="sha256"):
        ea.load_committee(path)


def test_members_must_share_elements_and_cutoff():
    other_elements = ea.Potential.from_config(ea.EquiformerConfig(elements=ELEMENTS[:-1], **TINY))
    with pytest.raises(ValueError, match="member 1 has elements H,C,N,O, member 0 has H,C,N,O,Cu"):
        ea.Committee([tiny_potential(), other_elements])
    with pytest.raises(ValueError, match="cutoff 5.0 A, member 0 has 4.0 A"):
        ea.EquiformerCalculator([tiny_potential(), tiny_potential(cutoff=5.0)], device="cpu")
    with pytest.raises(ValueError, match="at least 2 members"):
        ea.Committee([tiny_potential()])


def test_ship_committee_writes_the_file_card_and_plot_from_one_header(tmp_path):
    from ase.calculators.emt import EMT
    from ase.io import write

    from equiformer_ase.cli import main
    from equiformer_ase.training.generation.frame_store import file_sha256
    from equiformer_ase.training.shipping.committee_card import render_committee_card

    frames = []
    for k in range(4):
        atoms = copper_with_adsorbate()
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_forces()
        atoms.info["source"] = "start"
        frames.append(atoms)
    write(tmp_path / "probe.extxyz", frames)
    squeezed = []  # out of distribution: the adsorbate pushed into the surface, the cell compressed
    for k, frame in enumerate(frames[:3]):
        atoms = frame.copy()
        atoms.positions[-1, 2] -= 0.6 + 0.1 * k
        atoms.set_cell(atoms.cell * 0.97, scale_atoms=True)
        atoms.calc = EMT()
        atoms.get_forces()
        atoms.info["source"] = "contact" if k else "volume"
        squeezed.append(atoms)
    write(tmp_path / "ood.extxyz", squeezed)
    paths = []
    for k, member in enumerate(members(2)):
        member.save(tmp_path / f"m{k}.safetensors")
        paths.append(str(tmp_path / f"m{k}.safetensors"))
    (tmp_path / "limits.md").write_text("Untrained.")
    assert (
        main(
            [
                "ship-committee",
                "tiny-committee",
                "--members",
                *paths,
                "--probe",
                str(tmp_path / "probe.extxyz"),
                "--limits",
                str(tmp_path / "limits.md"),
                "--out",
                str(tmp_path / "shipped"),
                "--nve-duration",
                "40",
                "--allow-drift",
                "--ood",
                str(tmp_path / "ood.extxyz"),
                "--trust-level",
                "0.2",
            ]
        )
        == 0
    )
    shipped = ea.load_committee(tmp_path / "shipped" / "tiny-committee.safetensors")
    assert shipped.trust_level == 0.2
    ood = shipped.info["out_of_distribution"]
    assert ood["calibration"]["frames"] == 3 and ood["data_sha256"] == file_sha256(tmp_path / "ood.extxyz")
    assert ood["sources"] == {
        "volume": {"frames": 1, **ood["sources"]["volume"]},
        "contact": {"frames": 2, **ood["sources"]["contact"]},
    }
    calc = ea.EquiformerCalculator(shipped, device="cpu", dtype="float64")
    results = calc.calculate_batch(squeezed)
    wrong = [abs(r["forces"] - a.get_forces()).max() > 1.0 for r, a in zip(results, squeezed)]
    wrong_deviations = [r["max_forces_dev"] for r, w in zip(results, wrong) if w]
    assert (
        ood["calibration"]["large_error_frames"]
        == sum(wrong)
        == sum(r["wrong"] for r in ood["sources"].values())
    )
    if wrong_deviations:
        assert ood["calibration"]["caught"]["0.2"] == pytest.approx(np.mean(np.array(wrong_deviations) > 0.2))
    assert (tmp_path / "shipped" / "tiny-committee.ood.png").stat().st_size > 0
    assert shipped.info["nve"]["duration_fs"] == 40 and shipped.info["nve"]["runs"]
    card = (tmp_path / "shipped" / "tiny-committee.md").read_text()
    assert (
        card == render_committee_card(shipped) and "Untrained." in card and "## Energy conservation" in card
    )
    assert "## Out of distribution" in card and "shipped trust level 0.2 eV/A" in card
    assert (tmp_path / "shipped" / "tiny-committee.png").stat().st_size > 0
    probe = shipped.info["probe"]
    assert probe["errors"]["overall"]["structures"] == 4 and "source=start" in probe["errors"]
    assert [m["weights_sha256"] for m in shipped.info["members"]] == [
        m.weights_hash() for m in shipped.members
    ]
    calc = ea.EquiformerCalculator(
        str(tmp_path / "shipped" / "tiny-committee.safetensors"), device="cpu", dtype="float64"
    )
    mean = np.mean(
        [abs(r["forces"] - f.get_forces()).mean() for r, f in zip(calc.calculate_batch(frames), frames)]
    )
    assert probe["errors"]["overall"]["forces_mae_mev_per_a"] == pytest.approx(1000 * mean, rel=1e-9)


@pytest.mark.parametrize("missing", ["--probe", "--ood"])
def test_ship_committee_with_a_missing_data_file_says_so_and_writes_nothing(tmp_path, capsys, missing):
    from ase.calculators.emt import EMT
    from ase.io import write

    atoms = copper_with_adsorbate()
    atoms.calc = EMT()
    atoms.get_forces()
    write(tmp_path / "frames.extxyz", [atoms])
    paths = []
    for k, member in enumerate(members(2)):
        member.save(tmp_path / f"m{k}.safetensors")
        paths.append(str(tmp_path / f"m{k}.safetensors"))
    (tmp_path / "limits.md").write_text("Untrained.")
    data = {"--probe": str(tmp_path / "frames.extxyz"), "--ood": str(tmp_path / "frames.extxyz")}
    data[missing] = str(tmp_path / "absent.extxyz")
    arguments = ["ship-committee", "c", "--members", *paths, "--limits", str(tmp_path / "limits.md")]
    arguments += ["--out", str(tmp_path / "shipped"), "--probe", data["--probe"], "--ood", data["--ood"]]
    assert "absent.extxyz does not exist" in cli_error(capsys, arguments)
    assert not (tmp_path / "shipped").exists()
