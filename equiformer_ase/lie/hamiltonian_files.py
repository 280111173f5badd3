"""Learned Hamiltonians on disk: one safetensors file with a JSON header (config, training, metrics).

Shipped Hamiltonians live beside the Equiformer potentials in ``potentials/`` and are told apart
by their header key; loading never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..shipped import shipped_names, shipped_path, weights_sha256
from .hamiltonian import LearnedHamiltonian

HEADER_KEY = "equiformer_ase.lie_hamiltonian"
FORMAT_VERSION = 1


def save_hamiltonian(model: LearnedHamiltonian, path: str | Path, training: dict | None = None,
                     metrics: dict | None = None) -> None:
    """Write ``model`` (weights as float64) with its config, ``training`` record and ``metrics``."""
    from safetensors.torch import save_file
    tensors = {k: v.detach().cpu().to(torch.float64).contiguous() for k, v in model.state_dict().items()}
    header = {"format_version": FORMAT_VERSION, "config": model.config, "training": training or {},
              "metrics": metrics or {}, "weights_sha256": weights_sha256(tensors)}
    save_file(tensors, str(path), metadata={HEADER_KEY: json.dumps(header)})


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open
    from safetensors.torch import load_file
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(HEADER_KEY)
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise ValueError(f"Hamiltonian file {path} does not exist") from None
    except Exception as exc:  # safetensors' own error types for corrupt files
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from None
    if raw is None:
        raise ValueError(f"{path} has no '{HEADER_KEY}' header: not a learned Hamiltonian")
    header = json.loads(raw)
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: Hamiltonian format {header.get('format_version')!r} is not supported")
    if weights_sha256(tensors) != header["weights_sha256"]:
        raise ValueError(f"{path}: weights do not match the sha256 in the header (corrupt file)")
    return header, tensors


def list_hamiltonians() -> list[str]:
    """Names of the learned Hamiltonians shipped in ``potentials/``."""
    return shipped_names(HEADER_KEY)


def load_hamiltonian(name_or_path: str | Path, dtype: torch.dtype = torch.float64) -> LearnedHamiltonian:
    """A learned Hamiltonian from a file, or by the name of a shipped one; ``.header`` holds its metadata."""
    path = Path(name_or_path)
    if not (path.suffix == ".safetensors" or path.exists()):
        shipped = list_hamiltonians()
        if str(name_or_path) not in shipped:
            raise ValueError(f"{name_or_path!r} is neither a file nor a shipped Hamiltonian "
                             f"(shipped: {', '.join(shipped) or 'none'})")
        path = shipped_path(str(name_or_path))
    header, tensors = _read(path)
    model = LearnedHamiltonian(**header["config"]).to(dtype)
    model.load_state_dict(tensors)
    model.header = header
    return model.eval()
