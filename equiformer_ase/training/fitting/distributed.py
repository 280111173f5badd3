"""Data-parallel training over ``torch.distributed`` (launched by ``torchrun``).

Every process sees the same batch indices and evaluates its shard ``batch[rank::world_size]``;
the loss is divided by the counts of the whole batch, so summing the gradients over processes
(``all_reduce_gradients``) gives exactly the one-process gradient. Gradients are all-reduced by
hand after ``backward`` rather than through DistributedDataParallel, whose hooks do not expect
the double backward through the forces (``create_graph=True``). Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    """This process's ``rank`` among ``world_size`` (1: no process group)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This process's share of ``items``: every ``world_size``-th item from ``rank``."""
        return items[self.rank :: self.world_size]

    def all_reduce_gradients(self, model: nn.Module) -> None:
        """Sum every parameter's gradient over processes (a missing gradient counts as zero)."""
        if self.world_size == 1:
            return
        for parameter in model.parameters():
            if parameter.requires_grad:
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)
                dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over processes (a new tensor)."""
        values = values.clone()
        if self.world_size > 1:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group. A process that exits still in a gloo group can abort at exit
        ("terminate called without an active exception"), which seen from torchrun is a failed run."""
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group ``torchrun`` describes in the environment (gloo on CPU, NCCL on CUDA).

    Without ``WORLD_SIZE`` > 1 in the environment this is a single process and nothing is initialised.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size())
