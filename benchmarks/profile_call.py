"""Where one energy+forces call spends its time: torch.profiler's table of operators, and per module.

Evaluates ``Potential.evaluate`` (energy, forces) on a prebuilt graph ``--calls`` times under the
profiler and prints the operators sorted by self CPU time, with the number of kernel launches and
host-device synchronisations per call (what bounds a small system on a GPU). ``--modules`` prints
instead the forward time of each module kind (summed over the blocks), its operator count, and the
backward pass as one row: where to look first. Prints tables; not a test.

    python benchmarks/profile_call.py [--preset small] [--system aspirin] [--device cpu] [--calls 5] [--modules]
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict

import torch
from bench_calculator import ELEMENTS, systems
from torch.profiler import ProfilerActivity, profile

import equiformer_ase as ea
from equiformer_ase.devices import resolve_device

SYNC_EVENTS = (
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaMemcpyAsync",
    "aten::item",
    "aten::_local_scalar_dense",
)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--system", default="aspirin", help="start of a bench_calculator system name")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--modules", action="store_true", help="per-module forward times and operator counts")
    args = parser.parse_args()
    device = resolve_device(args.device)
    atoms = next(a for name, a in systems(10_000).items() if name.startswith(args.system))
    cfg = ea.EquiformerConfig.preset(args.preset, elements=ELEMENTS)
    calc = ea.EquiformerCalculator(
        ea.Potential.from_config(cfg, seed=0), device=str(device), dtype=args.dtype
    )
    graph = ea.build_graph([atoms], cfg.elements, cfg.cutoff, device=calc.device, dtype=calc.dtype)
    stress = bool(atoms.pbc.all())
    for _ in range(2):
        calc.potential.evaluate(graph, forces=True, stress=stress)
    if args.modules:
        print(f"{args.preset}, {len(atoms)} atoms, {graph.edge_index.shape[1]} edges, {device}, {args.dtype}")
        print(module_table(calc.potential, graph, stress, args.calls, device))
        return
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.calls):
            calc.potential.evaluate(graph, forces=True, stress=stress)
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = prof.key_averages()
    print(f"{args.preset}, {len(atoms)} atoms, {device}, {args.dtype}, {args.calls} calls")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    counts = {e.key: e.count for e in events}
    launches = counts.get("cudaLaunchKernel", 0) + counts.get("cudaLaunchKernelExC", 0)
    print(
        f"per call: {sum(e.count for e in events if e.key.startswith('aten::')) / args.calls:.0f} aten ops, "
        f"{launches / args.calls:.0f} kernel launches, "
        + ", ".join(f"{k} {counts[k] / args.calls:.0f}" for k in SYNC_EVENTS if k in counts)
    )


def module_kind(name: str) -> str:
    """``blocks.3.attention.tp_value`` -> ``blocks.*.attention.tp_value``: one row for all blocks."""
    return re.sub(r"^blocks\.\d+", "blocks.*", name)


def module_table(potential, graph, stress: bool, calls: int, device) -> str:
    """Markdown table: per module kind (the model's children, each block's children and the attention's
    children), forward milliseconds per call (inclusive of its submodules) and aten operators per call;
    then the whole forward, the backward pass (evaluate minus forward) and the call."""
    from torch.utils._python_dispatch import TorchDispatchMode

    model = potential.model
    seconds, operators, stack = defaultdict(float), defaultdict(int), []

    class CountOperators(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            for name in stack:  # inclusive: every enclosing module counts the operator
                operators[name] += 1
            operators["(call)"] += 1
            return func(*args, **(kwargs or {}))

    def before(name):
        def hook(module, inputs):
            sync(device)
            stack.append(name)
            seconds[name] -= time.perf_counter()

        return hook

    def after(name):
        def hook(module, inputs, output):
            sync(device)
            seconds[name] += time.perf_counter()
            stack.remove(name)

        return hook

    names = []
    for name, module in model.named_modules():
        depth = name.count(".")
        if name and (depth == 0 or (name.startswith("blocks.") and depth in (2, 3))):
            kind = module_kind(name)
            module.register_forward_pre_hook(before(kind))
            module.register_forward_hook(after(kind))
            if kind not in names:
                names.append(kind)
    model.register_forward_pre_hook(before("(forward)"))
    model.register_forward_hook(after("(forward)"))
    with CountOperators():  # counted in a pass of their own: the counting slows every operator
        for _ in range(calls):
            potential.evaluate(graph, forces=True, stress=stress)
    seconds.clear()
    call = 0.0
    for _ in range(calls):
        sync(device)
        start = time.perf_counter()
        potential.evaluate(graph, forces=True, stress=stress)
        sync(device)
        call += time.perf_counter() - start
    forward = seconds["(forward)"]
    rows = [(name, seconds[name], operators[name]) for name in names]
    rows += [("(forward)", forward, operators["(forward)"])]
    rows += [("(backward and the rest)", call - forward, operators["(call)"] - operators["(forward)"])]
    rows += [("(call)", call, operators["(call)"])]
    lines = ["| module | ms per call | share of the call | aten ops per call |", "|---|---|---|---|"]
    lines += [
        f"| `{n}` | {1000 * t / calls:.2f} | {100 * t / call:.1f} % | {k / calls:.0f} |" for n, t, k in rows
    ]
    return "\n".join(lines)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
