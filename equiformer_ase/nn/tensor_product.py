"""Depthwise ("uvu") tensor product of node features with edge spherical harmonics."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn


class DepthwiseTensorProduct(nn.Module):
    r"""Channel-wise tensor product :math:`y_{u} = \sum_{paths} w_{u,path}(r)\,(x_u \otimes Y(\hat r))`.

    Each input channel ``u`` of degree ``l1`` is coupled with every spherical harmonic degree
    ``l2`` into every allowed output degree ``l3`` (``|l1-l2| <= l3 <= l1+l2``, ``l3`` in
    ``allowed_out``) without mixing channels (the "uvu" mode of e3nn), with per-edge weights.
    The output keeps one block of ``mul`` channels per path (``irreps_out``, unsorted); a
    following ``o3.Linear`` mixes channels.

    Shapes: ``x`` (E, irreps_in.dim), ``sh`` (E, irreps_sh.dim), ``weights`` (E, weight_numel)
    -> (E, irreps_out.dim).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed_out: o3.Irreps):
        super().__init__()
        irreps_in, irreps_sh = o3.Irreps(irreps_in), o3.Irreps(irreps_sh)
        allowed = {ir for _, ir in o3.Irreps(allowed_out)}
        out, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in allowed:
                        instructions.append((i, j, len(out), "uvu", True))
                        out.append((mul, ir_out))
        self.irreps_out = o3.Irreps(out)
        self.tp = o3.TensorProduct(
            irreps_in,
            irreps_sh,
            self.irreps_out,
            instructions,
            irrep_normalization="component",
            path_normalization="element",
            internal_weights=False,
            shared_weights=False,
        )
        self.weight_numel = self.tp.weight_numel

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.tp(x, sh, weights)
