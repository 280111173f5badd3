"""A physical short-range prior: the ZBL screened nuclear repulsion between close atoms.

Ziegler, Biersack and Littmark's universal pair potential,

    E(r) = k Z_i Z_j / r * phi(r / a),   a = 0.46850 A / (Z_i^0.23 + Z_j^0.23),
    phi(x) = 0.18175 e^(-3.19980 x) + 0.50986 e^(-0.94229 x) + 0.28022 e^(-0.40290 x) + 0.02817 e^(-0.20162 x),

with k = e^2 / (4 pi eps0) = 14.399645 eV A, switched off smoothly at r_max = 0.75 (r_cov(i) + r_cov(j))
(ASE's covalent radii) by the polynomial envelope of degree 6. MACE switches off at the full covalent
sum; there the term is still about 1 eV and 8 eV/A on a C=O bond at its equilibrium 1.21 A, which the
network would have to learn to cancel. At 0.75 it is exactly zero at every geometry thermal MD of a
molecule visits (C=O off below 1.07 A, C-H 0.80 A, O-H 0.73 A) and on at the contacts no training frame
reaches: O 0.95 A above Al (on below 1.40 A), H 0.85 A above Pt (1.25 A), atoms pushed together.
"""

from __future__ import annotations

import torch
from ase.data import atomic_numbers, covalent_radii
from torch import nn

COULOMB = 14.399645  # e^2 / (4 pi eps0), eV Angstrom
SCREENING_LENGTH = 0.46850  # 0.8854 Bohr, Angstrom
PHI_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
PHI_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
ENVELOPE_DEGREE = 6
RANGE = 0.75  # r_max / (sum of the covalent radii)


def polynomial_switch(x: torch.Tensor, p: int = ENVELOPE_DEGREE) -> torch.Tensor:
    """1 at x = 0, 0 with vanishing first and second derivatives at x = 1, 0 beyond: (E,) -> (E,)."""
    switch = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    return torch.where(x < 1.0, switch, torch.zeros_like(x))


class ZBLRepulsion(nn.Module):
    """Per-atom ZBL energies (eV) from the edges of a graph; no trainable weights.

    ``elements``: the model's element symbols. ``forward(species (N,), edge_index (2, E), lengths (E,))``
    returns (N,): half of every pair's energy goes to each of its atoms (each pair appears as two
    directed edges, so atom i gets half of each edge ending at it).
    """

    def __init__(self, elements: list[str]):
        super().__init__()
        z = torch.tensor([atomic_numbers[e] for e in elements], dtype=torch.float64)
        radii = RANGE * torch.tensor(
            [covalent_radii[atomic_numbers[e]] for e in elements], dtype=torch.float64
        )
        self.register_buffer("z", z, persistent=False)
        self.register_buffer("z_power", z**0.23, persistent=False)
        self.register_buffer("radii", radii, persistent=False)

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        src, dst = species[edge_index[0]], species[edge_index[1]]
        dtype = lengths.dtype
        zz = (self.z[src] * self.z[dst]).to(dtype)
        a = SCREENING_LENGTH / (self.z_power[src] + self.z_power[dst]).to(dtype)
        r_max = (self.radii[src] + self.radii[dst]).to(dtype)
        inside = lengths < r_max
        r = torch.where(inside, lengths, r_max)  # no 1/r or exp() of far edges in the graph
        x = r / a
        phi = sum(c * torch.exp(-e * x) for c, e in zip(PHI_COEFFICIENTS, PHI_EXPONENTS))
        pair = torch.where(inside, COULOMB * zz / r * phi * polynomial_switch(r / r_max), torch.zeros_like(r))
        energies = torch.zeros(species.shape[0], dtype=dtype, device=lengths.device)
        return energies.index_add(0, edge_index[1], 0.5 * pair)
