"""Model files: the ``potentials/`` folder of shipped models (installed as ``equiformer_ase.potentials``)
and the weights hash stored in every file's header.

Equiformer potentials and learned Lie Hamiltonians share the folder; each file is told apart by the
key of its safetensors JSON header, read without loading the weights.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import torch


def shipped_path(name: str) -> Path:
    """Path of the shipped file ``name`` (the installed package keeps it on disk)."""
    return Path(str(resources.files("equiformer_ase.potentials") / f"{name}.safetensors"))


def shipped_names(header_key: str) -> list[str]:
    """Names of the shipped ``.safetensors`` files whose header has ``header_key``."""
    from safetensors import safe_open

    names = []
    for entry in resources.files("equiformer_ase.potentials").iterdir():
        if entry.name.endswith(".safetensors"):
            with safe_open(str(entry), framework="pt") as handle:
                if header_key in (handle.metadata() or {}):
                    names.append(entry.name[: -len(".safetensors")])
    return sorted(names)


def weights_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``tensors`` (CPU), in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = tensors[name].numpy()
        digest.update(name.encode())
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
