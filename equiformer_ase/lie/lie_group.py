"""The matrix Lie group interface shared by T(n), SO(n) and SE(n).

Every group here is a subgroup of the Euclidean group E(d) acting on points of R^d, written as
matrices: rotations as ``(d, d)`` matrices ``R``; translations and rigid motions in homogeneous
coordinates as ``(d+1, d+1)`` matrices

    g = [[R, t],
         [0, 1]],      g . x = R x + t.

Algebra vectors ``a`` (``..., lie_dim``) map to algebra matrices by ``hat(a) = sum_i a_i E_i``
with the group's generators ``E_i``; ``exp(a) == matrix_exp(hat(a))`` in closed form and ``log``
inverts it for rotation angles below pi.  All functions take torch tensors of any float dtype,
broadcast over leading dimensions, and are differentiable twice.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from .stabilisers import Stabiliser


class LieGroup(abc.ABC):
    """A matrix Lie group acting on R^d.

    Attributes:
        name: e.g. ``"SE(3)"``.
        space_dim: d, the dimension of the points it acts on.
        lie_dim: dimension of the Lie algebra (length of algebra vectors).
        matrix_dim: m, group elements are ``(..., m, m)`` matrices.
        homogeneous: whether elements carry a translation column (m = d + 1).
        orbit_dim: length of the orbit identifier of a point (0 when the action is transitive).
        generators: float64 ``(lie_dim, m, m)`` basis ``E_i`` of the Lie algebra.
        rotation_components: boolean ``(lie_dim,)`` mask of the algebra components that are angles.
        stabiliser: the stabiliser of the reference point of each orbit (used by lifting).
    """

    name: str
    space_dim: int
    lie_dim: int
    homogeneous: bool
    orbit_dim: int
    generators: Tensor
    rotation_components: Tensor
    stabiliser: Stabiliser

    @property
    def matrix_dim(self) -> int:
        return self.space_dim + 1 if self.homogeneous else self.space_dim

    def __repr__(self) -> str:
        return f"lie.group({self.name!r})"

    # -- algebra ------------------------------------------------------------------------------

    def hat(self, a: Tensor) -> Tensor:
        """Algebra vector ``(..., lie_dim)`` -> algebra matrix ``(..., m, m)``: sum_i a_i E_i."""
        self._check_vector(a)
        return torch.einsum("...i,ijk->...jk", a, self.generators.to(dtype=a.dtype, device=a.device))

    @abc.abstractmethod
    def exp(self, a: Tensor) -> Tensor:
        """Exponential map ``(..., lie_dim) -> (..., m, m)``, equal to ``matrix_exp(hat(a))``."""

    @abc.abstractmethod
    def log(self, g: Tensor) -> Tensor:
        """Logarithm ``(..., m, m) -> (..., lie_dim)``; inverse of ``exp`` for rotation angles < pi."""

    def distance(self, a: Tensor, rotation_weight: float = 1.0) -> Tensor:
        """Weighted norm of an algebra vector ``(..., lie_dim) -> (...)``.

        ``sqrt(|a_translation|^2 + rotation_weight * |a_rotation|^2)``; applied to
        ``log(u^-1 v)`` it is a left-invariant distance between ``u`` and ``v``.
        """
        self._check_vector(a)
        weights = torch.where(self.rotation_components.to(a.device), rotation_weight, 1.0).to(a.dtype)
        return (a.square() * weights).sum(-1).sqrt()

    # -- group structure --------------------------------------------------------------------

    def identity(
        self, shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float64, device=None
    ) -> Tensor:
        """Identity elements ``(*shape, m, m)``."""
        eye = torch.eye(self.matrix_dim, dtype=dtype, device=device)
        return eye.expand(*shape, self.matrix_dim, self.matrix_dim).clone()

    def compose(self, g: Tensor, h: Tensor) -> Tensor:
        """Group product ``g h`` of ``(..., m, m)`` elements (broadcasting)."""
        return g @ h

    def inverse(self, g: Tensor) -> Tensor:
        """``g^-1`` in closed form: ``R^T`` and ``-R^T t``."""
        self._check_element(g)
        d = self.space_dim
        rotation_t = g[..., :d, :d].transpose(-1, -2)
        if not self.homogeneous:
            return rotation_t
        return homogeneous_matrix(rotation_t, -(rotation_t @ g[..., :d, d, None])[..., 0])

    def act(self, g: Tensor, x: Tensor) -> Tensor:
        """Action on points: ``g (..., m, m)``, ``x (..., d)`` -> ``R x + t`` ``(..., d)``."""
        self._check_element(g)
        self._check_point(x)
        d = self.space_dim
        y = (g[..., :d, :d] @ x[..., None])[..., 0]
        return y + g[..., :d, d] if self.homogeneous else y

    @abc.abstractmethod
    def sample(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device=None,
    ) -> Tensor:
        """Random elements ``(*shape, m, m)``: Haar rotations, standard normal translations."""

    # -- orbits (used by lifting) -----------------------------------------------------------

    @abc.abstractmethod
    def orbit_representative(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """For points ``x (..., d)``: ``g (..., m, m)`` with ``g . o = x`` and orbit ids ``(..., orbit_dim)``.

        ``o = reference_point(orbit)`` is the chosen point of x's orbit.
        """

    @abc.abstractmethod
    def reference_point(self, orbit: Tensor) -> Tensor:
        """The reference point ``o (..., d)`` of the orbit with identifier ``orbit (..., orbit_dim)``."""

    # -- input checks -----------------------------------------------------------------------

    def _check_vector(self, a: Tensor) -> None:
        if a.shape[-1:] != (self.lie_dim,):
            raise ValueError(
                f"{self.name}: algebra vectors must have shape (..., {self.lie_dim}), got {tuple(a.shape)}"
            )

    def _check_element(self, g: Tensor) -> None:
        m = self.matrix_dim
        if g.shape[-2:] != (m, m):
            raise ValueError(
                f"{self.name}: group elements must have shape (..., {m}, {m}), got {tuple(g.shape)}"
            )

    def _check_point(self, x: Tensor) -> None:
        if x.shape[-1:] != (self.space_dim,):
            raise ValueError(
                f"{self.name}: points must have shape (..., {self.space_dim}), got {tuple(x.shape)}"
            )


def homogeneous_matrix(rotation: Tensor, translation: Tensor) -> Tensor:
    """``[[R, t], [0, 1]]`` ``(..., d+1, d+1)`` from ``R (..., d, d)`` and ``t (..., d)`` (broadcasting)."""
    shape = torch.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    d = translation.shape[-1]
    top = torch.cat([rotation.expand(*shape, d, d), translation.expand(*shape, d)[..., None]], dim=-1)
    bottom = torch.zeros(*shape, 1, d + 1, dtype=top.dtype, device=top.device)
    bottom[..., 0, d] = 1.0
    return torch.cat([top, bottom], dim=-2)
