"""The memory an energy+forces call will need, estimated before it allocates, and a refusal when the device
lacks it.

A call keeps, until its backward pass, the per-edge tensors that pass reads, so its memory is close to
``num_edges x (bytes per edge)`` with a bytes-per-edge count set by the model's widths and the memory mode
(``Potential.memory``, see :data:`~equiformer_ase.potential.MEMORY_MODES`). The model of memory here is
the one ``benchmarks/bench_memory.py`` measures (peak above the baseline, energy + forces) and is
calibrated against it; :func:`estimate_bytes` gives the formula and the calibration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from e3nn import o3

from .errors import MemoryEstimateError
from .model import EquiformerConfig, degree_irreps
from .potential import MEMORY_MODES

# Calibration constants of estimate_bytes: measured bytes per edge / (itemsize x counted floats per edge),
# fitted to benchmarks/bench_memory.py's float32 Cu bulk rows (see estimate_bytes' docstring).
CALIBRATION = {"low": 2.0, "fast": 0.85}
# The share of one chunk's formed tensors (LOW_MODE_CHUNK x a block's fast widths) alive at the peak of
# a low-mode call: fitted with CALIBRATION["low"] to the 500- and 2,000-atom rows.
CHUNK_CALIBRATION = 0.5
# Edges a chunk of the "low" mode forms at once.
LOW_MODE_CHUNK = MEMORY_MODES["low"]
# Graph bytes per edge whatever the dtype: edge_index (2 x int64), periodic shifts and edge vectors
# (float64), twice over for the Verlet list's candidates within cutoff + skin.
GRAPH_BYTES_PER_EDGE = 2 * (16 + 24 + 24)
# Environment variable that turns the check off ("0").
ENV_SWITCH = "EQUIFORMER_ASE_MEMORY_CHECK"
GB = 1e9


@dataclass(frozen=True)
class Widths:
    """Per-edge and per-atom float counts of one model (see :func:`model_widths`).

    ``block_fast``: the widths of every (E, .) tensor one attention block forms, each counted once;
    ``block_low``: those a block keeps when its edge pipeline is chunked and recomputed (logits,
    softmax weights, values, weighted values); ``shared_fast`` / ``shared_low``: the same for the
    tensors every block shares (edge vectors, lengths, spherical harmonics, radial basis, envelope)
    plus the edge-degree embedding; ``atom``: floats per atom and block (node features through layer
    norms, attention output and feed-forward).
    """

    block_fast: int
    block_low: int
    shared_fast: int
    shared_low: int
    atom: int


def _irreps_dim(irreps: o3.Irreps) -> int:
    return int(o3.Irreps(irreps).dim)


def _depthwise_out(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: o3.Irreps) -> tuple[int, int, int]:
    """(output dim, weight count, coupling width) per edge of
    :class:`~equiformer_ase.nn.tensor_product.DepthwiseTensorProduct`: one output channel per (input
    channel, path l1 x l2 -> l3 with l3 allowed); the coupling ``Y(r) . C`` is (d1, D_out) per input
    degree, whatever its channel count."""
    allowed_irreps = {ir for _, ir in o3.Irreps(allowed)}
    dim = weights = coupling = 0
    for mul, ir1 in o3.Irreps(irreps_in):
        for ir3 in allowed_irreps:
            paths = sum(ir3 in ir1 * ir2 for _, ir2 in o3.Irreps(irreps_sh))
            dim += mul * paths * ir3.dim
            weights += mul * paths
            coupling += ir1.dim * paths * ir3.dim
    return dim, weights, coupling


def model_widths(config: EquiformerConfig) -> Widths:
    """Count the floats per edge (and per atom) of ``config``'s model, from its channel widths, degrees,
    heads and radial sizes (no model is built; milliseconds)."""
    node = degree_irreps(config.node_channels, config.parity)
    head = degree_irreps(config.head_channels, config.parity)
    value = o3.Irreps([(mul * config.num_heads, ir) for mul, ir in head])
    sh = o3.Irreps.spherical_harmonics(config.lmax, p=-1 if config.parity else 1)
    d_node, d_value, d_sh = _irreps_dim(node), _irreps_dim(value), _irreps_dim(sh)
    gates = sum(mul for mul, ir in node if ir.l > 0)
    tp_message, weights_message, coupling_message = _depthwise_out(node, sh, node)
    tp_value, _, coupling_value = _depthwise_out(node, sh, value)
    heads, alpha = config.num_heads, config.num_heads * config.alpha_channels
    radial = 2 * config.radial_hidden
    message = alpha + d_node + gates
    block_fast = (
        3 * d_node  # L_src(x_j), L_dst(x_i), their sum
        + radial
        + 2 * weights_message  # radial weights, enveloped
        + coupling_message
        + 2 * tp_message  # products (kept for the weights' gradient), weighted and joined
        + message  # linear_message
        + 2 * alpha
        + heads  # attention features, activated, logits
        + 2 * d_node  # gate
        + coupling_value
        + tp_value  # products, joined
        + 2 * d_value  # linear_value, weighted by the heads
        + 4 * heads  # enveloped softmax
    )
    if config.radial_value:
        block_fast += radial + tp_value
    block_low = 2 * d_value + 5 * heads
    geometry = 3 + 1 + d_sh + config.num_radial + 1
    embedding = radial + 2 * sum(config.node_channels) + d_node
    ffn = _irreps_dim(degree_irreps(config.ffn_channels, config.parity))
    return Widths(
        block_fast=block_fast,
        block_low=block_low,
        shared_fast=geometry + embedding,
        shared_low=geometry + d_node,
        atom=8 * d_node + 3 * ffn,
    )


def _cached_widths(config: EquiformerConfig) -> Widths:
    """:func:`model_widths`, computed once per distinct config (it takes about a millisecond)."""
    key = repr(config.to_dict())
    if key not in _WIDTHS:
        _WIDTHS[key] = model_widths(config)
    return _WIDTHS[key]


_WIDTHS: dict[str, Widths] = {}


def estimate_bytes(
    config: EquiformerConfig, num_edges: int, num_atoms: int, dtype: torch.dtype | str, mode: str
) -> int:
    r"""Bytes an energy+forces call of ``config``'s model needs on ``num_edges`` edges (directed, within
    the cutoff) and ``num_atoms`` atoms, in ``dtype`` (float32 / float64) and memory ``mode``: ``"low"``,
    ``"fast"`` (see :data:`~equiformer_ase.potential.MEMORY_MODES`) or ``"train"`` (``create_graph=True``:
    keeps everything, estimated as ``"fast"``, a lower bound since the double backward adds its own graph).
    ``"low"`` with no more than one chunk of edges runs, and is estimated, as ``"fast"``.

    .. math::

        \mathrm{bytes} = s\,k_m\,\big[E\,(n_b\,w_m + u_m) + N\,n_b\,a\big]
                         + E\,g + [m = \mathrm{low}]\;s\,c\,\min(E, C)\,w_\mathrm{fast} + P

    ``s`` the itemsize (4 or 8 bytes); ``E`` edges, ``N`` atoms, ``n_b`` blocks; ``w_m`` the floats per
    edge one block forms (``fast``: every per-edge tensor of the attention pipeline, each once: gathered
    messages, radial MLP and its weights, both depthwise tensor products, linear layers, gate, attention
    features and softmax) or keeps (``low``: values, weighted values, logits and softmax weights);
    ``u_m`` the per-edge tensors all blocks share (geometry, spherical harmonics, radial basis, edge-degree
    embedding); ``a`` floats per atom and block; ``g`` = :data:`GRAPH_BYTES_PER_EDGE` (the neighbour
    list); ``C`` = :data:`LOW_MODE_CHUNK` edges a low-mode chunk forms at once, ``c`` = :data:`CHUNK_CALIBRATION`;
    ``P`` the parameters.
    All widths come from the config (:func:`model_widths`: channels per degree, heads, alpha channels,
    radial sizes, the tensor products' path counts), so the count scales to any preset.

    ``k_m`` (:data:`CALIBRATION`) accounts for what autograd keeps and the backward pass allocates beyond
    one copy of each tensor. Fitted to ``benchmarks/bench_memory.py`` (CPU peak RSS of energy + forces,
    Cu fcc bulk, 5 A cutoff, 42 edges per atom, float32; docs/performance.md "Memory per atom"):

    =============  ======  =======  =============  ================  =========
    preset         mode    atoms    measured B/E   estimate B/E      est/meas
    =============  ======  =======  =============  ================  =========
    small          low     500      4.9 k          4.6 k             0.94
    small          low     2,000    4.7 k          4.1 k             0.88
    small          fast    500      25.6 k         22.1 k            0.87
    small          fast    2,000    24.2 k         22.1 k            0.92
    paper-md17-l2  low     500      55.0 k         63.8 k            1.16
    paper-md17-l2  fast    500      287 k          337 k             1.18
    =============  ======  =======  =============  ================  =========

    (B/E: bytes per edge, graph bytes ``g`` left out as the benchmark builds the graph before its
    baseline.) ``k_low`` = 2.0 with :data:`CHUNK_CALIBRATION` = 0.5 and ``k_fast`` = 0.85 balance the
    two presets. float64 measures 2.0-2.3x float32 where this gives 2x (``s``): est/meas 0.85 (small,
    fast, 500) and 0.78 (small, low, 2,000). For other presets of this architecture (``paper-md17-l3``)
    the counts extrapolate; only the two above were measured.
    """
    if mode not in ("low", "fast", "train"):
        raise ValueError(f"memory mode must be 'low', 'fast' or 'train', got {mode!r}")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    itemsize = torch.empty((), dtype=dtype).element_size()
    widths = _cached_widths(config)
    kind = "low" if mode == "low" and num_edges > LOW_MODE_CHUNK else "fast"  # one chunk runs as "fast"
    block = widths.block_low if kind == "low" else widths.block_fast
    shared = widths.shared_low if kind == "low" else widths.shared_fast
    floats = num_edges * (config.num_blocks * block + shared) + num_atoms * config.num_blocks * widths.atom
    total = itemsize * CALIBRATION[kind] * floats + num_edges * GRAPH_BYTES_PER_EDGE
    if kind == "low":
        total += itemsize * CHUNK_CALIBRATION * min(num_edges, LOW_MODE_CHUNK) * widths.block_fast
    return int(total + itemsize * _parameter_count(config))


def _parameter_count(config: EquiformerConfig) -> int:
    """A rough parameter count (dense linear layers per degree); small against any call worth refusing."""
    linear = sum(c * c for c in config.node_channels)
    ffn = sum(c * f for c, f in zip(config.node_channels, config.ffn_channels))
    return config.num_blocks * (4 * linear + 2 * ffn) + config.output_hidden * config.node_channels[0]


def available_bytes(device: torch.device | str) -> int | None:
    """Bytes a call on ``device`` can still allocate, or None where unknown.

    CPU: ``MemAvailable`` of /proc/meminfo (psutil's ``available`` where that file is missing), capped by
    the cgroup's ``memory.max`` less its ``memory.current`` in a container. CUDA:
    ``torch.cuda.mem_get_info`` free bytes plus what PyTorch's caching allocator holds unused.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type != "cpu":
        return None
    available = _meminfo_available()
    if available is None:
        try:
            import psutil
        except ImportError:
            return None
        available = int(psutil.virtual_memory().available)
    limit = _cgroup_headroom()
    return available if limit is None else min(available, limit)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_headroom() -> int | None:
    """cgroup v2 ``memory.max - memory.current`` of this process's group; None if unlimited or unknown."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return max(int(limit) - int(f.read().strip()), 0)
    except (OSError, ValueError):
        return None


def check_memory(
    config: EquiformerConfig,
    num_edges: int,
    num_atoms: int,
    dtype: torch.dtype | str,
    mode: str,
    device: torch.device | str,
    available: int | None = None,
) -> int:
    """The estimate (:func:`estimate_bytes`) in bytes; :class:`MemoryEstimateError` (one line: the
    estimate, what ``device`` has, what to do) when it exceeds ``available`` (default
    :func:`available_bytes`). No check where the available memory is unknown or the environment variable
    ``EQUIFORMER_ASE_MEMORY_CHECK=0``."""
    needed = estimate_bytes(config, num_edges, num_atoms, dtype, mode)
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return needed
    if available is None:
        available = available_bytes(device)
    if available is None or needed <= available:
        return needed
    dtype_name = str(dtype).replace("torch.", "")
    advice = ["fewer atoms per call (or a smaller batch)"]
    if mode == "fast":
        advice.append('memory mode "low" (potential.memory = "low")')
    if dtype_name == "float64":
        advice.append("float32")
    advice.append("a device with more memory")
    raise MemoryEstimateError(
        f"this call needs about {needed / GB:.3g} GB ({num_atoms:,} atoms, {num_edges:,} edges, "
        f"{config.preset_name} model, {dtype_name}, memory mode {mode!r}) but {torch.device(device).type} "
        f"has {available / GB:.3g} GB available; use {', '.join(advice)} "
        f"({ENV_SWITCH}=0 skips this check)"
    )


def check_model_memory(model, num_edges: int, num_atoms: int, device: torch.device | str) -> int | None:
    """:func:`check_memory` for a :class:`~equiformer_ase.potential.Potential` or a committee (its members
    run one after another, so the largest member's need counts), at its dtype and memory mode; None for a
    model without an :class:`EquiformerConfig`."""
    members = getattr(model, "members", [model])
    needs = [
        (estimate_bytes(m.config, num_edges, num_atoms, m.dtype, _mode(m)), m)
        for m in members
        if isinstance(getattr(m, "config", None), EquiformerConfig)
    ]
    if not needs:
        return None
    _, member = max(needs, key=lambda pair: pair[0])
    return check_memory(member.config, num_edges, num_atoms, member.dtype, _mode(member), device)


def _mode(potential) -> str:
    mode = getattr(potential, "memory", "low")
    return mode if mode in ("low", "fast") else "low"
