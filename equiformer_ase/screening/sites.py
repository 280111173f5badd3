"""Symmetry-distinct adsorption sites found geometrically on any slab.

Surface atoms are the atoms of the upper half of the slab with no atom above them within
``SHADOW_RADIUS`` x the nearest-neighbour distance in the plane (this exposes the trough atoms of
fcc(110) and the step-foot atoms of stepped facets, and hides the second layer of (111) and
(100), which sit 0.58 and 0.71 nearest-neighbour distances off the atoms above). Their xy positions,
with periodic images, are Delaunay-triangulated: atoms give top sites, triangle edges between
bonded atoms give bridge sites, and triangle circumcentres give hollow sites (3-fold "fcc" or
"hcp" by whether an atom lies right below, 4-fold "hollow" where two triangles share a
circumcentre, as on (100)). Sites are de-duplicated by a fingerprint: the kind plus the sorted
distances from a point above the site to every atom within ``FINGERPRINT_RADIUS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import get_distances
from ase.neighborlist import neighbor_list
from scipy.spatial import Delaunay

FINGERPRINT_RADIUS = 4.5  # Angstrom
FINGERPRINT_HEIGHT = 1.5  # Angstrom above the highest site atom
SAME_SITE_TOLERANCE = 0.05  # Angstrom, largest fingerprint difference of equivalent sites
SHADOW_RADIUS = 0.8  # nearest-neighbour distances
KIND_ORDER = ("top", "bridge", "fcc", "hcp", "hollow")


@dataclass(frozen=True)
class Site:
    """One adsorption site. ``name``: kind, numbered when a slab has several distinct sites of one
    kind ("bridge", "bridge-2"); ``position``: (3,) xy of the site and z of its highest atom, A;
    ``atoms``: indices of the surface atoms that form it (1, 2, 3 or 4)."""

    name: str
    kind: str
    position: tuple[float, float, float]
    atoms: tuple[int, ...]


def nearest_neighbour_distance(slab: Atoms) -> float:
    """Shortest interatomic distance in ``slab`` (with periodic images), Angstrom."""
    _, _, distances = neighbor_list("ijd", slab, 4.0)
    if len(distances) == 0:
        raise ValueError("slab has no atom pairs within 4 A; is it a metal slab?")
    return float(distances.min())


def surface_atoms(slab: Atoms) -> np.ndarray:
    """Indices of the exposed atoms of the upper half of ``slab`` (see the module docstring)."""
    if not (slab.pbc[0] and slab.pbc[1]) or slab.pbc[2]:
        raise ValueError(
            f"sites need a slab periodic in x and y only (pbc [T, T, F]), got pbc={slab.pbc.tolist()}"
        )
    shadow = SHADOW_RADIUS * nearest_neighbour_distance(slab)
    z = slab.positions[:, 2]
    upper = np.flatnonzero(z > 0.5 * (z.min() + z.max()))
    images, owner = periodic_images(slab, np.arange(len(slab)))
    images = images[:, :2]
    exposed = []
    for k in upper:
        near = np.linalg.norm(images - slab.positions[k, :2], axis=1) < shadow
        if not np.any(z[owner[near]] > z[k] + 0.3):
            exposed.append(k)
    return np.array(exposed, dtype=int)


def periodic_images(slab: Atoms, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Atoms ``indices`` and their 8 in-plane periodic images: (9k, 3) positions and (9k,) atom indices."""
    shifts = np.column_stack([plane_shifts(slab), np.zeros(9)])
    positions = slab.positions[indices]
    return (positions[None] + shifts[:, None, :]).reshape(-1, 3), np.tile(indices, len(shifts))


def plane_shifts(slab: Atoms) -> np.ndarray:
    """(9, 2) in-plane lattice translations a * cell[0] + b * cell[1], a, b in {-1, 0, 1}, Angstrom."""
    return np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)], dtype=float) @ slab.cell.array[:2, :2]


def _inside_cell(slab: Atoms, xy: np.ndarray) -> bool:
    fractional = np.linalg.solve(slab.cell[:2, :2].T, xy)
    return bool(np.all((fractional > -1e-6) & (fractional < 1 - 1e-6)))


def _circumcentre(points: np.ndarray) -> np.ndarray:
    a, b, c = points
    d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    ux = ((a @ a) * (b[1] - c[1]) + (b @ b) * (c[1] - a[1]) + (c @ c) * (a[1] - b[1])) / d
    uy = ((a @ a) * (c[0] - b[0]) + (b @ b) * (a[0] - c[0]) + (c @ c) * (b[0] - a[0])) / d
    return np.array([ux, uy])


