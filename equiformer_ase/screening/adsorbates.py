"""Adsorbates with a named binding atom, and their placement on a site."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii

from ..data.adsorbates import ADSORBATE_GEOMETRIES, adsorbate_geometry
from .sites import Site, periodic_images


@dataclass(frozen=True)
class Adsorbate:
    """An adsorbate: ``atoms`` (gas-phase geometry) and the index of the atom that binds to the surface.

    Placement puts the binding atom over the site and the molecule's axis (binding atom to the centre
    of the other atoms) along +z, away from the surface.
    """

    name: str
    atoms: Atoms
    binding_index: int

    def __post_init__(self) -> None:
        if len(self.atoms) == 0:
            raise ValueError(f"adsorbate {self.name!r} has no atoms")
        if not 0 <= self.binding_index < len(self.atoms):
            raise ValueError(
                f"adsorbate {self.name!r}: binding_index {self.binding_index} is not an atom index "
                f"(it has {len(self.atoms)} atoms)"
            )

    @property
    def binding_symbol(self) -> str:
        return self.atoms[self.binding_index].symbol

    def oriented(self) -> Atoms:
        """A copy with the binding atom at the origin and the rest of the molecule rotated to +z."""
        atoms = self.atoms.copy()
        atoms.positions -= atoms.positions[self.binding_index]
        others = np.delete(atoms.positions, self.binding_index, axis=0)
        if len(others):
            axis = others.mean(axis=0)
            if np.linalg.norm(axis) < 1e-8:  # symmetric about the binding atom: use the first other atom
                axis = others[0]
            atoms.rotate(axis, (0, 0, 1))
        atoms.set_constraint()
        atoms.pbc = False
        atoms.cell = None
        return atoms


def adsorbate(name: str) -> Adsorbate:
    """A built-in adsorbate ({names}), bound through its first atom.""".format(
        names=", ".join(ADSORBATE_GEOMETRIES)
    )
    return Adsorbate(name, adsorbate_geometry(name), 0)


def adsorbate_from_atoms(name: str, atoms: Atoms, binding_atom: int | str | None) -> Adsorbate:
    """A user adsorbate from ``atoms``; ``binding_atom`` is an index, or a chemical symbol that occurs once."""
    if binding_atom is None:
        raise ValueError(f"adsorbate {name!r}: give the binding atom (an index or a symbol that occurs once)")
    if isinstance(binding_atom, str):
        matches = [k for k, s in enumerate(atoms.get_chemical_symbols()) if s == binding_atom]
        if len(matches) != 1:
            raise ValueError(
                f"adsorbate {name!r}: binding atom {binding_atom!r} occurs {len(matches)} times in "
                f"{atoms.get_chemical_formula()}; give its index instead"
            )
        binding_atom = matches[0]
    return Adsorbate(name, atoms.copy(), int(binding_atom))


def binding_height(slab: Atoms, site: Site, bond: float) -> float:
    """z (Angstrom) that puts a binding atom above ``site`` at distance ``bond`` from the nearest slab atom
    (periodic images in the plane included), never below the site's highest atom."""
    positions, _ = periodic_images(slab, np.arange(len(slab)))
    lateral = np.linalg.norm(positions[:, :2] - np.asarray(site.position[:2]), axis=1)
    close = lateral < bond
    heights = positions[close, 2] + np.sqrt(bond**2 - lateral[close] ** 2)
    return float(max(heights.max(initial=site.position[2]), site.position[2] + 0.5))


def place_adsorbate(
    slab: Atoms, molecule: Adsorbate, site: Site, height: float = 0.0, rotation: float = 0.0
) -> Atoms:
    """``slab`` + ``molecule`` with its binding atom over ``site`` at a covalent-radii bond length to the
    metal plus ``height`` (Angstrom), the molecule turned by ``rotation`` (degrees) about z; the slab's
    constraints are kept (indices unchanged, adsorbate atoms appended and free)."""
    metal = slab[site.atoms[0]].symbol
    bond = covalent_radii[atomic_numbers[metal]] + covalent_radii[atomic_numbers[molecule.binding_symbol]]
    placed = molecule.oriented()
    placed.rotate(rotation, "z")
    placed.positions += np.array(
        [site.position[0], site.position[1], binding_height(slab, site, bond) + height]
    )
    combined = slab.copy()
    combined.extend(placed)
    combined.set_constraint([c.copy() for c in slab.constraints])
    combined.info = {
        **slab.info,
        "adsorbate": molecule.name,
        "site": site.name,
        "slab_atoms": len(slab),
        "binding_atom": len(slab) + molecule.binding_index,
    }
    return combined
