"""Learned Hamiltonians on disk: one safetensors file with a JSON header (config, training, metrics).

Shipped Hamiltonians live beside the Equiformer potentials in ``potentials/`` and are told apart
by their header key; loading never unpickles anything. Version 2 adds ``header_sha256`` over the
whole header (version 1 still loads); a damaged, edited or malformed file raises
:class:`~equiformer_ase.errors.PotentialFileError`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..errors import PotentialFileError
from ..shipped import (
    HAMILTONIAN,
    check_weights,
    load_tensors,
    read_header,
    resolve,
    shipped_names,
    weights_sha256,
    write_model_file,
)
from .hamiltonian import HamiltonianConfig, LearnedHamiltonian

FORMAT_VERSION = HAMILTONIAN.versions[-1]
HEADER_KEY = HAMILTONIAN.key


def save_hamiltonian(
    model: LearnedHamiltonian, path: str | Path, training: dict | None = None, metrics: dict | None = None
) -> None:
    """Write ``model`` (weights as float64) with its config, ``training`` record and ``metrics``."""
    tensors = {k: v.detach().cpu().to(torch.float64).contiguous() for k, v in model.state_dict().items()}
    write_model_file(
        path,
        tensors,
        {
            "format_version": FORMAT_VERSION,
            "config": dataclasses.asdict(model.config),
            "training": training or {},
            "metrics": metrics or {},
            "weights_sha256": weights_sha256(tensors),
        },
        HAMILTONIAN,
    )


def list_hamiltonians() -> list[str]:
    """Names of the learned Hamiltonians shipped in ``potentials/``."""
    return shipped_names(HAMILTONIAN)


def load_hamiltonian(name_or_path: str | Path, dtype: torch.dtype = torch.float64) -> LearnedHamiltonian:
    """A learned Hamiltonian from a file, or by the name of a shipped one; ``.header`` holds its metadata."""
    path = resolve(name_or_path, HAMILTONIAN)
    header = read_header(path, HAMILTONIAN)
    try:  # the config's size checks come before any weights are read
        config = HamiltonianConfig(**header["config"])
    except (TypeError, ValueError) as exc:
        raise PotentialFileError(f"{path}: invalid config ({exc})") from None
    tensors = load_tensors(path)
    check_weights(tensors, header, path)
    try:
        model = LearnedHamiltonian(config).to(dtype)
        model.load_state_dict(tensors)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise PotentialFileError(
            f"{path}: the weights or config do not make a learned Hamiltonian ({exc})"
        ) from None
    model.header = header
    return model.eval()
