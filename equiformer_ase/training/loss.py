"""The training loss: weighted mean squared errors of per-atom energy, forces and stress.

    L = w_E * mean_b ((E_b - E*_b) / n_b)^2  +  w_F * mean_{i,a} (F_ia - F*_ia)^2
        + w_S * mean_{b with stress, a, c} (S_bac - S*_bac)^2

in eV^2/atom^2, eV^2/A^2 and eV^2/A^6. Sums of squared errors and the counts they are divided by
are kept apart, so a batch split over processes (or over a stress and a no-stress graph) adds up
to exactly the loss of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .batching import Batch

TERMS = ("energy", "forces", "stress")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the per-atom energy, force and stress terms."""

    energy: float = 1.0
    forces: float = 1.0
    stress: float = 1.0

    def combine(self, squared_errors: dict, counts: dict):
        """sum_k w_k * squared_errors[k] / counts[k] over the terms with a non-zero count."""
        return sum(getattr(self, k) * squared_errors[k] / counts[k] for k in TERMS if counts[k])


def squared_errors(prediction: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
    """Sums of squared errors of one batch: per-atom energy, force components, stress components."""
    energy = ((prediction["energy"] - batch.energy) / batch.num_atoms).square().sum()
    forces = (prediction["forces"] - batch.forces).square().sum()
    if "stress" in prediction:  # rows without a label (NaN for non-periodic frames) are left out, not masked
        stress = (prediction["stress"][batch.has_stress] - batch.stress[batch.has_stress]).square().sum()
    else:
        stress = energy.new_zeros(())
    return {"energy": energy, "forces": forces, "stress": stress}


def error_counts(samples) -> dict[str, int]:
    """What each sum of squared errors is divided by: structures, force components, stress components."""
    return {
        "energy": len(samples),
        "forces": 3 * sum(len(s.atoms) for s in samples),
        "stress": 9 * sum(s.stress is not None for s in samples),
    }
