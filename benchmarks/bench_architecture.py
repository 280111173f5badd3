"""Architecture choices side by side: speed of each, and accuracy for the same data and steps.

Variants are :class:`EquiformerConfig` overrides (``VARIANTS``); the first is the reference:

* ``radial value``: the value tensor product of the non-linear message takes per-edge weights from
  a radial MLP of its own (this package's first design; the shipped potentials use it);
* ``shared value (paper)``: one weight per path shared by all edges, as in the official code
  (absorbed by the linear layer after it): the default for new configs.

Speed: median ms per energy+forces call (``Potential.evaluate`` on a prebuilt graph) of untrained
models, every variant called in turn in each round, so load drifts hit all alike; speed-up = the
reference's median / the variant's. Systems: aspirin, and ``--copies`` aspirin molecules in one batch.

Accuracy (``--train DATA --probe FRAMES``): each variant of ``--preset`` trains on DATA with the same
split, seed, batch size and epochs (the same optimizer steps), one after the other, into
``--out/NAME``; then energy and force MAE (float64) on the probe frames, which no variant trained on.
Prints tables; not a test.

    python benchmarks/bench_architecture.py [--presets small paper-md17-l2] [--copies 10] [--rounds 9]
    python benchmarks/bench_architecture.py --train runs/data/md17_s1.extxyz --probe runs/data/md17_probe.extxyz \\
        --epochs 4 --out runs/architecture
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from bench_calculator import load

import equiformer_ase as ea
from equiformer_ase.data import md17_molecule

ELEMENTS = ["H", "C", "N", "O"]
VARIANTS = {"radial value": {"radial_value": True}, "shared value (paper)": {"radial_value": False}}


def speed(preset: str, copies: int, rounds: int, dtype: torch.dtype) -> dict[str, float]:
    """Median ms per energy+forces call of each variant on ``copies`` aspirin molecules."""
    graph = ea.build_graph(
        [md17_molecule("aspirin") for _ in range(copies)],
        ELEMENTS,
        5.0,
        device=torch.device("cpu"),
        dtype=dtype,
    )
    potentials = {
        name: ea.Potential.from_config(ea.EquiformerConfig.preset(preset, elements=ELEMENTS, **overrides))
        .to(dtype=dtype)
        .eval()
        .requires_grad_(False)
        for name, overrides in VARIANTS.items()
    }
    times = {name: [] for name in potentials}
    for round_ in range(rounds + 1):
        for name, potential in potentials.items():
            start = time.perf_counter()
            potential.evaluate(graph)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def accuracy(args) -> None:
    from equiformer_ase.training import (
        TrainingConfig,
        group_errors,
        predict,
        read_structures,
        to_samples,
        train,
    )

    probe = read_structures(args.probe)
    config = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, checkpoint_minutes=1e9
    )
    print(
        f"{args.preset}, trained on {args.train} for {args.epochs} epochs (batch {args.batch_size}, seed "
        f"{args.seed}), probe {args.probe} ({len(probe)} frames), float64; load {load()}"
    )
    header = (
        f"{'variant':<22} {'parameters':>10} {'train min':>9} {'energy meV/atom':>15} {'forces meV/A':>12}"
    )
    print(header + "\n" + "-" * len(header))
    for name in args.variants:
        overrides = VARIANTS[name]
        out = os.path.join(args.out, name.split(" ")[0])
        start = time.perf_counter()
        train(args.train, out, config, preset=args.preset, model_overrides=overrides)
        minutes = (time.perf_counter() - start) / 60
        potential = ea.load_potential(os.path.join(out, "best.safetensors")).to(dtype=torch.float64)
        samples = to_samples(probe, potential.config.elements)
        errors = group_errors(samples, predict(potential, samples, 16, "cpu"))["overall"]
        parameters = sum(p.numel() for p in potential.parameters())
        print(
            f"{name:<22} {parameters:>10} {minutes:>9.1f} {errors['energy_mae_mev_per_atom']:>15.2f} "
            f"{errors['forces_mae_mev_per_a']:>12.1f}",
            flush=True,
        )
        with open(os.path.join(out, "probe.json"), "w") as handle:
            json.dump(
                {"variant": name, "overrides": overrides, "minutes": minutes, "probe": errors},
                handle,
                indent=2,
            )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["small", "paper-md17-l2"])
    parser.add_argument("--copies", type=int, default=10, help="aspirin molecules in the larger batch")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--train", default=None, help="labelled data to train each variant on")
    parser.add_argument("--probe", default=None, help="held-out labelled frames for the accuracy table")
    parser.add_argument("--preset", default="small", help="preset trained for the accuracy table")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/architecture")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=list(VARIANTS),
        help="with --train: the variants to train (separate processes can train one each)",
    )
    args = parser.parse_args()
    if args.train:
        if not args.probe:
            parser.error("--train needs --probe")
        accuracy(args)
        return
    dtype = getattr(torch, args.dtype)
    reference = next(iter(VARIANTS))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}, median of {args.rounds} "
        f"interleaved rounds; load {load()}"
    )
    header = f"{'preset':<14} {'system':<18} " + " ".join(f"{name:>22}" for name in VARIANTS)
    print(header + "\n" + "-" * len(header))
    for preset in args.presets:
        for copies in (1, args.copies):
            ms = speed(preset, copies, args.rounds, dtype)
            cells = " ".join(f"{f'{t:.1f} ms ({ms[reference] / t:.2f}x)':>22}" for t in ms.values())
            print(f"{preset:<14} {f'{21 * copies} atoms':<18} {cells}", flush=True)
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
