"""Batched atom graphs built from ``ase.Atoms`` with neighbour lists.

Backends (``backend=`` in :func:`build_graph`):

* ``"matscipy"``: matscipy's C neighbour list; any periodicity, cells smaller than the cutoff.
  Its cell list takes memory per bin of the box (about 4 bytes per cutoff-sized bin), so a box
  that would need more than ``MAX_BINS`` bins is refused before allocating.
* ``"kdtree"``: scipy's k-d tree over the atoms and the periodic images within the cutoff of the
  cell; any periodicity, memory follows the atom and edge counts, not the box.
* ``"torch-cluster"``: ``torch_cluster.radius_graph`` on the device, non-periodic systems only.
  Its ``max_num_neighbors`` cap silently truncates, so the cap starts from the data and is
  doubled until no atom reaches it: a neighbour is never dropped.
* ``"brute"``: all pairs in torch, non-periodic only, O(N^2) memory per structure (small molecules).
* ``"auto"``: torch-cluster (or brute without it) on CUDA for non-periodic batches, else per
  structure matscipy, or the k-d tree where the box holds far more bins than atoms (one atom far
  away, a huge periodic box).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii

from .errors import CloseContactError, UnsupportedElementError
from .structures import structure_list, structure_slices

BACKENDS = ("auto", "matscipy", "kdtree", "torch-cluster", "brute")
MAX_BINS = 50_000_000
CLOSE_CONTACT_FRACTION = 0.5  # of the covalent radii sum: O-H 0.49 A, H-H 0.31 A, Cu-Cu 1.32 A


@dataclass
class AtomGraph:
    """A batch of structures as flat tensors.

    positions (N, 3) Angstrom; species (N,) long index into the potential's elements;
    batch (N,) long structure index; edge_index (2, E) long rows (source j, destination i);
    shifts (E, 3) integer multiples of the cell vectors (float), so that the edge vector is
    ``positions[j] - positions[i] + shifts @ cell[batch[i]]``; cell (B, 3, 3) rows are cell vectors;
    pbc (B, 3) bool.
    """

    positions: torch.Tensor
    species: torch.Tensor
    batch: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor

    @property
    def num_graphs(self) -> int:
        return self.cell.shape[0]

    @property
    def num_atoms(self) -> int:
        return self.positions.shape[0]

    def edge_vectors(
        self, positions: torch.Tensor | None = None, cell: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(E, 3) vectors ``r_j - r_i + shift @ cell`` from source j to destination i, Angstrom.

        ``positions`` (N, 3) and ``cell`` (B, 3, 3) default to the graph's own (pass strained or
        differentiable copies to take derivatives).
        """
        positions = self.positions if positions is None else positions
        cell = self.cell if cell is None else cell
        source, destination = self.edge_index
        periodic_shift = torch.einsum(
            "ei,eij->ej", self.shifts, cell.index_select(0, self.batch.index_select(0, destination))
        )
        return positions.index_select(0, source) - positions.index_select(0, destination) + periodic_shift

    def to(self, device=None, dtype=None) -> "AtomGraph":
        """A copy on ``device`` with floating tensors cast to ``dtype``."""
        moved = {}
        for f in fields(self):
            t = getattr(self, f.name)
            moved[f.name] = t.to(device=device, dtype=dtype if t.is_floating_point() else None)
        return AtomGraph(**moved)


def validate_atoms(atoms: Atoms, elements: list[str]) -> np.ndarray:
    """Check one structure; return its species indices (N,). Raises ValueError naming the problem."""
    if len(atoms) == 0:
        raise ValueError("empty Atoms: a structure needs at least one atom")
    check_positions(atoms.positions)
    if atoms.pbc.any():
        if not np.isfinite(atoms.cell.array).all():
            raise ValueError("cell contains NaN or inf")
        periodic_vectors = atoms.cell.array[atoms.pbc]
        if np.linalg.matrix_rank(periodic_vectors, tol=1e-6) < len(periodic_vectors):
            raise ValueError(
                f"singular cell (vectors {atoms.cell.array.round(6).tolist()}) with pbc={atoms.pbc.tolist()}: "
                "the periodic directions need independent, non-zero cell vectors"
            )
    return species_indices(atoms.numbers, elements)


