"""Data efficiency on the spring systems (issue 32): T(2) and SE(2) LieTransformers (and the HNN
baseline on request) trained on 10, 100, 1000, 3000 and 10000 trajectories, evaluated on held-out systems
with the paper's protocol: mean (and median) 5-step MSE, 100-step rollout MSE, and the drift of the
true energy along RK4 and leapfrog rollouts.

    python examples/springs_data_efficiency.py --dir runs/lie [--runs t2:10,se2:10,...] [--scale 1.0]

Missing data files are generated first (``DIR/springs_train.npz``: ``--train-systems`` trajectories,
seed 0; ``springs_val.npz``: seed 2; ``springs_test.npz``: seed 1, 2000 systems as in the paper), the
same files ``equiformer-ase springs generate`` writes. Every run trains on the first N trajectories of
the training file for a fixed budget of training time (``BUDGET_MINUTES`` x ``--scale``; one CPU thread
unless torch is told otherwise), validates on the validation file, keeps its best weights and is
evaluated once on the test file. Runs live in ``DIR/efficiency/MODEL_nN/`` with checkpoints, so an
interrupted sweep resumes where it stopped and finished runs are skipped; ``DIR/efficiency/table.csv``
and ``data_efficiency.png`` (our mean 5-step MSE against the paper's curve) are rewritten after every
run, and the table is printed at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import torch

from equiformer_ase import lie
from equiformer_ase.lie.fitting import mean_kinetic_energy

MODELS = {
    "hnn": {"model": "mlp"},
    "t2": {"model": "lie", "group": "T(2)"},
    "se2": {"model": "lie", "group": "SE(2)"},
}
SIZES = (10, 100, 1000, 3000, 10000)
# training-time budgets in minutes on one CPU core (SE(2) lifts 4 elements per particle: ~12x the T(2) cost)
BUDGET_MINUTES = {
    **{("t2", n): minutes for n, minutes in zip(SIZES, (3, 9, 15, 25, 60))},
    **{("se2", n): minutes for n, minutes in zip(SIZES, (6, 12, 30, 60, 120))},
}
OPTIONAL_BUDGETS = {("hnn", n): minutes for n, minutes in zip(SIZES, (2, 3, 4, 6, 10))}
# the LieTransformer repository's data-efficiency figure, read by eye (+-20 %): N -> 5-step test MSE
PAPER_T2 = {10: 7e-4, 100: 2.5e-5, 1000: 6e-6, 10000: 4.5e-7}
SEEDS = {"train": 0, "val": 2, "test": 1}
COLUMNS = (
    "run",
    "model",
    "trajectories",
    "budget_min",
    "epochs",
    "train_time_s",
    "best_validation_mse",
    "mse_chunk",
    "mse_chunk_median",
    "mse_rollout",
    "energy_drift_rk4",
    "energy_drift_leapfrog",
)


def run_one(
    name: str,
    count: int,
    minutes: float,
    train: lie.SpringData,
    validation: lie.SpringData,
    test: lie.SpringData,
    out: Path,
) -> dict:
    """Train (or resume) one run and evaluate its best weights; cached in ``out/eval.json``."""
    result_path = out / "eval.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    data = train.systems(slice(0, count))
    model = lie.LearnedHamiltonian(**MODELS[name], energy_scale=mean_kinetic_energy(data), seed=0).double()
    config = lie.FitConfig(
        epochs=100_000,
        max_time=minutes,
        batch_size=25,
        lr=3e-3,
        validate_every=max(1, math.ceil(100 / count)),
    )
    fit = lie.HamiltonianFit(
        model,
        data,
        validation,
        config,
        out,
        resume=True,
        training_info={"data": "springs seed 0, first N", "validation": "springs seed 2"},
    )
    fit.run(progress=False)
    best = lie.load_hamiltonian(out / "best.safetensors", dtype=torch.float64)
    metrics = lie.evaluate_hamiltonian(best, test, rollout_steps=100)
    result = {
        "run": out.name,
        "model": name,
        "trajectories": count,
        "budget_min": minutes,
        "epochs": fit.epoch,
        "train_time_s": round(fit.elapsed, 1),
        "best_validation_mse": fit.best_metric,
        **{key: metrics.get(key, "") for key in COLUMNS[7:]},
    }
    result_path.write_text(json.dumps(result, indent=1))
    return result


def spring_files(folder: Path, sizes: dict[str, int]) -> list[lie.SpringData]:
    """train, val and test data from ``folder``, generating each missing file (resumable: one file at a time)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for part in ("train", "val", "test"):
        path = folder / f"springs_{part}.npz"
        if not path.exists():
            print(f"generating {path} ({sizes[part]} systems, seed {SEEDS[part]})", flush=True)
            lie.generate_springs(sizes[part], seed=SEEDS[part]).save(path.with_suffix(".tmp.npz"))
            path.with_suffix(".tmp.npz").replace(path)
        parts.append(lie.SpringData.load(path))
    return parts


