"""T(n): translations of R^n in homogeneous coordinates.

    exp(v) = [[I, v], [0, 1]],   log(g) = t,   g . x = x + t.

The action is transitive with trivial stabiliser, so every point lifts exactly to one element
(the translation by the point itself) and the orbit identifier is empty.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .lie_group import LieGroup, homogeneous_matrix
from .stabilisers import TrivialStabiliser


class Translations(LieGroup):
    """T(n) for n = 2, 3; algebra vectors are translation vectors ``(..., n)``."""

    homogeneous = True
    orbit_dim = 0

    def __init__(self, n: int):
        self.name = f"T({n})"
        self.space_dim = self.lie_dim = n
        self.generators = torch.zeros(n, n + 1, n + 1, dtype=torch.float64)
        self.generators[torch.arange(n), torch.arange(n), n] = 1.0
        self.rotation_components = torch.zeros(n, dtype=torch.bool)
        self.stabiliser = TrivialStabiliser(n + 1, self.name)

    def _translation(self, t: Tensor) -> Tensor:
        eye = torch.eye(self.space_dim, dtype=t.dtype, device=t.device)
        return homogeneous_matrix(eye, t)

    def exp(self, a: Tensor) -> Tensor:
        self._check_vector(a)
        return self._translation(a)

    def log(self, g: Tensor) -> Tensor:
        self._check_element(g)
        return g[..., : self.space_dim, self.space_dim]

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return self._translation(
            torch.randn(*shape, self.space_dim, generator=generator, dtype=dtype, device=device)
        )

    def orbit_representative(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check_point(x)
        return self._translation(x), x.new_zeros(*x.shape[:-1], 0)

    def reference_point(self, orbit: Tensor) -> Tensor:
        return orbit.new_zeros(*orbit.shape[:-1], self.space_dim)