def check_positions(positions: np.ndarray | torch.Tensor) -> None:
    """ValueError naming the first atoms (rows of ``positions`` (N, 3)) with a NaN or inf coordinate."""
    if isinstance(positions, torch.Tensor):
        finite = torch.isfinite(positions).all(dim=1).cpu().numpy()
    else:  # numpy's own test: a structure's check is on every calculator call, where torch's would cost more
        finite = np.isfinite(positions).all(axis=1)
    if not finite.all():
        raise ValueError(f"positions contain NaN or inf (atoms {np.flatnonzero(~finite)[:10].tolist()})")


def species_indices(numbers: np.ndarray, elements: list[str]) -> np.ndarray:
    """(N,) index into ``elements`` of each atomic number; UnsupportedElementError naming any other element."""
    species = species_table(tuple(elements))[numbers]
    if (species < 0).any():
        raise UnsupportedElementError(
            [chemical_symbols[z] for z in np.unique(numbers[species < 0])], elements
        )
    return species


def check_close_contacts(
    graph: AtomGraph,
    elements: list[str],
    fraction: float = CLOSE_CONTACT_FRACTION,
    lengths: torch.Tensor | None = None,
) -> None:
    """Raise :class:`CloseContactError` naming the worst pair if two atoms (or periodic images) are
    closer than ``fraction`` x the sum of their covalent radii (``ase.data.covalent_radii``).

    ``lengths`` (E,) Angstrom: the graph's edge lengths where the caller has them already."""
    radii = graph.positions.new_tensor(covalent_radii[[atomic_numbers[e] for e in elements]])[graph.species]
    source, destination = graph.edge_index
    if lengths is None:
        lengths = torch.linalg.vector_norm(graph.edge_vectors(), dim=1)
    limits = fraction * (radii[source] + radii[destination])
    if not bool((lengths < limits).any()):
        return
    k = int(torch.argmin(lengths / limits))
    i, j = int(destination[k]), int(source[k])
    structure = int(graph.batch[i])
    offset = int((graph.batch < structure).sum())
    symbols = [elements[s] for s in graph.species[[i, j]].tolist()]
    raise CloseContactError(
        f"structure {structure}: atoms {i - offset} ({symbols[0]}) and {j - offset} ({symbols[1]}) are "
        f"{float(lengths[k]):.3g} A apart, under {fraction} x their covalent radii sum "
        f"({float(limits[k]) / fraction:.3g} A): overlapping atoms give meaningless energies "
        "(allow_close_contacts=True evaluates them anyway)"
    )


@functools.lru_cache(maxsize=16)
def species_table(elements: tuple[str, ...]) -> np.ndarray:
    """(len(chemical_symbols),) int64: atomic number -> index in ``elements``, -1 if absent."""
    table = np.full(len(chemical_symbols), -1, dtype=np.int64)
    for k, element in enumerate(elements):
        table[chemical_symbols.index(element)] = k
    return table