def _candidates(slab: Atoms, surface: np.ndarray, nn: float) -> list[tuple[str, np.ndarray]]:
    """(kind, xy) of every top, bridge and hollow candidate inside the cell, duplicates included."""
    images, owner = periodic_images(slab, surface)
    xy = images[:, :2]
    z = slab.positions[owner, 2]
    points3d = np.column_stack([xy, z])
    triangulation = Delaunay(xy)
    found: list[tuple[str, np.ndarray]] = [("top", slab.positions[k, :2]) for k in surface]
    hollows: list[np.ndarray] = []
    for simplex in triangulation.simplices:
        lengths = [
            np.linalg.norm(points3d[a] - points3d[b])
            for a, b in ((0, 1), (1, 2), (0, 2))
            for a, b in [(simplex[a], simplex[b])]
        ]
        for (a, b), length in zip(((0, 1), (1, 2), (0, 2)), lengths):
            if length < 1.2 * nn:  # bonded pair: a bridge
                found.append(("bridge", 0.5 * (xy[simplex[a]] + xy[simplex[b]])))
        if max(lengths) < 1.5 * nn:  # compact triangle (also the half-squares of (100)): a hollow
            hollows.append(_circumcentre(xy[simplex]))
    bridges = np.array([p for kind, p in found if kind == "bridge"]).reshape(-1, 2)
    for centre in hollows:  # a bridge midpoint on a hollow centre is the diagonal of a square, not a bridge
        if not np.any(np.linalg.norm(bridges - centre, axis=1) < 0.1):
            found.append(("hollow", centre))
    return [(kind, p) for kind, p in found if _inside_cell(slab, p)]


def _site_atoms(slab: Atoms, surface: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Surface atoms at the smallest in-plane distance from ``xy`` (within 0.1 A of it), periodic."""
    images, owner = periodic_images(slab, surface)
    distance = np.linalg.norm(images[:, :2] - xy, axis=1)
    return np.unique(owner[distance < distance.min() + 0.1])


def _hollow_kind(slab: Atoms, site_atoms: np.ndarray, xy: np.ndarray) -> str:
    if len(site_atoms) >= 4:
        return "hollow"
    below = np.setdiff1d(np.arange(len(slab)), site_atoms)
    images, owner = periodic_images(slab, below)
    under = np.linalg.norm(images[:, :2] - xy, axis=1) < 0.3
    top = slab.positions[site_atoms, 2].min()
    depth = top - slab.positions[owner[under], 2]  # an atom in the layer right below makes it hcp
    return "hcp" if np.any((depth > 0.5) & (depth < 1.2 * nearest_neighbour_distance(slab))) else "fcc"


def _fingerprint(slab: Atoms, point: np.ndarray) -> np.ndarray:
    _, distances = get_distances(point[None, :], slab.positions, cell=slab.cell, pbc=slab.pbc)
    distances = distances.ravel()
    return np.sort(distances[distances < FINGERPRINT_RADIUS])


def find_sites(slab: Atoms) -> list[Site]:
    """The symmetry-distinct top, bridge and hollow (fcc / hcp / 4-fold) sites of ``slab``.

    Sorted by kind (top, bridge, fcc, hcp, hollow), then by position. On fcc(111) this gives
    exactly top, bridge, fcc and hcp.
    """
    surface = surface_atoms(slab)
    nn = nearest_neighbour_distance(slab)
    distinct: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # kind, xy, atoms, fingerprint
    for kind, xy in _candidates(slab, surface, nn):
        atoms = _site_atoms(slab, surface, xy) if kind != "top" else _site_atoms(slab, surface, xy)[:1]
        if kind == "hollow":
            kind = _hollow_kind(slab, atoms, xy)
        point = np.array([*xy, slab.positions[atoms, 2].max() + FINGERPRINT_HEIGHT])
        fingerprint = _fingerprint(slab, point)
        if not any(
            kind == k and len(f) == len(fingerprint) and np.abs(f - fingerprint).max() < SAME_SITE_TOLERANCE
            for k, _, _, f in distinct
        ):
            distinct.append((kind, xy, atoms, fingerprint))
    distinct.sort(key=lambda s: (KIND_ORDER.index(s[0]), round(s[1][0], 3), round(s[1][1], 3)))
    sites, counts = [], {}
    for kind, xy, atoms, _ in distinct:
        counts[kind] = counts.get(kind, 0) + 1
        name = kind if counts[kind] == 1 else f"{kind}-{counts[kind]}"
        position = (float(xy[0]), float(xy[1]), float(slab.positions[atoms, 2].max()))
        sites.append(Site(name, kind, position, tuple(int(a) for a in atoms)))
    return sites


def site_kind_at(slab: Atoms, xy: np.ndarray) -> str:
    """Kind ("top", "bridge", "fcc", "hcp" or "hollow") of the site of ``slab`` nearest in the plane to ``xy``
    (periodic): where an adsorbate whose binding atom is at ``xy`` sits. ``slab`` is a clean one: an adsorbate
    distorts the slab it relaxes on, and its sites with it."""
    surface = surface_atoms(slab)
    candidates = _candidates(slab, surface, nearest_neighbour_distance(slab))
    shifts = plane_shifts(slab)
    fractional = np.linalg.solve(slab.cell[:2, :2].T, np.asarray(xy, dtype=float)[:2])
    xy = (fractional % 1.0) @ slab.cell.array[:2, :2]
    distance = [np.linalg.norm(p + shifts - xy, axis=1).min() for _, p in candidates]
    kind, point = candidates[int(np.argmin(distance))]
    return _hollow_kind(slab, _site_atoms(slab, surface, point), point) if kind == "hollow" else kind
