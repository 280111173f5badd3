"""Per-edge pipelines run in chunks of edges whose intermediates are recomputed in the backward pass.

An energy+forces call keeps every tensor that the backward pass reads. Most of them are per edge
(tensor products, radial MLPs: thousands of numbers per edge and block), so the call's memory is
edges x that width. Run over ``chunk`` edges at a time under ``torch.utils.checkpoint``, a pipeline
keeps only its inputs and outputs; in the backward pass each chunk is run again and its
intermediates live only while that chunk's gradient is formed. Cost: the pipeline's forward runs
twice. The results are the same numbers (the same operations on the same rows).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint


def edge_chunked(
    fn: Callable[..., tuple[torch.Tensor, ...]],
    chunk: int | None,
    edge_inputs: tuple[torch.Tensor, ...],
    shared: tuple[torch.Tensor, ...] = (),
) -> tuple[torch.Tensor, ...]:
    """``fn(*edge_inputs, *shared)``, a row-wise function of the edge tensors (E, ...) -> a tuple of
    (E, ...) tensors, computed ``chunk`` rows at a time, each chunk checkpointed while autograd records.
    ``shared`` tensors (node features that ``fn`` gathers by an edge input's indices) go whole to every
    chunk, so a chunk keeps no (E, D) gathered copy; the price is an (N, D) gradient per chunk in the
    backward pass, O(N E / chunk) work: about 1 % of a call at 10^4 atoms and 2,048 edges a chunk (estimated).

    ``chunk=None`` calls ``fn`` once and keeps its intermediates (fastest, most memory); so does a call
    with no more than ``chunk`` edges (a molecule: its intermediates are small, and recomputing them made a
    ``small`` aspirin call 1.4x slower). Edge inputs
    are cut with ``split`` (one backward node that concatenates the chunks' gradients; slicing would
    zero-fill a full-size gradient per chunk) and outputs joined with ``cat``.
    """
    num_edges = edge_inputs[0].shape[0]
    if chunk is None or num_edges <= chunk:
        return fn(*edge_inputs, *shared)
    pieces = []
    for inputs in zip(*(t.split(chunk) for t in edge_inputs)):
        if torch.is_grad_enabled():
            pieces.append(checkpoint(fn, *inputs, *shared, use_reentrant=False, preserve_rng_state=False))
        else:
            pieces.append(fn(*inputs, *shared))
    if len(pieces) == 1:
        return pieces[0]
    return tuple(torch.cat(outputs) for outputs in zip(*pieces))
