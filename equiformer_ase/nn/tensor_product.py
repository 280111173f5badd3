"""Depthwise ("uvu") tensor product of node features with edge spherical harmonics."""

from __future__ import annotations

import math

import numpy as np
import torch
from e3nn import o3
from torch import nn

from .constants import ExactConstant
from .linear import check_simplified


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
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed_out: o3.Irreps):
        super().__init__()
        irreps_in = check_simplified(irreps_in, "DepthwiseTensorProduct input")
        irreps_sh = o3.Irreps(irreps_sh)
        allowed = [ir for _, ir in o3.Irreps(allowed_out).sort().irreps.simplify()]
        self.in_dims = [mul * ir.dim for mul, ir in irreps_in]
        self.in_blocks = [(mul, ir.dim) for mul, ir in irreps_in]
        # For each input block: coefficients (dim_sh, d1, D_out) with columns grouped by l3, and the
        # column range and path count of every l3 it feeds.
        out_channels = {ir: 0 for ir in allowed}
        self.block_outputs, self.coefficients = [], []
        for b, (mul, ir1) in enumerate(irreps_in):
            columns, outputs = [], []
            for ir3 in allowed:
                paths = [(ir2, sl2) for (_, ir2), sl2 in zip(irreps_sh, irreps_sh.slices()) if ir3 in ir1 * ir2]
                if not paths:
                    continue
                start = sum(c.shape[2] for c in columns)
                for ir2, sl2 in paths:
                    coefficient = torch.zeros(irreps_sh.dim, ir1.dim, ir3.dim, dtype=torch.float64)
                    w3j = o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64) * math.sqrt(ir3.dim)
                    coefficient[sl2] = w3j.permute(1, 0, 2)
                    columns.append(coefficient)
                outputs.append((allowed.index(ir3), start, len(paths)))
                out_channels[ir3] += mul * len(paths)
            coefficients = torch.cat(columns, dim=2)
            assert [start for _, start, _ in outputs] == list(np.cumsum([0] + [n * allowed[k].dim for k, _, n in outputs])[:-1])
            self.coefficients.append(ExactConstant(coefficients.flatten(1)))
            self.block_outputs.append((coefficients.shape[2], outputs))
        self.irreps_out = o3.Irreps([(c, ir) for ir, c in out_channels.items() if c > 0])
        self.out_order = [allowed.index(ir) for ir, c in out_channels.items() if c > 0]
        self.allowed_dims = [ir.dim for ir in allowed]
        self.weight_numel = self.irreps_out.num_irreps
        # Where each (input block, l3) group of channels starts among the weights.
        channel_start = dict(zip(self.out_order, [0] + list(torch.tensor([m for m, _ in self.irreps_out]).cumsum(0)[:-1].tolist())))
        # Weights are split into one piece per (input block, l3) group, in output channel order.
        pieces = []  # (channel start, size, input block, group)
        for b, ((mul, _), (_, outputs)) in enumerate(zip(irreps_in, self.block_outputs)):
            for g, (k, _, num_paths) in enumerate(outputs):
                pieces.append((channel_start[k], mul * num_paths, b, g))
                channel_start[k] += mul * num_paths
        pieces.sort()
        self.weight_sizes = [size for _, size, _, _ in pieces]
        self.weight_index = [[None] * len(outputs) for _, outputs in self.block_outputs]
        for w, (_, _, b, g) in enumerate(pieces):
            self.weight_index[b][g] = w

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        num_edges = x.shape[0]
        parts = {k: [] for k in self.out_order}
        weights = weights.split(self.weight_sizes, dim=1)
        blocks = zip(self.in_blocks, x.split(self.in_dims, dim=1), self.block_outputs, self.coefficients)
        for b, ((mul, d1), x_block, (d_out, outputs), coefficients) in enumerate(blocks):
            coupling = (sh @ coefficients(sh)).view(num_edges, d1, d_out)
            products = torch.bmm(x_block.reshape(num_edges, mul, d1), coupling)  # (E, mul, d_out)
            groups = products.split([n * self.allowed_dims[k] for k, _, n in outputs], dim=2)
            for group, (k, _, num_paths), w in zip(groups, outputs, self.weight_index[b]):
                channels, d3 = mul * num_paths, self.allowed_dims[k]
                block = group.reshape(num_edges, channels, d3) * weights[w][:, :, None]
                parts[k].append(block.view(num_edges, channels * d3))
        return torch.cat([p for k in self.out_order for p in parts[k]], dim=1)
