"""Device and dtype names as users give them -> torch objects, with clear errors."""

from __future__ import annotations

import re

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_DEVICE_NAME = re.compile(r"(auto|cpu|cuda)(:(\d+))?")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as named.

    ValueError naming the valid choices for anything else (``"tpu"``, ``"CPU"``, ``"mps"``,
    ``"cuda:x"``), and for CUDA (or a CUDA index) torch does not see.
    """
    match = check_device_name(device)
    if match[1] == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if match[1] == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but torch sees no CUDA device; use cpu")
        count = torch.cuda.device_count()
        if match[3] is not None and int(match[3]) >= count:
            raise ValueError(
                f"device {device!r}: torch sees {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            )
    return torch.device(device)


def check_device_name(device: str | torch.device) -> re.Match:
    """ValueError naming the valid choices unless ``device`` is spelled auto, cpu, cuda or cuda:N (whether
    this machine has it is :func:`resolve_device`'s question); returns the parsed name."""
    match = _DEVICE_NAME.fullmatch(str(device))
    if match is None or (match[1] == "auto" and match[2]):
        raise ValueError(f"unknown device {str(device)!r}: choose {DEVICE_CHOICES}")
    return match


def resolve_dtype(name: str) -> torch.dtype:
    """``"float32"`` or ``"float64"`` -> the torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]
