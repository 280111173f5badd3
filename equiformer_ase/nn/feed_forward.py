"""Equivariant feed-forward network: linear -> gate -> linear."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from .gate import Gate
from .linear import IrrepsLinear


class EquivariantFeedForward(nn.Module):
    """``Linear(irreps_in -> gate input) -> Gate(irreps_hidden) -> Linear(irreps_hidden -> irreps_out)``.

    Shapes: (N, irreps_in.dim) -> (N, irreps_out.dim).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_hidden: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        self.gate = Gate(irreps_hidden)
        self.linear_in = IrrepsLinear(irreps_in, self.gate.irreps_in, bias=True)
        self.linear_out = IrrepsLinear(self.gate.irreps_out, irreps_out, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_out(self.gate(self.linear_in(x)))
