"""Catalyst surfaces for screening: fcc metal slabs built by ase.build, bottom layers fixed."""

from __future__ import annotations

from ase import Atoms
from ase.build import fcc100, fcc110, fcc111, fcc211
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, reference_states

FACET_BUILDERS = {"111": fcc111, "100": fcc100, "110": fcc110, "211": fcc211}


def fcc_metals() -> tuple[str, ...]:
    """Every metal whose reference state in ase.data is fcc (Al, Ni, Cu, Pd, Ag, Pt, Au, ...)."""
    noble_gases = {"He", "Ne", "Ar", "Kr", "Xe", "Rn"}
    return tuple(
        symbol
        for symbol, z in atomic_numbers.items()
        if symbol not in noble_gases
        and reference_states[z] is not None
        and reference_states[z].get("symmetry") == "fcc"
    )


def build_surface(
    metal: str,
    facet: str,
    size: tuple[int, int, int] = (3, 3, 4),
    vacuum: float = 6.0,
    fixed_fraction: float = 0.5,
) -> Atoms:
    """An fcc ``metal`` slab with Miller index ``facet`` ("111", "100", "110" or "211").

    ``size``: atoms along a and b, and layers (for "211", a must be a multiple of 3 and the layers
    are counted as ase.build does); ``vacuum`` (Angstrom) on both sides along z; pbc [T, T, F];
    atoms in the lowest ``fixed_fraction`` of the slab thickness are held by FixAtoms (0.5 fixes the
    bottom two of four layers). Experimental lattice constants (ase.data.reference_states); size,
    vacuum and fixed atoms as in the training data.
    """
    if metal not in fcc_metals():
        raise ValueError(
            f"unknown metal {metal!r}: screening builds fcc metals only ({', '.join(fcc_metals())})"
        )
    if facet not in FACET_BUILDERS:
        raise ValueError(f"unknown facet {facet!r}; choose from {', '.join(FACET_BUILDERS)}")
    if facet == "211" and size[0] % 3:
        raise ValueError(f"facet 211 needs size[0] to be a multiple of 3, got size={size}")
    if not 0.0 <= fixed_fraction < 1.0:
        raise ValueError(f"fixed_fraction must lie in [0, 1), got {fixed_fraction}")
    slab = FACET_BUILDERS[facet](metal, size, vacuum=vacuum)
    z = slab.positions[:, 2]
    slab.set_constraint(FixAtoms(mask=z < z.min() + fixed_fraction * (z.max() - z.min()) - 1e-6))
    slab.info.update(metal=metal, facet=facet)
    return slab


def surface_name(metal: str, facet: str) -> str:
    """E.g. "Cu111"."""
    return f"{metal}{facet}"
