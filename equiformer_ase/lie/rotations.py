"""SO(2) and SO(3): rotations of R^2 and R^3, and the closed-form SO(3) exp and log.

SO(2): ``exp(theta) = [[cos, -sin], [sin, cos]]``, ``log(R) = atan2(R_10, R_00)`` (a half turn is +pi).

SO(3) (Rodrigues), with ``W = hat(omega)`` and ``t = |omega|``:

    exp(omega) = I + sin(t)/t W + (1 - cos t)/t^2 W^2.

log: with ``s = vee(R - R^T)/2 = sin(t) n`` and ``c = (tr R - 1)/2 = cos t``,

- near the identity (|s| < 0.2, c > 0): ``omega = asin(|s|)/|s| s`` (a series in |s|^2);
- in between: ``t = atan2(|s|, c)``, ``omega = t/|s| s``;
- near pi (|s| < 0.2, c <= 0), where ``s`` has no digits left: the axis comes from the
  symmetric part, ``(R + R^T)/2 - c I = (1 - c) n n^T``; take its largest diagonal column,
  normalise, and fix the sign of ``n`` by ``s``.

The action is not transitive: orbits are circles / spheres ``|x| = r``, identified by ``r``,
with reference point ``r e_1``.  ``g_x`` rotates ``e_1`` onto ``x/|x|``.  For SO(2) the stabiliser
of ``r e_1`` (r > 0) is trivial (exact lift); for SO(3) it is the circle of rotations about ``e_1``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .lie_group import LieGroup
from .quaternions import haar_quaternions, quaternion_to_matrix
from .series import asin_over_x, one_minus_cos_over_t2, sinc
from .stabilisers import CircleStabiliser, TrivialStabiliser

_NEAR_AXIS = 0.04  # |s|^2 = sin^2(t) below which the SO(3) log uses the identity / near-pi branch


def safe_norm(x: Tensor) -> Tensor:
    """``|x|`` over the last dim ``(..., n) -> (...)``, with finite (zero) gradients at ``x = 0``."""
    r2 = x.square().sum(-1)
    positive = r2 > 0
    return torch.where(positive, torch.where(positive, r2, torch.ones_like(r2)).sqrt(), torch.zeros_like(r2))


def so2_matrix(theta: Tensor) -> Tensor:
    """Rotation matrices ``(..., 2, 2)`` for angles ``theta (...)``."""
    c, s = theta.cos(), theta.sin()
    return torch.stack([c, -s, s, c], dim=-1).reshape(*theta.shape, 2, 2)


def so2_angle(rotation: Tensor) -> Tensor:
    """Angle ``(...)`` in (-pi, pi] of ``(..., 2, 2)`` rotation matrices.

    A half turn comes out as +pi even when rounding leaves sin(theta) a tiny negative number: lifted
    elements on a stabiliser grid of even size differ by exactly pi, and a log that flipped between
    -pi and +pi with the rounding would make the LieTransformer's output depend on the frame.
    """
    angle = torch.atan2(rotation[..., 1, 0], rotation[..., 0, 0])
    half_turn_rounding = 64 * torch.finfo(angle.dtype).eps
    return torch.where(angle < -math.pi + half_turn_rounding, angle + 2 * math.pi, angle)


def so3_hat(omega: Tensor) -> Tensor:
    """``(..., 3) -> (..., 3, 3)`` skew matrix with ``hat(omega) x = omega x x``."""
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*omega.shape[:-1], 3, 3)


def so3_exp(omega: Tensor) -> Tensor:
    """Rodrigues' formula ``(..., 3) -> (..., 3, 3)``."""
    w = so3_hat(omega)
    t2 = omega.square().sum(-1)[..., None, None]
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)
    return eye + sinc(t2) * w + one_minus_cos_over_t2(t2) * (w @ w)


