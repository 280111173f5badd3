"""Lifting points of R^d to elements of a Lie group G (Hutchinson et al., LieTransformer; Finzi
et al., LieConv).

A point ``x`` with orbit reference point ``o`` lifts to the set ``{u : u . o = x} = g_x H`` where
``g_x`` is the group's orbit representative (``g_x . o = x``) and ``H`` the stabiliser of ``o``.
``H`` is sampled with ``nsamples`` elements:

    u_{x,k} = g_x h_x s_k,     k = 0 .. nsamples - 1,

where ``s_k`` is the stabiliser's fixed, evenly spread grid and ``h_x`` is the identity
(deterministic lifting) or a Haar-random element of ``H`` drawn per point (random lifting; a
stratified sample whose distribution is invariant, so the lift is equivariant in distribution).
Each lifted element also carries the orbit identifier of its point (e.g. ``|x|`` for SO(n)) and a
copy of the point's features.

Exactness: for T(n) (and SO(2) away from the origin) ``H`` is trivial and ``lift(g . x) =
g . lift(x)`` exactly.  Otherwise ``lift(g . x)`` and ``g . lift(x)`` are two samples of the same
coset ``g g_x H``, and quantities averaged over the samples converge as ``nsamples`` grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .lie_group import LieGroup


@dataclass
class Lifted:
    """Points lifted to group elements; lifted element ``i * nsamples + k`` is point i's k-th sample.

    Attributes:
        elements: ``(B, M, m, m)`` group elements, ``M = n * nsamples``.
        orbits: ``(B, M, orbit_dim)`` orbit identifiers.
        features: ``(B, M, F)`` features copied from the points.
        mask: ``(B, M)`` bool, False for padding.
        nsamples: lifted elements per point.
    """

    elements: Tensor
    orbits: Tensor
    features: Tensor
    mask: Tensor
    nsamples: int


def lift(
    group: LieGroup,
    positions: Tensor,
    features: Tensor,
    mask: Tensor,
    nsamples: int = 1,
    random: bool = False,
    generator: torch.Generator | None = None,
) -> Lifted:
    """Lift points ``positions (B, n, d)`` with ``features (B, n, F)`` and ``mask (B, n)`` to ``G``.

    Args:
        group: the Lie group acting on R^d.
        nsamples: stabiliser samples per point (must be 1 when the stabiliser is trivial).
        random: draw a Haar-random stabiliser offset per point (from ``generator``, or torch's
            global generator when None) instead of the fixed grid alone.

    Padded positions are replaced by the origin so that garbage there cannot produce NaNs.
    """
    d = group.space_dim
    if positions.dim() != 3 or positions.shape[-1] != d:
        raise ValueError(
            f"{group.name} acts on R^{d}: positions must be (B, n, {d}), got {tuple(positions.shape)}"
        )
    batch, n, _ = positions.shape
    if features.shape[:2] != (batch, n) or mask.shape != (batch, n):
        raise ValueError(
            f"features must be (B, n, F) and mask (B, n) for positions {tuple(positions.shape)}; "
            f"got {tuple(features.shape)} and {tuple(mask.shape)}"
        )
    positions = torch.where(mask[..., None], positions, torch.zeros_like(positions))
    representatives, orbits = group.orbit_representative(positions)  # (B, n, m, m), (B, n, o)
    grid = group.stabiliser.grid(nsamples, dtype=positions.dtype, device=positions.device)  # (S, m, m)
    if random:
        offsets = group.stabiliser.sample(
            (batch, n), generator, dtype=positions.dtype, device=positions.device
        )
        representatives = representatives @ offsets
    elements = representatives[:, :, None] @ grid  # (B, n, S, m, m)
    m = group.matrix_dim
    return Lifted(
        elements=elements.reshape(batch, n * nsamples, m, m),
        orbits=orbits.repeat_interleave(nsamples, dim=1),
        features=features.repeat_interleave(nsamples, dim=1),
        mask=mask.repeat_interleave(nsamples, dim=1),
        nsamples=nsamples,
    )
