"""LieSelfAttention: multi-head self-attention over lifted group elements (Hutchinson et al. 2021).

For element i with features ``f_i`` and neighbours j in its neighbourhood N(i), per head h:

    content_ij  = <W_Q^h f_i, W_K^h f_j> / sqrt(d_head)
    location_ij = MLP_h( log(u_i^-1 u_j), o_i, o_j )            (o = orbit identifiers)
    a_ij        = combine(content_ij, location_ij)              sum | product | mlp
    w_ij        = softmax_j(a_ij)  or  a_ij / |N(i)|            softmax | dot_product
    out_i       = W_O concat_h( sum_j w_ij W_V^h f_j )

Every input of the weights is invariant under ``u -> g u``, so the layer is G-equivariant
(invariant features in, invariant features out).  Works on gathered ``(B, M, k, ...)`` tensors:
memory O(M k).  All nonlinearities are smooth (SiLU, softmax): differentiable twice.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .lie_group import LieGroup
from .lifting import Lifted
from .neighbourhoods import Neighbourhood, gather_neighbours, relative_logs

COMBINE_MODES = ("sum", "product", "mlp")
NORMALISATIONS = ("softmax", "dot_product")


def location_inputs(group: LieGroup, lifted: Lifted, neighbourhood: Neighbourhood) -> Tensor:
    """Inputs of the location kernel ``(B, M, k, lie_dim + 2 orbit_dim)``: ``log(u_i^-1 u_j), o_i, o_j``."""
    logs = relative_logs(group, lifted.elements, neighbourhood)
    own_orbits = lifted.orbits[:, :, None, :].expand(*logs.shape[:-1], group.orbit_dim)
    return torch.cat([logs, own_orbits, gather_neighbours(lifted.orbits, neighbourhood.index)], dim=-1)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of the given sizes with SiLU in between."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(nn.SiLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class LieSelfAttention(nn.Module):
    """Multi-head Lie self-attention.

    Args:
        channels: feature width C (divisible by ``heads``).
        location_dim: length of the location kernel input (``lie_dim + 2 orbit_dim``).
        heads: number of heads.
        combine: how content and location logits combine: ``"sum"``, ``"product"`` or ``"mlp"``.
        normalisation: ``"softmax"`` over the neighbourhood or ``"dot_product"`` (divide by the
            number of valid neighbours).
        location_hidden: hidden width of the location MLP (and of the combine MLP).
    """

    def __init__(
        self,
        channels: int,
        location_dim: int,
        heads: int = 4,
        combine: str = "sum",
        normalisation: str = "softmax",
        location_hidden: int = 32,
    ):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        if combine not in COMBINE_MODES:
            raise ValueError(f"unknown combine {combine!r}; valid: {', '.join(COMBINE_MODES)}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation {normalisation!r}; valid: {', '.join(NORMALISATIONS)}")
        self.heads, self.combine, self.normalisation = heads, combine, normalisation
        self.query = nn.Linear(channels, channels)
        self.key_value = nn.Linear(channels, 2 * channels)
        self.output = nn.Linear(channels, channels)
        self.location_kernel = mlp([location_dim, location_hidden, location_hidden, heads])
        self.combine_kernel = mlp([2 * heads, location_hidden, heads]) if combine == "mlp" else None

    def forward(self, features: Tensor, locations: Tensor, neighbourhood: Neighbourhood) -> Tensor:
        """``features (B, M, C)``, ``locations (B, M, k, location_dim)`` -> ``(B, M, C)``."""
        batch, m, channels = features.shape
        heads, head_dim = self.heads, channels // self.heads
        query = self.query(features).view(batch, m, heads, head_dim)
        key, value = (
            gather_neighbours(self.key_value(features), neighbourhood.index)
            .view(batch, m, neighbourhood.size, 2, heads, head_dim)
            .unbind(3)
        )  # (B, M, k, H, D) each
        content = torch.einsum("bmhd,bmkhd->bmkh", query, key) / math.sqrt(head_dim)
        location = self.location_kernel(locations)  # (B, M, k, H)
        if self.combine == "sum":
            logits = content + location
        elif self.combine == "product":
            logits = content * location
        else:
            logits = self.combine_kernel(torch.cat([content, location], dim=-1))
        valid = neighbourhood.mask[..., None]  # (B, M, k, 1)
        if self.normalisation == "softmax":
            weights = logits.masked_fill(~valid, -math.inf).softmax(dim=2)
        else:
            count = valid.sum(dim=2, keepdim=True).clamp_min(1)
            weights = logits.masked_fill(~valid, 0.0) / count
        attended = torch.einsum("bmkh,bmkhd->bmhd", weights, value)
        return self.output(attended.reshape(batch, m, channels))
