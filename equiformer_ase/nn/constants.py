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
        if torch.compiler.is_compiling():
            # the compiled graph holds the cast itself; reading the cache would make torch.compile
            # guard on it and compile again once the first call has filled it
            return self.value.to(device=like.device, dtype=like.dtype)
        key = (like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = self.value.to(device=like.device, dtype=like.dtype)
        return self._cache[key]
