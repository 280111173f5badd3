"""Neighbourhoods of lifted elements: all of them, or the nearest by group distance.

A neighbourhood is a list of ``k`` neighbour indices per query element, ``index (B, M, k)``, and
their validity ``mask (B, M, k)``.  Attention then works on gathered ``(B, M, k, ...)`` tensors, so
its memory is O(M k).

The nearest neighbours use the left-invariant distance
``d(u, v) = |log(u^-1 v)|_w`` (``LieGroup.distance``; rotation components weighted by
``rotation_weight``).  Because ``d(g u, g v) = d(u, v)``, the neighbourhoods of transformed inputs
are the same (up to ties).  With a ``fill`` fraction, ``k`` neighbours are drawn uniformly without
replacement from the ``ceil(fill * M)`` nearest (Monte-Carlo neighbourhoods, as in LieConv).
Equal distances are common (a symmetric stabiliser grid gives the angles +t and -t); they are
ordered by a second invariant key, a fixed projection of ``log(u^-1 v)`` (both compared at
float32 precision), so that the k nearest are also invariant to permuting the points.
Distances are computed for blocks of ``chunk_size`` queries at a time under ``no_grad`` and
selected per block with ``topk``: time O(M^2), peak memory O(chunk_size * M) for the block plus
O(M k) for the result, never an M x M tensor.  The selection is piecewise constant in the
positions and carries no gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .lie_group import LieGroup, homogeneous_matrix

_PAIRS_PER_CHUNK = 1 << 16
_TIE_BREAK_WEIGHTS = torch.tensor(
    [1.0, 0.618034, 0.381966, 0.236068, 0.145898, 0.090170], dtype=torch.float64
)


@dataclass
class Neighbourhood:
    """``index (B, M, k)`` int64 neighbours of each lifted element; ``mask (B, M, k)`` their validity."""

    index: Tensor
    mask: Tensor

    @property
    def size(self) -> int:
        return self.index.shape[-1]


def gather_neighbours(values: Tensor, index: Tensor) -> Tensor:
    """``values (B, M, ...)`` at ``index (B, M', k)`` -> ``(B, M', k, ...)`` (differentiable)."""
    batch = torch.arange(values.shape[0], device=values.device)[:, None, None]
    return values[batch, index]


def all_neighbours(mask: Tensor) -> Neighbourhood:
    """Every valid element is a neighbour of every element: ``k = M``, for ``mask (B, M)``."""
    batch, m = mask.shape
    index = torch.arange(m, device=mask.device).expand(batch, m, m)
    return Neighbourhood(index=index, mask=mask[:, None, :].expand(batch, m, m))


def nearest_neighbours(
    group: LieGroup,
    elements: Tensor,
    mask: Tensor,
    k: int,
    fill: float | None = None,
    rotation_weight: float = 1.0,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> Neighbourhood:
    """The ``k`` nearest valid elements of each element by group distance (itself included).

    Args:
        elements: ``(B, M, m, m)`` group elements; ``mask``: ``(B, M)`` bool.
        k: neighbours per element; if fewer than ``k`` are valid, the rest are masked out.
        fill: None for the exact k nearest; else a fraction in (0, 1]: draw ``k`` uniformly from
            the ``max(k, ceil(fill * M))`` nearest (random numbers from ``generator``).
        chunk_size: queries per block (default: about 65536 pairs per block).
    """
    if k < 1:
        raise ValueError(f"k must be a positive number of neighbours, got {k}")
    if fill is not None and not 0 < fill <= 1:
        raise ValueError(f"fill must be a fraction in (0, 1] or None, got {fill}")
    batch, m = mask.shape
    k = min(k, m)
    ball = k if fill is None else min(m, max(k, math.ceil(fill * m)))
    chunk_size = chunk_size or max(1, _PAIRS_PER_CHUNK // (batch * m))
    with torch.no_grad():
        inverse = group.inverse(elements)
        tie_weights = _TIE_BREAK_WEIGHTS[: group.lie_dim].to(dtype=elements.dtype, device=elements.device)
        indices, valid = [], []
        for start in range(0, m, chunk_size):  # blocks of queries, not points
            relative = torch.einsum(
                "bcij,bnjk->bcnik", inverse[:, start : start + chunk_size], elements
            )  # (B, C, M, m, m)
            logs = group.log(relative)
            distance = group.distance(logs, rotation_weight).masked_fill(~mask[:, None, :], math.inf)
            order = lexicographic_key(distance, logs @ tie_weights)
            index = order.topk(ball, dim=-1, largest=False).indices
            distance = distance.gather(-1, index)  # (B, C, ball)
            if ball > k:
                keys = torch.rand(
                    distance.shape, generator=generator, dtype=distance.dtype, device=distance.device
                )
                chosen = keys.masked_fill(distance.isinf(), -1.0).topk(k, dim=-1).indices
                distance, index = distance.gather(-1, chosen), index.gather(-1, chosen)
            indices.append(index)
            valid.append(distance.isfinite())
    return Neighbourhood(index=torch.cat(indices, 1), mask=torch.cat(valid, 1))


def lexicographic_key(primary: Tensor, secondary: Tensor) -> Tensor:
    """int64 keys that order by ``primary`` (>= 0, may be inf), then by ``secondary``, both at float32 precision.

    The float32 bit pattern of a non-negative float is an increasing integer; for the signed
    ``secondary`` the bits of negatives are flipped to keep the order, then offset to [0, 2^32).
    """
    high = primary.float().view(torch.int32).to(torch.int64)
    low = secondary.float().view(torch.int32)
    low = torch.where(low < 0, low ^ 0x7FFFFFFF, low).to(torch.int64) + 2**31
    return high * 2**32 + low


def relative_logs(group: LieGroup, elements: Tensor, neighbourhood: Neighbourhood) -> Tensor:
    """``log(u_i^-1 u_j)`` ``(B, M, k, lie_dim)`` for each element i and its neighbours j.

    Invariant under ``u -> g u`` for every g; differentiable twice in the elements.
    """
    return group.log(relative_elements(group, elements, gather_neighbours(elements, neighbourhood.index)))


def relative_elements(group: LieGroup, elements: Tensor, neighbours: Tensor) -> Tensor:
    """``u_i^-1 u_j`` ``(B, M, k, m, m)`` for ``elements (B, M, m, m)`` and ``neighbours (B, M, k, m, m)``.

    For homogeneous groups (T(n), SE(n)) the translation part is ``R_i^T (t_j - t_i)``: the
    difference of the translations comes first, so it is exact for nearby points however far they
    sit from the origin (``R_i^T t_j - R_i^T t_i`` would lose ``eps |t|`` to cancellation, which made
    an SE(n) energy depend on the absolute position at the 1e-11 level, issue 32).
    """
    if not group.homogeneous:
        return torch.einsum("bmji,bmnjk->bmnik", elements, neighbours)  # R_i^T R_j
    d = group.space_dim
    rotation_t = elements[..., :d, :d].transpose(-1, -2)  # (B, M, d, d)
    offsets = neighbours[..., :d, d] - elements[:, :, None, :d, d]  # (B, M, k, d)
    return homogeneous_matrix(
        torch.einsum("bmij,bmnjk->bmnik", rotation_t, neighbours[..., :d, :d]),
        torch.einsum("bmij,bmnj->bmni", rotation_t, offsets),
    )
