"""equiformer-ase: Equiformer force fields and LieTransformer Hamiltonians inside ASE."""

from . import lie
from .calculator import EquiformerCalculator
from .errors import CloseContactError, PotentialFileError, UnsupportedElementError
from .graph import AtomGraph, build_graph
from .model import Equiformer, EquiformerConfig
from .potential import Potential, list_potentials, load_potential

__version__ = "0.1.0"

__all__ = [
    "AtomGraph",
    "CloseContactError",
    "Equiformer",
    "EquiformerCalculator",
    "EquiformerConfig",
    "Potential",
    "PotentialFileError",
    "UnsupportedElementError",
    "build_graph",
    "lie",
    "list_potentials",
    "load_potential",
]
