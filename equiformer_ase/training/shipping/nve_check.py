"""The energy-conservation check that ``ship`` runs: short float64 NVE runs on representative systems.

Users run NVE to test a potential before they trust it, and a steady drift reads as a broken force field.
:func:`nve_check` runs :func:`~equiformer_ase.conservation.nve_drift` on :func:`check_systems` for the
potential's elements and compares each run's drift with :data:`DRIFT_LIMIT`; ``ship`` stores the result in
the header (``metrics["nve"]``), refuses a potential over the limit, or (when allowed) writes a warning into
its card.
"""

from __future__ import annotations

from ase import Atoms
from ase.build import add_adsorbate
from ase.optimize import BFGS

from ...committee import Committee
from ...conservation import nve_drift
from ...data import MD17_MOLECULES, md17_molecule
from ...data.adsorbates import adsorbate_geometry
from ...potential import Potential
from ..generation.recipes import EMT_METALS, SurfaceRecipe
from ..generation.surfaces_data import SITE_HEIGHTS, slab

DRIFT_LIMIT = 1e-4  # eV/atom/ps, |slope| of the total energy of every run
# fs: 800 steps at 0.5 fs with hydrogen, 400 at 1 fs without. Over 200 fs the O(dt^2) oscillation of a smooth
# model's energy alone fitted slopes up to 1.3e-4 eV/atom/ps (gfn2-md17's weights with smoothed attention).
CHECK_DURATION = 400.0
CHECK_TEMPERATURE = 300.0  # K
CHECK_MOLECULES = ("ethanol", "malonaldehyde", "uracil")  # C-H, O-H, N-H, C=O; 9-12 atoms
CHECK_ADSORBATES = ("O", "OH")  # an atom, and a hydrogen-bearing molecule
CHECK_SLAB = SurfaceRecipe(facets=("fcc111",), slab_size=(2, 2, 3))


def adsorbate_on_slab(metal: str, adsorbate: str) -> Atoms:
    """``adsorbate`` on the fcc hollow of a 2x2x3 fcc(111) ``metal`` slab (6 A vacuum, bottom layer fixed),
    relaxed with EMT (BFGS, fmax 0.05 eV/A): the gas-phase O-H of :mod:`~equiformer_ase.data.adsorbates`
    sits 0.2 A short of EMT's, and NVE from there shoots the H off."""
    atoms = slab(metal, "fcc111", CHECK_SLAB)
    add_adsorbate(atoms, adsorbate_geometry(adsorbate), SITE_HEIGHTS["hollow"], "fcc")
    BFGS(atoms, logfile=None).run(fmax=0.05, steps=200)
    atoms.calc = None
    return atoms


def check_systems(
    elements: list[str],
    molecules: tuple[str, ...] = CHECK_MOLECULES,
    adsorbates: tuple[str, ...] = CHECK_ADSORBATES,
) -> dict[str, Atoms]:
    """Representative systems for a potential with ``elements``: with an fcc metal of the EMT data (a surface
    potential), that metal (Cu if present, else the first) as a (111) slab with each of ``adsorbates`` the
    elements allow; otherwise each of ``molecules`` (MD17 names) made of the elements. Empty when neither fits."""
    metals = [element for element in EMT_METALS if element in elements]
    if metals:
        metal = "Cu" if "Cu" in metals else metals[0]
        allowed = [
            name
            for name in adsorbates
            if set(adsorbate_geometry(name).get_chemical_symbols()) <= set(elements)
        ]
        return {f"{metal}(111)+{name}": adsorbate_on_slab(metal, name) for name in allowed}
    unknown = set(molecules) - set(MD17_MOLECULES)
    if unknown:
        raise ValueError(f"unknown MD17 molecules {sorted(unknown)}")
    return {
        name: atoms
        for name in molecules
        if set((atoms := md17_molecule(name)).get_chemical_symbols()) <= set(elements)
    }


