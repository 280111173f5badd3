"""Screening output: the summary table (text and CSV), the heatmap of adsorption energies, the comparison
with a reference and AdsorbML's success rates; :func:`screening_report` puts them together after a run."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
from ase.io import write

from .anomalies import ANOMALIES
from .success import THRESHOLD, best_verified, ranked, reference_minimum, success_rates
from .surfaces import surface_name

MISSING = {"site": "", "adsorption_energy": float("nan")}


def summary_rows(best: dict, reference: dict | None = None, verified: dict | None = None) -> list[dict]:
    """One dict per (surface, adsorbate), sorted: the potential's best site and energy (and ``max_forces_dev``
    for a committee); with ``verified`` the best verified site and its reference single-point energy; with
    ``reference`` (e.g. EMT) its own best site and energy, and the difference to the verified energy where
    given, else to the potential's."""
    rows = []
    for (metal, facet, name), entry in sorted(best.items()):
        row = {
            "surface": surface_name(metal, facet),
            "adsorbate": name,
            "site": entry["site"],
            "adsorption_energy_eV": round(entry["adsorption_energy"], 4),
            "converged": entry["converged"],
        }
        if "max_forces_dev" in entry:
            row["max_forces_dev"] = round(entry["max_forces_dev"], 4)
        ours = entry
        if verified is not None:
            ours = verified.get((metal, facet, name), MISSING)
            row.update(verified_site=ours["site"], verified_energy_eV=round(ours["adsorption_energy"], 4))
        if reference is not None:
            other = reference.get((metal, facet, name), MISSING)
            row.update(
                reference_site=other["site"],
                reference_energy_eV=round(other["adsorption_energy"], 4),
                difference_eV=round(ours["adsorption_energy"] - other["adsorption_energy"], 4),
            )
        rows.append(row)
    return rows


def verified_sites(systems: dict, k: int) -> dict:
    """Per system of :meth:`Screening.systems`, the best verified of its ``k`` lowest anomaly-free structures:
    {"site", "adsorption_energy" (the reference's single point, eV)}, or no site and NaN."""
    out = {}
    for key, (candidates, _) in systems.items():
        best = best_verified(candidates, k)
        out[key] = (
            MISSING
            if best is None
            else {"site": best["site"], "adsorption_energy": best["sp_adsorption_energy"]}
        )
    return out


def anomaly_fractions(records: list[dict]) -> str:
    """ "desorbed 1.2 %, dissociated 0 %, ..." over ``records`` (each with ``anomaly``)."""
    counts = Counter(r["anomaly"] for r in records)
    return ", ".join(f"{name} {100 * counts[name] / max(len(records), 1):.1f} %" for name in ANOMALIES)


def adsorbml_report(systems: dict, metrics: dict, method: str, reference: str) -> str:
    """AdsorbML's ``metrics`` (:func:`.success.success_rates`) of :meth:`Screening.systems` as text: success
    rate and reference force calls at k = 1 .. k_max with the speed-up over the dense ground truth (reference
    calls of the adsorbate relaxations / single points; the slab and gas relaxations, the same in both, are
    not counted), ML-only success, anomaly fractions and the systems failing at k = 1 and k_max, with reasons."""
    k_max = len(metrics["success"])
    dense = sum(r["force_calls"] or 0 for _, reference_rows in systems.values() for r in reference_rows)
    lines = [
        f"AdsorbML success against {reference}'s dense minimum over {metrics['systems']} systems "
        f"(within {THRESHOLD:g} eV or below); {dense} {reference} force calls for the dense relaxations:",
        f"{'k':>3} {'success':>8} {'single points':>13} {'speed-up':>8}",
    ]
    for k in range(1, k_max + 1):
        calls = sum(
            math.isfinite(c["sp_adsorption_energy"])
            for candidates, _ in systems.values()
            for c in ranked(candidates)[:k]
        )
        speed_up = f"{dense / calls:.1f}" if calls else "-"
        lines.append(f"{k:>3} {100 * metrics['success'][k - 1]:>7.1f}% {calls:>13} {speed_up:>8}")
    candidates = [c for cs, _ in systems.values() for c in cs]
    references = [r for _, rs in systems.values() for r in rs]
    lines += [
        f"ML-only success (also |E_ML - E_SP| <= {THRESHOLD:g} eV): {100 * metrics['ml_only']:.1f}%",
        f"anomalies, {method} ({len(candidates)} relaxations): {anomaly_fractions(candidates)}",
        f"anomalies, {reference} ({len(references)} relaxations): {anomaly_fractions(references)}",
    ]
    if metrics["left_out"]:
        lines.append(
            f"left out, no anomaly-free {reference} structure: "
            + ", ".join(f"{surface_name(m, f)}/{a}" for m, f, a in metrics["left_out"])
        )
    for k in sorted({1, k_max}):
        failing = [
            f"{surface_name(*key[:2])}/{key[2]} ({reason}{_gap(systems[key], k)})"
            for key, reason in sorted(metrics["failures"][k - 1].items())
        ]
        lines.append(f"failing at k={k}: " + (", ".join(failing) or "none"))
    return "\n".join(lines)


