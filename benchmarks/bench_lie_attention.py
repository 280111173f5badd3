"""LieTransformer scaling with the number of points at a fixed neighbourhood size k.

For N = 32, 64, ..., 4096 points (M = N * nsamples lifted elements) it prints

- ``nbrs ms``: the nearest-neighbour search by group distance (no gradient; O(M^2) time in
  chunks, O(chunk * M + M k) memory),
- ``fwd+bwd ms``: lifting, location kernel inputs, attention blocks, pooling and head, forward and
  backward (gradients for the positions and all parameters), with the neighbourhood fixed,
- ``us/point``: fwd+bwd time per point (roughly constant = linear scaling),
- ``peak MB``: peak memory of neighbour search + fwd+bwd.  CUDA: ``torch.cuda.max_memory_allocated``.
  CPU: every N runs in a fresh subprocess and reports the increase of its peak resident set size
  (``ru_maxrss``) over the peak reached before the measured work (after imports, model and inputs).

    python benchmarks/bench_lie_attention.py [--device cpu|cuda] [--group SE(2)] [--k 16] ...
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from equiformer_ase import lie


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--group", default="SE(2)", choices=lie.GROUP_NAMES)
    parser.add_argument("--nsamples", type=int, default=2, help="lift samples per point (1 for T(n), SO(2))")
    parser.add_argument("--k", type=int, default=16, help="neighbours per lifted element")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32 * 2**i for i in range(8)])
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(args: argparse.Namespace, n: int) -> dict:
    """Time and memory of one size, in this process."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    model = lie.LieTransformer(
        args.group,
        in_features=1,
        width=args.width,
        depth=args.depth,
        heads=args.heads,
        nsamples=args.nsamples,
        neighbourhood="nearest",
        k=args.k,
        seed=0,
    )
    model = model.to(device=device, dtype=dtype)
    generator = torch.Generator().manual_seed(0)
    d = model.group.space_dim
    positions = (n ** (1 / d) * torch.rand(1, n, d, generator=generator, dtype=torch.float64)).to(
        device, dtype
    )
    features = torch.rand(1, n, 1, generator=generator, dtype=torch.float64).to(device, dtype)

    def neighbourhoods():
        with torch.no_grad():
            return model.neighbourhoods(model.lift(positions, features))

    def forward_backward(neighbourhood):
        x = positions.clone().requires_grad_()
        model.forward_lifted(model.lift(x, features), neighbourhood).sum().backward()
        model.zero_grad(set_to_none=True)

    synchronize(device)
    rss_before = peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    forward_backward(neighbourhoods())  # warm-up, not timed (its memory counts)
    nbr_times, fwd_bwd_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        neighbourhood = neighbourhoods()
        synchronize(device)
        nbr_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        forward_backward(neighbourhood)
        synchronize(device)
        fwd_bwd_times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = peak_rss_mb() - rss_before
    return {
        "n": n,
        "m": n * model.nsamples,
        "nbrs_ms": 1e3 * statistics.median(nbr_times),
        "fwd_bwd_ms": 1e3 * statistics.median(fwd_bwd_times),
        "peak_mb": peak,
    }


def run_isolated(n: int, argv: list[str]) -> dict:
    """``measure`` in a fresh Python process, so that its peak RSS is its own."""
    result = subprocess.run(
        [sys.executable, __file__, *argv, "--worker", str(n)], capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"worker for N={n} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(measure(args, args.worker)))
        return
    memory = (
        "CUDA max allocated" if args.device.startswith("cuda") else "peak RSS increase, fresh process per N"
    )
    print(
        f"LieTransformer {args.group}, k={args.k}, width={args.width}, depth={args.depth}, heads={args.heads}, "
        f"{args.dtype}, device={args.device}, threads={args.threads or torch.get_num_threads()}; memory: {memory}"
    )
    print(f"{'N':>6} {'M':>6} {'nbrs ms':>10} {'fwd+bwd ms':>11} {'us/point':>9} {'peak MB':>9}")
    for n in args.sizes:
        row = measure(args, n) if args.device.startswith("cuda") else run_isolated(n, argv)
        print(
            f"{row['n']:>6} {row['m']:>6} {row['nbrs_ms']:>10.1f} {row['fwd_bwd_ms']:>11.1f} "
            f"{1e3 * row['fwd_bwd_ms'] / row['n']:>9.1f} {row['peak_mb']:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
