"""The LieTransformer: an invariant function of a set of particles, V(positions, features).

    positions (B, n, d), features (B, n, F), mask (B, n)
      -> lift to G: elements u (B, M, m, m), orbit ids, features     (M = n * nsamples)
      -> neighbourhoods (B, M, k) and location inputs log(u_i^-1 u_j), o_i, o_j
      -> linear embedding, then ``depth`` pre-LayerNorm blocks
             h = h + LieSelfAttention(LN(h));   h = h + MLP(LN(h))
      -> invariant pooling over the lifted elements of each system (mean or sum)
      -> MLP head -> (B, out_features)

The output is invariant to G acting on the positions (exactly when the lift is exact, e.g. T(n);
up to the lift's sampling error otherwise), to permutations of the particles, and to padding.
All layers are smooth, so V can be differentiated twice in the positions (for Hamiltonian
dynamics) with ``neighbourhood="all"``; nearest-neighbour selection is piecewise constant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import LieSelfAttention, location_inputs, mlp
from .groups import group as lie_group
from .lie_group import LieGroup
from .lifting import Lifted, lift
from .neighbourhoods import Neighbourhood, all_neighbours, nearest_neighbours

LIFTINGS = ("deterministic", "random")
NEIGHBOURHOODS = ("all", "nearest")
POOLINGS = ("mean", "sum")
DEFAULT_LIFT_SAMPLES = 4  # per point, for groups whose stabiliser is not trivial


class LieTransformerBlock(nn.Module):
    """Pre-LayerNorm residual block: Lie self-attention, then a two-layer SiLU MLP (width x 2)."""

    def __init__(
        self,
        channels: int,
        location_dim: int,
        heads: int,
        combine: str,
        normalisation: str,
        location_hidden: int,
    ):
        super().__init__()
        self.attention_norm = nn.LayerNorm(channels)
        self.attention = LieSelfAttention(
            channels, location_dim, heads, combine, normalisation, location_hidden
        )
        self.feed_forward_norm = nn.LayerNorm(channels)
        self.feed_forward = mlp([channels, 2 * channels, channels])

    def forward(self, features: Tensor, locations: Tensor, neighbourhood: Neighbourhood) -> Tensor:
        """``features (B, M, C)``, ``locations (B, M, k, L)`` -> ``(B, M, C)``."""
        features = features + self.attention(self.attention_norm(features), locations, neighbourhood)
        return features + self.feed_forward(self.feed_forward_norm(features))


class LieTransformer(nn.Module):
    """G-invariant set function ``(positions, features, mask) -> (B, out_features)``.

    Args:
        group: a name from ``GROUP_NAMES`` or a ``LieGroup``.
        in_features: F, per-particle input features; 0 means no features (pass ``features=None``).
        out_features: output width.
        width, depth, heads: channels, number of blocks, attention heads.
        nsamples: lifted elements per particle; None: 1 for a trivial stabiliser (T(n), SO(2)),
            else ``DEFAULT_LIFT_SAMPLES``.
        lifting: ``"deterministic"`` (fixed stabiliser grid) or ``"random"`` (random offsets).
        neighbourhood: ``"all"`` or ``"nearest"`` (``k`` by group distance, optional ``fill``).
        k, fill, rotation_weight: see ``nearest_neighbours``.
        combine, normalisation: see ``LieSelfAttention``.
        pooling: ``"mean"`` over lifted elements, or ``"sum"`` over particles (lifted sum / nsamples).
        location_hidden: hidden width of the location MLPs (default: width).
        seed: if given, parameters are initialised from it, leaving torch's global RNG untouched.
    """

    def __init__(
        self,
        group: str | LieGroup,
        in_features: int,
        out_features: int = 1,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        nsamples: int | None = None,
        lifting: str = "deterministic",
        neighbourhood: str = "all",
        k: int = 32,
        fill: float | None = None,
        rotation_weight: float = 1.0,
        combine: str = "sum",
        normalisation: str = "softmax",
        pooling: str = "mean",
        location_hidden: int | None = None,
        seed: int | None = None,
    ):
        super().__init__()
        for value, valid, what in [
            (lifting, LIFTINGS, "lifting"),
            (neighbourhood, NEIGHBOURHOODS, "neighbourhood"),
            (pooling, POOLINGS, "pooling"),
        ]:
            if value not in valid:
                raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
        if in_features < 0:
            raise ValueError(f"in_features must be >= 0, got {in_features}")
        self.group = lie_group(group)
        if nsamples is None:
            nsamples = 1 if self.group.stabiliser.dim == 0 else DEFAULT_LIFT_SAMPLES
        self.nsamples = nsamples
        self.group.stabiliser.grid(self.nsamples)  # validates nsamples for this group
        self.in_features, self.lifting, self.neighbourhood = in_features, lifting, neighbourhood
        self.k, self.fill, self.rotation_weight, self.pooling = k, fill, rotation_weight, pooling
        location_dim = self.group.lie_dim + 2 * self.group.orbit_dim
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.embedding = nn.Linear(max(in_features, 1), width)  # F = 0: a constant input of 1
            self.blocks = nn.ModuleList(
                LieTransformerBlock(
                    width, location_dim, heads, combine, normalisation, location_hidden or width
                )
                for _ in range(depth)
            )
            self.head = nn.Sequential(nn.LayerNorm(width), mlp([width, width, out_features]))

    def forward(
        self,
        positions: Tensor,
        features: Tensor | None = None,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``positions (B, n, d)``, ``features (B, n, F)`` or None, ``mask (B, n)`` bool -> ``(B, out)``.

        ``generator`` drives random lifting and Monte-Carlo neighbourhoods (torch's global
        generator when None).  Parameters and positions must share a dtype and device.
        """
        lifted = self.lift(positions, features, mask, generator)
        return self.forward_lifted(lifted, self.neighbourhoods(lifted, generator))

    def lift(
        self,
        positions: Tensor,
        features: Tensor | None = None,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Lifted:
        """Check the inputs and lift them to the group (first stage of ``forward``)."""
        features, mask = self._checked_inputs(positions, features, mask)
        return lift(self.group, positions, features, mask, self.nsamples, self.lifting == "random", generator)

    def neighbourhoods(self, lifted: Lifted, generator: torch.Generator | None = None) -> Neighbourhood:
        """The configured neighbourhoods of the lifted elements (second stage of ``forward``)."""
        if self.neighbourhood == "all":
            return all_neighbours(lifted.mask)
        return nearest_neighbours(
            self.group, lifted.elements, lifted.mask, self.k, self.fill, self.rotation_weight, generator
        )

    def forward_lifted(self, lifted: Lifted, neighbourhood: Neighbourhood) -> Tensor:
        """Attention blocks, invariant pooling and head on lifted inputs -> ``(B, out)``."""
        locations = location_inputs(self.group, lifted, neighbourhood)
        hidden = self.embedding(lifted.features)
        for block in self.blocks:
            hidden = block(hidden, locations, neighbourhood)
        weights = lifted.mask.to(hidden.dtype)[..., None]
        pooled = (hidden * weights).sum(1)
        pooled = pooled / weights.sum(1) if self.pooling == "mean" else pooled / lifted.nsamples
        return self.head(pooled)

    def _checked_inputs(self, positions: Tensor, features: Tensor | None, mask: Tensor | None):
        d = self.group.space_dim
        if positions.dim() != 3 or positions.shape[-1] != d or not positions.is_floating_point():
            raise ValueError(
                f"positions must be a float tensor (B, n, {d}) for {self.group.name}, "
                f"got {positions.dtype} {tuple(positions.shape)}"
            )
        batch, n, _ = positions.shape
        if features is None:
            if self.in_features:
                raise ValueError(f"this LieTransformer expects features (B, n, {self.in_features}), got None")
            features = positions.new_ones(batch, n, 1)
        elif features.shape != (batch, n, self.in_features):
            raise ValueError(
                f"features must have shape {(batch, n, self.in_features)}, got {tuple(features.shape)}"
            )
        if mask is None:
            mask = torch.ones(batch, n, dtype=torch.bool, device=positions.device)
        elif mask.shape != (batch, n) or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool tensor of shape {(batch, n)}, got {mask.dtype} {tuple(mask.shape)}"
            )
        if not mask.any(dim=1).all():
            raise ValueError("every system needs at least one unmasked particle")
        return features, mask