def nve_check(
    potential: Potential | Committee,
    duration: float = CHECK_DURATION,
    limit: float = DRIFT_LIMIT,
    seeds: tuple[int, ...] = (0,),
    device: str = "cpu",
) -> dict:
    """Float64 NVE of :func:`check_systems` at 300 K for ``duration`` fs, each system at its
    :func:`~equiformer_ase.conservation.check_timestep` (0.5 fs with hydrogen, else 1 fs or 2 fs).

    Returns the record ``ship`` stores as ``metrics["nve"]``: ``duration_fs``, ``temperature_K``, ``dtype``,
    ``limit_ev_per_atom_ps``, ``runs`` (:func:`~equiformer_ase.conservation.nve_drift`'s rows) and ``passed``
    (every run finished with |drift| <= ``limit``; True when no system fits the elements).
    """
    systems = check_systems(potential.config.elements)
    runs = (
        nve_drift(
            potential,
            systems,
            duration=duration,
            temperature=CHECK_TEMPERATURE,
            seeds=seeds,
            device=device,
            dtype="float64",
        )
        if systems
        else []
    )
    passed = all("error" not in run and abs(run["drift"]) <= limit for run in runs)
    return {
        "duration_fs": duration,
        "temperature_K": CHECK_TEMPERATURE,
        "dtype": "float64",
        "limit_ev_per_atom_ps": limit,
        "runs": runs,
        "passed": passed,
    }


def nve_guard(
    potential, duration: float | None = None, allow_drift: bool = False, device: str = "cpu"
) -> dict:
    """:func:`nve_check` of a potential or committee about to be shipped (``duration`` fs, default
    :data:`CHECK_DURATION`): its record, or a ValueError naming the drifting runs unless ``allow_drift``."""
    record = nve_check(potential, duration=duration or CHECK_DURATION, device=device)
    if not record["passed"] and not allow_drift:
        raise ValueError(
            f"{failure_message(record)}; not shipped (--allow-drift ships it with a warning in its card)"
        )
    return record


def failure_message(record: dict) -> str:
    """One line naming the runs of an :func:`nve_check` record that failed."""
    bad = [
        f"{run['system']}: {run['error']}" if "error" in run else f"{run['system']} {run['drift']:+.2e}"
        for run in record["runs"]
        if "error" in run or abs(run["drift"]) > record["limit_ev_per_atom_ps"]
    ]
    return (
        f"NVE energy drift (eV/atom/ps) above the limit {record['limit_ev_per_atom_ps']:g} in "
        f"{record['duration_fs']:g} fs of float64 MD from {record['temperature_K']:g} K: {'; '.join(bad)}"
    )


def card_section(record: dict | None) -> list[str]:
    """Model-card lines for an :func:`nve_check` record (none for files shipped before the check)."""
    if record is None:
        return []
    lines = ["## Energy conservation (NVE)", ""]
    if not record["runs"]:
        return lines + [
            "Not checked: no representative system (MD17 molecule or fcc metal slab) fits the elements.",
            "",
        ]
    lines += [
        f"Velocity Verlet, float64, {record['duration_fs']:g} fs from {record['temperature_K']:g} K "
        f"Maxwell-Boltzmann momenta; drift is the slope of a line fitted to the total energy per atom, limit "
        f"{record['limit_ev_per_atom_ps']:g} eV/atom/ps.",
        "",
        "| system | atoms | step (fs) | steps | drift (eV/atom/ps) | change (eV/atom) | fluctuation (eV/atom) |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in record["runs"]:
        numbers = (
            [f"blew up: {run['error']}", "", ""]
            if "error" in run
            else [f"{run['drift']:+.2e}", f"{run['change']:+.2e}", f"{run['fluctuation']:.1e}"]
        )
        lines.append(
            "| "
            + " | ".join(
                [run["system"], str(run["atoms"]), f"{run['timestep_fs']:g}", str(run["steps"]), *numbers]
            )
            + " |"
        )
    lines.append("")
    if not record["passed"]:
        lines += [
            f"**Warning: shipped although it fails the energy-conservation check.** {failure_message(record)}.",
            "",
        ]
    return lines


__all__ = [
    "CHECK_DURATION",
    "DRIFT_LIMIT",
    "adsorbate_on_slab",
    "card_section",
    "check_systems",
    "failure_message",
    "nve_check",
]
