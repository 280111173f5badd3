"""Edge -> node reductions (sum and a cutoff-smooth softmax) without Python loops."""

from __future__ import annotations

import torch


class _ScatterSum(torch.autograd.Function):
    """``index_add`` into zeros whose backward keeps only ``index``: PyTorch's own ``index_add``
    keeps ``src`` too (its gradient formula expands to ``src``'s shape), a full (E, D) edge tensor
    per call. The backward, ``grad.index_select``, is differentiable again for training on forces."""

    @staticmethod
    def forward(ctx, src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
        ctx.save_for_backward(index)
        return src.new_zeros((num_nodes, *src.shape[1:])).index_add_(0, index, src)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        return grad.index_select(0, index), None, None


def scatter_sum(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sum rows of ``src`` (E, ...) into ``num_nodes`` rows by ``index`` (E,) -> (num_nodes, ...)."""
    if not (torch.is_grad_enabled() and src.requires_grad):
        return src.new_zeros((num_nodes, *src.shape[1:])).index_add_(0, index, src)
    return _ScatterSum.apply(src, index, num_nodes)


def enveloped_softmax(
    logits: torch.Tensor, envelope: torch.Tensor, index: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    r"""Softmax over each node's incoming edges, with every edge weighted by its cutoff envelope.

    :math:`\alpha_{ij} = u(r_{ij}) e^{a_{ij}} / \sum_k u(r_{ik}) e^{a_{ik}}`. Because ``u`` goes
    smoothly to 0 at the cutoff, an edge entering or leaving changes the weights of the other
    edges continuously (a plain softmax would jump). Nodes without edges get nothing.

    Shapes: ``logits`` (E, H), ``envelope`` (E,), ``index`` (E,) destination node -> (E, H).
    """
    heads = logits.shape[1]
    node_max = logits.new_full((num_nodes, heads), -torch.inf)
    node_max = node_max.scatter_reduce(0, index[:, None].expand(-1, heads), logits, "amax")
    weights = envelope[:, None] * torch.exp(logits - node_max.detach().index_select(0, index))
    denominator = scatter_sum(weights, index, num_nodes).index_select(0, index)
    return weights / denominator.clamp_min(torch.finfo(weights.dtype).tiny)
