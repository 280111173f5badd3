"""Atom and edge-degree embeddings: the initial node features of Equiformer."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from .concat import concat
from .edge_chunks import edge_chunked
from .radial import RadialMLP
from .scatter import scatter_sum


class AtomEmbedding(nn.Module):
    """Learned scalar embedding of each species; higher-degree channels start at zero.

    ``species`` (N,) long -> (N, irreps_node.dim). Requires the ``0e`` block first in ``irreps_node``.
    """

    def __init__(self, num_species: int, irreps_node: o3.Irreps):
        super().__init__()
        irreps_node = o3.Irreps(irreps_node)
        if irreps_node[0].ir != o3.Irrep("0e"):
            raise ValueError(f"node irreps must start with scalars (0e), got {irreps_node}")
        self.num_scalars = irreps_node[0].mul
        self.num_rest = irreps_node.dim - self.num_scalars
        self.embedding = nn.Embedding(num_species, self.num_scalars)

    def forward(self, species: torch.Tensor) -> torch.Tensor:
        scalars = self.embedding(species)
        return concat([scalars, scalars.new_zeros(len(species), self.num_rest)], dim=1)


class EdgeDegreeEmbedding(nn.Module):
    r"""Geometry-aware initial features :math:`h_i = \frac{1}{\bar d}\sum_j R_l(r_{ij}) \otimes Y_l(\hat r_{ij})`.

    This is Equiformer's edge-degree embedding (a depthwise tensor product of a constant scalar
    with the spherical harmonics, weighted by a radial MLP) written out directly: for each degree
    ``l`` the ``C_l`` channels are radial weights times ``Y_l``. ``avg_num_neighbors`` (a
    constant, never the actual degree) keeps the sum smooth in the positions.

    Shapes: ``sh`` (E, irreps_sh.dim), ``edge_basis`` (E, B), ``envelope`` (E,), ``dst`` (E,)
    -> (num_nodes, irreps_node.dim).
    """

    def __init__(
        self,
        irreps_node: o3.Irreps,
        irreps_sh: o3.Irreps,
        num_basis: int,
        hidden: int,
        avg_num_neighbors: float,
    ):
        super().__init__()
        irreps_node, irreps_sh = o3.Irreps(irreps_node), o3.Irreps(irreps_sh)
        if [ir for _, ir in irreps_node] != [ir for _, ir in irreps_sh]:
            raise ValueError(
                f"node irreps {irreps_node} and spherical harmonics {irreps_sh} "
                "must have the same degrees and parities, in order"
            )
        self.muls = [mul for mul, _ in irreps_node]
        self.sh_dims = [ir.dim for _, ir in irreps_sh]
        self.radial = RadialMLP(num_basis, hidden, sum(self.muls))
        self.inv_avg_num_neighbors = 1.0 / avg_num_neighbors

    def forward(
        self,
        sh: torch.Tensor,
        edge_basis: torch.Tensor,
        envelope: torch.Tensor,
        dst: torch.Tensor,
        num_nodes: int,
        edge_chunk: int | None = None,
    ) -> torch.Tensor:
        """``edge_chunk``: form the edge terms that many edges at a time and recompute them in the
        backward pass (:func:`edge_chunked`); None keeps their intermediates."""
        (terms,) = edge_chunked(self._edge_terms, edge_chunk, (sh, edge_basis, envelope))
        return scatter_sum(terms, dst, num_nodes) * self.inv_avg_num_neighbors

    def _edge_terms(
        self, sh: torch.Tensor, edge_basis: torch.Tensor, envelope: torch.Tensor
    ) -> tuple[torch.Tensor]:
        r""":math:`R_l(r_{ij}) \otimes Y_l(\hat r_{ij})` of each edge: a one-tuple of (E, irreps_node.dim)."""
        weights = self.radial(edge_basis, envelope).split(self.muls, dim=1)
        blocks = [
            (w[:, :, None] * y[:, None, :]).flatten(1) for w, y in zip(weights, sh.split(self.sh_dims, dim=1))
        ]
        return (concat(blocks, dim=1),)
