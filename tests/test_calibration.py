"""Calibration: Spearman rank correlation of committee deviation vs true force error, per frame and atom."""

from __future__ import annotations

import numpy as np
import pytest
from ase.io import read, write
from conftest import tiny_potential
from scipy.stats import spearmanr

from equiformer_ase.cli import main
from equiformer_ase.training import generate
from equiformer_ase.training.shipping.calibration import calibrate, calibration_statistics


def synthetic(error_of, frames: int = 12, atoms: int = 5, seed: int = 0):
    """Frames whose per-atom error |F_mean - F_ref| is ``error_of(deviation)``, in a random direction."""
    rng = np.random.default_rng(seed)
    deviations = [rng.uniform(0.01, 1.0, atoms) for _ in range(frames)]
    references = [rng.normal(size=(atoms, 3)) for _ in range(frames)]
    means = []
    for dev, ref in zip(deviations, references):
        direction = rng.normal(size=(atoms, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        means.append(ref + direction * error_of(dev)[:, None])
    return deviations, means, references


def test_spearman_is_one_for_monotone_errors_and_minus_one_for_reversed():
    stats = calibration_statistics(*synthetic(lambda d: 3 * d**2))
    assert stats["atom_spearman"] == pytest.approx(1.0) and stats["frame_spearman"] == pytest.approx(1.0)
    stats = calibration_statistics(*synthetic(lambda d: 1 / d, atoms=1))  # one atom: frame = atom
    assert stats["atom_spearman"] == pytest.approx(-1.0) and stats["frame_spearman"] == pytest.approx(-1.0)
    stats = calibration_statistics(*synthetic(lambda d: 1 / d))
    assert stats["atom_spearman"] == pytest.approx(-1.0) and stats["frames"] == 12 and stats["atoms"] == 60


def test_caught_counts_the_wrong_frames_above_each_trust_level():
    deviations = [np.array([0.01, 0.02]), np.array([0.3]), np.array([2.0, 0.1]), np.array([0.5])]
    references = [np.zeros((len(d), 3)) for d in deviations]
    errors = [0.5, 1.5, 3.0, 0.2]  # largest atom error per frame, eV/A: frames 1 and 2 are wrong
    means = [np.eye(len(d), 3) * e for d, e in zip(deviations, errors)]
    stats = calibration_statistics(deviations, means, references)
    assert stats["large_error_frames"] == 2
    assert stats["caught"] == {0.05: 1.0, 0.15: 1.0, 0.5: 0.5, 1.0: 0.5}
    nothing_wrong = calibration_statistics(deviations[:1], means[:1], references[:1])
    assert nothing_wrong["large_error_frames"] == 0 and np.isnan(nothing_wrong["caught"][1.0])


def test_spearman_matches_scipy_on_noisy_errors():
    rng = np.random.default_rng(3)
    deviations, means, references = synthetic(lambda d: d * rng.lognormal(sigma=1.0, size=d.shape))
    stats = calibration_statistics(deviations, means, references)
    errors = [np.linalg.norm(m - r, axis=1) for m, r in zip(means, references)]
    assert stats["atom_spearman"] == pytest.approx(
        spearmanr(np.concatenate(deviations), np.concatenate(errors))[0]
    )
    assert stats["frame_spearman"] == pytest.approx(
        spearmanr([d.max() for d in deviations], [e.max() for e in errors])[0]
    )
    assert 0.2 < stats["atom_spearman"] < 0.9
    components = np.concatenate([(m - r).ravel() for m, r in zip(means, references)])
    assert stats["forces_mae_mev_per_a"] == pytest.approx(1000 * np.abs(components).mean())


def test_calibrate_a_committee_on_labelled_frames_and_cli(tmp_path, capsys):
    generate("surfaces", tmp_path / "full.extxyz", preset="tiny", seed=0)
    write(tmp_path / "data.extxyz", read(tmp_path / "full.extxyz", index="::3"))
    paths = []
    for seed in range(3):
        tiny_potential(seed=seed).save(tmp_path / f"m{seed}.safetensors")
        paths.append(str(tmp_path / f"m{seed}.safetensors"))
    stats = calibrate(paths, tmp_path / "data.extxyz", tmp_path / "cal.png")
    assert stats["frames"] == len(read(tmp_path / "data.extxyz", index=":"))
    assert -1 <= stats["atom_spearman"] <= 1 and (tmp_path / "cal.png").stat().st_size > 0
    assert main(["calibrate", *paths, str(tmp_path / "data.extxyz")]) == 0
    assert "Spearman per atom" in capsys.readouterr().out
    assert main(["calibrate", paths[0], str(tmp_path / "data.extxyz")]) == 2
    error = capsys.readouterr().err.strip()
    assert "not a committee" in error and "\n" not in error
