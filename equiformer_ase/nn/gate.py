"""Gate activation for irreps features."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3


def gate_activation(irreps_out: o3.Irreps) -> e3nn_nn.Gate:
    r"""A gate whose output is ``irreps_out``.

    Scalars (``0e``: SiLU, ``0o``: tanh) pass through a nonlinearity; every channel of degree
    ``l > 0`` is multiplied by ``sigmoid`` of its own extra ``0e`` gate scalar. The returned
    module's ``irreps_in`` = scalars + gates + gated is what the preceding linear layer must
    produce; ``irreps_out`` equals the requested irreps (sorted by e3nn's convention).
    """
    irreps_out = o3.Irreps(irreps_out).simplify()
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
    gates = o3.Irreps([(mul, "0e") for mul, _ in gated]).simplify()
    scalar_acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
    return e3nn_nn.Gate(scalars, scalar_acts, gates, [torch.sigmoid] * len(gates), gated)
