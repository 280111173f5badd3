"""Equiformer: configuration, presets and the network mapping a graph to per-atom energies."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import torch
from ase.data import chemical_symbols
from e3nn import o3
from torch import nn

from .nn import (
    AtomEmbedding,
    EdgeDegreeEmbedding,
    EquivariantFeedForward,
    EquivariantGraphAttention,
    EquivariantLayerNorm,
    IrrepsLinear,
    PolynomialEnvelope,
    ZBLRepulsion,
    radial_basis,
)

# Inclusive bounds of the integer fields: generous for real models, small enough that a crafted
# file cannot make loading build a model of minutes or gigabytes before its weights are checked.
INT_RANGES = {
    "num_blocks": (1, 32),
    "num_heads": (1, 64),
    "alpha_channels": (1, 1024),
    "num_radial": (1, 1024),
    "radial_hidden": (1, 4096),
    "envelope_exponent": (1, 16),
    "output_hidden": (1, 4096),
}
MAX_CHANNELS = 1024
MAX_CUTOFF = 30.0  # Angstrom
CHOICES = {
    "radial_basis": ("gaussian", "bessel"),
    "attention": ("mlp", "dot_product"),
    "attention_activation": ("smooth_leaky_relu", "leaky_relu"),
    "pair_repulsion": ("none", "zbl"),
}
# Fields added after potential files were first written, with the value a stored config that lacks
# them meant: such files must keep building the architecture their weights were trained for.
STORED_DEFAULTS = {"radial_value": True, "attention_activation": "leaky_relu"}
# Named configurations (overrides of the field defaults); see EquiformerConfig.preset.
PRESETS = {
    "small": {},
    "paper-md17-l2": dict(
        node_channels=(128, 64, 32),
        head_channels=(32, 16, 8),
        ffn_channels=(384, 192, 96),
        num_blocks=6,
        num_heads=4,
        alpha_channels=32,
        num_radial=32,
        radial_hidden=64,
        output_hidden=512,
    ),
    "paper-md17-l3": dict(
        node_channels=(128, 64, 32, 16),
        head_channels=(32, 16, 8, 4),
        ffn_channels=(384, 192, 96, 48),
        num_blocks=6,
        num_heads=4,
        alpha_channels=32,
        num_radial=32,
        radial_hidden=64,
        output_hidden=512,
    ),
}


def degree_irreps(channels: tuple[int, ...], parity: bool) -> o3.Irreps:
    """Irreps with ``channels[l]`` copies of degree ``l``.

    SE(3) (``parity=False``): every degree even (``1e``, ``2e`` ... as in Equiformer's SE(3) models).
    E(3) (``parity=True``): natural parity ``(-1)^l`` (``0e + 1o + 2e + 3o``), which makes the
    energy invariant under reflections too.
    """
    return o3.Irreps([(c, (l, (-1) ** l if parity else 1)) for l, c in enumerate(channels) if c > 0])


@dataclass
class EquiformerConfig:
    """Hyper-parameters of :class:`Equiformer`. Channel tuples are indexed by degree l = 0..lmax.

    ``radial_value``: the value tensor product of the non-linear message gets per-edge weights from a
    radial MLP of its own (this package's first design, what stored configs without the field mean)
    instead of the paper's weights shared by all edges (see :class:`EquivariantGraphAttention`).

    ``attention_activation``: the nonlinearity of the MLP attention logits. ``"smooth_leaky_relu"`` (the
    default; :func:`~equiformer_ase.nn.attention.smooth_leaky_relu`) keeps energies infinitely differentiable;
    ``"leaky_relu"`` (the paper's, and every file written before this field) has a kink, so forces jump where a
    logit feature changes sign and NVE energy drifts.

    ``pair_repulsion``: ``"zbl"`` adds the ZBL screened nuclear repulsion inside bonding distance
    (:class:`~equiformer_ase.nn.pair_repulsion.ZBLRepulsion`), a physical short-range prior; ``"none"``
    (the default, and every file written before this field) adds nothing.
    """

    elements: list[str]
    node_channels: tuple[int, ...] = (32, 8, 4)
    head_channels: tuple[int, ...] = (8, 2, 1)
    ffn_channels: tuple[int, ...] = (64, 16, 8)
    num_blocks: int = 2
    num_heads: int = 4
    alpha_channels: int = 8
    cutoff: float = 5.0
    num_radial: int = 16
    radial_basis: str = "gaussian"
    radial_hidden: int = 32
    envelope_exponent: int = 5
    output_hidden: int = 64
    attention: str = "mlp"
    attention_activation: str = "smooth_leaky_relu"
    pair_repulsion: str = "none"
    nonlinear_message: bool = True
    radial_value: bool = False
    parity: bool = False
    avg_num_neighbors: float = 20.0
    energy_scale: float = 1.0
    preset_name: str = "custom"

    def __post_init__(self):
        """Check every field's type and range (ValueError naming the field) and normalise sequences."""
        if not isinstance(self.elements, (list, tuple)) or not all(isinstance(e, str) for e in self.elements):
            raise ValueError(f"elements must be a list of element symbols, got {self.elements!r}")
        self.elements = list(self.elements)
        if not self.elements:
            raise ValueError("EquiformerConfig needs at least one element")
        unknown = [e for e in self.elements if e not in chemical_symbols[1:]]
        if unknown:
            raise ValueError(f"unknown element symbols {unknown}")
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"duplicate elements in {self.elements}")
        for name in ("node_channels", "head_channels", "ffn_channels"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not all(
                _is_int(c) and 0 <= c <= MAX_CHANNELS for c in value
            ):
                raise ValueError(
                    f"{name} must be a sequence of integers in [0, {MAX_CHANNELS}], got {value!r}"
                )
            if not value or value[0] < 1 or (name == "node_channels" and min(value) < 1):
                raise ValueError(
                    f"{name} needs channels of degree 0 (node_channels: of every degree), got {value!r}"
                )
            setattr(self, name, tuple(int(c) for c in value))
        lmax = len(self.node_channels) - 1
        if not 1 <= lmax <= 3:
            raise ValueError(f"lmax must be 1, 2 or 3 (node_channels has {len(self.node_channels)} degrees)")
        if not (len(self.head_channels) == len(self.ffn_channels) == lmax + 1):
            raise ValueError("node_channels, head_channels and ffn_channels need one entry per degree")
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            if not (_is_int(value) and low <= value <= high):
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
            setattr(self, name, int(value))
        if not (_is_real(self.cutoff) and 0 < self.cutoff <= MAX_CUTOFF):
            raise ValueError(f"cutoff must be a number in (0, {MAX_CUTOFF}] Angstrom, got {self.cutoff!r}")
        if not (_is_real(self.avg_num_neighbors) and self.avg_num_neighbors > 0):
            raise ValueError(f"avg_num_neighbors must be a positive number, got {self.avg_num_neighbors!r}")
        if not (_is_real(self.energy_scale) and self.energy_scale != 0):
            raise ValueError(f"energy_scale must be a finite non-zero number, got {self.energy_scale!r}")
        self.cutoff, self.avg_num_neighbors = float(self.cutoff), float(self.avg_num_neighbors)
        self.energy_scale = float(self.energy_scale)
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        for name in ("nonlinear_message", "radial_value", "parity"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.preset_name, str):
            raise ValueError(f"preset_name must be a string, got {self.preset_name!r}")

    @property
    def lmax(self) -> int:
        return len(self.node_channels) - 1

    @classmethod
    def preset(cls, name: str, elements: list[str], **overrides) -> "EquiformerConfig":
        """A named configuration.

        * ``"small"``: 32x0e+8x1e+4x2e, 2 blocks, 4 heads of 8x0e+2x1e+1x2e, FFN 64x0e+16x1e+8x2e,
          16 Gaussian radial functions, cutoff 5 A: the CPU-friendly default for shipped models.
        * ``"paper-md17-l2"``: 128x0e+64x1e+32x2e, 6 blocks, 4 heads of 32x0e+16x1e+8x2e,
          FFN 384x0e+192x1e+96x2e, 32 Gaussian radial functions, cutoff 5 A (Liao & Smidt, MD17).
        * ``"paper-md17-l3"``: the same with an added 16x3e channel block (heads 4x3e, FFN 48x3e).

        Every preset shares the value tensor product's weights over the edges, as the paper does;
        ``radial_value=True`` builds the shipped potentials' per-edge radial MLP instead.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(elements=elements, preset_name=name, **{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EquiformerConfig":
        """The config of :meth:`to_dict`'s output, or of a stored one written before a field existed
        (it gets :data:`STORED_DEFAULTS`); ValueError for unknown or missing fields or bad values."""
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown EquiformerConfig fields {sorted(unknown)}")
        if "elements" not in data:
            raise ValueError("the config has no 'elements'")
        return cls(**{**STORED_DEFAULTS, **data})


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


class EquiformerBlock(nn.Module):
    """Pre-norm Transformer block: ``x + Attn(LN(x))``, then ``x + FFN(LN(x))``."""

    def __init__(self, cfg: EquiformerConfig, irreps_node: o3.Irreps, irreps_sh: o3.Irreps):
        super().__init__()
        self.norm_attention = EquivariantLayerNorm(irreps_node)
        self.attention = EquivariantGraphAttention(
            irreps_node,
            irreps_sh,
            degree_irreps(cfg.head_channels, cfg.parity),
            cfg.num_heads,
            cfg.alpha_channels,
            cfg.num_radial,
            cfg.radial_hidden,
            cfg.attention,
            cfg.nonlinear_message,
            cfg.radial_value,
            cfg.attention_activation,
        )
        self.norm_ffn = EquivariantLayerNorm(irreps_node)
        self.ffn = EquivariantFeedForward(
            irreps_node, degree_irreps(cfg.ffn_channels, cfg.parity), irreps_node
        )

    def forward(self, x, sh, edge_basis, envelope, edge_index, edge_chunk: int | None = None):
        x = x + self.attention(self.norm_attention(x), sh, edge_basis, envelope, edge_index, edge_chunk)
        return x + self.ffn(self.norm_ffn(x))


class Equiformer(nn.Module):
    """Equivariant graph attention Transformer: atoms and edge vectors -> per-atom energies (eV).

    ``species`` (N,) long indices into ``cfg.elements``; ``edge_index`` (2, E) rows (source j,
    destination i); ``edge_vectors`` (E, 3) = r_j - r_i (+ periodic shift), Angstrom.
    Returns (N,) energies relative to the isolated atom: the network's value for each atom minus
    its value for the same species with no neighbours, so an isolated atom contributes exactly 0
    and ``Potential``'s per-element reference energies are the isolated-atom energies.

    ``edge_chunk`` (an int): the per-edge pipelines (edge-degree embedding, each block's attention
    messages) run that many edges at a time and are recomputed in the backward pass instead of kept
    (:func:`~equiformer_ase.nn.edge_chunks.edge_chunked`): the same numbers with a fraction of the
    memory. None (the default) keeps them, as training on forces needs for its double backward.
    """

    def __init__(self, cfg: EquiformerConfig):
        super().__init__()
        self.cfg = cfg
        irreps_node = degree_irreps(cfg.node_channels, cfg.parity)
        irreps_sh = o3.Irreps.spherical_harmonics(cfg.lmax, p=-1 if cfg.parity else 1)
        self.spherical_harmonics = o3.SphericalHarmonics(irreps_sh, normalize=True, normalization="component")
        self.radial_basis = radial_basis(cfg.radial_basis, cfg.cutoff, cfg.num_radial)
        self.envelope = PolynomialEnvelope(cfg.cutoff, cfg.envelope_exponent)
        self.atom_embedding = AtomEmbedding(len(cfg.elements), irreps_node)
        self.edge_degree_embedding = EdgeDegreeEmbedding(
            irreps_node, irreps_sh, cfg.num_radial, cfg.radial_hidden, cfg.avg_num_neighbors
        )
        self.blocks = nn.ModuleList(
            EquiformerBlock(cfg, irreps_node, irreps_sh) for _ in range(cfg.num_blocks)
        )
        self.norm_out = EquivariantLayerNorm(irreps_node)
        self.head = nn.Sequential(
            IrrepsLinear(irreps_node, f"{cfg.output_hidden}x0e", bias=True),
            nn.SiLU(),
            nn.Linear(cfg.output_hidden, 1),
        )
        self.pair_repulsion = ZBLRepulsion(cfg.elements) if cfg.pair_repulsion == "zbl" else None

    @staticmethod
    def expected_shapes(cfg: EquiformerConfig) -> dict[str, tuple[int, ...]]:
        """Shapes of the weights (``state_dict`` names) that pin ``cfg``'s sizes: elements, channels
        of every degree, blocks, heads, radial basis and hidden widths. Lets a file be checked
        against its config before the model is built."""
        last = f"blocks.{cfg.num_blocks - 1}"
        shapes = {
            "atom_embedding.embedding.weight": (len(cfg.elements), cfg.node_channels[0]),
            "edge_degree_embedding.radial.net.0.weight": (cfg.radial_hidden, cfg.num_radial),
            f"{last}.ffn.linear_out.weights.0": (cfg.ffn_channels[0], cfg.node_channels[0]),
            "head.2.weight": (1, cfg.output_hidden),
        }
        shapes.update(
            {f"{last}.attention.linear_src.weights.{l}": (c, c) for l, c in enumerate(cfg.node_channels)}
        )
        if cfg.attention == "mlp":
            shapes[f"{last}.attention.alpha_dot"] = (cfg.num_heads, cfg.alpha_channels)
        return shapes

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        edge_chunk: int | None = None,
    ) -> torch.Tensor:
        lengths = torch.linalg.vector_norm(edge_vectors, dim=1)
        sh = self.spherical_harmonics(edge_vectors)
        envelope = self.envelope(lengths)
        edge_basis = self.radial_basis(lengths)
        # One isolated (edge-less) atom of every species rides along in the same pass.
        num_atoms = species.shape[0]
        padded = torch.cat([species, torch.arange(len(self.cfg.elements), device=species.device)])
        energies = self._node_energies(padded, sh, edge_basis, envelope, edge_index, edge_chunk)
        energies = (energies[:num_atoms] - energies[num_atoms:][species]) * self.cfg.energy_scale
        if self.pair_repulsion is not None:
            energies = energies + self.pair_repulsion(species, edge_index, lengths)
        return energies

    def _node_energies(self, species, sh, edge_basis, envelope, edge_index, edge_chunk) -> torch.Tensor:
        """Head output per node, before subtracting the isolated-atom value: (N,)."""
        num_nodes = species.shape[0]
        x = self.atom_embedding(species)
        x = x + self.edge_degree_embedding(sh, edge_basis, envelope, edge_index[1], num_nodes, edge_chunk)
        for block in self.blocks:
            x = block(x, sh, edge_basis, envelope, edge_index, edge_chunk)
        return self.head(self.norm_out(x)).squeeze(-1)
