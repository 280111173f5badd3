"""Potential files: round trip, metadata, registry, and refusal of damaged files."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from conftest import rewrite_header, tiny_potential

import equiformer_ase as ea


def test_from_config_is_deterministic_for_a_seed():
    cfg = ea.EquiformerConfig.preset("small", elements=["H", "C", "N", "O"])
    a, b, c = (ea.Potential.from_config(cfg, seed=s) for s in (0, 0, 1))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_presets():
    l2 = ea.EquiformerConfig.preset("paper-md17-l2", elements=["H", "C", "O"])
    assert (l2.node_channels, l2.num_blocks, l2.num_heads, l2.cutoff, l2.num_radial) == (
        (128, 64, 32),
        6,
        4,
        5.0,
        32,
    )
    assert ea.EquiformerConfig.preset("paper-md17-l3", elements=["H"]).lmax == 3
    assert ea.EquiformerConfig.preset("small", elements=["H"], parity=True).parity


def test_new_configs_share_the_value_weights_and_stored_ones_without_the_field_keep_their_radial_mlp():
    cfg = ea.EquiformerConfig.preset("small", elements=["H", "C"])
    assert cfg.radial_value is False and ea.EquiformerConfig(elements=["H"]).radial_value is False
    for value in (False, True):
        stored = ea.EquiformerConfig.preset("small", elements=["H", "C"], radial_value=value).to_dict()
        assert ea.EquiformerConfig.from_dict(stored).radial_value is value
    written_before_the_field = {k: v for k, v in cfg.to_dict().items() if k != "radial_value"}
    assert ea.EquiformerConfig.from_dict(written_before_the_field).radial_value is True


def test_a_file_written_before_radial_value_existed_loads_as_its_architecture(tmp_path):
    pot = tiny_potential(seed=2, radial_value=True)
    path = tmp_path / "old.safetensors"
    pot.save(path)

    def drop_the_field(header):
        del header["config"]["radial_value"]

    rewrite_header(path, drop_the_field, rehash=True)
    loaded = ea.load_potential(path)
    assert loaded.config.radial_value is True and loaded.weights_hash() == pot.weights_hash()
    atoms = molecule("CH3CH2OH")
    before, after = (
        ea.EquiformerCalculator(p, device="cpu", dtype="float64").calculate_batch([atoms])[0]
        for p in (pot, loaded)
    )
    assert before["energy"] == after["energy"]
    np.testing.assert_array_equal(before["forces"], after["forces"])


def test_save_load_round_trip(tmp_path):
    pot = tiny_potential(seed=3)
    pot.metrics = {"forces_mae_meV_A": 12.5}
    path = tmp_path / "model.safetensors"
    pot.save(path)
    loaded = ea.load_potential(path)
    assert loaded.metadata["elements"] == pot.metadata["elements"]
    assert loaded.metadata["cutoff"] == pot.config.cutoff
    assert loaded.metadata["reference_energies"] == pot.metadata["reference_energies"]
    assert loaded.metrics == {"forces_mae_meV_A": 12.5}
    structures = [molecule("CH3CH2OH"), bulk("Cu", "fcc", a=3.6, cubic=True)]
    before = ea.EquiformerCalculator(pot, device="cpu", dtype="float64").calculate_batch(structures)
    after = ea.EquiformerCalculator(str(path), device="cpu", dtype="float64").calculate_batch(structures)
    for x, y in zip(before, after):
        assert x["energy"] == y["energy"]
        np.testing.assert_array_equal(x["forces"], y["forces"])


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    tiny_potential().save(path)
    return path


def test_truncated_file(saved):
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ea.PotentialFileError, match="corrupt|truncated|not a readable"):
        ea.load_potential(saved)


def test_flipped_weight_bytes(saved):
    raw = bytearray(saved.read_bytes())
    raw[-100] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(ea.PotentialFileError, match="sha256"):
        ea.load_potential(saved)


def test_wrong_format_version(saved):
    rewrite_header(saved, lambda meta: meta.update(format_version=99))
    with pytest.raises(ea.PotentialFileError, match="format version 99"):
        ea.load_potential(saved)


def test_not_a_potential(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(ea.PotentialFileError):
        ea.load_potential(junk)
    with pytest.raises(ea.PotentialFileError, match="does not exist"):
        ea.load_potential(tmp_path / "missing.safetensors")
    with pytest.raises(ea.PotentialFileError, match="neither a file nor a shipped potential"):
        ea.load_potential("no-such-potential")


def test_shipped_potentials_load_by_name():
    """list_potentials names single potentials and committees; each loads by name as what it is."""
    from equiformer_ase.committee import is_committee_file

    for name in ea.list_potentials():
        members = ea.load_committee(name).members if is_committee_file(name) else [ea.load_potential(name)]
        for pot in members:
            assert pot.metadata["elements"] and pot.metadata["cutoff"] > 0
            assert pot.config.radial_value == pot.metadata["config"].get(
                "radial_value", True
            )  # stored default
