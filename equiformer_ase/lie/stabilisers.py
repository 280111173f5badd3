"""Stabilisers of a reference point, sampled for lifting.

Lifting a point ``x`` takes the set ``{g : g . o = x} = g_x H`` where ``H`` is the stabiliser
of the reference point ``o`` of x's orbit.  Here are the three kinds of ``H`` that occur:

- trivial (T(n); SO(2) away from the origin): one element, the lift is exact;
- a circle ``{exp(theta E)}`` of rotations in one plane (SE(2), SO(3)):
  ``exp(theta E) = I + sin(theta) E + (1 - cos(theta)) E^2`` for a rotation generator ``E``;
- all of SO(3) (SE(3)).

``grid(n)`` gives ``n`` fixed, evenly spread elements (stratified: evenly spaced angles, or a
super-Fibonacci set); ``sample(shape)`` gives Haar-random elements of ``H``.  For a Haar
random ``h``, ``h . grid(n)`` is a stratified random sample whose distribution is invariant under
``H``, which makes random lifting equivariant in distribution.  Elements are ``(..., m, m)``.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

from .quaternions import haar_quaternions, quaternion_to_matrix, super_fibonacci_quaternions


class Stabiliser(abc.ABC):
    """A compact subgroup ``H`` of ``(m, m)`` matrices with ``dim`` its dimension."""

    dim: int

    def __init__(self, matrix_dim: int, group_name: str):
        self.matrix_dim, self.group_name = matrix_dim, group_name

    @abc.abstractmethod
    def grid(self, nsamples: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``nsamples`` fixed, evenly spread elements ``(nsamples, m, m)``."""

    @abc.abstractmethod
    def sample(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device=None,
    ) -> Tensor:
        """Haar-random elements ``(*shape, m, m)``."""

    def _check_nsamples(self, nsamples: int) -> None:
        if not isinstance(nsamples, int) or nsamples < 1:
            raise ValueError(f"{self.group_name}: nsamples must be a positive int, got {nsamples!r}")


class TrivialStabiliser(Stabiliser):
    """``H = {identity}``: the lift is exact and takes exactly one sample."""

    dim = 0

    def grid(self, nsamples: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        self._check_nsamples(nsamples)
        if nsamples != 1:
            raise ValueError(
                f"{self.group_name} has a trivial stabiliser: points lift exactly with nsamples=1; "
                f"got nsamples={nsamples}"
            )
        return torch.eye(self.matrix_dim, dtype=dtype, device=device)[None]

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return torch.eye(self.matrix_dim, dtype=dtype, device=device).expand(
            *shape, self.matrix_dim, self.matrix_dim
        )


class CircleStabiliser(Stabiliser):
    """``H = {exp(theta E) : theta in [0, 2 pi)}`` for a rotation generator ``E`` (``E^3 = -E``).

    Grid: ``theta_k = 2 pi k / n``.
    """

    dim = 1

    def __init__(self, generator_matrix: Tensor, group_name: str):
        super().__init__(generator_matrix.shape[-1], group_name)
        self.generator_matrix = generator_matrix.to(torch.float64)

    def rotations(self, theta: Tensor) -> Tensor:
        """``exp(theta E)`` ``(..., m, m)`` for angles ``theta (...)``."""
        e = self.generator_matrix.to(dtype=theta.dtype, device=theta.device)
        eye = torch.eye(self.matrix_dim, dtype=theta.dtype, device=theta.device)
        s, c = theta.sin()[..., None, None], theta.cos()[..., None, None]
        return eye + s * e + (1 - c) * (e @ e)

    def grid(self, nsamples: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        self._check_nsamples(nsamples)
        return self.rotations(torch.arange(nsamples, dtype=dtype, device=device) * (2 * math.pi / nsamples))

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return self.rotations(
            2 * math.pi * torch.rand(*shape, generator=generator, dtype=dtype, device=device)
        )


class RotationStabiliser(Stabiliser):
    """``H = SO(3)`` in the top-left ``3 x 3`` block of ``(m, m)`` matrices (m = 3 or 4).

    Grid: the super-Fibonacci quaternions (see ``quaternions.py``).
    """

    dim = 3

    def _embed(self, rotations: Tensor) -> Tensor:
        pad = self.matrix_dim - 3
        out = torch.nn.functional.pad(rotations, (0, pad, 0, pad))
        if pad:
            out[..., 3, 3] = 1.0
        return out

    def grid(self, nsamples: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        self._check_nsamples(nsamples)
        return self._embed(quaternion_to_matrix(super_fibonacci_quaternions(nsamples, dtype, device)))

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return self._embed(quaternion_to_matrix(haar_quaternions(shape, generator, dtype, device)))
