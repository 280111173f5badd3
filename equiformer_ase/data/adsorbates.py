"""Gas-phase geometries of the adsorbates used in the surface data and in screening.

Each geometry has its binding atom first, at the origin, and the other atoms pointing away from the
surface (+z). Bond lengths and angles are typical gas-phase values; Angstrom.
"""

from __future__ import annotations

from ase import Atoms

ADSORBATE_GEOMETRIES: dict[str, list[tuple[str, tuple[float, float, float]]]] = {
    "H": [("H", (0, 0, 0))],
    "C": [("C", (0, 0, 0))],
    "N": [("N", (0, 0, 0))],
    "O": [("O", (0, 0, 0))],
    "OH": [("O", (0, 0, 0)), ("H", (0, 0, 0.97))],
    "CO": [("C", (0, 0, 0)), ("O", (0, 0, 1.15))],
    "NH": [("N", (0, 0, 0)), ("H", (0, 0, 1.04))],
    "CH": [("C", (0, 0, 0)), ("H", (0, 0, 1.10))],
    "NH2": [("N", (0, 0, 0)), ("H", (0.82, 0, 0.61)), ("H", (-0.82, 0, 0.61))],
    "CH2": [("C", (0, 0, 0)), ("H", (0.89, 0, 0.63)), ("H", (-0.89, 0, 0.63))],
    "CH3": [
        ("C", (0, 0, 0)),
        ("H", (1.03, 0, 0.36)),
        ("H", (-0.51, 0.89, 0.36)),
        ("H", (-0.51, -0.89, 0.36)),
    ],
}


def adsorbate_geometry(name: str) -> Atoms:
    """The adsorbate ``name`` as Atoms, binding atom at index 0 and at the origin."""
    if name not in ADSORBATE_GEOMETRIES:
        raise ValueError(f"unknown adsorbate {name!r}; choose one of {', '.join(ADSORBATE_GEOMETRIES)}")
    symbols, positions = zip(*ADSORBATE_GEOMETRIES[name])
    return Atoms(symbols, positions=positions)
