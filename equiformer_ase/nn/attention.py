"""Equivariant graph attention (Equiformer, Sec. 3.3)."""

from __future__ import annotations

import math
from functools import partial

import torch
from e3nn import o3
from torch import nn

from .concat import concat
from .edge_chunks import edge_chunked
from .gate import Gate
from .linear import IrrepsLinear
from .radial import RadialMLP
from .scatter import enveloped_softmax, scatter_sum
from .tensor_product import DepthwiseTensorProduct


def _scale_irreps(irreps: o3.Irreps, factor: int) -> o3.Irreps:
    return o3.Irreps([(mul * factor, ir) for mul, ir in o3.Irreps(irreps)])


def smooth_leaky_relu(x: torch.Tensor, negative_slope: float = 0.2, sharpness: float = 20.0) -> torch.Tensor:
    r"""LeakyReLU with its kink rounded off: :math:`a x + (1 - a)(\mathrm{softplus}(s x) - \ln 2)/s`, elementwise.

    Slope ``a`` far below 0 and 1 far above; within ~1/``s`` of 0 it bends smoothly, and it never differs
    from LeakyReLU by more than (1 - a) ln 2 / s (0.028, at 0). LeakyReLU's kink puts a kink in the energy
    and a jump in the forces wherever a logit feature changes sign, so velocity Verlet's energy error
    random-walks instead of staying bounded. Close enough to stand in for LeakyReLU in trained weights:
    gfn2-md17's with it have probe errors within 0.1 meV/atom and 0.3 meV/A of the original's.
    """
    return (
        negative_slope * x
        + (1 - negative_slope) * (nn.functional.softplus(sharpness * x) - math.log(2)) / sharpness
    )


# The attention-logit nonlinearity by its config name (``EquiformerConfig.attention_activation``).
ACTIVATIONS = {
    "leaky_relu": partial(nn.functional.leaky_relu, negative_slope=0.2),
    "smooth_leaky_relu": smooth_leaky_relu,
}