def _bounding_cell(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (n, 3), cell (3, 3)) of one structure as the host backends see them: a box around the
    atoms stands in for the cell of a structure that is periodic in no direction; where the non-periodic
    cell vectors are missing (zero or dependent, e.g. ASE's ``fcc111`` without vacuum, ``graphene()``),
    directions orthogonal to the periodic vectors, as long as the atoms' extent along them + 1 A, stand
    in for them. Edges along non-periodic axes never use their cell vector, so neither changes an edge."""
    if not pbc.any():
        positions = positions - positions.min(axis=0)
        return positions, np.diag(positions.max(axis=0) + 1.0)
    if pbc.all() or abs(np.linalg.det(cell)) > 1e-9:
        return positions, cell
    _, _, rows = np.linalg.svd(cell[pbc])  # rows past the number of periodic vectors: their complement
    directions = rows[pbc.sum() :]
    extents = np.ptp(positions @ directions.T, axis=0) + 1.0
    cell = cell.copy()
    cell[~pbc] = directions * extents[:, None]
    return positions, cell


def cell_list_bins(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> float:
    """Number of cutoff-sized bins of matscipy's cell list for one structure: its memory, ~4 bytes each."""
    _, cell = _bounding_cell(positions, cell, pbc)
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    return float(np.prod(np.maximum(np.ceil(heights / cutoff), 1.0)))


def _matscipy_edges(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, S) with r_j - r_i + S @ cell within ``cutoff``; refuses boxes of more than MAX_BINS bins."""
    from matscipy.neighbours import neighbour_list

    bins = cell_list_bins(positions, cell, pbc, cutoff)
    if bins > MAX_BINS:
        raise ValueError(
            f"matscipy's cell list would need {bins:.3g} bins (~{4 * bins / 1e9:.2g} GB) for this "
            f"{len(positions)}-atom structure's box; use neighbour_backend='kdtree' or 'auto'"
        )
    if pbc.any():
        _, cell = _bounding_cell(positions, cell, pbc)
        return neighbour_list("ijS", positions=positions, cell=cell, pbc=pbc, cutoff=cutoff)
    positions, box = _bounding_cell(positions, cell, pbc)
    i, j, _ = neighbour_list("ijS", positions=positions, cell=box, pbc=np.zeros(3, bool), cutoff=cutoff)
    return i, j, np.zeros((len(i), 3), dtype=np.int64)


def _kdtree_edges(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, S) as :func:`_matscipy_edges`, from a k-d tree of the atoms wrapped into the cell
    against their periodic images within ``cutoff`` of it (along periodic axes only)."""
    from scipy.spatial import cKDTree

    if pbc.any():
        _, cell = _bounding_cell(positions, cell, pbc)
        fractional = np.linalg.solve(cell.T, positions.T).T
        wraps = np.where(pbc, np.floor(fractional), 0.0)
        fractional = fractional - wraps
        margin = np.where(pbc, cutoff * np.linalg.norm(np.linalg.inv(cell), axis=0), 0.0)  # cutoff / height
        ranges = [np.arange(-n, n + 1) for n in np.ceil(margin).astype(int)]
        images = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)  # (K, 3)
        image_fractional = fractional[None] + images[:, None]  # (K, n, 3)
        inside = (image_fractional >= -margin) & (image_fractional < 1 + margin)
        image_index, atom_index = np.nonzero(np.all(inside | ~pbc, axis=-1))
        centres = fractional @ cell
        others = image_fractional[image_index, atom_index] @ cell
    else:
        wraps = np.zeros((len(positions), 3))
        images, image_index = np.zeros((1, 3)), np.zeros(len(positions), dtype=np.int64)
        atom_index = np.arange(len(positions))
        centres = others = positions
    pairs = cKDTree(centres).sparse_distance_matrix(cKDTree(others), cutoff, output_type="ndarray")
    i, j = pairs["i"], atom_index[pairs["j"]]
    shifts = images[image_index[pairs["j"]]]
    not_self = (i != j) | np.any(shifts != 0, axis=1)
    i, j, shifts = i[not_self], j[not_self], shifts[not_self]
    return i, j, np.rint(shifts - wraps[j] + wraps[i]).astype(np.int64)


