"""Exponential moving average of a model's weights: the weights that get validated and saved."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage:
    """``shadow = d * shadow + (1 - d) * weights`` after each step, d = min(decay, (1 + n) / (10 + n)).

    The warm-up of d over the first updates (n = updates so far) keeps the average from being
    dominated by the random initialisation. ``module`` is a full copy of the model holding the
    averaged weights; buffers are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for shadow, weight in zip(self.module.parameters(), model.parameters()):
            shadow.lerp_(weight.detach(), 1.0 - decay)
        for shadow, buffer in zip(self.module.buffers(), model.buffers()):
            shadow.copy_(buffer)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "weights": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = state["decay"], state["updates"]
        self.module.load_state_dict(state["weights"])