class EquivariantGraphAttention(nn.Module):
    r"""Multi-head equivariant graph attention with non-linear messages.

    For an edge j -> i with unit vector :math:`\hat r_{ij}` and length :math:`r_{ij}`:

    1. :math:`m_{ij} = L_{src}(x_j) + L_{dst}(x_i)`, then a depthwise tensor product with
       :math:`Y(\hat r_{ij})` (weights from a radial MLP) and a linear layer give attention
       scalars :math:`f_{ij}` and value features.
    2. Attention logits per head: MLP attention
       :math:`a_{ij} = w_h^\top \phi(f_{ij})` (default; :math:`\phi` is ``activation``, see
       :data:`ACTIVATIONS`), or dot product
       :math:`a_{ij} = q_i^\top f_{ij}/\sqrt{d}` with :math:`q_i = L_q(x_i)` (``attention="dot_product"``).
       Normalised with :func:`enveloped_softmax` over the neighbours of i.
    3. Values: gate activation then a second depthwise tensor product with :math:`Y(\hat r_{ij})`
       and a linear layer (non-linear message passing), or the linear values directly
       (``nonlinear_message=False``). As in the paper, that tensor product has one weight per path
       shared by all edges, which is a per-channel scale of the linear layer after it and so is
       absorbed by it (no weights here; the values still vanish at the cutoff, through the first
       product's enveloped weights). ``radial_value=True`` gives it per-edge weights from a radial
       MLP of its own instead (this package's first design, kept for the potentials trained with it;
       960 weights per edge and block for ``paper-md17-l2``).
    4. :math:`y_i = L_{out}(\Vert_h \sum_j \alpha^h_{ij} v^h_{ij})`.

    Shapes: ``x`` (N, irreps_node.dim); ``sh`` (E, irreps_sh.dim); ``edge_basis`` (E, B);
    ``envelope`` (E,); ``edge_index`` (2, E) as (source j, destination i) -> (N, irreps_node.dim).
    """

    def __init__(
        self,
        irreps_node: o3.Irreps,
        irreps_sh: o3.Irreps,
        irreps_head: o3.Irreps,
        num_heads: int,
        alpha_channels: int,
        num_basis: int,
        radial_hidden: int,
        attention: str = "mlp",
        nonlinear_message: bool = True,
        radial_value: bool = False,
        activation: str = "smooth_leaky_relu",
    ):
        super().__init__()
        if attention not in ("mlp", "dot_product"):
            raise ValueError(f"attention must be 'mlp' or 'dot_product', got {attention!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = ACTIVATIONS[activation]
        irreps_node, irreps_head = o3.Irreps(irreps_node), o3.Irreps(irreps_head).simplify()
        self.num_heads, self.alpha_channels = num_heads, alpha_channels
        self.attention, self.nonlinear_message = attention, nonlinear_message
        self.radial_value = None
        irreps_alpha = o3.Irreps(f"{num_heads * alpha_channels}x0e")
        irreps_value = _scale_irreps(irreps_head, num_heads)

        self.linear_src = IrrepsLinear(irreps_node, irreps_node, bias=True)
        self.linear_dst = IrrepsLinear(irreps_node, irreps_node)
        self.tp_message = DepthwiseTensorProduct(irreps_node, irreps_sh, irreps_node)
        self.radial_message = RadialMLP(num_basis, radial_hidden, self.tp_message.weight_numel)
        if nonlinear_message:
            self.gate = Gate(irreps_node)
            irreps_message = (irreps_alpha + self.gate.irreps_in).simplify()
            self.linear_message = IrrepsLinear(self.tp_message.irreps_out, irreps_message)
            self.tp_value = DepthwiseTensorProduct(self.gate.irreps_out, irreps_sh, irreps_value)
            if radial_value:
                self.radial_value = RadialMLP(num_basis, radial_hidden, self.tp_value.weight_numel)
            self.linear_value = IrrepsLinear(self.tp_value.irreps_out, irreps_value)
        else:
            irreps_message = (irreps_alpha + irreps_value).simplify()
            self.linear_message = IrrepsLinear(self.tp_message.irreps_out, irreps_message)
        if attention == "mlp":
            self.alpha_dot = nn.Parameter(torch.randn(num_heads, alpha_channels) / math.sqrt(alpha_channels))
        else:
            self.linear_query = IrrepsLinear(irreps_node, irreps_alpha)
        self.linear_out = IrrepsLinear(irreps_value, irreps_node, bias=True)
        self.num_alpha = irreps_alpha.dim
        self.value_blocks = [(mul, ir.dim) for mul, ir in irreps_value]

    def forward(
        self,
        x: torch.Tensor,
        sh: torch.Tensor,
        edge_basis: torch.Tensor,
        envelope: torch.Tensor,
        edge_index: torch.Tensor,
        edge_chunk: int | None = None,
    ) -> torch.Tensor:
        """``edge_chunk``: run the per-edge pipeline (steps 1 to 3 up to the softmax) that many edges at a
        time and recompute it in the backward pass (:func:`edge_chunked`); None keeps its intermediates."""
        src, dst = edge_index[0], edge_index[1]
        num_nodes = x.shape[0]
        shared = [self.linear_src(x), self.linear_dst(x)]
        if self.attention == "dot_product":
            shared.append(self.linear_query(x))
        logits, value = edge_chunked(
            self._edge_terms, edge_chunk, (src, dst, sh, edge_basis, envelope), shared
        )
        alpha = enveloped_softmax(logits, envelope, dst, num_nodes)
        return self.linear_out(scatter_sum(self._weigh_heads(value, alpha), dst, num_nodes))

    def _edge_terms(
        self,
        src: torch.Tensor,
        dst: torch.Tensor,
        sh: torch.Tensor,
        edge_basis: torch.Tensor,
        envelope: torch.Tensor,
        x_src: torch.Tensor,
        x_dst: torch.Tensor,
        x_query: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention logits (E, H) and values (E, irreps_value.dim) of each edge: a row-wise function of
        the edge tensors. ``x_src`` = L_src(x), ``x_dst`` = L_dst(x) (N, irreps_node.dim) and, for
        dot-product attention, ``x_query`` = L_q(x) (N, H * alpha_channels) are node tensors gathered here."""
        message = x_src.index_select(0, src) + x_dst.index_select(0, dst)
        message = self.tp_message(message, sh, self.radial_message(edge_basis, envelope))
        message = self.linear_message(message)
        alpha_features, value = message.split([self.num_alpha, message.shape[1] - self.num_alpha], dim=1)

        alpha_features = alpha_features.reshape(len(alpha_features), self.num_heads, self.alpha_channels)
        if self.attention == "mlp":
            logits = (self.activation(alpha_features) * self.alpha_dot).sum(-1)
        else:
            query = x_query.index_select(0, dst).view(len(dst), self.num_heads, self.alpha_channels)
            logits = (query * alpha_features).sum(-1) / math.sqrt(self.alpha_channels)

        if self.nonlinear_message:
            weights = None if self.radial_value is None else self.radial_value(edge_basis, envelope)
            value = self.tp_value(self.gate(value), sh, weights)
            value = self.linear_value(value)
        return logits, value

    def _weigh_heads(self, value: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Multiply head h's channels of ``value`` (E, D) by ``alpha[:, h]`` (E, H)."""
        out, num_edges = [], value.shape[0]
        for block, (mul, dim) in zip(
            value.split([mul * dim for mul, dim in self.value_blocks], dim=1), self.value_blocks
        ):
            block = block.reshape(num_edges, self.num_heads, mul * dim // self.num_heads)
            out.append((block * alpha[:, :, None]).view(num_edges, mul * dim))
        return concat(out, dim=1)
