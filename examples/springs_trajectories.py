"""Predicted vs true spring trajectories of a learned Hamiltonian (PNG), with the benchmark metrics.

    python examples/springs_trajectories.py [--model lie-springs-t2] [--steps 100] [--out springs.png]

Generates fresh test systems (seed 123, the LieConv recipe), rolls the model out from t = 0 with
RK4 and leapfrog, prints the 5-step MSE, the rollout MSE and the true-energy drift, and plots the
six particles' true (solid) and predicted (dashed) paths for the first system. ``--model`` is a
shipped name or a file from ``equiformer-ase springs train``.
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from equiformer_ase import lie  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="lie-springs-t2")
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100, help="rollout length in grid steps (dt = 5/499)")
    parser.add_argument("--out", default="springs.png")
    args = parser.parse_args()
    try:
        model = lie.load_hamiltonian(args.model)
    except ValueError as err:
        raise SystemExit(
            f"{err}\ntrain one first: equiformer-ase springs generate --out s.npz && "
            "equiformer-ase springs train s.npz --out run && pass --model run/best.safetensors"
        ) from None
    data = lie.generate_springs(args.systems, seed=123)
    print(json.dumps(lie.evaluate_hamiltonian(model, data, rollout_steps=args.steps), indent=1))
    ts = data.ts[: args.steps + 1]
    q, _ = model.rollout(data.q[:1, 0], data.p[:1, 0], ts, data.m[:1], data.k[:1, :, None])
    fig, ax = plt.subplots(figsize=(5, 5))
    for i in range(data.q.shape[2]):
        (line,) = ax.plot(data.q[0, : args.steps + 1, i, 0], data.q[0, : args.steps + 1, i, 1], lw=1.5)
        ax.plot(q[0, :, i, 0], q[0, :, i, 1], "--", color=line.get_color(), lw=1.5)
    ax.set_title(f"{args.model}: true (solid) vs predicted (dashed), {args.steps} steps")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
