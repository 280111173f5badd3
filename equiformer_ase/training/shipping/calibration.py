"""Calibration of a committee: does its predicted force deviation rank the true force error?

On labelled frames, per atom: the deviation ``forces_dev`` (eV/A, see :mod:`equiformer_ase.committee`)
against the error of the members' mean, |F_mean - F_ref| (eV/A); per frame: ``max_forces_dev``
against the largest per-atom error (what a trust window or a stop criterion acts on). Reported as
Spearman rank correlations (1: the deviation orders the errors perfectly; 0: no information), and, for
the frames whose largest atom error exceeds ``LARGE_ERROR`` (1 eV/A: the answer is wrong), the fraction
that a trust level on ``max_forces_dev`` would catch, at each of ``TRUST_LEVELS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LARGE_ERROR = 1.0  # eV/A, largest atom force error of a frame whose answer is wrong
TRUST_LEVELS = (0.05, 0.15, 0.5, 1.0)  # eV/A on max_forces_dev


def calibration_statistics(
    deviations: list[np.ndarray],
    mean_forces: list[np.ndarray],
    reference_forces: list[np.ndarray],
    levels: tuple[float, ...] = TRUST_LEVELS,
) -> dict:
    """Per frame f: ``deviations[f]`` (n,) eV/A, ``mean_forces[f]`` and ``reference_forces[f]`` (n, 3) eV/A.

    Returns ``frame_spearman``, ``atom_spearman``, ``frames``, ``atoms``, ``forces_mae_mev_per_a``
    (components), ``large_error_frames`` (largest atom error above ``LARGE_ERROR``) and ``caught`` (for
    each trust level of ``levels``, eV/A, the fraction of those frames whose ``max_forces_dev`` exceeds it; NaN
    without such frames), and the arrays ``frame_deviation``, ``frame_error`` (F,), ``atom_deviation``,
    ``atom_error`` (N,) in eV/A.
    """
    from scipy.stats import spearmanr

    if not deviations:
        raise ValueError("calibration needs at least one labelled frame")
    errors = [
        np.linalg.norm(np.asarray(m) - np.asarray(r), axis=1) for m, r in zip(mean_forces, reference_forces)
    ]
    atom_deviation, atom_error = np.concatenate(deviations), np.concatenate(errors)
    frame_deviation = np.array([np.max(d) for d in deviations])
    frame_error = np.array([np.max(e) for e in errors])
    components = np.concatenate(
        [(np.asarray(m) - np.asarray(r)).ravel() for m, r in zip(mean_forces, reference_forces)]
    )

    def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
        return float(spearmanr(x, y)[0]) if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")

    wrong = frame_error > LARGE_ERROR
    caught = {
        level: float(np.mean(frame_deviation[wrong] > level)) if wrong.any() else float("nan")
        for level in levels
    }
    return {
        "large_error_frames": int(wrong.sum()),
        "caught": caught,
        "frame_spearman": rank_correlation(frame_deviation, frame_error),
        "atom_spearman": rank_correlation(atom_deviation, atom_error),
        "frames": len(deviations),
        "atoms": len(atom_deviation),
        "forces_mae_mev_per_a": float(np.mean(np.abs(components)) * 1000),
        "frame_deviation": frame_deviation,
        "frame_error": frame_error,
        "atom_deviation": atom_deviation,
        "atom_error": atom_error,
    }


def plot_calibration(statistics: dict, png: str | Path, title: str = "") -> None:
    """Log-log scatter of true force error against predicted deviation, per atom and per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, level in zip(axes, ("atom", "frame")):
        x, y = statistics[f"{level}_deviation"], statistics[f"{level}_error"]
        keep = (x > 0) & (y > 0)
        ax.scatter(x[keep], y[keep], s=4 if level == "atom" else 10, alpha=0.4)
        if keep.any():
            low, high = min(x[keep].min(), y[keep].min()), max(x[keep].max(), y[keep].max())
            ax.plot([low, high], [low, high], "k--", lw=0.8, label="error = deviation")
            ax.legend(loc="upper left")
        ax.set_xscale("log")
        ax.set_yscale("log")
        what = (
            "per atom: |F_mean - F_ref| vs forces_dev"
            if level == "atom"
            else "per frame: max error vs max_forces_dev"
        )
        ax.set_title(f"{what}\nSpearman {statistics[f'{level}_spearman']:.3f}", fontsize=9)
        ax.set_xlabel("committee deviation (eV/A)")
        ax.set_ylabel("force error of the mean (eV/A)")
    fig.suptitle(title or f"{statistics['frames']} frames, {statistics['atoms']} atoms", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def calibrate(
    committee,
    data: str | Path,
    png: str | Path | None = None,
    device: str = "cpu",
    dtype: str = "float64",
    batch_size: int = 16,
) -> dict:
    """:func:`calibration_statistics` of ``committee`` (a committee file or shipped name, or a list of
    potentials / paths) on the labelled frames of ``data`` (extxyz/xyz or ase.db); writes the
    scatter plot to ``png`` if given."""
    from ...calculator import EquiformerCalculator
    from ...committee import Committee
    from ..fitting.batching import calculator_predictions
    from ..fitting.dataset import read_structures, to_samples

    calc = EquiformerCalculator(committee, device=device, dtype=dtype)
    if not isinstance(calc.potential, Committee):
        raise ValueError(
            f"{committee} is a single potential, not a committee: give a committee file or 2+ members"
        )
    samples = to_samples(read_structures(data), calc.potential.config.elements)
    predictions = calculator_predictions(calc, samples, batch_size, desc="calibrate")
    statistics = calibration_statistics(
        [p["forces_dev"] for p in predictions],
        [p["forces"] for p in predictions],
        [s.forces for s in samples],
    )
    if png is not None:
        plot_calibration(
            statistics,
            png,
            f"{Path(str(data)).name}: {statistics['frames']} frames, {statistics['atoms']} atoms",
        )
    return statistics
