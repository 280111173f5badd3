"""Peak memory per atom and time per energy+forces call, for each memory mode of ``Potential``.

Each case (preset, Cu bulk size, dtype, memory mode) runs in a fresh subprocess, so one case's
freed-but-kept memory never hides another's peak. In it: build the potential (an inference copy, as
the calculator makes) and the graph, make one call on a 4-atom cell (lazy initialisation), then
measure the first call on the system: CPU peak = ``ru_maxrss`` after the call minus the resident
set size before it; CUDA peak = ``torch.cuda.max_memory_allocated`` above what was allocated before.
Later calls give the median time. Cu fcc (a = 3.61 A, rattled) with the preset's 5 A cutoff: 42
neighbours per atom. A case whose size is predicted (from the same case at the next smaller size)
to need more than ``--max-gb`` is skipped. Prints a markdown table; ``low / fast`` rows give the ratios.

    python benchmarks/bench_memory.py [--presets small paper-md17-l2] [--atoms 500 2000 10000]
        [--dtypes float32 float64] [--modes fast low] [--device cpu] [--repeats 2] [--max-gb 12]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from ase.build import bulk

import equiformer_ase as ea
from equiformer_ase.potential import MEMORY_MODES, inference_copy

# (cubic cells along x, y, z) of the 4-atom conventional fcc cell
SIZES = {500: (5, 5, 5), 2000: (5, 5, 20), 10_000: (10, 10, 25)}


def cu_bulk(num_atoms: int):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(SIZES[num_atoms])
    atoms.rattle(0.05, seed=0)
    return atoms


def rss_bytes() -> int:
    """Resident set size of this process now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure(preset: str, num_atoms: int, dtype: str, memory: str, device: str, repeats: int) -> dict:
    """One case, in this process: peak bytes above the baseline for the first call, median seconds."""
    device = torch.device(device)
    cfg = ea.EquiformerConfig.preset(preset, elements=["Cu"])
    potential = inference_copy(ea.Potential.from_config(cfg, seed=0), device, getattr(torch, dtype))
    potential.memory = memory
    warm = ea.build_graph([cu_bulk(500)[:4]], cfg.elements, cfg.cutoff, device=device, dtype=potential.dtype)
    potential.evaluate(warm, forces=True)
    graph = ea.build_graph(
        [cu_bulk(num_atoms)], cfg.elements, cfg.cutoff, device=device, dtype=potential.dtype
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = rss_bytes()
    times = []
    for call in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        potential.evaluate(graph, forces=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
        if call == 0 and device.type == "cuda":
            peak = torch.cuda.max_memory_allocated() - before
        elif call == 0:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    wall, cpu = np.median(times[1:] if repeats else times, axis=0)
    return {
        "edges": int(graph.edge_index.shape[1]),
        "peak_bytes": int(peak),
        "seconds": wall,
        "cpu_seconds": cpu,
    }


def run_case(args, preset: str, num_atoms: int, dtype: str, memory: str) -> dict:
    """:func:`measure` in a fresh subprocess (``--case``); ``error`` holds its last line on failure."""
    command = [sys.executable, __file__, "--case", preset, str(num_atoms), dtype, memory]
    command += ["--device", args.device, "--repeats", str(args.repeats), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        lines = (done.stderr or done.stdout or f"exit code {done.returncode}").strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_row(preset: str, num_atoms: int, dtype: str, memory: str, r: dict, fast: dict | None) -> str:
    """One markdown row of :func:`measure`'s result ``r``, with its ratios to the ``fast`` mode's."""
    row = f"| {preset} | {num_atoms} | {r.get('edges', '')} | {dtype} | {memory} |"
    if "error" in r:
        return f"{row} {r['error']} | | | | |"
    row += f" {r['peak_bytes'] / 1e6 / num_atoms:.3f} | {1e3 * r['cpu_seconds']:.0f} | {1e3 * r['seconds']:.0f} |"
    if memory == "fast" or not fast or "error" in fast:
        return row + " | |"
    return (
        row + f" {r['peak_bytes'] / fast['peak_bytes']:.2f} | {r['cpu_seconds'] / fast['cpu_seconds']:.2f} |"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["small", "paper-md17-l2"])
    parser.add_argument("--atoms", nargs="+", type=int, default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--modes", nargs="+", default=list(MEMORY_MODES), choices=list(MEMORY_MODES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the measured first one")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-gb", type=float, default=12.0, help="skip cases predicted to need more")
    parser.add_argument(
        "--case", nargs=4, metavar=("PRESET", "ATOMS", "DTYPE", "MODE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        preset, num_atoms, dtype, memory = args.case
        print(json.dumps(measure(preset, int(num_atoms), dtype, memory, args.device, args.repeats)))
        return

    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.device}, Cu fcc bulk, 5 A cutoff, load {load}\n"
    )
    print(
        "| preset | atoms | edges | dtype | memory | MB/atom | CPU ms/call | wall ms/call "
        "| memory low/fast | CPU time low/fast |"
    )
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|")
    measured = {}  # (preset, dtype, memory, atoms) -> result, to predict the next size's need
    for preset in args.presets:
        for dtype in args.dtypes:
            for num_atoms in sorted(args.atoms):
                results = {}
                for memory in args.modes:
                    smaller = [n for n in sorted(args.atoms) if n < num_atoms]
                    previous = measured.get((preset, dtype, memory, smaller[-1])) if smaller else None
                    if previous and "error" not in previous:
                        predicted = previous["peak_bytes"] * num_atoms / smaller[-1]
                        if predicted > args.max_gb * 1e9:
                            results[memory] = {"error": f"skipped: predicted {predicted / 1e9:.0f} GB"}
                            continue
                    results[memory] = measured[(preset, dtype, memory, num_atoms)] = run_case(
                        args, preset, num_atoms, dtype, memory
                    )
                for memory, r in results.items():
                    print(format_row(preset, num_atoms, dtype, memory, r, results.get("fast")), flush=True)
    print(f"\nload after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
