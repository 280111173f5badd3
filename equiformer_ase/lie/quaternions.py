"""Unit quaternions as a parametrisation of SO(3): conversion, Haar samples, a well-spread grid.

A unit quaternion ``q = (w, x, y, z)`` (``..., 4``) represents the rotation

    R(q) = I + 2 w [v]_x + 2 [v]_x^2,     v = (x, y, z),

and ``q``, ``-q`` give the same rotation.  Normalising a standard normal 4-vector gives the Haar
(uniform) distribution on SO(3).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Unit quaternions ``(..., 4)`` (w, x, y, z) -> rotation matrices ``(..., 3, 3)``."""
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def haar_quaternions(
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> Tensor:
    """Uniformly random unit quaternions ``(*shape, 4)`` (Haar measure on SO(3))."""
    q = torch.randn(*shape, 4, generator=generator, dtype=dtype, device=device)
    return q / q.norm(dim=-1, keepdim=True)


_SUPER_FIBONACCI_PSI = 1.533751168755204288118041


def super_fibonacci_quaternions(n: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """``n`` deterministic, well-spread unit quaternions ``(n, 4)`` (Alexa, "Super-Fibonacci
    spirals", CVPR 2022): ``s = i + 1/2``, ``r = sqrt(s/n)``, ``R = sqrt(1 - s/n)``,
    ``q_i = (r sin a, r cos a, R sin b, R cos b)`` with ``a = 2 pi s / sqrt 2``, ``b = 2 pi s / psi``.
    """
    s = torch.arange(n, dtype=torch.float64) + 0.5
    r, r_complement = (s / n).sqrt(), (1 - s / n).sqrt()
    alpha = 2 * math.pi * s / math.sqrt(2.0)
    beta = 2 * math.pi * s / _SUPER_FIBONACCI_PSI
    q = torch.stack(
        [r * alpha.sin(), r * alpha.cos(), r_complement * beta.sin(), r_complement * beta.cos()], -1
    )
    return q.to(dtype=dtype, device=device)
