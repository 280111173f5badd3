"""Constants kept in float64 and materialised once per device and dtype."""

from __future__ import annotations

import torch


class ExactConstant:
    """A float64 tensor handed out in the dtype and on the device of ``like``, cached per pair.

    Module buffers would be rounded for good when a model is cast to float32 and stay rounded
    when cast back to float64 (Wigner 3j coefficients rounded to float32 break equivariance at
    1e-7 in a float64 model). Derived constants are not learned, so they live here instead.
    """

    def __init__(self, value: torch.Tensor):
        self.value = value.detach().to("cpu", torch.float64)
        self._cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = self.value.to(device=like.device, dtype=like.dtype)
        return self._cache[key]
