"""LieTransformer core: matrix Lie groups, lifting, LieSelfAttention and the LieTransformer.

    from equiformer_ase import lie
    G = lie.group("SE(3)")
    g = G.exp(a)                      # (..., 6) -> (..., 4, 4)
    model = lie.LieTransformer("SE(2)", in_features=1, out_features=1, seed=0)
    V = model(positions, features, mask)   # (B, n, 2), (B, n, 1), (B, n) -> (B, 1)
"""

from .attention import LieSelfAttention, location_inputs
from .groups import GROUP_NAMES, group
from .lie_group import LieGroup
from .lifting import Lifted, lift
from .neighbourhoods import Neighbourhood, all_neighbours, gather_neighbours, nearest_neighbours, relative_logs
from .transformer import LieTransformer, LieTransformerBlock

__all__ = [
    "GROUP_NAMES",
    "LieGroup",
    "LieSelfAttention",
    "LieTransformer",
    "LieTransformerBlock",
    "Lifted",
    "Neighbourhood",
    "all_neighbours",
    "gather_neighbours",
    "group",
    "lift",
    "location_inputs",
    "nearest_neighbours",
    "relative_logs",
]
