"""Shipping a trained potential: the file in ``potentials/`` and its model card, both from one header.

``ship`` takes a training run's best potential, checks its NVE energy conservation
(:mod:`~equiformer_ase.training.nve_check`), adds the data recipe, frame counts, learning curve and known
limits to its header, measures the held-out test errors in float64 (exactly what
``equiformer-ase evaluate NAME DATA --split test`` prints), and writes ``NAME.safetensors`` and
``NAME.md``. ``render_card`` turns a header into the card, so a test can check that every number in
a shipped card is the one in the file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from ...dispersion import dispersion_note
from ...potential import Potential, load_potential
from ..fitting.dataset import read_structures, split_indices, to_samples
from ..fitting.metrics import group_errors
from ..fitting.trainer import predict
from ..generation.frame_store import file_sha256
from ..generation.generate import frame_counts, recipe_path, regenerate_command
from .learned_data import ACTIVE_SUFFIX, keep_active_frames
from .nve_check import card_section, nve_guard


def held_out(potential: Potential, data: str | Path, subset: str = "test") -> list:
    """The ``subset`` ("train", "validation" or "test") of ``data`` that ``potential`` was trained with
    (same sizes and seed); refuses data whose sha256 differs from the training data's."""
    info = potential.training_info
    if "split" not in info:
        raise ValueError(
            "this potential has no training record (split sizes and seed); evaluate the whole file"
        )
    if file_sha256(data) != info["data_sha256"]:
        raise ValueError(
            f"{data} is not the data this potential was trained on (sha256 differs); regenerate it "
            "from the recipe in the model card"
        )
    samples = to_samples(read_structures(data), potential.config.elements)
    hyper = info["hyperparameters"]
    index = split_indices(len(samples), hyper["validation"], hyper["test"], info["seed"])[subset]
    return [samples[k] for k in index]


def learning_curve(run_dir: str | Path) -> list[dict]:
    """Validation rows of a run's metrics.csv: epoch, train_time_s, val energy / force MAE."""
    with open(Path(run_dir) / "metrics.csv") as handle:
        return [
            {
                "epoch": round(float(r["epoch"]), 3),
                "train_time_s": float(r["train_time_s"]),
                "val_energy_mae_mev_per_atom": round(float(r["val_energy_mae_mev_per_atom"]), 3),
                "val_forces_mae_mev_per_a": round(float(r["val_forces_mae_mev_per_a"]), 2),
            }
            for r in csv.DictReader(handle)
        ]


def ship(
    run_dir: str | Path,
    data: str | Path,
    name: str,
    out_dir: str | Path,
    limits: str,
    device: str = "cpu",
    nve_duration: float | None = None,
    allow_drift: bool = False,
    probe: str | Path | None = None,
) -> Path:
    """Write ``out_dir/NAME.safetensors`` and ``out_dir/NAME.md`` from ``run_dir/best.safetensors``.

    First runs :func:`~equiformer_ase.training.nve_check.nve_check` (``nve_duration`` fs, default its own):
    a potential whose NVE energy drifts above the limit is refused with a ValueError and nothing is written,
    unless ``allow_drift``, which ships it with a warning in its card. ``probe``: labelled frames made
    apart from the training data (own recipe and seed, never trained on); their errors per group go
    into the header and the card.
    """
    potential = load_potential(Path(run_dir) / "best.safetensors").to(dtype=torch.float64)
    nve = nve_guard(potential, nve_duration, allow_drift, device)
    recipe_file = recipe_path(data)
    if not recipe_file.exists():
        raise ValueError(f"{data} has no recipe ({recipe_file}): ship from data made by generate or learn")
    potential.training_info = {
        **potential.training_info,
        "name": name,
        "recipe": json.loads(recipe_file.read_text()),
        "frames": frame_counts(data),
        "learning_curve": learning_curve(run_dir),
        "limits": limits.strip(),
        "parameters": sum(p.numel() for p in potential.model.parameters()),
    }
    test = held_out(potential, data)
    potential.metrics = {
        **potential.metrics,
        "test": group_errors(test, predict(potential, test, 16, device)),
        "nve": nve,
    }
    if probe is not None:
        frames = to_samples(read_structures(probe), potential.config.elements)
        potential.training_info["probe"] = {"file": Path(probe).name, "sha256": file_sha256(probe)}
        potential.metrics["probe"] = group_errors(frames, predict(potential, frames, 16, device))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    active = potential.training_info["recipe"].get("active")
    if active:
        keep_active_frames(data, active["frames"], out_dir / f"{name}{ACTIVE_SUFFIX}")
    potential.save(path)
    (out_dir / f"{name}.md").write_text(render_card(load_potential(path).metadata))
    return path


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(x) for x in row) + " |" for row in rows
    ]


