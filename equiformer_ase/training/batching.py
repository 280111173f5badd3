"""Samples -> batched graphs with label tensors, and the potential's predictions on them.

Frames with a stress label and frames without go into separate graphs: ``Potential.evaluate``
returns NaN stress rows for non-periodic structures, and a NaN row inside a differentiated
stress would poison the gradients even where the loss ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..graph import AtomGraph, build_graph
from ..potential import Potential
from .dataset import Sample


@dataclass
class Batch:
    """Structures ``indices`` (into the list given to :func:`collate`) as one graph with labels.

    energy (B,) eV; forces (N, 3) eV/A; num_atoms (B,); stress (B, 3, 3) eV/A^3 or None when
    the batch holds the frames without stress.
    """

    indices: list[int]
    graph: AtomGraph
    energy: torch.Tensor
    forces: torch.Tensor
    num_atoms: torch.Tensor
    stress: torch.Tensor | None


def collate(samples: list[Sample], elements: list[str], cutoff: float, device: torch.device | str = "cpu",
            dtype: torch.dtype = torch.float64) -> list[Batch]:
    """At most two batches: the frames with stress labels, then the others (either may be absent)."""
    with_stress = [k for k, s in enumerate(samples) if s.stress is not None]
    without_stress = [k for k, s in enumerate(samples) if s.stress is None]
    batches = []
    for indices in (with_stress, without_stress):
        if not indices:
            continue
        chosen = [samples[k] for k in indices]
        def as_tensor(values):
            return torch.as_tensor(np.asarray(values), dtype=dtype, device=device)

        batches.append(Batch(
            indices=indices,
            graph=build_graph([s.atoms for s in chosen], elements, cutoff, device=device, dtype=dtype),
            energy=as_tensor([s.energy for s in chosen]),
            forces=as_tensor(np.concatenate([s.forces for s in chosen])),
            num_atoms=as_tensor([len(s.atoms) for s in chosen]),
            stress=as_tensor(np.stack([s.stress for s in chosen])) if indices is with_stress else None,
        ))
    return batches


def evaluate_batch(potential: Potential, batch: Batch, create_graph: bool = False) -> dict[str, torch.Tensor]:
    """``Potential.evaluate`` on the batch: energy, forces and, for the stress batch, stress."""
    return potential.evaluate(batch.graph, forces=True, stress=batch.stress is not None, create_graph=create_graph)


def predict(potential: Potential, samples: list[Sample], batch_size: int, device: torch.device | str = "cpu",
            dtype: torch.dtype = torch.float64) -> list[dict[str, np.ndarray]]:
    """Per sample (same order): ``energy`` float eV, ``forces`` (n, 3) eV/A, ``stress`` (3, 3) where labelled."""
    elements, cutoff = potential.config.elements, potential.config.cutoff
    predictions: list[dict] = [{} for _ in samples]
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        for batch in collate(chunk, elements, cutoff, device, dtype):
            result = {k: v.cpu().numpy() for k, v in evaluate_batch(potential, batch).items()}
            counts = [len(chunk[k].atoms) for k in batch.indices]
            forces = np.split(result["forces"], np.cumsum(counts)[:-1])
            for row, k in enumerate(batch.indices):
                predictions[start + k] = {"energy": float(result["energy"][row]), "forces": forces[row]}
                if "stress" in result:
                    predictions[start + k]["stress"] = result["stress"][row]
    return predictions
