"""Relaxation anomalies in the OC20 sense: the result is not the adsorbate bound at a site of the surface.

Bonds within the adsorbate are pairs closer than ``BOND_SCALE`` x the sum of covalent radii
(ase.neighborlist.natural_cutoffs; 1.5, the OC20 / AdsorbML cushion). EMT's own O-H bond is
1.20-1.26 A (a real one is 0.97 A), right at 1.25 x 0.97 A, so a tighter 1.25 called OH
dissociated; at 1.5 an O-H bond breaks past 1.46 A and C-O past 2.13 A, while a fragment that
moved to another site is 2.5 A or more away. Adsorbate-surface contacts use ``CONTACT_SCALE`` (2.0):
H in a hollow sits far out for its small radius, at up to 1.62 x the covalent-radii sum in EMT
(2.46 A from four Al atoms in Al(100); 2.52 A in Pt(100)), and 1.5 called it desorbed. In a screen
of 7 metals x (111), (100) x H, O, N, C, OH, CO (588 relaxed results, EMT and emt-surfaces) every
other adsorbate stayed within 1.26 x; at 2.0 H is desorbed beyond 3.0-3.4 A from every metal atom.
Metal-metal bonds use ``METAL_BOND_SCALE`` x the slab's shortest initial distance instead, midway
between the first and second neighbour shells of fcc (1 and 1.41), so ordinary relaxation never
looks like reconstruction (covalent radii would put Al's cutoff only 6 % above its bond length).
Intercalated, as OC20 flags it: an adsorbate atom bonded (``BOND_SCALE``) to a subsurface atom, one
that ``FixAtoms`` holds (OC20's tag 0); with the bottom half of the slab fixed, the adsorbate has
gone through the free top layers.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..structures import fixed_atoms

ANOMALIES = ("desorbed", "dissociated", "intercalated", "reconstructed")
BOND_SCALE = 1.5
CONTACT_SCALE = 2.0
METAL_BOND_SCALE = 1.2


def _bonds(atoms: Atoms, scale: float = BOND_SCALE) -> set[tuple[int, int]]:
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=scale))
    return {(int(a), int(b)) for a, b in zip(i, j) if a < b}


def _components(count: int, bonds: set[tuple[int, int]]) -> int:
    if count <= 1:
        return count
    rows, cols = zip(*bonds) if bonds else ((), ())
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(count, count))
    return connected_components(graph, directed=False)[0]


def detect_anomaly(initial: Atoms, relaxed: Atoms, slab_atoms: int) -> str:
    """ "" when ``relaxed`` is a normal adsorption result, else "desorbed", "dissociated", "intercalated" or
    "reconstructed" (the first that applies, in this order).

    ``initial``/``relaxed``: slab + adsorbate before and after relaxation, the first ``slab_atoms``
    atoms being the slab. Desorbed: no adsorbate atom is in contact with a slab atom. Dissociated: the
    adsorbate's bonds no longer join all of it (it started as one molecule). Intercalated: an adsorbate
    atom is bonded to a fixed (subsurface) slab atom. Reconstructed: the bonds among slab atoms changed.
    """
    before, after = _bonds(initial), _bonds(relaxed)
    slab = set(range(slab_atoms))
    n_adsorbate = len(relaxed) - slab_atoms
    if not any((a in slab) != (b in slab) for a, b in _bonds(relaxed, CONTACT_SCALE)):
        return "desorbed"
    inside = {(a - slab_atoms, b - slab_atoms) for a, b in after if a >= slab_atoms and b >= slab_atoms}
    inside_before = {
        (a - slab_atoms, b - slab_atoms) for a, b in before if a >= slab_atoms and b >= slab_atoms
    }
    if _components(n_adsorbate, inside) > _components(n_adsorbate, inside_before):
        return "dissociated"
    fixed = set(np.flatnonzero(fixed_atoms(relaxed)[:slab_atoms]).tolist())
    if any((a in fixed and b >= slab_atoms) or (b in fixed and a >= slab_atoms) for a, b in after):
        return "intercalated"
    slab_before, slab_after = initial[:slab_atoms], relaxed[:slab_atoms]
    cutoff = METAL_BOND_SCALE * neighbor_list("d", slab_before, 4.0).min()
    bonds = [
        {(int(a), int(b)) for a, b in zip(*neighbor_list("ij", s, cutoff)) if a < b}
        for s in (slab_before, slab_after)
    ]
    if bonds[0] != bonds[1]:
        return "reconstructed"
    return ""