def _parameters(values: dict) -> list[str]:
    return markdown_table(["parameter", "value"], [[k, f"`{json.dumps(v)}`"] for k, v in values.items()])


def _active_data(active: dict | None, name: str) -> list[str]:
    """Card lines on the frames active learning added to the recipe's (none: the recipe's frames only)."""
    if not active:
        return []
    kept = f"{name}{ACTIVE_SUFFIX}"
    return [
        "## Active-learning frames",
        "",
        f"After the recipe's frames: {active['frames']} labelled frames, in order"
        + (f": {active['added']} given to `learn` (`--add-labelled`), then " if active.get("added") else ": ")
        + f"those labelled by `{active['reference']}` in {active['iterations']} iterations of `equiformer-ase "
        "learn` (structures where the committee's `max_forces_dev` lay in the trust window). They are kept "
        f"beside this card as `{kept}`. "
        "Rebuild the training data from the regenerated recipe frames (BASE.extxyz) and them:",
        "",
        "```bash",
        'python -c "from equiformer_ase.training import rebuild_data; '
        f"rebuild_data('{name}', 'BASE.extxyz', 'DATA.extxyz')\"",
        "```",
        "",
    ]


def _errors_table(errors: dict) -> list[str]:
    return markdown_table(
        ["group", "structures", "E MAE (meV/atom)", "E RMSE (meV/atom)", "F MAE (meV/A)", "F RMSE (meV/A)"],
        [
            [
                group,
                e["structures"],
                f"{e['energy_mae_mev_per_atom']:.3f}",
                f"{e['energy_rmse_mev_per_atom']:.3f}",
                f"{e['forces_mae_mev_per_a']:.2f}",
                f"{e['forces_rmse_mev_per_a']:.2f}",
            ]
            for group, e in errors.items()
        ],
    )


def _data_origin(recipe: dict, name: str, frames: dict) -> list[str]:
    """Card lines saying where the training data comes from, how to rebuild it exactly, and its ``frames``."""
    counts = "Frames: " + ", ".join(f"{k} {v}" for k, v in frames.items()) + "."
    labelled = recipe.get("labelled")
    if not labelled:
        generated = "BASE.extxyz" if recipe.get("active") else "DATA.extxyz"  # with active frames, part of it
        return [
            f"Recipe `{recipe['recipe']['subset']}`, preset `{recipe['preset']}`, seed {recipe['recipe']['seed']} "
            f"(regenerate: `{regenerate_command(recipe, generated)}`). {counts}"
        ]
    runs = labelled["runs"]
    lines = [
        f"{labelled['frames']} frames labelled by `{labelled['reference']}` in {len(runs)} labelling runs "
        f"(`equiformer-ase label`), chosen from candidates sampled by {recipe['recipe']['sampled_by']} (recipe "
        f"`{recipe['recipe']['subset']}`, preset `{recipe['preset']}`, seed {recipe['recipe']['seed']}). "
        "The labelled frames are kept in the package (`equiformer_ase/data/`); rebuild the training file:",
        "",
        "```bash",
        'python -c "from equiformer_ase.training import rebuild_labelled_data; '
        f"rebuild_labelled_data('{name}', 'DATA.extxyz')\"",
        "```",
        "",
    ]
    timed = all("label_seconds" in run for run in runs)  # recipes written before runs kept their cost lack it
    lines += markdown_table(
        [
            "run",
            "frames",
            *(["label CPU h"] if timed else []),
            "chosen by",
            "per (system, temperature)",
            "systems",
        ],
        [
            [
                f"`{run['file']}`",
                run["frames"],
                *([f"{run['label_seconds'] / 3600:.2f}"] if timed else []),
                f"committee `{run['settings']['committee']}` (max_forces_dev)"
                if run["settings"]["committee"]
                else "evenly in time",
                run["settings"]["per_group"],
                ", ".join(run["settings"]["systems"]) or "all",
            ]
            for run in runs
        ],
    )
    if timed:
        hours = sum(run["label_seconds"] for run in runs) / 3600
        counts += (
            f" The labels cost {hours:.2f} CPU hours (each frame's `label_seconds`: one thread, on a machine "
            "shared with other jobs)."
        )
    return [*lines, "", counts]


