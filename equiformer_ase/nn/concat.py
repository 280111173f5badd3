"""Concatenation whose backward splits, so training on forces does not zero-fill full tensors.

``torch.cat``'s backward slices the gradient; when forces are trained on, that backward is itself
differentiated, and every slice's derivative allocates and zero-fills a tensor the size of the
whole concatenation: k full (E, D) fills for k pieces of an edge feature. Here the backward is one
``split``, whose derivative is one ``cat``; the results are the same to the bit.
"""

from __future__ import annotations

import torch


class _Concat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dim: int, *tensors: torch.Tensor) -> torch.Tensor:
        ctx.dim, ctx.sizes = dim, [t.shape[dim] for t in tensors]
        return torch.cat(tensors, dim=dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (None, *grad.split(ctx.sizes, dim=ctx.dim))


def concat(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    """``torch.cat(tensors, dim)`` with a ``split`` backward (see the module docstring)."""
    if not torch.is_grad_enabled():
        return torch.cat(tensors, dim=dim)
    return _Concat.apply(dim, *tensors)
