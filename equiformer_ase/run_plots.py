"""PNG plots of an MD log and a relaxation log, written beside them by ``md`` and ``relax``.

Both read the CSV logs (one line per system and recorded step):

* MD (:data:`~equiformer_ase.dynamics.LOG_HEADER`): energies and temperature against time, plus a
  committee's ``max_forces_dev``;
* relaxation (:data:`~equiformer_ase.dynamics.RELAX_LOG_HEADER`): energy and largest force per optimizer step.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

MAX_SYSTEMS = 8  # systems drawn; more would only hide each other


def _columns(logfile: str | Path) -> dict[int, dict[str, np.ndarray]]:
    """The CSV log as per-system columns: {system: {column: (T,) array}}."""
    rows = defaultdict(lambda: defaultdict(list))
    with open(logfile) as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                rows[int(row["system"])][key].append(float(value))
    return {system: {k: np.array(v) for k, v in columns.items()} for system, columns in rows.items()}


def _figure(panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(panels, 1, figsize=(7, 2.4 * panels + 0.6), sharex=True, squeeze=False)
    return plt, fig, axes[:, 0]


def _legend_systems(ax, systems: list[int]) -> None:
    if len(systems) > 1:
        ax.set_title(
            f"systems {', '.join(map(str, systems))} (line style per system)", fontsize=9, loc="left"
        )


STYLES = ["-", "--", ":", "-."]


def _save(plt, fig, axes, png: str | Path) -> Path:
    """Grid lines, tight layout, ``png`` written at 110 dpi, the figure closed; returns ``png``."""
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_md_log(logfile: str | Path, png: str | Path) -> Path:
    """Energies (total, potential, kinetic, eV, relative to each system's first total energy) and
    temperature (K) against time (fs), and ``max_forces_dev`` (eV/A) where the log has it; returns ``png``."""
    data = _columns(logfile)
    systems = sorted(data)[:MAX_SYSTEMS]
    committee = "max_forces_dev_eV_per_A" in data[systems[0]]
    plt, fig, axes = _figure(3 if committee else 2)
    for k, system in enumerate(systems):
        d, style = data[system], STYLES[k % len(STYLES)]
        start = d["total_eV"][0]
        for key, color, label in (
            ("total_eV", "black", "total"),
            ("potential_eV", "tab:blue", "potential"),
            ("kinetic_eV", "tab:red", "kinetic"),
        ):
            shift = 0.0 if key == "kinetic_eV" else start
            axes[0].plot(d["time_fs"], d[key] - shift, style, color=color, label=label if k == 0 else None)
        axes[1].plot(d["time_fs"], d["temperature_K"], style, color="tab:orange")
        if committee:
            axes[2].plot(d["time_fs"], d["max_forces_dev_eV_per_A"], style, color="tab:purple")
    axes[0].set_ylabel("energy (eV)\ntotal, potential: - E_total(0)")
    axes[0].legend(loc="best", fontsize=8, ncol=3)
    _legend_systems(axes[0], systems)
    axes[1].set_ylabel("temperature (K)")
    if committee:
        axes[2].set_ylabel("max_forces_dev (eV/A)")
    axes[-1].set_xlabel("time (fs)")
    return _save(plt, fig, axes, png)


def plot_relax_log(logfile: str | Path, png: str | Path, fmax: float | None = None) -> Path:
    """Energy (eV, relative to each system's last) and largest force (eV/A, log scale; the ``fmax``
    target dashed) per optimizer step; returns ``png``."""
    data = _columns(logfile)
    systems = sorted(data)[:MAX_SYSTEMS]
    plt, fig, axes = _figure(2)
    for k, system in enumerate(systems):
        d, style = data[system], STYLES[k % len(STYLES)]
        color = f"C{k % 10}"
        axes[0].plot(
            d["step"], d["energy_eV"] - d["energy_eV"][-1], style, color=color, label=f"system {system}"
        )
        axes[1].semilogy(d["step"], d["fmax_eV_per_A"], style, color=color)
    if fmax is not None:
        axes[1].axhline(fmax, color="grey", linestyle="--", linewidth=1, label=f"fmax {fmax:g} eV/A")
        axes[1].legend(loc="best", fontsize=8)
    if len(systems) > 1:
        axes[0].legend(loc="best", fontsize=8, ncol=2)
    axes[0].set_ylabel("E - E_final (eV)")
    axes[1].set_ylabel("max force (eV/A)")
    axes[1].set_xlabel("optimizer step")
    return _save(plt, fig, axes, png)
