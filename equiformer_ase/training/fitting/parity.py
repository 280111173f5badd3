"""Parity plots (predicted vs reference) of per-atom energy and force components, as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Sample


def _parity_plot(reference: np.ndarray, predicted: np.ndarray, label: str, unit: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mae = float(np.mean(np.abs(predicted - reference)))
    low, high = float(min(reference.min(), predicted.min())), float(max(reference.max(), predicted.max()))
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([low, high], [low, high], color="0.6", lw=1)
    ax.scatter(reference, predicted, s=4, alpha=0.5, lw=0)
    ax.set_xlabel(f"reference {label} ({unit})")
    ax.set_ylabel(f"predicted {label} ({unit})")
    ax.set_title(f"{label}: MAE {mae:.4g} {unit}, n = {reference.size}")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_parity_plots(samples: list[Sample], predictions: list[dict], out_dir: str | Path) -> list[Path]:
    """``parity_energy.png`` (eV/atom) and ``parity_forces.png`` (eV/A components) in ``out_dir``."""
    out_dir = Path(out_dir)
    paths = [out_dir / "parity_energy.png", out_dir / "parity_forces.png"]
    sizes = np.array([len(s.atoms) for s in samples])
    _parity_plot(
        np.array([s.energy for s in samples]) / sizes,
        np.array([p["energy"] for p in predictions]) / sizes,
        "energy",
        "eV/atom",
        paths[0],
    )
    _parity_plot(
        np.concatenate([s.forces.ravel() for s in samples]),
        np.concatenate([p["forces"].ravel() for p in predictions]),
        "force",
        "eV/A",
        paths[1],
    )
    return paths
