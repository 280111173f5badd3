"""SE(2) and SE(3): rigid motions as the semidirect product R^n x| SO(n), homogeneous coordinates.

Algebra vectors are ``(v, omega)``: translational part first, then the rotation angle(s).

    exp(v, omega) = [[R, V v], [0, 1]],    R = exp_SO(omega),
    log(g)        = (V^-1 t, log_SO(R)),

SE(2), angle ``t``, ``J = [[0, -1], [1, 0]]``:
    ``V = sin(t)/t I + (1 - cos t)/t J``,  ``V^-1 = (t/2) cot(t/2) I - (t/2) J``.
SE(3), ``W = hat(omega)``, ``t = |omega|``:
    ``V = I + (1 - cos t)/t^2 W + (t - sin t)/t^3 W^2``,
    ``V^-1 = I - W/2 + (1 - (t/2) cot(t/2))/t^2 W^2``.

The action on R^n is transitive: the orbit identifier is empty, ``g_x`` is the translation by
``x`` and the stabiliser of the origin is SO(n) (a circle for SE(2), all of SO(3) for SE(3)).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .lie_group import LieGroup, homogeneous_matrix
from .quaternions import haar_quaternions, quaternion_to_matrix
from .rotations import so2_angle, so2_matrix, so3_exp, so3_hat, so3_log
from .series import one_minus_cos_over_t2, one_minus_half_cot_over_t2, sinc, t_minus_sin_over_t3
from .stabilisers import CircleStabiliser, RotationStabiliser


class _RigidMotions(LieGroup):
    """Shared structure of SE(n): translation-only orbit representatives and normal sampling."""

    homogeneous = True
    orbit_dim = 0

    def _init_generators(self, rotation_generators: Tensor) -> None:
        n = self.space_dim
        translations = torch.zeros(n, n + 1, n + 1, dtype=torch.float64)
        translations[torch.arange(n), torch.arange(n), n] = 1.0
        rotations = torch.nn.functional.pad(rotation_generators, (0, 1, 0, 1))
        self.generators = torch.cat([translations, rotations])
        self.rotation_components = torch.arange(self.lie_dim) >= n

    def _random_translations(self, shape, generator, dtype, device) -> Tensor:
        return torch.randn(*shape, self.space_dim, generator=generator, dtype=dtype, device=device)

    def orbit_representative(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check_point(x)
        eye = torch.eye(self.space_dim, dtype=x.dtype, device=x.device)
        return homogeneous_matrix(eye, x), x.new_zeros(*x.shape[:-1], 0)

    def reference_point(self, orbit: Tensor) -> Tensor:
        return orbit.new_zeros(*orbit.shape[:-1], self.space_dim)


class SE2(_RigidMotions):
    """SE(2); algebra vector ``(v_x, v_y, theta)``."""

    name = "SE(2)"
    space_dim = 2
    lie_dim = 3

    def __init__(self):
        rotation_generator = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
        self._init_generators(rotation_generator[None])
        self.stabiliser = CircleStabiliser(self.generators[2], self.name)

    def exp(self, a: Tensor) -> Tensor:
        self._check_vector(a)
        v, theta = a[..., :2], a[..., 2]
        t2 = theta.square()
        cos_part, sin_part = (
            sinc(t2),
            theta * one_minus_cos_over_t2(t2),
        )  # V = [[cos_part, -sin_part], [sin_part, cos_part]]
        translation = torch.stack(
            [cos_part * v[..., 0] - sin_part * v[..., 1], sin_part * v[..., 0] + cos_part * v[..., 1]], -1
        )
        return homogeneous_matrix(so2_matrix(theta), translation)

    def log(self, g: Tensor) -> Tensor:
        self._check_element(g)
        theta = so2_angle(g[..., :2, :2])
        t = g[..., :2, 2]
        half_cot = 1 - theta.square() * one_minus_half_cot_over_t2(theta.square())  # (theta/2) cot(theta/2)
        half = 0.5 * theta
        v = torch.stack(
            [half_cot * t[..., 0] + half * t[..., 1], -half * t[..., 0] + half_cot * t[..., 1]], -1
        )
        return torch.cat([v, theta[..., None]], -1)

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        theta = 2 * math.pi * torch.rand(*shape, generator=generator, dtype=dtype, device=device)
        return homogeneous_matrix(
            so2_matrix(theta), self._random_translations(shape, generator, dtype, device)
        )


class SE3(_RigidMotions):
    """SE(3); algebra vector ``(v, omega)`` ``(..., 6)``."""

    name = "SE(3)"
    space_dim = 3
    lie_dim = 6

    def __init__(self):
        self._init_generators(so3_hat(torch.eye(3, dtype=torch.float64)))
        self.stabiliser = RotationStabiliser(4, self.name)

    def exp(self, a: Tensor) -> Tensor:
        self._check_vector(a)
        v, omega = a[..., :3], a[..., 3:]
        w = so3_hat(omega)
        t2 = omega.square().sum(-1)[..., None, None]
        eye = torch.eye(3, dtype=a.dtype, device=a.device)
        v_matrix = eye + one_minus_cos_over_t2(t2) * w + t_minus_sin_over_t3(t2) * (w @ w)
        return homogeneous_matrix(so3_exp(omega), (v_matrix @ v[..., None])[..., 0])

    def log(self, g: Tensor) -> Tensor:
        self._check_element(g)
        omega = so3_log(g[..., :3, :3])
        w = so3_hat(omega)
        t2 = omega.square().sum(-1)[..., None, None]
        eye = torch.eye(3, dtype=g.dtype, device=g.device)
        v_inverse = eye - 0.5 * w + one_minus_half_cot_over_t2(t2) * (w @ w)
        return torch.cat([(v_inverse @ g[..., :3, 3, None])[..., 0], omega], -1)

    def sample(self, shape, generator=None, dtype=torch.float64, device=None) -> Tensor:
        rotation = quaternion_to_matrix(haar_quaternions(shape, generator, dtype, device))
        return homogeneous_matrix(rotation, self._random_translations(shape, generator, dtype, device))
