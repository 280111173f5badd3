"""Depthwise ("uvu") tensor product of node features with edge spherical harmonics."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from e3nn import o3
from torch import nn

from .concat import concat
from .constants import ExactConstant
from .linear import check_simplified


class PathGroup(NamedTuple):
    """The ``paths`` paths of one input block that end in output irrep ``irrep`` (adjacent columns)."""

    irrep: o3.Irrep
    paths: int


class OutputPiece(NamedTuple):
    """One run of output channels: path group ``group`` of input block ``block``, ``channels`` x an
    irrep of dimension ``dim``."""

    block: int
    group: int
    channels: int
    dim: int


class DepthwiseTensorProduct(nn.Module):
    r"""Channel-wise tensor product with per-edge path weights:

    :math:`y^{(l_3)}_{(u,p),m_3} = w_{e,(u,p)} \sqrt{2l_3+1} \sum_{m_1 m_2} C^{l_1 l_2 l_3}_{m_1 m_2 m_3} x^{(l_1)}_{u,m_1} Y^{(l_2)}_{m_2}(\hat r)`

    for every path ``p = (l_1, l_2 -> l_3)`` allowed by the triangle rule and ``allowed_out``,
    without mixing channels ``u`` (the "uvu" mode of e3nn; ``C`` are e3nn's Wigner 3j symbols,
    component normalisation). Each output channel is one (input channel, path) pair, so the
    output is ``sum_p mul(l_1) x l_3`` grouped by ``l_3`` (sorted, simplified irreps).

    Fused for speed: per input degree, ``A_e = Y(r_e) . C`` (E, d1, D_out) then one batched
    matmul ``x_u . A_e``, instead of one einsum per path.

    Shapes: ``x`` (E, irreps_in.dim), ``sh`` (E, irreps_sh.dim), ``weights`` (E, weight_numel)
    -> (E, irreps_out.dim); ``weight_numel == irreps_out.num_irreps`` (one weight per output channel).
    ``weights=None`` means every weight is 1 (for weights shared by all edges, which a linear layer
    after the product absorbs).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed_out: o3.Irreps):
        super().__init__()
        irreps_in = check_simplified(irreps_in, "DepthwiseTensorProduct input")
        irreps_sh = o3.Irreps(irreps_sh)
        allowed = [ir for _, ir in o3.Irreps(allowed_out).sort().irreps.simplify()]
        self.in_dims = [mul * ir.dim for mul, ir in irreps_in]
        self.in_blocks = [(mul, ir.dim) for mul, ir in irreps_in]
        # Per input block: coefficients (dim_sh, d1 * D_out) with output columns grouped by l3, and
        # the path groups it feeds.
        self.coefficients: list[ExactConstant] = []
        self.groups: list[list[PathGroup]] = []
        for _, ir1 in irreps_in:
            columns, groups = [], []
            for ir3 in allowed:
                paths = [
                    (ir2, sl2) for (_, ir2), sl2 in zip(irreps_sh, irreps_sh.slices()) if ir3 in ir1 * ir2
                ]
                for ir2, sl2 in paths:
                    coefficient = torch.zeros(irreps_sh.dim, ir1.dim, ir3.dim, dtype=torch.float64)
                    w3j = o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64) * math.sqrt(ir3.dim)
                    coefficient[sl2] = w3j.permute(1, 0, 2)
                    columns.append(coefficient)
                if paths:
                    groups.append(PathGroup(ir3, len(paths)))
            coefficients = torch.cat(columns, dim=2)
            self.coefficients.append(ExactConstant(coefficients.flatten(1)))
            self.groups.append(groups)
        # Output channels: grouped by l3 (sorted), within l3 by input block, within that (u, path).
        self.pieces = [
            OutputPiece(b, g, self.in_blocks[b][0] * group.paths, group.irrep.dim)
            for ir3 in allowed
            for b, groups in enumerate(self.groups)
            for g, group in enumerate(groups)
            if group.irrep == ir3
        ]
        out = {}
        for piece in self.pieces:
            irrep = self.groups[piece.block][piece.group].irrep
            out[irrep] = out.get(irrep, 0) + piece.channels
        self.irreps_out = o3.Irreps([(channels, ir) for ir, channels in out.items()])
        self.weight_numel = self.irreps_out.num_irreps
        # plain ints for forward: torch.compile cannot guard on e3nn's Irrep objects
        self.group_sizes = [[group.paths * group.irrep.dim for group in groups] for groups in self.groups]

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        num_edges = x.shape[0]
        grouped = []
        for (mul, d1), x_block, coefficients, sizes in zip(
            self.in_blocks, x.split(self.in_dims, dim=1), self.coefficients, self.group_sizes
        ):
            table = coefficients(sh)
            coupling = (sh @ table).view(num_edges, d1, table.shape[1] // d1)
            x_block = x_block.reshape(num_edges, mul, d1)
            # (E, mul, D_out); for scalars (d1 = 1) an outer product, which is faster than a bmm with K = 1
            products = x_block * coupling if d1 == 1 else torch.bmm(x_block, coupling)
            grouped.append(products.split(sizes, dim=2))
        if weights is None:
            return concat(
                [
                    grouped[piece.block][piece.group].reshape(num_edges, piece.channels * piece.dim)
                    for piece in self.pieces
                ],
                dim=1,
            )
        weights = weights.split([piece.channels for piece in self.pieces], dim=1)
        out = []
        for piece, w in zip(self.pieces, weights):
            channels = (
                grouped[piece.block][piece.group].reshape(num_edges, piece.channels, piece.dim)
                * w[:, :, None]
            )
            out.append(channels.view(num_edges, piece.channels * piece.dim))
        return concat(out, dim=1)
