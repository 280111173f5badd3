"""Sampling primitives shared by every reference data set: snapshots, Langevin MD, relaxation paths.

Each function takes an ``ase.Atoms`` with a reference calculator attached (and optional
``FixAtoms`` constraint) and returns labelled frames: plain ``Atoms`` (no constraint, no
momenta) with a ``SinglePointCalculator`` holding energy (eV), raw forces (n, 3) in eV/Angstrom on
all atoms, and stress (6,) in eV/Angstrom^3 only where ``pbc`` is all True, plus a per-atom bool
array ``fixed`` marking atoms held fixed while sampling.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.optimize import BFGS

from ...structures import fixed_atoms

try:
    from ase.md.velocitydistribution import thermalize_momenta  # ASE >= 3.29
except ImportError:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta


def snapshot(atoms: Atoms, **info) -> Atoms:
    """A labelled copy of ``atoms`` at its current positions, with ``info`` merged into ``frame.info``."""
    frame = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.arrays["fixed"] = fixed_atoms(atoms)
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(apply_constraint=False)}
    if atoms.pbc.all():
        results["stress"] = atoms.get_stress(apply_constraint=False)
    frame.calc = SinglePointCalculator(frame, **results)
    frame.info.update(info)
    return frame


def thermalised_langevin(
    atoms: Atoms, temperature: float, timestep: float, friction: float, rng: np.random.Generator
) -> Langevin:
    """ASE Langevin dynamics of ``atoms`` (its calculator attached) at ``temperature`` (K), ``timestep`` (fs),
    ``friction`` (1/fs), momenta first drawn from Maxwell-Boltzmann at that temperature; ``rng`` drives both."""
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    return Langevin(
        atoms,
        timestep * units.fs,
        temperature_K=temperature,
        friction=friction / units.fs,
        fixcm=False,
        rng=rng,
    )


def langevin_frames(
    atoms: Atoms,
    rng: np.random.Generator,
    *,
    temperature: float,
    timestep: float,
    friction: float,
    equilibration_steps: int,
    interval: int,
    n_frames: int,
    **info,
) -> list[Atoms]:
    """Langevin MD at ``temperature`` (K) with ``timestep`` (fs) and ``friction`` (1/fs).

    Velocities start from a Maxwell-Boltzmann distribution; after ``equilibration_steps`` steps
    ``n_frames`` frames are recorded every ``interval`` steps. Tagged ``source="md"``.
    """
    dynamics = thermalised_langevin(atoms, temperature, timestep, friction, rng)
    dynamics.run(equilibration_steps)
    frames = []
    for _ in range(n_frames):
        dynamics.run(interval)
        frames.append(snapshot(atoms, source="md", temperature=temperature, **info))
    return frames


def evenly_spaced(items: list, count: int) -> list:
    """At most ``count`` items spread evenly over ``items``, always keeping the first and the last."""
    if len(items) <= count:
        return list(items)
    return [items[k] for k in np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))]


def relaxation_path(atoms: Atoms, *, fmax: float, max_steps: int, n_frames: int, **info) -> list[Atoms]:
    """BFGS relaxation to ``fmax`` (eV/Angstrom) in at most ``max_steps`` steps.

    Returns up to ``n_frames`` frames evenly spaced along the path (the start and the final,
    relaxed frame always included), tagged ``source="relax"`` and ``relax_step``.
    """
    path = []
    optimizer = BFGS(atoms, logfile=None)
    optimizer.attach(
        lambda: path.append(snapshot(atoms, source="relax", relax_step=optimizer.nsteps, **info))
    )
    optimizer.run(fmax=fmax, steps=max_steps)
    return evenly_spaced(path, n_frames)
