"""Learned Hamiltonians on disk: one safetensors file with a JSON header (config, training, metrics).

Shipped Hamiltonians live beside the Equiformer potentials in ``potentials/`` and are told apart
by their header key; loading never unpickles anything. Version 2 adds ``header_sha256`` over the
whole header (version 1 still loads); a damaged, edited or malformed file raises
:class:`~equiformer_ase.errors.PotentialFileError`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import PotentialFileError
from ..shipped import HAMILTONIAN, load_tensors, read_header, resolve, shipped_names, weights_sha256, write_model_file
from .hamiltonian import LearnedHamiltonian

FORMAT_VERSION = HAMILTONIAN.versions[-1]
HEADER_KEY = HAMILTONIAN.key
# Upper bounds of the integer sizes in a file's config, so a crafted header cannot build a huge model.
SIZE_LIMITS = {"dim": 3, "num_particles": 10_000, "in_features": 1024, "width": 4096, "depth": 64, "heads": 64,
               "nsamples": 4096}


def save_hamiltonian(model: LearnedHamiltonian, path: str | Path, training: dict | None = None,
                     metrics: dict | None = None) -> None:
    """Write ``model`` (weights as float64) with its config, ``training`` record and ``metrics``."""
    tensors = {k: v.detach().cpu().to(torch.float64).contiguous() for k, v in model.state_dict().items()}
    write_model_file(path, tensors, {"format_version": FORMAT_VERSION, "config": model.config,
                                     "training": training or {}, "metrics": metrics or {},
                                     "weights_sha256": weights_sha256(tensors)}, HAMILTONIAN)


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The checked header and the weights whose hash it holds."""
    header = read_header(path, HAMILTONIAN)
    config = header.get("config")
    if not isinstance(config, dict) or not all(isinstance(header.get(k, {}), dict) for k in ("training", "metrics")):
        raise PotentialFileError(f"{path}: 'config', 'training' and 'metrics' must be JSON objects")
    for key, limit in SIZE_LIMITS.items():
        value = config.get(key)
        if value is not None and not (type(value) is int and 0 <= value <= limit):
            raise PotentialFileError(f"{path}: config {key} must be an integer in [0, {limit}], got {value!r}")
    tensors = load_tensors(path)
    if weights_sha256(tensors) != header.get("weights_sha256"):
        raise PotentialFileError(f"{path}: weights do not match the sha256 in the header (corrupt file)")
    return header, tensors


def list_hamiltonians() -> list[str]:
    """Names of the learned Hamiltonians shipped in ``potentials/``."""
    return shipped_names(HAMILTONIAN)


def load_hamiltonian(name_or_path: str | Path, dtype: torch.dtype = torch.float64) -> LearnedHamiltonian:
    """A learned Hamiltonian from a file, or by the name of a shipped one; ``.header`` holds its metadata."""
    path = resolve(name_or_path, HAMILTONIAN)
    header, tensors = _read(path)
    try:
        model = LearnedHamiltonian(**header["config"]).to(dtype)
        model.load_state_dict(tensors)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise PotentialFileError(f"{path}: the weights or config do not make a learned Hamiltonian ({exc})") from None
    model.header = header
    return model.eval()
