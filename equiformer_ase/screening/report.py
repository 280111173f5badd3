"""Screening output: the summary table (text and CSV) and the heatmap of adsorption energies."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .surfaces import surface_name


def summary_rows(best: dict, reference: dict | None = None) -> list[dict]:
    """One dict per (surface, adsorbate), sorted; with ``reference`` (e.g. EMT) its site and energy too."""
    rows = []
    for (metal, facet, name), entry in sorted(best.items()):
        row = {"surface": surface_name(metal, facet), "adsorbate": name, "site": entry["site"],
               "adsorption_energy_eV": round(entry["adsorption_energy"], 4), "converged": entry["converged"]}
        if reference is not None:
            other = reference.get((metal, facet, name), {"site": "", "adsorption_energy": float("nan")})
            row.update(reference_site=other["site"], reference_energy_eV=round(other["adsorption_energy"], 4),
                       difference_eV=round(entry["adsorption_energy"] - other["adsorption_energy"], 4))
        rows.append(row)
    return rows


def comparison_rows(comparison: dict[str, dict], digits: int = 3) -> list[dict]:
    """Rows of a :func:`compare_methods` result for :func:`format_table`: one per adsorbate, floats rounded."""
    return [{"adsorbate": name, **{k: round(v, digits) if isinstance(v, float) else v for k, v in entry.items()}}
            for name, entry in comparison.items()]


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
    """PNG heatmap: surfaces (rows) x adsorbates (columns), best-site adsorption energy in eV, annotated."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surfaces = sorted({surface_name(m, f) for m, f, _ in best})
    adsorbates = sorted({a for _, _, a in best})
    grid = np.full((len(surfaces), len(adsorbates)), np.nan)
    for (metal, facet, name), entry in best.items():
        grid[surfaces.index(surface_name(metal, facet)), adsorbates.index(name)] = entry["adsorption_energy"]
    # The grid sets the size, but never below what the title and the colour bar with its label need.
    width = max(2.5 + 0.9 * len(adsorbates), 1.0 + 0.08 * len(title))
    fig, ax = plt.subplots(figsize=(width, max(1.5 + 0.45 * len(surfaces), 3.0)))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, "-" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks(range(len(adsorbates)), adsorbates)
    ax.set_yticks(range(len(surfaces)), surfaces)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="adsorption energy (eV)")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