def _lineage(parent: dict | None) -> list[str]:
    """Card lines naming the chain of parents this potential was fine-tuned from (none: trained from scratch)."""
    if not parent:
        return []
    lines = ["## Lineage", "", "Fine-tuned from (newest first):", ""]
    while parent:
        lines.append(
            f"- `{parent['name']}`, weights sha256 `{parent['weights_sha256']}`, trained on "
            f"`{parent.get('data')}` (sha256 `{parent.get('data_sha256')}`)"
            + (f"; then {parent['changed']}" if parent.get("changed") else "")
        )
        parent = parent.get("parent")
    return lines + [""]


def render_card(metadata: dict) -> str:
    """The model card (markdown) of a shipped potential, entirely from its header ``metadata``."""
    info, test = metadata["training"], metadata["metrics"]["test"]
    recipe = info["recipe"]
    config = metadata["config"]
    lines = [
        f"# {info['name']}",
        "",
        f"Equiformer potential, preset `{config['preset_name']}` ({info['parameters']} parameters), "
        f"elements {', '.join(metadata['elements'])}, cutoff {metadata['cutoff']} A. "
        f"Trained on {recipe['recipe']['reference']} reference data.",
        "",
        dispersion_note(recipe["recipe"]["reference"]),
        "",
        "## Data",
        "",
        *_data_origin(recipe, info["name"], info["frames"]),
        f"Split (seed {info['seed']}): train {info['split']['train']}, validation {info['split']['validation']}, "
        f"test {info['split']['test']}. Data sha256 `{info['data_sha256']}`.",
        "",
        "Recipe parameters:",
        "",
        *_parameters(recipe["recipe"]),
        "",
        *_active_data(recipe.get("active"), info["name"]),
        *_lineage(info.get("parent")),
        "## Training",
        "",
        f"{info['epochs']} full epochs ({info['steps']} optimizer steps, best at epoch {info['best_epoch']:.2f}) in "
        f"{info['train_time_s'] / 3600:.2f} h on {info['hardware']}. Hyper-parameters:",
        "",
        *_parameters(info["hyperparameters"]),
        "",
        "Learning curve (validation, EMA weights):",
        "",
    ]
    lines += markdown_table(
        ["epoch", "hours", "E MAE (meV/atom)", "F MAE (meV/A)"],
        [
            [
                r["epoch"],
                f"{r['train_time_s'] / 3600:.2f}",
                r["val_energy_mae_mev_per_atom"],
                r["val_forces_mae_mev_per_a"],
            ]
            for r in info["learning_curve"]
        ],
    )
    lines += [
        "",
        "## Held-out test errors",
        "",
        f"Float64, reproduced by `equiformer-ase evaluate {info['name']} DATA.extxyz --split test`:",
        "",
    ]
    lines += _errors_table(test)
    probe = info.get("probe")
    if probe:
        lines += [
            "",
            "## Fresh frames never trained on",
            "",
            f"Float64, on `{probe['file']}` (sha256 `{probe['sha256']}`), made by its own recipe and seed:",
            "",
            *_errors_table(metadata["metrics"]["probe"]),
        ]
    lines += ["", *card_section(metadata["metrics"].get("nve")), "## Known limits", "", info["limits"], ""]
    return "\n".join(lines)
