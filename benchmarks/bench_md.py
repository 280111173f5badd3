"""MD speed: ASE VelocityVerlet + EquiformerCalculator vs the on-device engine vs batched replicas.

For aspirin (21 atoms) and a 500-atom Cu cell: milliseconds per MD step, steps per second and
throughput in atom-steps per second (atoms x steps / s, summed over replicas) for

* ``ase``: ``ase.md.verlet.VelocityVerlet`` driving ``EquiformerCalculator`` (one structure);
* ``engine``: :class:`equiformer_ase.dynamics.MolecularDynamics` on one structure;
* ``engine xR``: R replicas advancing together in one batched graph;
* with ``--compile``, also ``ase`` and ``engine`` with ``compile=True`` (compiled before the timing;
  ``bench_compile.py`` times the compilation).

Every driver takes one warm-up step, then the drivers run ``--steps`` steps each in turn for
``--rounds`` rounds, so load drifts of a shared machine hit all alike; the table gives medians over
the rounds, of wall time and of this process's CPU time (with one thread on a busy machine, the CPU
time per step is close to the wall time the same step takes on an idle one). Untrained weights (speed does not depend on training). Prints a table; not a test.

    python benchmarks/bench_md.py [--preset small] [--device cpu] [--dtype float32] [--steps 5] [--rounds 5]
                                  [--replicas 16] [--systems aspirin Cu] [--compile]
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
from bench_calculator import load

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


def ase_driver(potential, atoms, device, dtype, compile):
    atoms = atoms.copy()
    atoms.calc = ea.EquiformerCalculator(potential, device=device, dtype=dtype, compile=compile)
    return VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs).run


def engine_driver(potential, atoms, device, dtype, replicas, compile):
    md = MolecularDynamics(
        [atoms.copy() for _ in range(replicas)],
        potential,
        timestep=TIMESTEP_FS,
        device=device,
        dtype=dtype,
        compile=compile,
    )
    return lambda n: md.run(n, progress=False)


def timed(run, steps: int, device, clock=time.perf_counter) -> float:
    """Seconds for ``steps`` steps of ``run`` on ``clock`` (wall time by default)."""
    sync(device)
    start = clock()
    run(steps)
    sync(device)
    return clock() - start


def wall_and_cpu(run, steps: int, device) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) for ``steps`` steps of ``run``."""
    cpu = time.process_time()
    wall = timed(run, steps, device)
    return wall, time.process_time() - cpu


def bench_ase(potential, atoms, device, dtype, steps) -> float:
    """Seconds for ``steps`` steps of ASE's loop after a one-step warm-up."""
    run = ase_driver(potential, atoms, device, dtype, False)
    timed(run, 1, device)
    return timed(run, steps, device)


def bench_engine(potential, atoms, device, dtype, steps, replicas) -> float:
    """Seconds for ``steps`` steps of the engine on ``replicas`` copies after a one-step warm-up."""
    run = engine_driver(potential, atoms, device, dtype, replicas, False)
    timed(run, 1, device)
    return timed(run, steps, device)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=5, help="steps per driver and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--systems", nargs="+", default=list(systems()), help="starts of system names")
    parser.add_argument("--compile", action="store_true", help="also time the drivers with compile=True")
    args = parser.parse_args()

    potential = ea.Potential.from_config(ea.EquiformerConfig.preset(args.preset, elements=ELEMENTS), seed=0)
    device = str(resolve_device(args.device))
    print(
        f"preset {args.preset}, {device}, {args.dtype}, torch threads {torch.get_num_threads()}, median of "
        f"{args.rounds} rounds of {args.steps} steps per driver; load {load()}"
    )
    header = (
        f"{'system':<16} {'driver':<18} {'ms/step':>9} {'CPU ms/step':>11} {'steps/s':>9} {'atom-steps/s':>13} "
        f"{'vs ASE':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, atoms in systems().items():
        if not any(name.startswith(start) for start in args.systems):
            continue
        drivers = {
            "ase": (1, ase_driver(potential, atoms, device, args.dtype, False)),
            "engine": (1, engine_driver(potential, atoms, device, args.dtype, 1, False)),
            f"engine x{args.replicas}": (
                args.replicas,
                engine_driver(potential, atoms, device, args.dtype, args.replicas, False),
            ),
        }
        if args.compile:
            drivers["ase, compiled"] = (1, ase_driver(potential, atoms, device, args.dtype, True))
            drivers["engine, compiled"] = (1, engine_driver(potential, atoms, device, args.dtype, 1, True))
        for _, run in drivers.values():
            timed(run, 1, device)
        times = {driver: [] for driver in drivers}
        for _ in range(args.rounds):
            for driver, (_, run) in drivers.items():
                times[driver].append(np.array(wall_and_cpu(run, args.steps, device)) / args.steps)
        per_step = {driver: float(np.median([wall for wall, _ in t])) for driver, t in times.items()}
        cpu_per_step = {driver: float(np.median([cpu for _, cpu in t])) for driver, t in times.items()}
        for driver, (replicas, _) in drivers.items():
            throughput = replicas * len(atoms) / per_step[driver]
            print(
                f"{name:<16} {driver:<18} {1e3 * per_step[driver]:>9.1f} {1e3 * cpu_per_step[driver]:>11.1f} "
                f"{1 / per_step[driver]:>9.2f} {throughput:>13.0f} "
                f"{throughput * per_step['ase'] / len(atoms):>6.2f}x",
                flush=True,
            )
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
