"""Parameters of ``paper-md17-l2`` part by part, against the official Equiformer MD17 L2 model.

The official counts are worked out from the official code's published hyper-parameters
(``graph_attention_transformer_nonlinear_exp_l2_md17`` in ``atomicarchitects/equiformer``,
``nets/graph_attention_transformer_md17.py``; read, not run: it needs torch-geometric): one-hot
embedding of 64 atom types, radial MLPs 32 -> 64 -> 64 -> weights with LayerNorm and a bias-free last
layer plus an offset, biases on every linear layer with scalar outputs, value tensor product with
one weight per path shared by the edges, last block's feed-forward to 512x0e with a linear shortcut,
LayerNorm, 512 -> 512 -> 1. Path counts of the depthwise tensor products come from this package's
:class:`DepthwiseTensorProduct` and :class:`Gate`, which follow the same rules. The sum reproduces
the paper's 3,496,001. Prints a markdown table; not a test.

    python benchmarks/count_parameters.py [--elements H C N O]
"""

from __future__ import annotations

import argparse

from e3nn import o3

import equiformer_ase as ea
from equiformer_ase.nn import DepthwiseTensorProduct, Gate

NODE = o3.Irreps("128x0e+64x1e+32x2e")
SH = o3.Irreps.spherical_harmonics(2, p=1)
FFN_HIDDEN = o3.Irreps("384x0e+192x1e+96x2e")
FEATURE = o3.Irreps("512x0e")
SCALAR = o3.Irrep("0e")


def linear(irreps_in, irreps_out, bias: bool = True) -> int:
    """Weights of an equivariant linear layer (one matrix per irrep), plus a bias per output scalar."""
    irreps_in, irreps_out = o3.Irreps(irreps_in).simplify(), o3.Irreps(irreps_out).simplify()
    weights = sum(
        m_in * m_out for m_in, ir_in in irreps_in for m_out, ir_out in irreps_out if ir_in == ir_out
    )
    return weights + (sum(m for m, ir in irreps_out if ir == SCALAR) if bias else 0)


def radial_profile(hidden: list[int], num_basis: int, num_out: int) -> int:
    """The official radial MLP: Linear + LayerNorm + SiLU per hidden layer, bias-free last layer, offset."""
    total, width = 0, num_basis
    for h in hidden:
        total, width = total + width * h + h + 2 * h, h
    return total + width * num_out + num_out


def layer_norm(irreps) -> int:
    """Equivariant layer norm: a scale per channel, a bias per scalar channel (both codes)."""
    irreps = o3.Irreps(irreps)
    return irreps.num_irreps + sum(m for m, ir in irreps if ir == SCALAR)


def official() -> dict[str, int]:
    """Parameters of the official MD17 L2 model by part."""
    message_tp = DepthwiseTensorProduct(NODE, SH, NODE)
    gate = Gate(NODE)
    value_tp = DepthwiseTensorProduct(gate.irreps_out, SH, NODE)
    ffn_gate = Gate(FFN_HIDDEN)
    attention = (
        linear(NODE, NODE) + linear(NODE, NODE, bias=False) + 4 * 32 + linear(NODE, NODE)
    )  # merge src/dst, alpha_dot, projection
    return {
        "atom embedding": linear("64x0e", NODE),
        "edge-degree embedding": linear("1x0e", NODE)
        + radial_profile([64, 64], 32, message_tp.weight_numel)
        + linear(message_tp.irreps_out, NODE),
        "layer norms (2 per block)": 6 * 2 * layer_norm(NODE),
        "attention: merge, alpha_dot, projection": 6 * attention,
        "attention: message radial MLP": 6 * radial_profile([64, 64], 32, message_tp.weight_numel),
        "attention: linear after the message product": 6
        * (linear(message_tp.irreps_out, "128x0e") + linear(message_tp.irreps_out, gate.irreps_in)),
        "attention: value product weights": 6 * value_tp.weight_numel,
        "attention: value linear": 6 * linear(value_tp.irreps_out, NODE),
        "feed-forward, blocks 1-5": 5 * (linear(NODE, ffn_gate.irreps_in) + linear(FFN_HIDDEN, NODE)),
        "feed-forward, last block (+ shortcut)": linear(NODE, ffn_gate.irreps_in)
        + linear(FFN_HIDDEN, FEATURE)
        + linear(NODE, FEATURE),
        "output norm + head": layer_norm(FEATURE) + linear(FEATURE, FEATURE) + linear(FEATURE, "1x0e"),
    }


def ours(elements: list[str]) -> dict[str, int]:
    """Parameters of this package's ``paper-md17-l2`` by the same parts."""
    model = ea.Potential.from_config(ea.EquiformerConfig.preset("paper-md17-l2", elements=elements)).model

    def count(*modules) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    blocks, attention = model.blocks, [b.attention for b in model.blocks]
    return {
        "atom embedding": count(model.atom_embedding),
        "edge-degree embedding": count(model.edge_degree_embedding),
        "layer norms (2 per block)": sum(count(b.norm_attention, b.norm_ffn) for b in blocks),
        "attention: merge, alpha_dot, projection": sum(
            count(a.linear_src, a.linear_dst, a.linear_out) + a.alpha_dot.numel() for a in attention
        ),
        "attention: message radial MLP": sum(count(a.radial_message) for a in attention),
        "attention: linear after the message product": sum(count(a.linear_message) for a in attention),
        "attention: value product weights": sum(count(a.tp_value) for a in attention),
        "attention: value linear": sum(count(a.linear_value) for a in attention),
        "feed-forward, blocks 1-5": sum(count(b.ffn) for b in blocks[:-1]),
        "feed-forward, last block (+ shortcut)": count(blocks[-1].ffn),
        "output norm + head": count(model.norm_out, model.head),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--elements", nargs="+", default=["H", "C", "N", "O"])
    args = parser.parse_args()
    theirs, here = official(), ours(args.elements)
    print(f"| part | official | here ({', '.join(args.elements)}) | here - official |")
    print("|---|---:|---:|---:|")
    for part in theirs:
        print(f"| {part} | {theirs[part]:,} | {here[part]:,} | {here[part] - theirs[part]:+,} |")
    total_theirs, total_here = sum(theirs.values()), sum(here.values())
    print(f"| **total** | **{total_theirs:,}** | **{total_here:,}** | **{total_here - total_theirs:+,}** |")


if __name__ == "__main__":
    main()