def _host_edges(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float, backend: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, S) of one structure on the host; ``"auto"`` takes the k-d tree where matscipy's cell
    list would hold far more bins than atoms."""
    if backend == "auto":
        bins = cell_list_bins(positions, cell, pbc, cutoff)
        backend = "kdtree" if bins > 1e5 + 8 * len(positions) else "matscipy"
    return (_kdtree_edges if backend == "kdtree" else _matscipy_edges)(positions, cell, pbc, cutoff)


def _torch_cluster_edges(
    positions: torch.Tensor, batch: torch.Tensor, cutoff: float, max_graph_size: int
) -> torch.Tensor:
    """Edges (2, E) from ``radius_graph``, doubling the neighbour cap until nothing is cut."""
    from torch_cluster import radius_graph

    cap = min(64, max(max_graph_size - 1, 1))
    while True:
        edge_index = radius_graph(positions, cutoff, batch=batch, loop=False, max_num_neighbors=cap)
        if cap >= max_graph_size - 1:
            return edge_index
        in_degree = torch.bincount(edge_index[1], minlength=len(positions))
        if int(in_degree.max()) < cap:
            return edge_index
        cap = min(2 * cap, max_graph_size - 1)


def _brute_edges(positions: torch.Tensor, batch: torch.Tensor, cutoff: float) -> torch.Tensor:
    """All pairs (j, i) of one structure closer than ``cutoff``: (2, E)."""
    distances = torch.cdist(positions, positions)
    close = (distances < cutoff) & (batch[:, None] == batch[None, :])
    close.fill_diagonal_(False)
    i, j = torch.nonzero(close, as_tuple=True)
    return torch.stack([j, i])


def _choose_backend(backend: str, periodic: bool, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown neighbour-list backend {backend!r}; choose one of {BACKENDS}")
    if backend in ("torch-cluster", "brute") and periodic:
        raise ValueError(f"the {backend!r} backend handles non-periodic structures only; use 'matscipy'")
    if backend != "auto" or periodic or device.type != "cuda":
        return backend
    try:
        import torch_cluster  # noqa: F401
    except ImportError:
        return "brute"
    return "torch-cluster"


def build_graph(
    atoms_list: list[Atoms],
    elements: list[str],
    cutoff: float,
    *,
    backend: str = "auto",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
) -> AtomGraph:
    """Validate structures and build one batched :class:`AtomGraph` with edges shorter than ``cutoff``."""
    atoms_list = structure_list(atoms_list)
    species = np.concatenate([validate_atoms(atoms, elements) for atoms in atoms_list])
    positions = torch.as_tensor(np.concatenate([a.positions for a in atoms_list]), dtype=dtype, device=device)
    return graph_from_arrays(
        species,
        positions,
        np.stack([a.cell.array for a in atoms_list]),
        np.stack([a.pbc for a in atoms_list]),
        [len(a) for a in atoms_list],
        cutoff,
        backend,
    )


def graph_from_arrays(
    species: np.ndarray,
    positions: torch.Tensor,
    cell: np.ndarray,
    pbc: np.ndarray,
    sizes: list[int],
    cutoff: float,
    backend: str = "auto",
) -> AtomGraph:
    """The :class:`AtomGraph` with edges shorter than ``cutoff`` of consecutive structures of ``sizes`` atoms,
    checked already (see :func:`validate_atoms`), on the device and in the dtype of ``positions`` (N, 3).

    ``species`` (N,) index into the elements; ``cell`` (B, 3, 3); ``pbc`` (B, 3) bool. The positions
    leave the device only for a host backend (matscipy, k-d tree), as one array.
    """
    device, dtype = positions.device, positions.dtype
    chosen = _choose_backend(backend, bool(pbc.any()), device)
    batch = torch.repeat_interleave(
        torch.arange(len(sizes), device=device), torch.as_tensor(sizes, device=device)
    )
    if chosen in ("auto", "matscipy", "kdtree"):
        host = positions.detach().to("cpu", torch.float64).numpy()
        sources, destinations, shifts = [], [], []
        for k, part in enumerate(structure_slices(sizes)):
            i, j, S = _host_edges(host[part], cell[k], pbc[k], cutoff, chosen)
            sources.append(j + part.start)
            destinations.append(i + part.start)
            shifts.append(S)
        edge_index = torch.as_tensor(
            np.stack([np.concatenate(sources), np.concatenate(destinations)]), device=device
        )
        shift_tensor = torch.as_tensor(np.concatenate(shifts), dtype=dtype, device=device)
    else:
        if chosen == "torch-cluster":
            edge_index = _torch_cluster_edges(positions, batch, cutoff, max(sizes))
        else:
            edge_index = _brute_edges(positions, batch, cutoff)
        shift_tensor = positions.new_zeros((edge_index.shape[1], 3))

    return AtomGraph(
        positions=positions,
        species=torch.as_tensor(species, device=device),
        batch=batch,
        edge_index=edge_index.long(),
        shifts=shift_tensor,
        cell=torch.as_tensor(cell, dtype=dtype, device=device),
        pbc=torch.as_tensor(pbc, device=device),
    )


class NeighbourList:
    """Verlet neighbour list: edges within ``cutoff + skin``, reused while atoms move little.

    The candidate edges are rebuilt only when some atom has moved more than ``skin / 2`` since the
    last build, or the cell, periodicity, atomic numbers or number of structures changed; until
    then each call recomputes the candidates' lengths and keeps those shorter than ``cutoff``, so
    the graph is the one a fresh build would give (same edges, possibly in another order).
    ``rebuilds`` counts the full builds. ``check_contacts``: every graph handed out is checked with
    :func:`check_close_contacts` on those lengths (every geometry, not once per system).
    """

    def __init__(
        self,
        elements: list[str],
        cutoff: float,
        skin: float = 0.5,
        *,
        backend: str = "auto",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        check_contacts: bool = False,
    ):
        if skin < 0:
            raise ValueError(f"skin must be >= 0 Angstrom, got {skin}")
        self.elements, self.cutoff, self.skin = list(elements), float(cutoff), float(skin)
        self.check_contacts = check_contacts
        self.backend, self.device, self.dtype = backend, torch.device(device), dtype
        self.rebuilds = 0
        self._candidates: AtomGraph | None = None
        self._reference: tuple | None = None

    def __call__(self, atoms_list: list[Atoms]) -> AtomGraph:
        """The graph of ``atoms_list`` with every edge shorter than ``cutoff``."""
        atoms_list = structure_list(atoms_list)
        for atoms in atoms_list:  # positions may have changed, so they need checking again
            validate_atoms(atoms, self.elements)
        positions = torch.as_tensor(
            np.concatenate([a.positions for a in atoms_list]), dtype=self.dtype, device=self.device
        )
        return self.update(positions, atoms_list)

    def update(self, positions: torch.Tensor, atoms_list: list[Atoms]) -> AtomGraph:
        """Tensor entry point: the graph at ``positions`` (N, 3) Angstrom, on the device, of structures
        whose numbers, cell and pbc are those of ``atoms_list`` (their positions are ignored).

        Used by the on-device MD engine: positions never leave the device unless a rebuild on the host is due.
        """
        if self._must_rebuild(atoms_list, positions):
            check_positions(positions)
            species = species_indices(np.concatenate([a.numbers for a in atoms_list]), self.elements)
            self._candidates = graph_from_arrays(
                species,
                positions,
                np.stack([a.cell.array for a in atoms_list]),
                np.stack([a.pbc for a in atoms_list]),
                [len(a) for a in atoms_list],
                self.cutoff + self.skin,
                self.backend,
            )
            self._reference = (self.signature(atoms_list), positions.detach().clone())
            self.rebuilds += 1
        graph = replace(self._candidates, positions=positions)
        if self.skin == 0 and not self.check_contacts:
            return graph
        lengths = torch.linalg.vector_norm(graph.edge_vectors(), dim=1)
        if self.skin > 0:
            keep = lengths < self.cutoff
            graph = replace(graph, edge_index=graph.edge_index[:, keep], shifts=graph.shifts[keep])
            lengths = lengths[keep]
        if self.check_contacts:
            check_close_contacts(graph, self.elements, lengths=lengths.detach())
        return graph

    @staticmethod
    def signature(atoms_list: list[Atoms]) -> tuple:
        """What identifies the systems apart from positions: atomic numbers, cell and pbc of each."""
        return tuple((a.numbers.tobytes(), a.cell.array.tobytes(), a.pbc.tobytes()) for a in atoms_list)

    def _must_rebuild(self, atoms_list: list[Atoms], positions: torch.Tensor) -> bool:
        if self._reference is None or self.skin == 0:
            return True
        signature, reference_positions = self._reference
        if signature != self.signature(atoms_list) or reference_positions.shape != positions.shape:
            return True
        displacement = torch.linalg.vector_norm(positions.detach() - reference_positions, dim=1)
        return not bool(torch.all(displacement <= 0.5 * self.skin))
