"""NVE energy conservation: the drift and fluctuation of the total energy along velocity Verlet runs.

Velocity Verlet on a smooth potential conserves a shadow energy: the total energy oscillates about a
constant with an amplitude ~ dt^2 and does not trend. A steady trend means forces that jump (a kink in
the energy surface), forces that are not -dE/dx, or a step too long for the fastest vibration.
:func:`nve_drift` runs the on-device engine (:class:`~equiformer_ase.dynamics.MolecularDynamics`) and
measures, per system and seed, in eV per atom:

* ``drift``: slope of a least-squares line through the total energy against time, eV/atom/ps;
* ``change``: last minus first total energy of the run, eV/atom;
* ``fluctuation``: standard deviation of the total energy about that line, eV/atom.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta

from .committee import Committee
from .dynamics import MolecularDynamics
from .errors import BlowUpError
from .potential import Potential

# Step (fs) by the lightest atom's mass (amu): H vibrations (~9 fs period) need 0.5 fs, C/N/O bonds 1 fs,
# metal lattices 2 fs.
TIMESTEPS_BY_LIGHTEST_MASS = ((4.0, 0.5), (20.0, 1.0), (math.inf, 2.0))


def check_timestep(atoms: Atoms) -> float:
    """The NVE step (fs) for ``atoms``: 0.5 with hydrogen, 1.0 with C, N or O as lightest atom, else 2.0."""
    lightest = float(atoms.get_masses().min())
    return next(step for mass, step in TIMESTEPS_BY_LIGHTEST_MASS if lightest < mass)


def drift_statistics(time_fs: np.ndarray, total_per_atom: np.ndarray) -> dict[str, float]:
    """``drift`` (eV/atom/ps), ``change`` and ``fluctuation`` (eV/atom) of one run's total energy per atom
    (T,) at times (T,) fs; see the module docstring."""
    time_ps = np.asarray(time_fs, dtype=float) / 1000.0
    total = np.asarray(total_per_atom, dtype=float)
    slope, intercept = np.polyfit(time_ps, total, 1)
    residual = total - (slope * time_ps + intercept)
    return {
        "drift": float(slope),
        "change": float(total[-1] - total[0]),
        "fluctuation": float(residual.std()),
    }


def thermalised(atoms: Atoms, temperature: float, seed: int) -> Atoms:
    """A copy with Maxwell-Boltzmann momenta at ``temperature`` K (``seed``); an isolated structure (no
    periodic axis, no fixed atoms) also gets zero total momentum and angular momentum."""
    atoms = atoms.copy()
    thermalize_momenta(atoms, temperature, rng=np.random.default_rng(seed))
    if not atoms.pbc.any() and not atoms.constraints:
        Stationary(atoms)
        ZeroRotation(atoms)
    return atoms


def nve_drift(
    potential: Potential | Committee | str | Path,
    systems: dict[str, Atoms],
    *,
    duration: float,
    temperature: float = 300.0,
    seeds: tuple[int, ...] = (0,),
    timestep: float | None = None,
    dtype: str = "float64",
    device: str = "cpu",
    interval: int = 1,
) -> list[dict]:
    """Velocity Verlet NVE of every system in ``systems`` (name -> Atoms) for every seed, ``duration`` fs.

    ``timestep`` fs (default :func:`check_timestep` per system; systems with the same step run as one
    batch); momenta from :func:`thermalised` at ``temperature`` K with seed ``seed + k`` for the k-th system.
    The total energy is sampled every ``interval`` steps. Returns one row per system and seed: ``system``,
    ``seed``, ``atoms``, ``timestep_fs``, ``steps``, and :func:`drift_statistics`' ``drift`` (eV/atom/ps),
    ``change``, ``fluctuation`` (eV/atom); a batch that blows up (non-finite energy, a force above 100 eV/A,
    10x the starting temperature) gives its rows ``error`` (the message) instead of the statistics. An atom
    that leaves (a desorbing adsorbate) or comes closer than the close-contact limit (a poorly trained
    potential) does not stop a run: this measures conservation, and the energy is still conserved.
    """
    if not systems:
        raise ValueError("no systems to run")
    runs = [
        (name, seed, thermalised(atoms, temperature, seed + k))
        for k, (name, atoms) in enumerate(systems.items())
        for seed in seeds
    ]
    groups: dict[float, list] = {}
    for run in runs:
        groups.setdefault(timestep or check_timestep(run[2]), []).append(run)
    rows = []
    for step_fs, group in groups.items():
        sizes = np.array([len(atoms) for _, _, atoms in group])
        steps = round(duration / step_fs)
        base = {"timestep_fs": step_fs, "steps": steps}
        try:
            totals = _total_energies(
                potential, [atoms for _, _, atoms in group], step_fs, steps, interval, dtype, device
            )
        except BlowUpError as err:
            rows += [
                {
                    "system": name,
                    "seed": seed,
                    "atoms": len(atoms),
                    **base,
                    "error": " ".join(str(err).split()),
                }
                for name, seed, atoms in group
            ]
            continue
        time_fs = step_fs * interval * np.arange(len(totals))
        rows += [
            {
                "system": name,
                "seed": seed,
                "atoms": len(atoms),
                **base,
                **drift_statistics(time_fs, totals[:, k] / sizes[k]),
            }
            for k, (name, seed, atoms) in enumerate(group)
        ]
    return rows


def _total_energies(
    potential, atoms_list: list[Atoms], timestep: float, steps: int, interval: int, dtype: str, device: str
) -> np.ndarray:
    """(T, B) total energies (eV) of the batch every ``interval`` steps, the start included."""
    md = MolecularDynamics(
        atoms_list,
        potential,
        timestep=timestep,
        dtype=dtype,
        device=device,
        max_drift=math.inf,
        check_escape=False,
        allow_close_contacts=True,
    )
    totals = [md.energies()["total"]]
    for _ in range(steps // interval):
        md.run(interval, progress=False)
        totals.append(md.energies()["total"])
    return np.array(totals)


__all__ = ["check_timestep", "drift_statistics", "nve_drift", "thermalised"]