def so3_log(rotation: Tensor) -> Tensor:
    """Rotation vector ``(..., 3)`` of ``(..., 3, 3)`` rotation matrices (angle in [0, pi])."""
    r = rotation
    s = 0.5 * torch.stack(
        [r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1
    )
    c = (0.5 * (r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1)).clamp(-1.0, 1.0)
    s2 = s.square().sum(-1)
    near_axis = s2 < _NEAR_AXIS
    near_identity = near_axis & (c > 0)
    near_pi = near_axis & (c <= 0)

    # near the identity: asin(|s|)/|s| * s
    omega_identity = asin_over_x(torch.where(near_identity, s2, torch.zeros_like(s2)))[..., None] * s

    # in between: atan2(|s|, c)/|s| * s
    s_norm = torch.where(near_axis, torch.ones_like(s2), s2).sqrt()
    omega_generic = (torch.atan2(s_norm, c) / s_norm)[..., None] * s

    # near pi: axis from the symmetric part
    one_minus_c = torch.where(near_pi, 1 - c, torch.ones_like(c))
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    axis_outer = (0.5 * (r + r.transpose(-1, -2)) - c[..., None, None] * eye) / one_minus_c[..., None, None]
    diagonal = axis_outer.diagonal(dim1=-2, dim2=-1)
    column = diagonal.argmax(-1, keepdim=True)  # n_k^2 >= 1/3 for the largest
    n_times_nk = torch.take_along_dim(axis_outer, column[..., None, :], dim=-1)[..., 0]
    nk2 = torch.take_along_dim(diagonal, column, dim=-1)[..., 0]
    axis = n_times_nk / torch.where(near_pi, nk2, torch.ones_like(nk2)).clamp_min(1e-12).sqrt()[..., None]
    sign = torch.where((axis * s).sum(-1) < 0, -1.0, 1.0).to(r.dtype)
    angle_pi = torch.atan2(s2.clamp_min(torch.finfo(r.dtype).tiny).sqrt(), c)
    omega_pi = (sign * angle_pi)[..., None] * axis

    return torch.where(
        near_identity[..., None], omega_identity, torch.where(near_pi[..., None], omega_pi, omega_generic)
    )


class SO2(LieGroup):
    """SO(2) acting on R^2; algebra vector ``(theta,)``; orbit identifier ``|x|``."""

    name = "SO(2)"
    space_dim = 2
    lie_dim = 1
    homogeneous = False
    orbit_dim = 1

    def __init__(self):
        self.generators = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]], dtype=torch.float64)
        self.rotation_components = torch.ones(1, dtype=torch.bool)
        self.stabiliser = TrivialStabiliser(2, self.name)

    def exp(self, a: Tensor) -> Tensor:
        self._check_vector(a)
        return so2_matrix(a[..., 0])

    def log(self, g: Tensor) -> Tensor:
        self._check_element(g)
        return so2_angle(g)[..., None]

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return so2_matrix(2 * math.pi * torch.rand(*shape, generator=generator, dtype=dtype, device=device))

    def orbit_representative(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check_point(x)
        radius = safe_norm(x)
        positive = radius > 0
        angle = torch.atan2(
            torch.where(positive, x[..., 1], torch.zeros_like(radius)),
            torch.where(positive, x[..., 0], torch.ones_like(radius)),
        )
        return so2_matrix(angle), radius[..., None]

    def reference_point(self, orbit: Tensor) -> Tensor:
        return torch.nn.functional.pad(orbit, (0, 1))


class SO3(LieGroup):
    """SO(3) acting on R^3; algebra vector ``omega (..., 3)``; orbit identifier ``|x|``.

    ``g_x`` is the smallest rotation taking ``e_1`` to ``x/|x|`` (quaternion ``(|x| + x_1, e_1 x x)``
    normalised); it is smooth except on the ray ``x = -r e_1``, where it falls back to the rotation
    by pi about ``e_3``.
    """

    name = "SO(3)"
    space_dim = 3
    lie_dim = 3
    homogeneous = False
    orbit_dim = 1

    def __init__(self):
        self.generators = so3_hat(torch.eye(3, dtype=torch.float64))
        self.rotation_components = torch.ones(3, dtype=torch.bool)
        self.stabiliser = CircleStabiliser(self.generators[0], self.name)

    def exp(self, a: Tensor) -> Tensor:
        self._check_vector(a)
        return so3_exp(a)

    def log(self, g: Tensor) -> Tensor:
        self._check_element(g)
        return so3_log(g)

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return quaternion_to_matrix(haar_quaternions(shape, generator, dtype, device))

    def orbit_representative(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check_point(x)
        radius = safe_norm(x)
        x0, x1, x2 = x.unbind(-1)
        perpendicular2 = x1.square() + x2.square()
        # |x| + x_0 without cancellation when x_0 < 0
        denominator = torch.where(x0 < 0, radius - x0, torch.ones_like(x0))
        w = torch.where(x0 < 0, perpendicular2 / denominator, radius + x0)
        q = torch.stack([w, torch.zeros_like(w), -x2, x1], -1)
        q2 = q.square().sum(-1, keepdim=True)
        regular = q2 > 0
        fallback = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
        q = torch.where(regular, q / torch.where(regular, q2, torch.ones_like(q2)).sqrt(), fallback)
        return quaternion_to_matrix(q), radius[..., None]

    def reference_point(self, orbit: Tensor) -> Tensor:
        return torch.nn.functional.pad(orbit, (0, 2))
