"""Model files: the ``potentials/`` folder of shipped models (installed as ``equiformer_ase.potentials``),
the hashes stored in every file's header, and reading that header.

Equiformer potentials, committees and learned Lie Hamiltonians share the folder; each file is told
apart by the key of its safetensors JSON header, read without loading the weights. From format version 2 on,
``header_sha256`` covers the whole header (which holds ``weights_sha256``), so neither a weight nor a
header field (cutoff, reference energies, config) can change without the file saying so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import PotentialFileError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ModelKind:
    """A kind of model file: its safetensors header ``key``, the format ``versions`` this code reads
    (the last is the one it writes), its ``name`` in messages, the header fields every such file has
    (``required``) and those that are JSON objects where present (``objects``)."""

    key: str
    versions: tuple[int, ...]
    name: str
    required: tuple[str, ...]
    objects: tuple[str, ...] = ("training", "metrics")


# Version 1 files predate header_sha256 and still load.
POTENTIAL = ModelKind(
    "equiformer_ase",
    (1, 2),
    "potential",
    ("config", "elements", "cutoff", "reference_energies", "weights_sha256"),
)
HAMILTONIAN = ModelKind(
    "equiformer_ase.lie_hamiltonian",
    (1, 2),
    "Hamiltonian",
    ("config", "weights_sha256"),
    ("config", "training", "metrics"),
)
COMMITTEE = ModelKind("equiformer_ase_committee", (1, 2), "committee", ("members",), ("info",))


def shipped_path(name: str) -> Path:
    """Path of the shipped file ``name`` (the installed package keeps it on disk)."""
    return Path(str(resources.files("equiformer_ase.potentials") / f"{name}.safetensors"))


def shipped_names(kind: ModelKind) -> list[str]:
    """Names of the shipped ``.safetensors`` files of ``kind``."""
    return sorted(
        entry.name[: -len(".safetensors")]
        for entry in resources.files("equiformer_ase.potentials").iterdir()
        if entry.name.endswith(".safetensors") and kind.key in read_metadata(str(entry))
    )


def weights_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``tensors`` (CPU), in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = tensors[name].numpy()
        digest.update(name.encode())
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def header_sha256(header: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of ``header`` without ``header_sha256``."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def resolve(name_or_path: str | Path, kind: ModelKind) -> Path:
    """The file of a path, or of the name of a shipped model of ``kind``."""
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.exists():
        return path
    shipped = shipped_names(kind)
    if str(name_or_path) not in shipped:
        raise PotentialFileError(
            f"{name_or_path!r} is neither a file nor a shipped {kind.name} "
            f"(shipped: {', '.join(shipped) or 'none'})"
        )
    return shipped_path(str(name_or_path))


def read_metadata(path: str | Path, what: str = "model") -> dict[str, str]:
    """The safetensors metadata (header key -> JSON text) of ``path``, without reading the weights;
    ``what`` names the file in the error for a missing one."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except FileNotFoundError:
        raise PotentialFileError(f"{what} file {path} does not exist") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise PotentialFileError(f"{path} is not a readable safetensors file ({exc})") from None


def write_model_file(
    path: str | Path, tensors: dict[str, torch.Tensor], header: dict, kind: ModelKind
) -> None:
    """Write ``tensors`` and ``header`` (made plain JSON, sealed with its ``header_sha256``) as a ``kind`` file."""
    from safetensors.torch import save_file

    header = json.loads(json.dumps(header))
    header["header_sha256"] = header_sha256(header)
    save_file(tensors, str(path), metadata={kind.key: json.dumps(header)})


def read_header(name_or_path: str | Path, kind: ModelKind) -> dict:
    """The JSON header of a model file of ``kind`` (a path or a shipped name), without loading weights.

    Checks that it is a JSON object of a readable format version whose ``header_sha256`` matches
    (versions >= 2). Every failure is a :class:`PotentialFileError` naming the file.
    """
    path = resolve(name_or_path, kind)
    raw = read_metadata(path, kind.name).get(kind.key)
    if raw is None:
        raise PotentialFileError(f"{path} has no '{kind.key}' header: not a {kind.name} file")
    try:
        header = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PotentialFileError(f"{path}: corrupt JSON header ({exc})") from None
    if not isinstance(header, dict):
        raise PotentialFileError(f"{path}: the header is a JSON {type(header).__name__}, not an object")
    version = header.get("format_version")
    if type(version) is not int or version not in kind.versions:
        raise PotentialFileError(
            f"{path}: format version {version!r} is not supported (this equiformer-ase "
            f"reads {kind.name} versions {', '.join(map(str, kind.versions))})"
        )
    if version >= 2 and header.get("header_sha256") != header_sha256(header):
        raise PotentialFileError(
            f"{path}: the header does not match its header_sha256 (edited or corrupt file)"
        )
    check_fields(header, kind, path)
    return header


def check_fields(header: dict, kind: ModelKind, where: str | Path) -> None:
    """PotentialFileError naming ``where`` unless ``header`` has the fields of ``kind`` with the right JSON types."""
    missing = set(kind.required) - set(header)
    if missing:
        raise PotentialFileError(f"{where}: the header lacks {', '.join(sorted(missing))}")
    for key in kind.objects:
        if not isinstance(header.get(key, {}), dict):
            raise PotentialFileError(
                f"{where}: '{key}' must be a JSON object, got {type(header[key]).__name__}"
            )
    if not isinstance(header.get("weights_sha256", ""), str):
        raise PotentialFileError(f"{where}: weights_sha256 must be a string")


def check_weights(tensors: dict[str, torch.Tensor], header: dict, where: str | Path) -> None:
    """PotentialFileError naming ``where`` unless ``tensors`` hash to the header's ``weights_sha256``."""
    if weights_sha256(tensors) != header["weights_sha256"]:
        raise PotentialFileError(f"{where}: weights do not match the sha256 in the header (corrupt file)")


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors file ``path``; PotentialFileError for a corrupt or truncated file."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors' own error types
        raise PotentialFileError(
            f"{path}: weights cannot be read, the file is corrupt or truncated ({exc})"
        ) from None


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the safetensors file ``path``, read from its header only."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
