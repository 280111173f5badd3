"""Exploration with a committee: where does it disagree? MD, relaxations of adsorbate placements,
rattled and strained cells, each frame tagged with the committee's force deviation.

Exploration tasks are :class:`~.tasks.Task` s (own random stream, resumable through a frame
store). Every explored frame is a plain ``Atoms`` (positions, cell, pbc) with arrays ``fixed``
(n,) bool, ``forces_dev`` (n,) eV/A and ``committee_forces`` (n, 3) eV/A (the members' mean),
and ``info``: the start's labels (``system``, ``subset``, ``metal``, ...), ``explored_by``
("md", "relax", "rattle", "strain"), ``temperature`` (K, MD only) and ``max_forces_dev`` (eV/A).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.constraints import FixAtoms
from ase.optimize import BFGS

from ...structures import fixed_atoms
from ..generation.recipes import ADSORBATE_FACETS, ADSORBATES, SurfaceRecipe
from ..generation.sampling import thermalised_langevin
from ..generation.surfaces_data import random_placement
from ..generation.tasks import Task

LABEL_KEYS = ("system", "subset", "metal", "facet", "adsorbate", "site", "cell", "molecule")


def system_of(frame: Atoms) -> str:
    """``info["system"]``, else the chemical formula."""
    return str(frame.info.get("system", frame.get_chemical_formula()))


def start_structure(frame: Atoms) -> Atoms:
    """A fresh copy of a data frame to explore from: positions, cell, pbc, ``FixAtoms`` from ``fixed``, labels."""
    atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
    if "fixed" in frame.arrays and frame.arrays["fixed"].any():
        atoms.set_constraint(FixAtoms(mask=frame.arrays["fixed"].astype(bool)))
    atoms.info = {key: frame.info[key] for key in LABEL_KEYS if key in frame.info}
    atoms.info["system"] = system_of(frame)
    return atoms


def explored_frame(atoms: Atoms, **info) -> Atoms:
    """A copy of ``atoms`` (committee calculator attached) with its deviation; see the module docstring."""
    calc = atoms.calc
    frame = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.arrays["fixed"] = fixed_atoms(atoms)
    frame.arrays["forces_dev"] = np.asarray(calc.get_property("forces_dev", atoms))
    frame.arrays["committee_forces"] = np.asarray(calc.get_property("forces", atoms))
    frame.info.update(atoms.info, **info, max_forces_dev=float(calc.get_property("max_forces_dev", atoms)))
    return frame


def _md(
    start: Atoms,
    calc: BaseCalculator,
    temperature: float,
    steps: int,
    interval: int,
    timestep: float,
    friction: float,
    stop_above: float,
    rng: np.random.Generator,
) -> list[Atoms]:
    """Langevin MD at ``temperature`` (K), ``timestep`` (fs), ``friction`` (1/fs); a frame every
    ``interval`` steps; stops after the first frame whose ``max_forces_dev`` reaches ``stop_above``
    (what follows would come from a potential already off its data)."""
    atoms = start.copy()
    atoms.calc = calc
    dynamics = thermalised_langevin(atoms, temperature, timestep, friction, rng)
    frames = []
    for _ in range(steps // interval):
        dynamics.run(interval)
        frames.append(explored_frame(atoms, explored_by="md", temperature=temperature))
        if frames[-1].info["max_forces_dev"] >= stop_above:
            break
    return frames


def _rattle(atoms: Atoms, stdev: float, rng: np.random.Generator) -> None:
    """Gaussian displacements of ``stdev`` (Angstrom) on the atoms ``FixAtoms`` leaves free."""
    free = ~fixed_atoms(atoms)
    atoms.positions[free] += rng.normal(scale=stdev, size=(int(free.sum()), 3))


def _perturbed(
    start: Atoms, calc: BaseCalculator, count: int, stdev: float, max_strain: float, rng: np.random.Generator
) -> list[Atoms]:
    """``count`` rattled copies; with ``max_strain`` > 0, each cell first strained along its periodic
    axes by a random symmetric strain with components in [-max_strain, max_strain]."""
    frames = []
    periodic = start.pbc.astype(float)
    for _ in range(count):
        atoms = start.copy()
        if max_strain > 0:
            strain = rng.uniform(-max_strain, max_strain, size=(3, 3))
            strain = (strain + strain.T) / 2 * np.outer(periodic, periodic)
            atoms.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
        _rattle(atoms, stdev, rng)
        atoms.calc = calc
        frames.append(explored_frame(atoms, explored_by="strain" if max_strain > 0 else "rattle"))
    return frames


def _placement_relaxation(
    options: list[tuple],
    recipe: SurfaceRecipe,
    sizes: tuple,
    calc: BaseCalculator,
    fmax: float,
    steps: int,
    rng: np.random.Generator,
) -> list[Atoms]:
    """A random (metal, facet, adsorbate) of ``options`` placed by :func:`random_placement` on a random
    slab of ``sizes``, relaxed with the committee (BFGS); every step is a frame."""
    metal, facet, adsorbate = options[rng.integers(len(options))]
    atoms = random_placement(metal, facet, adsorbate, tuple(sizes[rng.integers(len(sizes))]), recipe, rng)
    atoms.calc = calc
    frames = []
    optimizer = BFGS(atoms, logfile=None)
    optimizer.attach(lambda: frames.append(explored_frame(atoms, explored_by="relax")))
    optimizer.run(fmax=fmax, steps=steps)
    return frames


def placement_options(frames: list[Atoms]) -> list[tuple[str, str, str]]:
    """(metal, facet, adsorbate) combinations to place: every metal and (111)/(100) facet and every
    adsorbate that the labelled ``frames`` carry in ``info`` (none for data without slabs)."""
    surfaces = sorted(
        {
            (f.info["metal"], f.info["facet"])
            for f in frames
            if f.info.get("facet") in ADSORBATE_FACETS and "metal" in f.info
        }
    )
    adsorbates = sorted({f.info["adsorbate"] for f in frames if f.info.get("adsorbate") in ADSORBATES})
    return [(metal, facet, adsorbate) for metal, facet in surfaces for adsorbate in adsorbates]


def exploration_tasks(
    starts: list[Atoms],
    placements: list[tuple[str, str, str]],
    calc: BaseCalculator,
    settings,
    iteration: int,
) -> list[Task]:
    """Tasks of one iteration: for each start structure, MD at every ``settings.md_temperatures``,
    ``rattle_frames`` rattled and (periodic cells) ``strain_frames`` strained copies; then
    ``settings.placements`` committee relaxations of random adsorbate placements (when ``placements``
    is not empty). ``settings``: a :class:`~.active.LearnSettings`."""
    s = settings
    tasks = []
    for k, start in enumerate(starts):
        name = f"iter{iteration}:{k}:{start.info['system']}"
        tasks += [
            Task(
                f"{name}:md:{t:g}K",
                partial(
                    _md, start, calc, t, s.md_steps, s.md_interval, s.md_timestep, s.md_friction, s.trust_high
                ),
            )
            for t in s.md_temperatures
        ]
        if s.rattle_frames:
            tasks.append(
                Task(f"{name}:rattle", partial(_perturbed, start, calc, s.rattle_frames, s.rattle_stdev, 0.0))
            )
        if start.pbc.any() and s.strain_frames:
            tasks.append(
                Task(
                    f"{name}:strain",
                    partial(_perturbed, start, calc, s.strain_frames, s.rattle_stdev, s.max_strain),
                )
            )
    if placements:
        recipe = replace(SurfaceRecipe(), start_heights=s.placement_heights, start_rattle=s.placement_rattle)
        tasks += [
            Task(
                f"iter{iteration}:placement{j}",
                partial(
                    _placement_relaxation,
                    placements,
                    recipe,
                    s.placement_sizes,
                    calc,
                    s.relax_fmax,
                    s.relax_steps,
                ),
            )
            for j in range(s.placements)
        ]
    return tasks
