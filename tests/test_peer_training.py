"""benchmarks/peer_training.py's data preparation and table on a tiny case (the peers' training runs
in their own venvs and is not part of the suite)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from equiformer_ase.training import split_indices

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peer_training.py"


@pytest.fixture(scope="module")
def peer():
    spec = importlib.util.spec_from_file_location("peer_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def frames(tiny_surfaces):
    return read(tiny_surfaces, ":")


def test_split_is_the_trainers_split(peer, frames):
    parts = peer.split_frames(frames, 0.25, 0.1, seed=3)
    indices = split_indices(len(frames), 0.25, 0.1, 3)
    assert [a.positions.tolist() for a in parts["validation"]] == [
        frames[k].positions.tolist() for k in indices["validation"]
    ]
    assert len(parts["train"]) + len(parts["validation"]) + len(indices["test"]) == len(frames)


def test_mace_files_carry_the_labels_under_mace_keys(peer, frames, tmp_path):
    path = tmp_path / "train.xyz"
    write(path, peer.mace_frames(frames[:3]), format="extxyz")
    back = read(path, ":")
    for original, copy in zip(frames[:3], back):
        assert copy.info["REF_energy"] == pytest.approx(original.get_potential_energy(), abs=1e-9)
        assert np.allclose(copy.arrays["REF_forces"], original.get_forces(), atol=1e-9)
        assert copy.calc is None or "energy" not in copy.calc.results


def test_errors_and_table(peer, frames):
    frames = frames[:4]
    energy = np.array([a.get_potential_energy() for a in frames]) + np.array([len(a) for a in frames]) * 0.002
    forces = np.concatenate([a.get_forces() for a in frames]) + 0.01
    errors = peer.errors_by_system(frames, energy, forces)
    assert errors["all"]["forces_mae"] == pytest.approx(10.0)
    assert errors["all"]["energy_mae"] == pytest.approx(2.0)
    assert sum(v["frames"] for k, v in errors.items() if k != "all") == 4
    with pytest.raises(ValueError, match="force rows"):
        peer.errors_by_system(frames, energy, forces[:-1])
    results = {
        "ours": {"errors": errors, "parameters": 1000, "minutes": 45.0, "ms_per_call": 12.3},
        "zero": {"errors": errors, "parameters": 2000, "minutes": None, "ms_per_call": 50.0},
    }
    text = peer.table(results, energies={"ours"})
    ours, zero = text.splitlines()[2:4]
    assert "| ours | 1,000 | 45 | 12.3 |" in ours and "10.0 / 2.00" in ours
    assert "zero-shot" in zero and "10.0 / -" in zero


def test_mace_epoch_time_leaves_out_start_up(peer, tmp_path):
    results = tmp_path / "timing_run-0_train.txt"
    rows = [
        {"loss": 1.0, "time": 5.0, "mode": "eval", "epoch": None},
        {"loss": 2.0, "time": 20.0, "mode": "opt", "epoch": 0},
        {"loss": 1.5, "time": 19.0, "mode": "opt", "epoch": 0},
        {"loss": 0.5, "time": 4.0, "mode": "eval", "epoch": 0},
    ]
    results.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert peer.epoch_seconds(results) == 43.0


def test_cpu_sized_mace_differs_from_the_readme_settings_only_in_width(peer):
    changed = [(a, b) for a, b in zip(peer.MACE_SETTINGS, peer.MACE_SMALL_SETTINGS) if a != b]
    assert changed == [("--hidden_irreps=128x0e + 128x1o", "--hidden_irreps=32x0e")]
    assert set(peer.MACE_RUNS) == {"mace", "mace-small"}
