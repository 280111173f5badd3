"""Gate activation for irreps features."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from .concat import concat
from .linear import check_simplified


class Gate(nn.Module):
    r"""Gate nonlinearity whose output is ``irreps_out`` (sorted, simplified, 0e block first).

    Input layout ``(S + G)x0e + C_1 x l_1 + ...``: the first ``S`` scalars pass through SiLU, the
    next ``G = sum_l C_l`` scalars are gates, and channel ``c`` of degree ``l > 0`` is multiplied
    by ``sigmoid(gate_c)``: :math:`y_{c,m} = \sigma(g_c)\, x_{c,m}`, which commutes with rotations.
    Shapes: (E, irreps_in.dim) -> (E, irreps_out.dim).
    """

    def __init__(self, irreps_out: o3.Irreps):
        super().__init__()
        self.irreps_out = check_simplified(irreps_out, "Gate output")
        scalars = self.irreps_out[0]
        if scalars.ir != o3.Irrep("0e"):
            raise ValueError(f"Gate output needs a leading 0e block, got {irreps_out}")
        gated = self.irreps_out[1:]
        self.num_scalars = scalars.mul
        self.num_gates = gated.num_irreps
        self.irreps_in = o3.Irreps(f"{self.num_scalars + self.num_gates}x0e") + gated
        self.gated_blocks = [(mul, ir.dim) for mul, ir in gated]
        self.split_sizes = [self.num_scalars, self.num_gates] + [mul * ir.dim for mul, ir in gated]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalars, gates, *fields = x.split(self.split_sizes, dim=1)
        out = [nn.functional.silu(scalars)]
        gates = torch.sigmoid(gates).split([mul for mul, _ in self.gated_blocks], dim=1)
        n = x.shape[0]
        for field, gate, (mul, dim) in zip(fields, gates, self.gated_blocks):
            out.append((field.reshape(n, mul, dim) * gate[:, :, None]).view(n, mul * dim))
        return concat(out, dim=1)
