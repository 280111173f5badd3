"""Energy+forces on a busy machine: torch threads with OpenMP's spinning and passive wait policies.

Starts ``--load`` busy-looping processes, then times calculator calls of the ``small`` preset on
aspirin in fresh subprocesses (the wait policy is read when torch loads its OpenMP runtime) for
1 thread, 2 threads with ``OMP_WAIT_POLICY=ACTIVE`` (spinning idle threads) and 2 threads with
``PASSIVE`` (what the ``equiformer-ase`` command sets). Prints the median ms per call; not a test.

    python benchmarks/bench_busy_machine.py [--load 0 2 4] [--calls 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = {
    "1 thread": ("1", None),
    "2 threads, ACTIVE": ("2", "ACTIVE"),
    "2 threads, PASSIVE": ("2", "PASSIVE"),
}

TIMER = """
import json, sys, time
import numpy as np, torch
import equiformer_ase as ea
from equiformer_ase.data import md17_molecule
torch.set_num_threads(int(sys.argv[1]))
cfg = ea.EquiformerConfig.preset("small", elements=["H", "C", "N", "O"])
atoms = md17_molecule("aspirin")
atoms.calc = ea.EquiformerCalculator(ea.Potential.from_config(cfg), device="cpu", dtype="float32")
rng, times = np.random.default_rng(0), []
for call in range(int(sys.argv[2]) + 2):
    atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)
    start = time.perf_counter()
    atoms.get_forces()
    times.append(time.perf_counter() - start)
print(json.dumps(1e3 * float(np.median(times[2:]))))
"""


def timed(threads: str, policy: str | None, calls: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    run = subprocess.run(
        [sys.executable, "-c", TIMER, threads, str(calls)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--load", type=int, nargs="+", default=[0, 2, 4], help="busy processes beside the timing"
    )
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; small preset, aspirin, float32; median ms per energy+forces call")
    header = f"{'load':>5} " + " ".join(f"{name:>20}" for name in CASES)
    print(header)
    print("-" * len(header))
    for load in args.load:
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
        try:
            row = [timed(threads, policy, args.calls) for threads, policy in CASES.values()]
        finally:
            for spinner in spinners:
                spinner.kill()
        print(f"{load:>5} " + " ".join(f"{ms:>20.1f}" for ms in row), flush=True)


if __name__ == "__main__":
    main()
