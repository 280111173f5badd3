"""Shipping a committee: one committee file, its model card and its calibration plot.

``ship_committee`` puts members (shipped names or files with the same elements and cutoff) into
``NAME.safetensors``, measures on a held-out labelled set the errors of the members' mean (grouped
by subset, metal, adsorbate, source and cell) and how the committee's force deviation ranks the
true errors (:mod:`.calibration`), stores all of it in the file's header, and renders ``NAME.md``
from that header alone (``render_committee_card``), with the scatter plot as ``NAME.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..calculator import EquiformerCalculator
from ..committee import Committee, load_committee
from ..dispersion import dispersion_note, training_reference
from ..potential import load_potential
from .batching import calculator_predictions
from .calibration import calibration_statistics, plot_calibration
from .card import markdown_table
from .dataset import GROUP_KEYS, read_structures, to_samples
from .generation import recipe_path, regenerate_command
from .metrics import group_errors
from .nve_check import card_section, nve_guard
from .trainer import file_sha256

PROBE_GROUP_KEYS = GROUP_KEYS + ("source", "cell")


def ship_committee(
    members: list[str | Path],
    name: str,
    out_dir: str | Path,
    probe: str | Path,
    limits: str,
    device: str = "cpu",
    batch_size: int = 16,
    nve_duration: float | None = None,
    allow_drift: bool = False,
) -> Path:
    """Write ``out_dir/NAME.safetensors`` (committee), ``NAME.md`` (card) and ``NAME.png`` (calibration),
    after the NVE check that ``ship`` runs too (:func:`~.nve_check.nve_guard`)."""
    potentials = [load_potential(member) for member in members]
    committee = Committee(potentials)
    nve = nve_guard(committee, nve_duration, allow_drift, device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calc = EquiformerCalculator(committee, device=device, dtype="float64")
    samples = to_samples(read_structures(probe), committee.config.elements, PROBE_GROUP_KEYS)
    predictions = calculator_predictions(calc, samples, batch_size)
    statistics = calibration_statistics(
        [p["forces_dev"] for p in predictions],
        [p["forces"] for p in predictions],
        [s.forces for s in samples],
    )
    plot_calibration(statistics, out_dir / f"{name}.png", f"{name} on {Path(probe).name}")
    recipe = recipe_path(probe)
    committee.info = {
        "name": name,
        "nve": nve,
        "limits": limits.strip(),
        "members": [
            {
                "name": Path(member).stem if Path(member).exists() else str(member),
                "weights_sha256": potential.weights_hash(),
                "test": potential.metrics.get("test", {}).get("overall"),
                "parent": potential.training_info.get("parent", {}).get("name"),
            }
            for member, potential in zip(members, potentials)
        ],
        "probe": {
            "data": Path(probe).name,
            "data_sha256": file_sha256(probe),
            "recipe": json.loads(recipe.read_text()) if recipe.exists() else None,
            "errors": group_errors(samples, predictions),
            "calibration": {
                key: statistics[key]
                for key in ("frames", "atoms", "frame_spearman", "atom_spearman", "forces_mae_mev_per_a")
            },
        },
    }
    path = out_dir / f"{name}.safetensors"
    committee.save(path)
    (out_dir / f"{name}.md").write_text(render_committee_card(load_committee(path)))
    return path


def render_committee_card(committee: Committee) -> str:
    """The model card (markdown) of a shipped committee, from its members' and its own header data."""
    info, config = committee.info, committee.config
    probe, calibration = info["probe"], info["probe"]["calibration"]
    lines = [
        f"# {info['name']}",
        "",
        f"Committee of {len(committee)} Equiformer potentials, elements {', '.join(config.elements)}, cutoff "
        f"{config.cutoff} A. Energy, forces and stress are the members' mean; `forces_dev`, "
        "`max_forces_dev`, `energy_var`, `forces_var` give their spread (see docs/committees.md).",
        "",
        dispersion_note(training_reference(committee) or ""),
        "",
        "## Members",
        "",
    ]
    lines += markdown_table(
        ["member", "weights sha256", "fine-tuned from", "own test F MAE (meV/A)"],
        [
            [
                f"`{m['name']}`",
                f"`{m['weights_sha256'][:16]}`",
                m["parent"] or "-",
                f"{m['test']['forces_mae_mev_per_a']:.2f}" if m["test"] else "-",
            ]
            for m in info["members"]
        ],
    )
    lines += [
        "",
        "## Held-out probe set",
        "",
        f"`{probe['data']}` (sha256 `{probe['data_sha256']}`), never trained on"
        + (
            f" (regenerate: `{regenerate_command(probe['recipe'], 'probe.extxyz')}`)."
            if probe["recipe"]
            else "."
        ),
        "",
        "Errors of the members' mean, float64:",
        "",
    ]
    lines += markdown_table(
        ["group", "structures", "E MAE (meV/atom)", "F MAE (meV/A)", "F RMSE (meV/A)"],
        [
            [
                group,
                e["structures"],
                f"{e['energy_mae_mev_per_atom']:.3f}",
                f"{e['forces_mae_mev_per_a']:.2f}",
                f"{e['forces_rmse_mev_per_a']:.2f}",
            ]
            for group, e in probe["errors"].items()
        ],
    )
    lines += [
        "",
        "## Calibration",
        "",
        f"Does the deviation rank the true error? On the {calibration['frames']} probe frames "
        f"({calibration['atoms']} atoms): Spearman {calibration['frame_spearman']:.3f} per frame "
        f"(`max_forces_dev` vs the largest atom error) and {calibration['atom_spearman']:.3f} per atom "
        f"(`forces_dev` vs |F_mean - F_ref|). Scatter plot: `{info['name']}.png`.",
        "",
        *card_section(info.get("nve")),
        "## Known limits",
        "",
        info["limits"],
        "",
    ]
    return "\n".join(lines)
