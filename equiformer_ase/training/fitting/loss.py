"""The training loss: weighted mean penalties of per-atom energy, force and stress errors.

    L = w_E * mean_b rho((E_b - E*_b) / n_b)  +  w_F * mean_{i,a} rho(F_ia - F*_ia)
        + w_S * mean_{b with stress, a, c} rho(S_bac - S*_bac)

with rho(r) = r^2 (mean squared errors, in eV^2/atom^2, eV^2/A^2 and eV^2/A^6), or with a Huber
delta d: r^2 for |r| <= d and 2 d |r| - d^2 beyond, so that a few extreme frames (an adsorbate
started 1 A above a metal atom: forces of 100 eV/A) pull on the fit linearly, not quadratically
(MACE's Huber loss, scaled to equal the squared error below d). Sums of penalties and the counts
they are divided by are kept apart, so a batch split over processes (or over a stress and a
no-stress graph) adds up to exactly the loss of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .batching import Batch
from .metrics import residuals

TERMS = ("energy", "forces", "stress")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the per-atom energy, force and stress terms, and the Huber delta (eV/atom, eV/A and
    eV/A^3 alike; None: squared errors throughout)."""

    energy: float = 1.0
    forces: float = 1.0
    stress: float = 1.0
    huber_delta: float | None = None

    def __post_init__(self):
        if self.huber_delta is not None and not self.huber_delta > 0:
            raise ValueError(f"huber_delta must be positive, got {self.huber_delta}")

    def penalty(self, residual: torch.Tensor) -> torch.Tensor:
        """rho(residual) elementwise, same shape."""
        if self.huber_delta is None:
            return residual.square()
        zero = torch.zeros_like(residual)
        return 2 * torch.nn.functional.huber_loss(residual, zero, reduction="none", delta=self.huber_delta)

    def combine(self, penalty_sums: dict, counts: dict):
        """sum_k w_k * penalty_sums[k] / counts[k] over the terms with a non-zero count."""
        return sum(getattr(self, k) * penalty_sums[k] / counts[k] for k in TERMS if counts[k])


def penalty_sums(
    prediction: dict[str, torch.Tensor], batch: Batch, weights: LossWeights
) -> dict[str, torch.Tensor]:
    """Sums of rho over one batch: per-atom energy, force components, stress components."""
    energy = weights.penalty((prediction["energy"] - batch.energy) / batch.num_atoms).sum()
    forces = weights.penalty(prediction["forces"] - batch.forces).sum()
    if "stress" in prediction:  # rows without a label (NaN for non-periodic frames) are left out, not masked
        stress = weights.penalty(
            prediction["stress"][batch.has_stress] - batch.stress[batch.has_stress]
        ).sum()
    else:
        stress = energy.new_zeros(())
    return {"energy": energy, "forces": forces, "stress": stress}


def error_counts(samples) -> dict[str, int]:
    """What each sum of penalties is divided by: structures, force components, stress components."""
    return {
        "energy": len(samples),
        "forces": 3 * sum(len(s.atoms) for s in samples),
        "stress": 9 * sum(s.stress is not None for s in samples),
    }


def dataset_loss(samples, predictions: list[dict], weights: LossWeights) -> float:
    """The loss of ``predictions`` (dicts of numpy arrays, eV units) on labelled ``samples`` as a whole."""
    sums = {
        k: float(weights.penalty(torch.as_tensor(np.concatenate([e.ravel() for e in errors]))).sum())
        if errors
        else 0.0
        for k, errors in residuals(samples, predictions).items()
    }
    return float(weights.combine(sums, error_counts(samples)))
