"""Shipping a committee: one committee file, its model card and its calibration plot.

``ship_committee`` puts members (shipped names or files with the same elements and cutoff) into
``NAME.safetensors``, measures on a held-out labelled set the errors of the members' mean (grouped
by subset, metal, adsorbate, source and cell) and how the committee's force deviation ranks the
true errors (:mod:`.calibration`); optionally the same on out-of-distribution frames (compressed
cells, adsorbates pushed against metal atoms, stretched molecules: ``generate surfaces --preset ood``),
with the fraction of wrong frames (an atom off by more than 1 eV/A) that the shipped trust level
catches, per source. All of it goes into the file's header, and ``NAME.md`` is rendered from that
header alone (``render_committee_card``), with the scatter plots as ``NAME.png`` (and ``NAME.ood.png``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ...calculator import EquiformerCalculator
from ...committee import TRUST_LEVEL, Committee, load_committee
from ...dispersion import dispersion_note, training_reference
from ...potential import load_potential
from ..fitting.batching import calculator_predictions
from ..fitting.dataset import GROUP_KEYS, read_structures, to_samples
from ..fitting.metrics import group_errors
from ..generation.frame_store import file_sha256
from ..generation.generate import recipe_path, regenerate_command
from .calibration import LARGE_ERROR, TRUST_LEVELS, calibration_statistics, plot_calibration
from .card import markdown_table
from .nve_check import card_section, nve_guard

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
    ood: str | Path | None = None,
    trust_level: float = TRUST_LEVEL,
) -> Path:
    """Write ``out_dir/NAME.safetensors`` (committee), ``NAME.md`` (card) and ``NAME.png`` (calibration),
    after the NVE check that ``ship`` runs too (:func:`~.nve_check.nve_guard`). ``ood``: labelled
    out-of-distribution frames, calibrated the same way (``NAME.ood.png``); ``trust_level`` (eV/A): the
    ``max_forces_dev`` above which ``md``/``relax`` flag or stop, stored in the file."""
    potentials = [load_potential(member) for member in members]
    committee = Committee(potentials)
    if not trust_level > 0:
        raise ValueError(f"trust_level must be > 0 eV/A, got {trust_level}")
    # both data sets are read before any work or file: a bad path costs nothing
    samples = _samples(probe, committee)
    ood_samples = None if ood is None else _samples(ood, committee)
    nve = nve_guard(committee, nve_duration, allow_drift, device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calc = EquiformerCalculator(committee, device=device, dtype="float64")
    predictions, statistics = _calibration(calc, samples, batch_size, trust_level)
    plot_calibration(statistics, out_dir / f"{name}.png", f"{name} on {Path(probe).name}")
    out_of_distribution = None
    if ood is not None:
        _, ood_statistics = _calibration(calc, ood_samples, batch_size, trust_level)
        plot_calibration(ood_statistics, out_dir / f"{name}.ood.png", f"{name} on {Path(ood).name}")
        out_of_distribution = {
            "data": Path(ood).name,
            "data_sha256": file_sha256(ood),
            "recipe": _recipe(ood),
            "calibration": _calibration_record(ood_statistics),
            "sources": _caught_per_source(ood_samples, ood_statistics, trust_level),
        }
    committee.info = {
        "name": name,
        "trust_level": trust_level,
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
            "recipe": _recipe(probe),
            "errors": group_errors(samples, predictions),
            "calibration": _calibration_record(statistics),
        },
        "out_of_distribution": out_of_distribution,
    }
    path = out_dir / f"{name}.safetensors"
    committee.save(path)
    (out_dir / f"{name}.md").write_text(render_committee_card(load_committee(path)))
    return path


def _recipe(data: str | Path) -> dict | None:
    recipe = recipe_path(data)
    return json.loads(recipe.read_text()) if recipe.exists() else None


def _samples(data: str | Path, committee: Committee) -> list:
    """The labelled frames of ``data`` as samples grouped by :data:`PROBE_GROUP_KEYS`."""
    return to_samples(read_structures(data), committee.config.elements, PROBE_GROUP_KEYS)


def _calibration(
    calc: EquiformerCalculator, samples: list, batch_size: int, trust_level: float
) -> tuple[list, dict]:
    """The committee's predictions on ``samples`` and their :func:`.calibration.calibration_statistics`,
    with the shipped ``trust_level`` among the levels whose catch is counted."""
    predictions = calculator_predictions(calc, samples, batch_size)
    statistics = calibration_statistics(
        [p["forces_dev"] for p in predictions],
        [p["forces"] for p in predictions],
        [s.forces for s in samples],
        levels=tuple(sorted({*TRUST_LEVELS, trust_level})),
    )
    return predictions, statistics


def _calibration_record(statistics: dict) -> dict:
    """What the card keeps of the statistics: sizes, Spearman, MAE, wrong frames and the fraction caught
    at each trust level (JSON keys)."""
    keys = (
        "frames",
        "atoms",
        "frame_spearman",
        "atom_spearman",
        "forces_mae_mev_per_a",
        "large_error_frames",
    )
    caught = {f"{level:g}": fraction for level, fraction in statistics["caught"].items()}
    return {**{key: statistics[key] for key in keys}, "caught": caught}


def _caught_per_source(samples: list, statistics: dict, trust_level: float) -> dict:
    """Per ``source`` of the frames: frames, wrong frames and how many of those ``trust_level`` catches."""
    rows: dict[str, dict] = {}
    for sample, error, deviation in zip(samples, statistics["frame_error"], statistics["frame_deviation"]):
        row = rows.setdefault(str(sample.groups.get("source", "-")), {"frames": 0, "wrong": 0, "caught": 0})
        row["frames"] += 1
        if error > LARGE_ERROR:
            row["wrong"] += 1
            row["caught"] += int(deviation > trust_level)
    return rows


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
        f"(`forces_dev` vs |F_mean - F_ref|). Scatter plot: `{info['name']}.png`."
        + _caught_sentence(calibration, info.get("trust_level")),
        "",
        *_out_of_distribution_section(info),
        *card_section(info.get("nve")),
        "## Known limits",
        "",
        info["limits"],
        "",
    ]
    return "\n".join(lines)


def _caught_sentence(calibration: dict, trust_level: float | None) -> str:
    """' N frames have an atom off by more than 1 eV/A; max_forces_dev above L catches x %, ...' (or '')."""
    if "caught" not in calibration or not calibration["large_error_frames"]:
        return ""
    shipped = f"{trust_level:g}" if trust_level else None
    levels = ", ".join(
        f"{level}: {100 * fraction:.0f} %" + (" (shipped trust level)" if level == shipped else "")
        for level, fraction in sorted(calibration["caught"].items(), key=lambda item: float(item[0]))
    )
    return (
        f" {calibration['large_error_frames']} frames have an atom off by more than 1 eV/A; the share whose "
        f"`max_forces_dev` lies above each level (eV/A): {levels}."
    )


def _out_of_distribution_section(info: dict) -> list[str]:
    """The card's out-of-distribution calibration: the probe's figures on frames unlike the training data."""
    ood = info.get("out_of_distribution")
    if not ood:
        return []
    calibration, level = ood["calibration"], info["trust_level"]
    lines = [
        "## Out of distribution",
        "",
        f"`{ood['data']}` (sha256 `{ood['data_sha256']}`"
        + (f"; regenerate: `{regenerate_command(ood['recipe'], 'ood.extxyz')}`" if ood["recipe"] else "")
        + f"): {calibration['frames']} frames ({calibration['atoms']} atoms) unlike the training data. Force MAE of "
        f"the mean {calibration['forces_mae_mev_per_a']:.1f} meV/A; Spearman {calibration['frame_spearman']:.3f} "
        f"per frame, {calibration['atom_spearman']:.3f} per atom."
        + _caught_sentence(calibration, level)
        + f" Scatter plot: `{info['name']}.ood.png`.",
        "",
        f"Per source, at the shipped trust level {level:g} eV/A (`md --max-uncertainty`, `relax` flags):",
        "",
    ]
    lines += markdown_table(
        ["source", "frames", "wrong (> 1 eV/A)", "caught"],
        [[source, r["frames"], r["wrong"], r["caught"]] for source, r in ood["sources"].items()],
    )
    return lines + [""]
