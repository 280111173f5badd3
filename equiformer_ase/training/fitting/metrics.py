"""Errors of predictions against reference labels, overall and per group of frames.

Energy errors are per atom in meV/atom, force errors per component in meV/A, stress errors per
component in meV/A^3 (frames with stress labels only). Groups are ``KEY=VALUE`` for every key of
``GROUP_KEYS`` a frame carries in its ``info`` (``subset=bulk``, ``metal=Cu``, ``molecule=ethanol``).
"""

from __future__ import annotations

import numpy as np

from .dataset import Sample


def _mae_rmse(errors: list[np.ndarray], name: str, unit: str) -> dict[str, float]:
    if not errors:
        return {}
    flat = np.concatenate([np.ravel(e) for e in errors]) * 1000.0
    return {
        f"{name}_mae_{unit}": float(np.mean(np.abs(flat))),
        f"{name}_rmse_{unit}": float(np.sqrt(np.mean(flat**2))),
    }


def residuals(samples: list[Sample], predictions: list[dict]) -> dict[str, list[np.ndarray]]:
    """Prediction minus label, one array per frame: ``energy`` per atom (1,) in eV/atom, ``forces`` (n, 3)
    in eV/A, ``stress`` (3, 3) in eV/A^3 (frames with a stress label only)."""
    pairs = list(zip(samples, predictions))
    return {
        "energy": [np.array([(p["energy"] - s.energy) / len(s.atoms)]) for s, p in pairs],
        "forces": [p["forces"] - s.forces for s, p in pairs],
        "stress": [p["stress"] - s.stress for s, p in pairs if s.stress is not None],
    }


def error_summary(samples: list[Sample], predictions: list[dict]) -> dict[str, float]:
    """MAE and RMSE of energy per atom, force components and (where labelled) stress components."""
    errors = residuals(samples, predictions)
    return {
        "structures": len(samples),
        **_mae_rmse(errors["energy"], "energy", "mev_per_atom"),
        **_mae_rmse(errors["forces"], "forces", "mev_per_a"),
        **_mae_rmse(errors["stress"], "stress", "mev_per_a3"),
    }


def group_errors(samples: list[Sample], predictions: list[dict]) -> dict[str, dict[str, float]]:
    """``{"overall": summary, "KEY=VALUE": summary, ...}`` (see :func:`error_summary`)."""
    groups: dict[str, list[int]] = {}
    for k, sample in enumerate(samples):
        for key, value in sample.groups.items():
            groups.setdefault(f"{key}={value}", []).append(k)
    result = {"overall": error_summary(samples, predictions)}
    for name in sorted(groups):
        members = groups[name]
        result[name] = error_summary([samples[k] for k in members], [predictions[k] for k in members])
    return result


def format_errors(errors: dict[str, dict[str, float]]) -> str:
    """A text table: one row per group, energy in meV/atom and forces in meV/A."""
    lines = [
        f"{'group':<24} {'n':>6} {'E MAE':>9} {'E RMSE':>9} {'F MAE':>9} {'F RMSE':>9}",
        f"{'':<24} {'':>6} {'meV/atom':>9} {'meV/atom':>9} {'meV/A':>9} {'meV/A':>9}",
    ]
    for name, e in errors.items():
        lines.append(
            f"{name:<24} {e['structures']:>6} {e['energy_mae_mev_per_atom']:>9.3f} "
            f"{e['energy_rmse_mev_per_atom']:>9.3f} {e['forces_mae_mev_per_a']:>9.3f} "
            f"{e['forces_rmse_mev_per_a']:>9.3f}"
        )
    return "\n".join(lines)
