"""The ``potentials/`` folder of shipped models, installed as ``equiformer_ase.potentials``.

Equiformer potentials and learned Lie Hamiltonians share it; each file is told apart by the key of
its safetensors JSON header, read without loading the weights.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


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