def _gap(system: tuple[list, list], k: int) -> str:
    """ ": top vs fcc, +0.15 eV": the best verified structure's final site vs the reference minimum's, and its
    energy above that minimum; "" without a verified structure."""
    best, minimum = best_verified(system[0], k), reference_minimum(system[1])
    if best is None:
        return ""
    return (
        f": {best['final_site']} vs {minimum['final_site']}, "
        f"{best['sp_adsorption_energy'] - minimum['adsorption_energy']:+.2f} eV"
    )


def comparison_rows(comparison: dict[str, dict], digits: int = 3) -> list[dict]:
    """Rows of a :func:`compare_methods` result for :func:`format_table`: one per adsorbate, floats rounded."""
    return [
        {"adsorbate": name, **{k: round(v, digits) if isinstance(v, float) else v for k, v in entry.items()}}
        for name, entry in comparison.items()
    ]


def format_table(rows: list[dict]) -> str:
    """Fixed-width text table of ``rows`` (all with the same keys)."""
    if not rows:
        return "(no results)"
    columns = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(width[c]) for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(width[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: str | Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["surface"])
        writer.writeheader()
        writer.writerows(rows)


def write_heatmap(best: dict, path: str | Path, title: str) -> None:
    """PNG heatmap: surfaces (rows) x adsorbates (columns), best-site adsorption energy in eV, annotated with
    the site it was found at; the surface that binds each adsorbate most strongly is framed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surfaces = sorted({surface_name(m, f) for m, f, _ in best})
    adsorbates = sorted({a for _, _, a in best})
    grid = np.full((len(surfaces), len(adsorbates)), np.nan)
    sites = np.full(grid.shape, "", dtype=object)
    for (metal, facet, name), entry in best.items():
        cell = surfaces.index(surface_name(metal, facet)), adsorbates.index(name)
        grid[cell], sites[cell] = entry["adsorption_energy"], entry.get("site", "")
    # The grid sets the size, but never below what the title and the colour bar with its label need.
    width = max(2.5 + 0.9 * len(adsorbates), 1.0 + 0.08 * len(title))
    fig, ax = plt.subplots(figsize=(width, max(1.5 + 0.45 * len(surfaces), 3.0)))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        text = "-" if np.isnan(value) else f"{value:.2f}\n{sites[i, j]}"
        bright = not np.isnan(value) and image.norm(value) > 0.6  # viridis turns yellow: dark text there
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="k" if bright else "w")
    for j in range(len(adsorbates)):
        if not np.isnan(grid[:, j]).all():
            i = int(np.nanargmin(grid[:, j]))
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(len(adsorbates)), adsorbates)
    ax.set_yticks(range(len(surfaces)), surfaces)
    ax.set_title(f"{title}\nsite of the best placement; red frame: strongest binding", fontsize=9)
    fig.colorbar(image, ax=ax, label="adsorption energy (eV)")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def report_paths(database: str | Path) -> dict[str, Path]:
    """The report files of a screen into ``database``: ``summary`` (CSV), ``heatmap`` (PNG) and ``failures``
    (extxyz), named after the database file without its suffix (``results.db`` -> ``results_summary.csv``),
    or ``screening_*`` in the working folder for a database URL."""
    stem = Path("screening") if "://" in str(database) else Path(database).with_suffix("")
    return {
        "summary": Path(f"{stem}_summary.csv"),
        "heatmap": Path(f"{stem}_heatmap.png"),
        "failures": Path(f"{stem}_failures.extxyz"),
    }


def screening_report(
    screening,
    database: str | Path,
    check_with: str | None = None,
    verify_with: str | None = None,
    top_k: int = 5,
) -> str:
    """After ``screening.run(check_with, verify_with, top_k)`` (a :class:`Screening` into ``database``): writes
    the ``summary`` CSV and ``heatmap`` (the potential's best sites) of :func:`report_paths` and returns the
    text to print: the summary table, the files, the run's throughput, other results in the database; with
    ``check_with`` the comparison of best sites (MAE, Spearman), and with both references AdsorbML's metrics
    and, where systems fail, the ``failures`` file (:meth:`Screening.labelled_frames` of the failing systems)."""
    from .workflow import compare_methods

    paths = report_paths(database)
    spec = screening.spec
    best = screening.best()
    reference = screening.best(check_with) if check_with else None
    systems = screening.systems(check_with, verify_with)
    rows = summary_rows(best, reference, verified_sites(systems, top_k) if verify_with else None)
    write_csv(rows, paths["summary"])
    write_heatmap(best, paths["heatmap"], f"adsorption energies, {spec.method} (eV)")
    parts = [
        format_table(rows),
        f"summary: {paths['summary']}, heatmap: {paths['heatmap']}; {screening.throughput()}",
    ]
    if other := screening.other_results():
        parts.append(other)
    if reference is not None:
        comparison = compare_methods(best, reference, [a.name for a in spec.adsorbates])
        parts += [
            f"\n{spec.method} vs {check_with}, best sites across surfaces:",
            format_table(comparison_rows(comparison, digits=4)),
        ]
    if check_with and verify_with:
        metrics = success_rates(systems, top_k)
        parts += ["", adsorbml_report(systems, metrics, spec.method, check_with)]
        failing = sorted(metrics["failures"][0])  # at k = 1: where the potential's own ranking misses
        if failing:
            frames = screening.labelled_frames(failing, check_with)
            write(paths["failures"], frames)
            parts.append(
                f"the failing systems' structures labelled by {check_with}, for the active-learning loop's "
                f"data: {paths['failures']} ({len(frames)} frames)"
            )
    return "\n".join(parts)