def plot(rows: list[dict], path: Path) -> None:
    """Mean 5-step test MSE against training trajectories, per model, with the paper's T(2) curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(list(PAPER_T2), list(PAPER_T2.values()), "k--", marker="s", label="paper, LieTransformer-T(2)")
    for model in sorted({row["model"] for row in rows}):
        points = sorted((row["trajectories"], row["mse_chunk"]) for row in rows if row["model"] == model)
        ax.plot(*zip(*points), marker="o", label=f"ours, {model} (mean)")
    ax.set(xscale="log", yscale="log", xlabel="training trajectories", ylabel="5-step test MSE")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default="runs/lie", help="folder with springs_{train,val,test}.npz")
    parser.add_argument(
        "--runs",
        default=",".join(f"{m}:{n}" for m, n in BUDGET_MINUTES),
        help="comma-separated MODEL:N, MODEL in hnn, t2, se2",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every training budget")
    parser.add_argument("--train-systems", type=int, default=10000, help="size of a generated training file")
    parser.add_argument("--val-systems", type=int, default=200, help="size of a generated validation file")
    parser.add_argument("--test-systems", type=int, default=2000, help="size of a generated test file")
    args = parser.parse_args()
    folder = Path(args.dir)
    train, validation, test = spring_files(
        folder, {"train": args.train_systems, "val": args.val_systems, "test": args.test_systems}
    )
    (folder / "efficiency").mkdir(exist_ok=True)
    rows = []
    for item in args.runs.split(","):
        name, count = item.split(":")
        count = int(count)
        if name not in MODELS or count > train.q.shape[0]:
            raise SystemExit(f"bad run {item!r}: MODEL in {sorted(MODELS)}, N <= {train.q.shape[0]}")
        minutes = {**OPTIONAL_BUDGETS, **BUDGET_MINUTES}.get((name, count), 10) * args.scale
        rows.append(
            run_one(name, count, minutes, train, validation, test, folder / "efficiency" / f"{name}_n{count}")
        )
        with open(folder / "efficiency" / "table.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        plot(rows, folder / "efficiency" / "data_efficiency.png")
        print(
            " ".join(
                f"{key}={rows[-1][key]:.3g}" if isinstance(rows[-1][key], float) else f"{key}={rows[-1][key]}"
                for key in COLUMNS
            ),
            flush=True,
        )
    print(
        "\n| model | N | epochs | train time (min) | 5-step MSE (mean) | (median) | 100-step rollout MSE "
        "| drift RK4 | drift leapfrog |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['trajectories']} | {row['epochs']} | {row['train_time_s'] / 60:.1f} | "
            f"{row['mse_chunk']:.3g} | {row['mse_chunk_median']:.3g} | {row['mse_rollout']:.3g} | "
            f"{row['energy_drift_rk4']:.3g} | {row['energy_drift_leapfrog']:.3g} |"
        )


if __name__ == "__main__":
    main()
