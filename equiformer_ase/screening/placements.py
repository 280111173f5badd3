"""Starting structures of one (surface, adsorbate) system: heuristic sites plus seeded random sites, at several heights.

AdsorbML (Lan et al. 2023) relaxes many placements per system and keeps the best: the symmetry-distinct
sites of :func:`.sites.find_sites` ("heuristic") and random sites, each with the binding atom at a
covalent-radii bond length from the nearest metal atom (:func:`.adsorbates.place_adsorbate`). A random
site has its xy uniform in the cell and the molecule turned by a uniform azimuth; its generator is
seeded by (``seed``, system name), so a system's random placements do not depend on which other systems
are screened. Every site is placed at each height offset in ``heights`` (Angstrom above the bond-length
height). Placement names are unique within a system and name everything that sets the start:
"fcc", "fcc+0.5" (height offset), "random-3-seed0".
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .sites import Site, find_sites, periodic_images, surface_atoms


@dataclass(frozen=True)
class Placement:
    """Where a molecule starts: ``site``, ``height`` offset (Angstrom) and ``rotation`` about z (degrees)."""

    name: str
    site: Site
    height: float = 0.0
    rotation: float = 0.0


def random_sites(slab: Atoms, count: int, rng: np.random.Generator) -> list[Site]:
    """``count`` sites at uniform xy in ``slab``'s cell, named "random-0", "random-1", ...; each is held by
    the surface atom nearest in the plane (periodic) and its z is that atom's."""
    images, owner = periodic_images(slab, surface_atoms(slab))
    sites = []
    for k in range(count):
        xy = rng.uniform(size=2) @ slab.cell.array[:2, :2]
        nearest = int(owner[np.argmin(np.linalg.norm(images[:, :2] - xy, axis=1))])
        sites.append(
            Site(
                f"random-{k}",
                "random",
                (float(xy[0]), float(xy[1]), float(slab.positions[nearest, 2])),
                (nearest,),
            )
        )
    return sites


def system_rng(seed: int, system: str) -> np.random.Generator:
    """The generator of ``system``'s random placements (e.g. system "Cu111:CO"), fixed by ``seed``."""
    return np.random.default_rng([seed, zlib.crc32(system.encode())])


def placements(
    slab: Atoms, system: str, random_count: int = 0, heights: tuple[float, ...] = (0.0,), seed: int = 0
) -> list[Placement]:
    """The heuristic sites of ``slab`` and ``random_count`` random ones (seeded by ``seed`` and ``system``),
    each at every height offset of ``heights``; heuristic sites keep rotation 0."""
    rng = system_rng(seed, system)
    randoms = random_sites(slab, random_count, rng)
    rotations = rng.uniform(0.0, 360.0, size=random_count)
    starts = [(site.name, site, 0.0) for site in find_sites(slab)]
    starts += [
        (f"{site.name}-seed{seed}", site, float(rotation)) for site, rotation in zip(randoms, rotations)
    ]
    return [
        Placement(name if height == 0 else f"{name}{height:+g}", site, float(height), rotation)
        for name, site, rotation in starts
        for height in heights
    ]
