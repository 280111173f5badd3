"""Radial bases and the smooth cutoff envelope.

Every edge length ``r`` (Angstrom) is expanded in a fixed basis and multiplied by an envelope
``u(r)`` that goes to zero, with its first two derivatives, at the cutoff. Everything built
from ``basis * u`` therefore switches off smoothly, so energies and forces are continuous as
atoms enter or leave the cutoff sphere.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .constants import ExactConstant


class PolynomialEnvelope(nn.Module):
    r"""DimeNet envelope :math:`u(x) = 1 - \frac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \frac{p(p+1)}{2} x^{p+2}`.

    ``x = r / cutoff``; ``u(0) = 1`` and ``u, u', u''`` vanish at ``x = 1``; ``u = 0`` beyond.
    ``u`` has a triple root at 1, so it is evaluated as :math:`(1-x)^3 q(x)` (Horner for ``q``):
    the expanded form cancels catastrophically near the cutoff and even turns negative there.
    Input ``r``: (E,) Angstrom; output (E,), >= 0.
    """

    def __init__(self, cutoff: float, exponent: int = 5):
        super().__init__()
        if cutoff <= 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        self.cutoff = float(cutoff)
        p = int(exponent)
        coefficients = np.zeros(p + 3)  # highest power first, as numpy.polydiv wants
        coefficients[-1] = 1.0
        coefficients[:3] = [-p * (p + 1) / 2.0, p * (p + 2), -(p + 1) * (p + 2) / 2.0]
        quotient, remainder = np.polydiv(coefficients, [-1.0, 3.0, -3.0, 1.0])  # (1 - x)^3
        assert np.allclose(remainder, 0.0)
        self.q_coefficients = [float(c) for c in quotient]

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = (r / self.cutoff).clamp(max=1.0)
        q = torch.full_like(x, self.q_coefficients[0])
        for c in self.q_coefficients[1:]:
            q = q * x + c
        return (1.0 - x).pow(3) * q


class GaussianBasis(nn.Module):
    r"""Gaussians :math:`\exp(-\frac{(r-\mu_k)^2}{2\sigma^2})` with centres evenly spaced on [0, cutoff].

    ``sigma`` equals the spacing. Input (E,) Angstrom; output (E, num_basis).
    """

    def __init__(self, cutoff: float, num_basis: int):
        super().__init__()
        self.centres = ExactConstant(torch.linspace(0.0, cutoff, num_basis, dtype=torch.float64))
        self.inv_two_sigma_sq = 1.0 / (2.0 * (cutoff / (num_basis - 1)) ** 2)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.inv_two_sigma_sq * (r[:, None] - self.centres(r)) ** 2)


class BesselBasis(nn.Module):
    r"""Spherical Bessel functions of order 0: :math:`\sqrt{2/c}\,\sin(k\pi r/c)/r`, k = 1..num_basis.

    The ``r -> 0`` limit ``sqrt(2/c) k pi / c`` is used below 1e-6 Angstrom. Input (E,); output (E, num_basis).
    """

    def __init__(self, cutoff: float, num_basis: int):
        super().__init__()
        self.cutoff = float(cutoff)
        freq = torch.arange(1, num_basis + 1, dtype=torch.float64) * math.pi / cutoff
        self.frequencies = ExactConstant(freq)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r[:, None]
        frequencies = self.frequencies(r)
        small = r < 1e-6
        safe_r = torch.where(small, torch.ones_like(r), r)
        values = torch.sin(frequencies * safe_r) / safe_r
        return self.prefactor * torch.where(small, frequencies.expand_as(values), values)


def radial_basis(kind: str, cutoff: float, num_basis: int) -> nn.Module:
    """The radial basis named ``kind`` ("gaussian" or "bessel")."""
    bases = {"gaussian": GaussianBasis, "bessel": BesselBasis}
    if kind not in bases:
        raise ValueError(f"unknown radial basis {kind!r}; choose one of {sorted(bases)}")
    return bases[kind](cutoff, num_basis)


class RadialMLP(nn.Module):
    """Per-edge MLP from the enveloped radial basis to tensor-product weights.

    ``weights = MLP(basis(r)) * u(r)``: the output (E, num_out) vanishes smoothly at the cutoff
    even though the MLP has biases. Input ``edge_basis`` (E, num_basis), ``envelope`` (E,).
    """

    def __init__(self, num_basis: int, hidden: int, num_out: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_basis, hidden),
            nn.LayerNorm(hidden),
            nn.SiLU(),
            nn.Linear(hidden, num_out),
        )

    def forward(self, edge_basis: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
        return self.net(edge_basis) * envelope[:, None]
