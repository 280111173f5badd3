"""Data efficiency on the spring systems: T(2) and SE(2) LieTransformers and the HNN (MLP) baseline,
trained on 10, 100, 1000 and 3000 trajectories, evaluated on held-out systems.

    equiformer-ase springs generate --systems 3000 --seed 0 --out runs/lie/springs_train.npz
    equiformer-ase springs generate --systems 100 --seed 2 --out runs/lie/springs_val.npz
    equiformer-ase springs generate --systems 200 --seed 1 --out runs/lie/springs_test.npz
    python examples/springs_data_efficiency.py --dir runs/lie [--runs t2:10,hnn:10,...] [--scale 1.0]

Every run trains on the first N trajectories of the training file for a fixed budget of training
time (``BUDGET_MINUTES`` x ``--scale``; one CPU thread unless torch is told otherwise), validates
on the validation file, keeps its best weights and is evaluated once on the test file. Runs live in
``DIR/efficiency/MODEL_nN/`` with checkpoints, so an interrupted sweep resumes where it stopped and
finished runs are skipped; ``DIR/efficiency/table.csv`` is rewritten after every run and the table
is printed at the end.
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
# training-time budgets in minutes on one CPU core (SE(2) lifts 4 elements per particle: ~12x the T(2) cost)
BUDGET_MINUTES = {
    ("hnn", 10): 2,
    ("t2", 10): 3,
    ("se2", 10): 6,
    ("hnn", 100): 3,
    ("t2", 100): 9,
    ("se2", 100): 12,
    ("hnn", 1000): 4,
    ("t2", 1000): 15,
    ("hnn", 3000): 6,
    ("t2", 3000): 25,
}
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
    args = parser.parse_args()
    folder = Path(args.dir)
    train, validation, test = (
        lie.SpringData.load(folder / f"springs_{part}.npz") for part in ("train", "val", "test")
    )
    rows = []
    for item in args.runs.split(","):
        name, count = item.split(":")
        count = int(count)
        if name not in MODELS or count > train.q.shape[0]:
            raise SystemExit(f"bad run {item!r}: MODEL in {sorted(MODELS)}, N <= {train.q.shape[0]}")
        minutes = BUDGET_MINUTES.get((name, count), 10) * args.scale
        rows.append(
            run_one(name, count, minutes, train, validation, test, folder / "efficiency" / f"{name}_n{count}")
        )
        with open(folder / "efficiency" / "table.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        print(
            " ".join(
                f"{key}={rows[-1][key]:.3g}" if isinstance(rows[-1][key], float) else f"{key}={rows[-1][key]}"
                for key in COLUMNS
            ),
            flush=True,
        )
    print(
        "\n| model | N | epochs | train time (min) | 5-step MSE (mean) | (median) | 100-step rollout MSE "
        "| drift RK4 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['trajectories']} | {row['epochs']} | {row['train_time_s'] / 60:.1f} | "
            f"{row['mse_chunk']:.3g} | {row['mse_chunk_median']:.3g} | {row['mse_rollout']:.3g} | "
            f"{row['energy_drift_rk4']:.3g} |"
        )


if __name__ == "__main__":
    main()
