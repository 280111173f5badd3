"""Equivariant building blocks of Equiformer (no ASE, no I/O)."""

from .attention import EquivariantGraphAttention
from .embedding import AtomEmbedding, EdgeDegreeEmbedding
from .feed_forward import EquivariantFeedForward
from .gate import Gate
from .layer_norm import EquivariantLayerNorm
from .linear import IrrepsLinear
from .pair_repulsion import ZBLRepulsion
from .radial import BesselBasis, GaussianBasis, PolynomialEnvelope, RadialMLP, radial_basis
from .scatter import enveloped_softmax, scatter_sum
from .tensor_product import DepthwiseTensorProduct

__all__ = [
    "AtomEmbedding",
    "BesselBasis",
    "DepthwiseTensorProduct",
    "EdgeDegreeEmbedding",
    "EquivariantFeedForward",
    "EquivariantGraphAttention",
    "EquivariantLayerNorm",
    "GaussianBasis",
    "Gate",
    "IrrepsLinear",
    "PolynomialEnvelope",
    "RadialMLP",
    "ZBLRepulsion",
    "enveloped_softmax",
    "radial_basis",
    "scatter_sum",
]
