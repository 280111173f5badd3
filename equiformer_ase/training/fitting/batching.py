"""Samples -> batched graphs with label tensors, and the potential's predictions on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...committee import Committee, evaluate_model
from ...graph import AtomGraph, build_graph
from ...potential import Potential
from ...structures import structure_slices
from .dataset import Sample


@dataclass
class Batch:
    """The structures given to :func:`collate`, in order, as one graph with labels.

    energy (B,) eV; forces (N, 3) eV/A; num_atoms (B,); stress (B, 3, 3) eV/A^3, zero where
    ``has_stress`` (B,) bool is False (frames without a stress label).
    """

    graph: AtomGraph
    energy: torch.Tensor
    forces: torch.Tensor
    num_atoms: torch.Tensor
    stress: torch.Tensor
    has_stress: torch.Tensor


def collate(
    samples: list[Sample],
    elements: list[str],
    cutoff: float,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> Batch:
    """All ``samples`` (at least one) as one batch."""

    def as_tensor(values, kind=dtype):
        return torch.as_tensor(np.asarray(values), dtype=kind, device=device)

    no_stress = np.zeros((3, 3))
    return Batch(
        graph=build_graph([s.atoms for s in samples], elements, cutoff, device=device, dtype=dtype),
        energy=as_tensor([s.energy for s in samples]),
        forces=as_tensor(np.concatenate([s.forces for s in samples])),
        num_atoms=as_tensor([len(s.atoms) for s in samples]),
        stress=as_tensor(np.stack([no_stress if s.stress is None else s.stress for s in samples])),
        has_stress=as_tensor([s.stress is not None for s in samples], torch.bool),
    )


def evaluate_batch(potential: Potential, batch: Batch, create_graph: bool = False) -> dict[str, torch.Tensor]:
    """``Potential.evaluate`` on the batch: energy, forces and, when any frame has a stress label, stress."""
    return potential.evaluate(
        batch.graph, forces=True, stress=bool(batch.has_stress.any()), create_graph=create_graph
    )


def predict(
    model: Potential | Committee,
    samples: list[Sample],
    batch_size: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
    desc: str | None = None,
) -> list[dict[str, np.ndarray]]:
    """Per sample (same order): ``energy`` float eV, ``forces`` (n, 3) eV/A, ``stress`` (3, 3) where labelled;
    of a committee, its members' mean (:func:`~equiformer_ase.committee.evaluate_model`); a progress bar
    named ``desc`` if given."""
    from tqdm import tqdm

    elements, cutoff = model.config.elements, model.config.cutoff
    predictions: list[dict] = [{} for _ in samples]
    starts = range(0, len(samples), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=desc is None):
        chunk = samples[start : start + batch_size]
        batch = collate(chunk, elements, cutoff, device, dtype)
        result = evaluate_model(model, batch.graph, stress=bool(batch.has_stress.any()))
        result = {k: result[k].cpu().numpy() for k in ("energy", "forces", "stress") if k in result}
        for k, (sample, atoms) in enumerate(zip(chunk, structure_slices([len(s.atoms) for s in chunk]))):
            predictions[start + k] = {"energy": float(result["energy"][k]), "forces": result["forces"][atoms]}
            if sample.stress is not None:
                predictions[start + k]["stress"] = result["stress"][k]
    return predictions


def calculator_predictions(
    calc, samples: list[Sample], batch_size: int = 16, desc: str | None = None
) -> list[dict]:
    """Per sample (same order): ``calc.calculate_batch``'s result (an
    :class:`~equiformer_ase.calculator.EquiformerCalculator`, a committee's spread included) with
    ``stress`` as (3, 3) like the labels; a progress bar named ``desc`` if given."""
    from ase.stress import voigt_6_to_full_3x3_stress
    from tqdm import tqdm

    predictions = []
    for start in tqdm(range(0, len(samples), batch_size), desc=desc, unit="batch", disable=desc is None):
        for result in calc.calculate_batch([s.atoms for s in samples[start : start + batch_size]]):
            if "stress" in result:
                result["stress"] = voigt_6_to_full_3x3_stress(result["stress"])
            predictions.append(result)
    return predictions
