"""MD speed: ASE VelocityVerlet + EquiformerCalculator vs the on-device engine vs batched replicas.

For aspirin (21 atoms) and a 500-atom Cu cell: steps per second and throughput in atom-steps per
second (atoms x steps / s, summed over replicas) for

* ``ase``: ``ase.md.verlet.VelocityVerlet`` driving ``EquiformerCalculator`` (one structure);
* ``engine``: :class:`equiformer_ase.dynamics.MolecularDynamics` on one structure;
* ``engine xR``: R replicas advancing together in one batched graph.

One warm-up step each, then ``--steps`` timed steps. Untrained weights (speed does not depend on
training). Prints a table; not a test.

    python benchmarks/bench_md.py [--preset small] [--device cpu] [--dtype float32] [--steps 5] [--replicas 16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

import equiformer_ase as ea
from equiformer_ase.data import md17_molecule
from equiformer_ase.devices import resolve_device
from equiformer_ase.dynamics import MolecularDynamics

ELEMENTS = ["H", "C", "N", "O", "Cu"]
TIMESTEP_FS = 0.5


def systems():
    copper = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(5)
    copper.rattle(0.05, seed=0)
    cases = {"aspirin (21)": md17_molecule("aspirin"), "Cu bulk (500)": copper}
    for atoms in cases.values():
        thermalize_momenta(atoms, 300, rng=np.random.default_rng(0))
    return cases


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(run, steps: int, device) -> float:
    """Seconds for ``steps`` steps after a one-step warm-up."""
    run(1)
    sync(device)
    start = time.perf_counter()
    run(steps)
    sync(device)
    return time.perf_counter() - start


def bench_ase(potential, atoms, device, dtype, steps):
    atoms = atoms.copy()
    atoms.calc = ea.EquiformerCalculator(potential, device=device, dtype=dtype)
    dynamics = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    return timed(dynamics.run, steps, device)


def bench_engine(potential, atoms, device, dtype, steps, replicas):
    md = MolecularDynamics([atoms.copy() for _ in range(replicas)], potential, timestep=TIMESTEP_FS,
                           device=device, dtype=dtype)
    return timed(lambda n: md.run(n, progress=False), steps, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=16)
    args = parser.parse_args()

    potential = ea.Potential.from_config(ea.EquiformerConfig.preset(args.preset, elements=ELEMENTS), seed=0)
    device = str(resolve_device(args.device))
    print(f"preset {args.preset}, {device}, {args.dtype}, {args.steps} timed steps, torch threads "
          f"{torch.get_num_threads()}")
    header = f"{'system':<16} {'driver':<12} {'steps/s':>9} {'atom-steps/s':>13} {'vs ASE':>7}"
    print(header)
    print("-" * len(header))
    for name, atoms in systems().items():
        runs = {
            "ase": (1, bench_ase(potential, atoms, device, args.dtype, args.steps)),
            "engine": (1, bench_engine(potential, atoms, device, args.dtype, args.steps, 1)),
            f"engine x{args.replicas}": (args.replicas, bench_engine(potential, atoms, device, args.dtype, args.steps,
                                                                     args.replicas)),
        }
        ase_throughput = len(atoms) * args.steps / runs["ase"][1]
        for driver, (replicas, seconds) in runs.items():
            throughput = replicas * len(atoms) * args.steps / seconds
            print(f"{name:<16} {driver:<12} {args.steps / seconds:>9.2f} {throughput:>13.0f} "
                  f"{throughput / ase_throughput:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
