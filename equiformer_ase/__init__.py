"""equiformer-ase: Equiformer force fields and LieTransformer Hamiltonians inside ASE.

Public names are imported on first use (PEP 562), so ``equiformer-ase --help`` and other light
uses start without loading torch and e3nn.
"""

import importlib
import importlib.util

from .errors import CloseContactError, PotentialFileError, UnsupportedElementError

__version__ = "0.1.0"

_LAZY = {
    "AtomGraph": "graph",
    "build_graph": "graph",
    "Committee": "committee",
    "load_committee": "committee",
    "EquiformerCalculator": "calculator",
    "Equiformer": "model",
    "EquiformerConfig": "model",
    "Potential": "potential",
    "list_potentials": "potential",
    "load_potential": "potential",
}

__all__ = [
    "AtomGraph",
    "CloseContactError",
    "Committee",
    "Equiformer",
    "EquiformerCalculator",
    "EquiformerConfig",
    "Potential",
    "PotentialFileError",
    "UnsupportedElementError",
    "build_graph",
    "lie",
    "list_potentials",
    "load_committee",
    "load_potential",
]


def __getattr__(name: str):
    """A public name or a submodule (``ea.lie``, ``ea.graph``), imported when first asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
