"""Where one energy+forces call spends its time: torch.profiler's table of operators.

Evaluates ``Potential.evaluate`` (energy, forces) on a prebuilt graph ``--calls`` times under the
profiler and prints the operators sorted by self CPU time, with the number of kernel launches and
host-device synchronisations per call (what bounds a small system on a GPU). Prints a table; not
a test.

    python benchmarks/profile_call.py [--preset small] [--system aspirin] [--device cpu] [--calls 5]
"""

from __future__ import annotations

import argparse

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


if __name__ == "__main__":
    main()
