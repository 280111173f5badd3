"""Shipping a learned Hamiltonian: the file in ``potentials/`` and its model card, both from one header.

``ship_hamiltonian`` takes a training run's best weights, evaluates them (and any baselines) on
held-out spring systems exactly as ``equiformer-ase springs evaluate`` does, adds the learning
curve, the data descriptions and known limits to the header, and writes ``NAME.safetensors`` and
``NAME.md``. ``render_hamiltonian_card`` turns a header into the card, so a test can check that
every number in a shipped card is the one in the file.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import torch

from .fitting import evaluate_hamiltonian
from .hamiltonian_files import load_hamiltonian, save_hamiltonian
from .springs import SpringData

METRIC_ROWS = (
    ("mse_chunk", "5-point MSE (mean over systems)"),
    ("mse_chunk_median", "5-point MSE (median)"),
    ("mse_rollout", "rollout MSE (RK4)"),
    ("energy_drift_rk4", "true-energy drift, RK4 rollout"),
    ("energy_drift_leapfrog", "true-energy drift, leapfrog rollout"),
)


def validation_curve(run_dir: str | Path, points: int = 8) -> list[dict]:
    """At most ``points`` rows of the run's metrics.csv, spread evenly from the first to the last:
    epoch, train_time_s, val_mse_chunk."""
    with open(Path(run_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) > points:
        rows = [rows[round(i * (len(rows) - 1) / (points - 1))] for i in range(points)]
    return [
        {
            "epoch": int(r["epoch"]),
            "train_time_s": float(r["train_time_s"]),
            "val_mse_chunk": float(r["val_mse_chunk"]),
        }
        for r in rows
    ]


def ship_hamiltonian(
    run_dir: str | Path,
    test_data: str | Path,
    name: str,
    out_dir: str | Path,
    limits: str,
    descriptions: dict[str, str] | None = None,
    baselines: dict[str, str | Path] | None = None,
) -> Path:
    """Write ``out_dir/NAME.safetensors`` and ``.md`` from ``run_dir/best.safetensors``.

    ``descriptions``: replaces the run's "data" / "validation" notes and sets "test_data" (how to
    regenerate each set); ``baselines``: label -> Hamiltonian file, evaluated on the same test data.
    """
    model = load_hamiltonian(Path(run_dir) / "best.safetensors", dtype=torch.float64)
    test = SpringData.load(test_data)
    training = {
        **model.header["training"],
        "test_data": Path(test_data).name,
        **(descriptions or {}),
        "test_sha256": hashlib.sha256(Path(test_data).read_bytes()).hexdigest(),
        "learning_curve": validation_curve(run_dir),
        "limits": limits.strip(),
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    metrics = {
        **model.header["metrics"],
        "test": evaluate_hamiltonian(model, test),
        "baselines": {
            label: evaluate_hamiltonian(load_hamiltonian(path, dtype=torch.float64), test)
            for label, path in (baselines or {}).items()
        },
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    save_hamiltonian(model, path, training, metrics)
    path.with_suffix(".md").write_text(render_hamiltonian_card(load_hamiltonian(path).header))
    return path


def _describe_model(config: dict) -> str:
    if config["model"] == "mlp":
        return f"an MLP (HNN baseline): width {config['width']}, depth {config['depth']}"
    lifted = f", {config['nsamples']} lifted elements per particle" if config.get("nsamples") else ""
    return (
        f"a {config['group']} LieTransformer: width {config['width']}, depth {config['depth']}, "
        f"{config['heads']} heads, {config['normalisation']} attention{lifted}"
    )


def render_hamiltonian_card(header: dict) -> str:
    """The Markdown model card of a shipped Hamiltonian, every number taken from ``header``."""
    config, training, metrics = header["config"], header["training"], header["metrics"]
    hyper = training["hyperparameters"]
    kinetic = "sum p^2/2m + V(q, k)" if config["separable"] else "a fully learned H(q, p, k)"
    curve = ", ".join(
        f"epoch {row['epoch']}: {row['val_mse_chunk']:.3g}" for row in training["learning_curve"]
    )
    budget = f"{hyper['max_time']} min of training time" if hyper["max_time"] else f"{hyper['epochs']} epochs"
    steps = metrics["test"]["rollout_steps"]
    labels = [training["name"], *metrics["baselines"]]
    columns = [metrics["test"], *metrics["baselines"].values()]
    lines = [
        f"# {training['name']}",
        "",
        f"Learned Hamiltonian H = {kinetic} for the LieConv spring systems ({config['num_particles']} particles in "
        f"{config['dim']}-d, pair constants k_i k_j), V {_describe_model(config)}; energy_scale "
        f"{config['energy_scale']:.3f} (mean kinetic energy of the training data), {training['parameters']} "
        f'parameters. Load with `lie.load_hamiltonian("{training["name"]}")`.',
        "",
        "## Data and training",
        "",
        f"- Training: {training['data']}: {training['trajectories']} trajectories; 5-point chunks (one random "
        "chunk per trajectory per epoch), RK4 through the model, MSE over q and p.",
        f"- Validation: {training.get('validation', 'not recorded')}.",
        f"- Adam, lr {hyper['lr']} with cosine decay, batch {hyper['batch_size']}, budget "
        f"{budget}: {training['epochs']} epochs ({training['train_time_s'] / 60:.1f} min of training time) on one "
        "CPU thread.",
        f"- Best validation 5-point MSE: {metrics['validation_mse_chunk']:.3g} (epoch {training['best_epoch']}).",
        f"- Validation 5-point MSE by epoch: {curve}.",
        "",
        "## Test metrics",
        "",
        f"On {training['test_data']} ({metrics['test']['trajectories']} systems, sha256 "
        f"{training['test_sha256'][:12]}), as `equiformer-ase springs evaluate` prints them:",
        "",
        "| metric | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
        *(
            f"| {title.replace('rollout', f'{steps}-step rollout')} | "
            + " | ".join(f"{col[key]:.3g}" if key in col else "n/a" for col in columns)
            + " |"
            for key, title in METRIC_ROWS
        ),
        "",
        "Energy drift: mean over systems of max_t |H(t) - H(0)| / |H(0)| of the true Hamiltonian along the "
        f"predicted {steps}-step rollout. The mean 5-point MSE is dominated by the few test systems least like "
        "the training data; the median is the typical system.",
        "",
        "## Known limits",
        "",
        training["limits"],
        "",
    ]
    return "\n".join(lines)
