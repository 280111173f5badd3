"""Errors of a potential on labelled data: the whole file or its own training split of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ...committee import Committee, inference_model
from ...devices import resolve_device
from ...potential import Potential
from ..fitting.batching import predict
from ..fitting.dataset import GROUP_KEYS, read_structures, to_samples
from ..fitting.metrics import group_errors
from .card import held_out


def evaluate_potential(
    potential: Potential | Committee | str | Path,
    data: str | Path,
    split: str = "all",
    group_by: Sequence[str] = (),
    batch_size: int = 16,
    device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """:func:`~equiformer_ase.training.metrics.group_errors` of ``potential`` (a Potential or Committee, or
    the file or shipped name of either; a committee's members' mean is scored), evaluated in float64, on
    ``data``: the whole file (``split="all"``, grouped also by the frame ``info`` keys ``group_by``) or a
    single potential's own "train", "validation" or "test" part of it (:func:`~equiformer_ase.training.card.held_out`)."""
    device = resolve_device(device)
    model = inference_model(potential, device, torch.float64)
    if split == "all":
        samples = to_samples(read_structures(data), model.config.elements, GROUP_KEYS + tuple(group_by))
    elif isinstance(model, Committee):
        raise ValueError(
            f"a committee has no {split} split of its own (its members may differ): evaluate the whole file"
        )
    else:
        samples = held_out(model, data, split)
    return group_errors(
        samples, predict(model, samples, batch_size, device, desc=f"evaluate {len(samples)} frames")
    )
