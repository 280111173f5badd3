"""Equivariant linear layer on irreps features: one matrix per degree, one matmul per degree."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from e3nn import o3
from torch import nn

from .concat import concat


def check_simplified(irreps: o3.Irreps, what: str) -> o3.Irreps:
    """``irreps`` must have one block per irrep, sorted (e3nn's ``sort().irreps.simplify()``)."""
    irreps = o3.Irreps(irreps)
    if irreps != irreps.sort().irreps.simplify():
        raise ValueError(f"{what} must be sorted and simplified (one block per irrep), got {irreps}")
    return irreps


class LinearBlock(NamedTuple):
    """How :class:`IrrepsLinear` makes one output block (``mul_out`` x an irrep of dimension ``dim``):
    from input block ``source`` with weight ``weight`` (mul_in, mul_out) times ``scale`` = 1/sqrt(mul_in),
    or as zeros where ``source`` is None (the input lacks the irrep)."""

    source: int | None
    weight: int
    mul_in: int
    mul_out: int
    dim: int
    scale: float


class IrrepsLinear(nn.Module):
    r"""Channel mixing within each irrep: :math:`y_{v,m}^{(l)} = \frac{1}{\sqrt{C^{(l)}_{in}}}\sum_u W^{(l)}_{uv} x^{(l)}_{u,m} (+ b_v \text{ for } 0e)`.

    Irreps in and out are sorted and simplified, laid out as e3nn does (channel-major within
    each block). Output irreps absent from the input are zero. Shapes: (..., irreps_in.dim) ->
    (..., irreps_out.dim).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, bias: bool = False):
        super().__init__()
        self.irreps_in = check_simplified(irreps_in, "IrrepsLinear input")
        self.irreps_out = check_simplified(irreps_out, "IrrepsLinear output")
        in_blocks = {ir: (mul, k) for k, (mul, ir) in enumerate(self.irreps_in)}
        self.in_dims = [mul * ir.dim for mul, ir in self.irreps_in]
        self.weights = nn.ParameterList()
        self.plan: list[LinearBlock] = []
        for mul_out, ir in self.irreps_out:
            if ir in in_blocks:
                mul_in, k = in_blocks[ir]
                self.plan.append(
                    LinearBlock(k, len(self.weights), mul_in, mul_out, ir.dim, 1.0 / math.sqrt(mul_in))
                )
                self.weights.append(nn.Parameter(torch.randn(mul_in, mul_out)))
            else:
                self.plan.append(LinearBlock(None, -1, 0, mul_out, ir.dim, 0.0))
        scalars_out = self.irreps_out[0].mul if self.irreps_out[0].ir == o3.Irrep("0e") else 0
        self.bias = nn.Parameter(torch.zeros(scalars_out)) if bias and scalars_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[:-1]
        inputs = x.split(self.in_dims, dim=-1)  # split, not slicing: its backward is one cat
        blocks = []
        for block in self.plan:
            if block.source is None:
                blocks.append(x.new_zeros(*batch, block.mul_out * block.dim))
                continue
            weight = self.weights[block.weight] * block.scale
            if block.dim == 1:
                blocks.append(inputs[block.source] @ weight)
            else:
                # one 2-D matmul over (rows x m, mul_in): a transposed 3-D operand would make PyTorch
                # run a bmm over an expanded weight
                field = inputs[block.source].reshape(-1, block.mul_in, block.dim).transpose(1, 2)
                mixed = (
                    (field.reshape(-1, block.mul_in) @ weight)
                    .view(-1, block.dim, block.mul_out)
                    .transpose(1, 2)
                )
                blocks.append(mixed.reshape(*batch, block.mul_out * block.dim))
        if self.bias is not None:
            blocks[0] = blocks[0] + self.bias
        return concat(blocks, dim=-1) if len(blocks) > 1 else blocks[0]
