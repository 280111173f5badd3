"""On-device batched molecular dynamics and FIRE relaxation.

Many structures (replicas, or systems of different sizes) advance together: their positions,
momenta and masses live on the device as flat tensors, each step evaluates ONE batched
:class:`~equiformer_ase.graph.AtomGraph` through :meth:`Potential.evaluate`, and the integrators
of :mod:`equiformer_ase.integrators` update the state. The neighbour list keeps candidate edges
within ``cutoff + skin`` and refreshes them on the device (:meth:`NeighbourList.update`).

Supported constraints: ``ase.constraints.FixAtoms`` (fixed atoms keep their positions, their
forces and momenta are zero, as in ASE). Cells are fixed; use ASE's cell filters for cell relaxation.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import Trajectory, read
from tqdm.auto import tqdm

from .committee import Committee, evaluate_model, flag_untrusted, on_device
from .dispersion import BatchedDispersion, check_dispersion, check_reference
from .errors import BlowUpError, CloseContactError, UncertaintyError
from .integrators import (
    FireParameters,
    MDState,
    fire_step,
    init_fire_state,
    init_md_state,
    kinetic_energy,
    langevin_baoab_step,
    velocity_verlet_step,
)
from .interrupts import signals_held, sigterm_as_interrupt
from .memory_estimate import check_model_memory
from .nn import scatter_sum
from .potential import Potential
from .structures import fixed_atoms, structure_list, structure_slices

ENSEMBLES = ("nve", "nvt")
LOG_HEADER = "step,time_fs,system,temperature_K,potential_eV,kinetic_eV,total_eV\n"
COMMITTEE_LOG_HEADER = LOG_HEADER.replace("\n", ",max_forces_dev_eV_per_A\n")
RELAX_LOG_HEADER = "step,system,energy_eV,fmax_eV_per_A\n"


class BatchedSystems:
    """Structures as flat device tensors plus the batched force function.

    ``positions``, ``momenta`` (N, 3) float64 (``dtype`` is the model's); ``masses`` (N, 1) amu;
    ``batch`` (N,); ``movable`` (N,) bool (False for FixAtoms atoms); ``degrees_of_freedom`` (B,) =
    3 x movable atoms, as ASE counts them.
    ``max_force`` (eV/A): a force above it on any atom raises :class:`BlowUpError`. The input
    structures are checked up front (unsupported elements, NaN, cells; overlapping atoms raise
    :class:`~equiformer_ase.errors.CloseContactError` unless ``allow_close_contacts``; atoms that come
    that close at a later step raise :class:`BlowUpError`; a batch estimated to need more memory than the
    device has raises :class:`~equiformer_ase.errors.MemoryEstimateError`, up front and at each
    neighbour-list rebuild, see :mod:`~equiformer_ase.memory_estimate`).
    ``isolated`` (N,) bool: atoms without a neighbour within the cutoff at the last :meth:`forces` call.
    ``potential`` may be a committee (see :class:`~equiformer_ase.committee.Committee`): forces are
    the members' mean, ``max_forces_dev`` (B,) eV/A holds each system's largest force deviation over
    its movable atoms at the last :meth:`forces` call, and one above ``max_uncertainty`` raises
    :class:`~equiformer_ase.errors.UncertaintyError`. ``compile=True``: the model runs through
    ``torch.compile`` (see :func:`~equiformer_ase.potential.inference_copy`). ``dispersion="d3"``
    adds D3(BJ) for PBE to energies and forces (:class:`~equiformer_ase.dispersion.BatchedDispersion`).
    """

    def __init__(
        self,
        atoms_list: list[Atoms],
        potential: Potential | Committee | list | str | Path,
        *,
        device: str = "auto",
        dtype: str = "float64",
        skin: float = 0.5,
        neighbour_backend: str = "auto",
        max_force: float = math.inf,
        max_uncertainty: float = math.inf,
        allow_close_contacts: bool = False,
        compile: bool = False,
        dispersion: str | None = None,
    ):
        check_dispersion(dispersion)
        atoms_list = structure_list(atoms_list)
        self.device, self.dtype, self.potential, self.neighbour_list = on_device(
            potential, device, dtype, skin, neighbour_backend, compile, allow_close_contacts
        )
        self.is_committee = isinstance(self.potential, Committee)
        self.max_uncertainty = float(max_uncertainty)
        if self.max_uncertainty < math.inf and not self.is_committee:
            raise ValueError("max_uncertainty needs a committee (a list of potentials or a committee file)")
        graph = self.neighbour_list(atoms_list)  # the first build: input errors surface as themselves
        self._memory_checked_at = None  # the neighbour list's rebuild count at the last memory check passed
        self._check_memory(graph)  # before anything runs or is written
        self.templates = [atoms.copy() for atoms in atoms_list]
        self.max_force = float(max_force)
        self.dispersion = None
        if dispersion is not None:
            check_reference(self.potential)
            self.dispersion = BatchedDispersion(self.templates)

        def tensor(array, dtype=torch.float64):
            return torch.as_tensor(np.asarray(array), dtype=dtype, device=self.device)

        sizes = [len(atoms) for atoms in atoms_list]
        self.num_systems = len(atoms_list)
        self.batch = torch.repeat_interleave(
            torch.arange(self.num_systems, device=self.device), tensor(sizes, torch.long)
        )
        self.movable = tensor(np.concatenate([_movable(atoms) for atoms in atoms_list]), torch.bool)
        self.positions = tensor(np.concatenate([atoms.positions for atoms in atoms_list]))
        self.masses = tensor(np.concatenate([atoms.get_masses() for atoms in atoms_list])).unsqueeze(-1)
        self.momenta = (
            tensor(np.concatenate([atoms.get_momenta() for atoms in atoms_list])) * self.movable[:, None]
        )
        self.degrees_of_freedom = 3 * scatter_sum(self.movable.long(), self.batch, self.num_systems)
        self.atom_mask = None if bool(self.movable.all()) else self.movable[:, None]
        self.max_forces_dev = None
        self.sizes = tensor(sizes, torch.long)
        self.isolated = self.movable.new_zeros(len(self.batch))
        self._box = _box_checks(atoms_list, self.batch, tensor)

    def forces(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Force function for the integrators: ``(forces (N, 3), energy (B,))``, fixed atoms' forces zero.

        Raises :class:`BlowUpError` for non-finite positions or energies, or forces above ``max_force``.
        """
        try:
            graph = self.neighbour_list.update(positions, self.templates)
        except CloseContactError as err:
            raise BlowUpError(f"atoms ran into each other ({err})") from None
        except ValueError as err:
            raise BlowUpError(f"cannot build the neighbour list ({err})") from None
        self._check_memory(graph)
        self.isolated = torch.bincount(graph.edge_index[1], minlength=len(self.batch)) == 0
        out = evaluate_model(self.potential, graph)
        if self.dispersion is not None:
            energy, forces = self.dispersion(positions.detach().to("cpu", torch.float64).numpy())
            out["energy"] = out["energy"] + torch.as_tensor(energy).to(out["energy"])
            out["forces"] = out["forces"] + torch.as_tensor(forces).to(out["forces"])
        if self.is_committee:
            self.max_forces_dev = self.max_per_system(out["forces_dev"] * self.movable)
        forces = out["forces"] * self.movable[:, None]
        largest = self.max_force_per_system(forces)
        bad = ~torch.isfinite(out["energy"]) | ~torch.isfinite(largest) | (largest > self.max_force)
        if bool(bad.any()):
            systems = torch.nonzero(bad).flatten().tolist()
            raise BlowUpError(
                f"systems {systems[:10]}: energy {out['energy'][bad][:10].tolist()} eV, largest force "
                f"{largest[bad][:10].tolist()} eV/A (threshold max_force={self.max_force} eV/A)"
            )
        if self.is_committee and bool((self.max_forces_dev > self.max_uncertainty).any()):
            uncertain = torch.nonzero(self.max_forces_dev > self.max_uncertainty).flatten().tolist()
            raise UncertaintyError(
                f"systems {uncertain[:10]}: committee force deviation {self.max_forces_dev[uncertain][:10].tolist()} "
                f"eV/A above max_uncertainty={self.max_uncertainty} eV/A (outside the potential's training data)"
            )
        return forces, out["energy"]

    def _check_memory(self, graph) -> None:
        """:func:`~equiformer_ase.memory_estimate.check_model_memory` (MemoryEstimateError, a ValueError, before
        the model runs) once per neighbour-list rebuild: the edge count changes little between rebuilds."""
        if self.neighbour_list.rebuilds != self._memory_checked_at:
            check_model_memory(self.potential, graph.edge_index.shape[1], graph.num_atoms, self.device)
            self._memory_checked_at = self.neighbour_list.rebuilds

    def max_per_system(self, values: torch.Tensor) -> torch.Tensor:
        """(B,) largest of the per-atom ``values`` (N,) in each system."""
        return values.new_zeros(self.num_systems).scatter_reduce_(0, self.batch, values, reduce="amax")

    def max_force_per_system(self, forces: torch.Tensor) -> torch.Tensor:
        """(B,) largest per-atom force norm of each system, eV/A (ASE's fmax)."""
        return self.max_per_system(torch.linalg.vector_norm(forces, dim=1))

    def outside_box(self, positions: torch.Tensor) -> torch.Tensor:
        """(N,) bool: atoms outside their cell along a non-periodic axis (only where the cell has full rank)."""
        if self._box is None:
            return torch.zeros_like(self.isolated)
        inverse, axes = self._box
        fractional = torch.einsum("ni,nij->nj", positions, inverse)
        return (((fractional < 0) | (fractional > 1)) & axes).any(dim=1)

    def temperature(self, momenta: torch.Tensor) -> torch.Tensor:
        """(B,) kinetic temperature 2 E_kin / (dof k_B), Kelvin."""
        ekin = kinetic_energy(momenta, self.masses, self.batch, self.num_systems)
        return 2 * ekin / (self.degrees_of_freedom.clamp_min(1) * units.kB)

    def to_atoms(
        self,
        positions: torch.Tensor,
        momenta: torch.Tensor | None,
        energy: torch.Tensor,
        forces: torch.Tensor,
        info: dict | None = None,
        max_forces_dev: torch.Tensor | None = None,
    ) -> list[Atoms]:
        """Copies of the input structures at this state, with a SinglePointCalculator (energy, forces);
        a committee's ``max_forces_dev`` (B,) goes to ``info``."""
        positions, forces, energy = (
            t.detach().to("cpu", torch.float64).numpy() for t in (positions, forces, energy)
        )
        momenta = None if momenta is None else momenta.detach().to("cpu", torch.float64).numpy()
        deviation = None if max_forces_dev is None else max_forces_dev.to("cpu", torch.float64).numpy()
        frames = []
        for k, (template, part) in enumerate(
            zip(self.templates, structure_slices([len(t) for t in self.templates]))
        ):
            atoms = template.copy()
            atoms.positions = positions[part]
            if momenta is not None:
                atoms.set_momenta(momenta[part], apply_constraint=False)
            atoms.info.update(info or {})
            if deviation is not None:
                atoms.info["max_forces_dev"] = float(deviation[k])
            atoms.calc = SinglePointCalculator(atoms, energy=float(energy[k]), forces=forces[part])
            frames.append(atoms)
        return frames


def _box_checks(
    atoms_list: list[Atoms], batch: torch.Tensor, tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per atom, the inverse cell (N, 3, 3) and the axes to keep atoms within (N, 3) bool: the non-periodic
    axes of full-rank cells. None where no structure has such an axis."""
    axes = np.array([~atoms.pbc if atoms.cell.rank == 3 else np.zeros(3, bool) for atoms in atoms_list])
    if not axes.any():
        return None
    inverse = np.stack(
        [
            np.linalg.inv(atoms.cell.array) if atoms.cell.rank == 3 else np.zeros((3, 3))
            for atoms in atoms_list
        ]
    )
    return tensor(inverse)[batch], tensor(axes, torch.bool)[batch]


def _movable(atoms: Atoms) -> np.ndarray:
    """(n,) bool, False for atoms fixed by FixAtoms; other constraints are refused."""
    for constraint in atoms.constraints:
        if not isinstance(constraint, FixAtoms):
            raise NotImplementedError(
                f"the on-device engine supports only FixAtoms constraints, got {type(constraint).__name__}; "
                "use ASE's own dynamics or optimizers with EquiformerCalculator for other constraints"
            )
    return ~fixed_atoms(atoms)


def trajectory_paths(trajectory: str | Path, num_systems: int) -> list[Path]:
    """One file per system: ``trajectory`` itself for one system, else ``STEM_k.SUFFIX``."""
    trajectory = Path(trajectory)
    if num_systems == 1:
        return [trajectory]
    return [trajectory.with_name(f"{trajectory.stem}_{k}{trajectory.suffix}") for k in range(num_systems)]


def last_frames(trajectory: str | Path, num_systems: int) -> list[Atoms]:
    """The last frame (positions, momenta, ``info['md_step']``) of each system's trajectory, to resume a run.

    Trajectories that end at different steps (a run killed between writing its systems' frames) are cut
    back to their last common step, with a warning; ValueError where one lacks a frame at that step.
    """
    paths = trajectory_paths(trajectory, num_systems)
    frames = [read(path, index=-1) for path in paths]
    steps = [frame.info.get("md_step", 0) for frame in frames]
    common = min(steps)
    if max(steps) > common:
        frames = [
            frame if step == common else _truncate_trajectory(path, common)
            for path, frame, step in zip(paths, frames, steps)
        ]
        warnings.warn(
            f"trajectories of {trajectory} ended at steps {sorted(set(steps))}: cut back to step {common}, "
            "the last one they all reached",
            stacklevel=2,
        )
    return frames


def _truncate_trajectory(path: Path, step: int) -> Atoms:
    """Rewrite ``path`` without its frames after MD step ``step``; returns the frame at ``step``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    last = None
    with Trajectory(str(path)) as frames, Trajectory(str(temporary), "w") as kept:
        for atoms in frames:
            if atoms.info.get("md_step", 0) > step:
                break
            kept.write(atoms)
            last = atoms
    if last is None or last.info.get("md_step", 0) != step:
        temporary.unlink()
        raise ValueError(
            f"{path} has no frame at step {step}, where the other trajectories end: cannot resume "
            "them together"
        )
    os.replace(temporary, path)
    return last


def _truncate_log(path: Path, step: int) -> None:
    """Drop the CSV log lines after MD step ``step`` and any partly written last line."""
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if line.endswith("\n") and int(line.split(",")[0]) <= step]
    if len(kept) < len(lines):
        path.write_text("".join(kept))


class MolecularDynamics:
    """Batched NVE (velocity Verlet) or NVT (Langevin BAOAB) on the device.

    ``timestep`` fs; ``temperature`` K (NVT); ``friction`` 1/fs (NVT); ``seed`` makes the Langevin
    noise reproducible. Initial momenta are the input Atoms' (set them, e.g., with ASE's
    ``MaxwellBoltzmannDistribution``); ``atoms.info['md_step']`` of the first structure sets the
    starting step, so the last frames of a trajectory (:func:`last_frames`) resume a run.
    ``max_force`` eV/A: the blow-up threshold; ``allow_close_contacts``, ``compile`` and ``dispersion``:
    see :class:`BatchedSystems`.
    With a committee, every written frame and log line carries ``max_forces_dev`` and
    ``max_uncertainty`` (eV/A) stops the run like a blow-up.

    Watchdogs, checked every step, raise :class:`BlowUpError`: ``max_drift`` eV/atom, the change of each
    system's total energy since the start (or resume) of an NVE run; ``max_temperature`` K (default 10 x the
    NVT target or the starting temperature, at least 3000 K, per system); ``check_escape``: an atom that
    had a neighbour within the cutoff has none (the system flies apart), or an atom leaves a full-rank cell
    along a non-periodic axis (atoms isolated or outside at the start are left alone). Pass inf / False to
    switch one off.
    """

    def __init__(
        self,
        atoms_list: list[Atoms],
        potential: Potential | Committee | list | str | Path,
        *,
        timestep: float,
        ensemble: str = "nve",
        temperature: float | None = None,
        friction: float = 0.01,
        seed: int = 0,
        device: str = "auto",
        dtype: str = "float64",
        skin: float = 0.5,
        max_force: float = 100.0,
        max_drift: float = 0.1,
        max_temperature: float | None = None,
        check_escape: bool = True,
        max_uncertainty: float = math.inf,
        neighbour_backend: str = "auto",
        allow_close_contacts: bool = False,
        compile: bool = False,
        dispersion: str | None = None,
    ):
        if ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
        if ensemble == "nvt" and (temperature is None or temperature < 0 or friction <= 0):
            raise ValueError(
                f"NVT needs temperature >= 0 K and friction > 0 1/fs, got {temperature}, {friction}"
            )
        if not timestep > 0:
            raise ValueError(f"timestep must be > 0 fs, got {timestep}")
        if not (max_drift > 0 and (max_temperature is None or max_temperature > 0)):
            raise ValueError(f"max_drift and max_temperature must be > 0, got {max_drift}, {max_temperature}")
        self.systems = BatchedSystems(
            atoms_list,
            potential,
            device=device,
            dtype=dtype,
            skin=skin,
            neighbour_backend=neighbour_backend,
            max_force=max_force,
            max_uncertainty=max_uncertainty,
            allow_close_contacts=allow_close_contacts,
            compile=compile,
            dispersion=dispersion,
        )
        first = structure_list(atoms_list)[0]
        self.step_count = int(first.info.get("md_step", 0))
        self.ensemble, self.timestep, self.temperature, self.friction = (
            ensemble,
            timestep,
            temperature,
            friction,
        )
        self.generator = torch.Generator(device=self.systems.device).manual_seed(seed + self.step_count)
        s = self.systems
        self.state = init_md_state(s.positions, s.momenta, s.masses, s.forces)
        self.max_forces_dev = s.max_forces_dev  # a committee's (B,) eV/A at self.state, else None
        self.max_drift, self.check_escape = max_drift if ensemble == "nve" else math.inf, check_escape
        start = self.energies_on_device(self.state)
        self.start_total, self.start_escaped = (
            start["total"],
            s.isolated | s.outside_box(self.state.positions),
        )
        reference = (
            start["temperature"] if ensemble == "nve" else torch.full_like(start["temperature"], temperature)
        )
        self.max_temperature = (
            10 * reference.clamp_min(300.0)
            if max_temperature is None
            else torch.full_like(reference, max_temperature)
        )

    def step(self, state: MDState) -> MDState:
        dt, s = self.timestep * units.fs, self.systems
        if self.ensemble == "nve":
            return velocity_verlet_step(state, s.forces, dt, s.atom_mask)
        return langevin_baoab_step(
            state,
            s.forces,
            dt,
            units.kB * self.temperature,
            self.friction / units.fs,
            self.generator,
            s.atom_mask,
        )

    def energies_on_device(self, state: MDState) -> dict[str, torch.Tensor]:
        """Per system (B,) tensors: ``potential``, ``kinetic``, ``total`` (eV) and ``temperature`` (K)."""
        s = self.systems
        kinetic = kinetic_energy(state.momenta, s.masses, s.batch, s.num_systems)
        return {
            "potential": state.energy,
            "kinetic": kinetic,
            "total": state.energy + kinetic,
            "temperature": s.temperature(state.momenta),
        }

    def energies(self, state: MDState | None = None) -> dict[str, np.ndarray]:
        """:meth:`energies_on_device` as float64 numpy arrays."""
        out = self.energies_on_device(state or self.state)
        return {k: v.detach().to("cpu", torch.float64).numpy() for k, v in out.items()}

    def watch(self, state: MDState) -> None:
        """Raise :class:`BlowUpError` naming the first system of ``state`` that trips a watchdog."""
        s = self.systems
        e = self.energies_on_device(state)
        drift = (e["total"] - self.start_total).abs() / s.sizes
        flown, outside = torch.zeros_like(s.isolated), torch.zeros_like(s.isolated)
        if self.check_escape:
            flown, outside = (
                s.isolated & ~self.start_escaped,
                s.outside_box(state.positions) & ~self.start_escaped,
            )
        escaped = flown | outside
        escaped_per_system = scatter_sum(escaped.long(), s.batch, s.num_systems)
        bad = (drift > self.max_drift) | (e["temperature"] > self.max_temperature) | (escaped_per_system > 0)
        if not bool(bad.any()):
            return
        k = int(torch.nonzero(bad)[0])
        if drift[k] > self.max_drift:
            problem = f"total energy drifted {float(drift[k]):.3g} eV/atom, above max_drift={self.max_drift:g} eV/atom"
        elif e["temperature"][k] > self.max_temperature[k]:
            problem = (
                f"temperature {float(e['temperature'][k]):.0f} K, above max_temperature="
                f"{float(self.max_temperature[k]):.0f} K"
            )
        else:
            atom = int(torch.nonzero(escaped & (s.batch == k))[0])
            problem = f"atom {atom - int(s.sizes[:k].sum())} " + (
                f"flew apart (no neighbour within the {s.neighbour_list.cutoff:g} A cutoff)"
                if flown[atom]
                else "left the cell along a non-periodic axis"
            )
        others = int(bad.sum()) - 1
        raise BlowUpError(f"system {k}: {problem}" + (f" (and {others} more systems)" if others else ""))

    def get_atoms(self) -> list[Atoms]:
        """The current structures with momenta, energy and forces."""
        info = {"md_step": self.step_count, "md_time_fs": self.step_count * self.timestep}
        return self.systems.to_atoms(
            self.state.positions,
            self.state.momenta,
            self.state.energy,
            self.state.forces,
            info,
            self.max_forces_dev,
        )

    def run(
        self,
        steps: int,
        trajectory: str | Path | None = None,
        logfile: str | Path | None = None,
        interval: int = 10,
        progress: bool = True,
    ) -> list[Atoms]:
        """Advance ``steps`` steps; every ``interval`` steps (and at the end) append a frame to each
        system's trajectory and a line per system to the CSV ``logfile``.

        A fresh run (step 0) overwrites the files; a resumed one appends after the frame it resumed from
        (log lines past it are dropped). On a blow-up, a watchdog, an interruption (SIGINT, or SIGTERM in
        the main thread) or any error, the last good state is written before the error propagates, so at
        most the step in flight is lost.
        """
        s = self.systems
        resuming = self.step_count > 0
        paths = trajectory_paths(trajectory, s.num_systems) if trajectory else []
        writers = [Trajectory(str(path), "a" if resuming else "w") for path in paths]
        log = None
        if logfile:
            if resuming and Path(logfile).exists():
                _truncate_log(Path(logfile), self.step_count)
            log = open(logfile, "a" if resuming else "w")
            if not resuming:
                log.write(COMMITTEE_LOG_HEADER if s.is_committee else LOG_HEADER)
        written = self.step_count if resuming else None  # a resumed run's first frame is on disk

        def record():
            nonlocal written
            if written == self.step_count:
                return
            for writer, atoms in zip(writers, self.get_atoms()):
                writer.write(atoms)
            if log:
                e, time_fs = self.energies(), self.step_count * self.timestep
                deviation = [] if self.max_forces_dev is None else self.max_forces_dev.tolist()
                log.writelines(
                    f"{self.step_count},{time_fs:.6g},{k},{e['temperature'][k]:.6f},{e['potential'][k]:.10f},"
                    f"{e['kinetic'][k]:.10f},{e['total'][k]:.10f}"
                    + (f",{deviation[k]:.6f}" if deviation else "")
                    + "\n"
                    for k in range(s.num_systems)
                )
                log.flush()
            written = self.step_count

        with sigterm_as_interrupt():
            try:
                with signals_held():
                    record()
                for _ in tqdm(range(steps), disable=not progress, desc=f"MD {self.ensemble}", unit="step"):
                    try:
                        state = self.step(self.state)
                        self.watch(state)
                    except BlowUpError as err:
                        where = (
                            f"; last good frame (step {self.step_count}) is in {', '.join(map(str, paths))}"
                            if paths
                            else ""
                        )
                        raise type(err)(f"MD stopped at step {self.step_count + 1}: {err}{where}") from None
                    self.state, self.max_forces_dev = state, s.max_forces_dev
                    self.step_count += 1
                    if self.step_count % interval == 0:
                        with signals_held():
                            record()
            finally:
                with signals_held():
                    record()
                    for writer in writers:
                        writer.close()
                    if log:
                        log.close()
        return self.get_atoms()


def relax(
    atoms_list: list[Atoms],
    potential: Potential | Committee | list | str | Path,
    *,
    fmax: float = 0.05,
    steps: int = 1000,
    device: str = "auto",
    dtype: str = "float64",
    skin: float = 0.5,
    params: FireParameters = FireParameters(),
    neighbour_backend: str = "auto",
    progress: bool = True,
    allow_close_contacts: bool = False,
    dispersion: str | None = None,
    max_uncertainty: float = math.inf,
    finished: Callable[[int, Atoms, bool], None] | None = None,
    logfile: str | Path | None = None,
) -> tuple[list[Atoms], list[bool]]:
    """FIRE (ASE's algorithm and defaults) for all structures at once, fixed cells.

    A structure stops when its largest force norm is below ``fmax`` (eV/A) or after ``steps`` steps;
    converged structures are masked out. Returns relaxed copies (SinglePointCalculator with energy and
    forces; with a committee ``info["max_forces_dev"]`` and ``info["trusted"]``, see
    :func:`~equiformer_ase.committee.flag_untrusted`) and per-structure converged flags.
    ``finished(k, atoms, converged)`` is called for structure k as soon as it converges (the others at the
    end), so a caller can keep it before the rest are done. ``allow_close_contacts``, ``dispersion`` and
    ``max_uncertainty`` (eV/A: :class:`UncertaintyError` when a committee's deviation exceeds it at any
    step): see :class:`BatchedSystems`. ``logfile``: a CSV (:data:`RELAX_LOG_HEADER`) of every system's
    energy and largest force at every step.
    """
    s = BatchedSystems(
        atoms_list,
        potential,
        device=device,
        dtype=dtype,
        skin=skin,
        neighbour_backend=neighbour_backend,
        allow_close_contacts=allow_close_contacts,
        dispersion=dispersion,
        max_uncertainty=max_uncertainty,
    )
    reported = torch.zeros(s.num_systems, dtype=torch.bool, device=s.device)
    relaxed: list[Atoms] = [None] * s.num_systems

    def report(state, converged: torch.Tensor, done: torch.Tensor) -> None:
        frames = s.to_atoms(
            state.positions, None, state.energy, state.forces, max_forces_dev=s.max_forces_dev
        )
        for k in torch.nonzero(done & ~reported).flatten().tolist():
            relaxed[k] = frames[k]
            if s.is_committee:
                flag_untrusted([frames[k]], s.potential.trust_level, first_index=k)
            if finished is not None:
                finished(k, frames[k], bool(converged[k]))
        reported.copy_(reported | done)

    log = open(logfile, "w") if logfile else None

    def record(step: int, state) -> None:
        if log:
            log.write(RELAX_LOG_HEADER if step == 0 else "")
            largest = s.max_force_per_system(state.forces).tolist()
            log.writelines(
                f"{step},{k},{e:.10f},{f:.8f}\n"
                for k, (e, f) in enumerate(zip(state.energy.tolist(), largest))
            )

    state = init_fire_state(s.positions, s.num_systems, s.forces, params)
    record(0, state)
    converged = s.max_force_per_system(state.forces) < fmax
    with tqdm(total=steps, disable=not progress, desc="FIRE", unit="step") as bar:
        for step in range(1, steps + 1):
            if bool((converged & ~reported).any()):
                report(state, converged, converged)
            if bool(converged.all()):
                break
            state = fire_step(state, s.forces, s.batch, ~converged, params, s.movable)
            converged = s.max_force_per_system(state.forces) < fmax
            record(step, state)
            bar.update()
            bar.set_postfix(converged=f"{int(converged.sum())}/{s.num_systems}")
    if log:
        log.close()
    report(state, converged, torch.ones_like(converged))
    return relaxed, converged.tolist()


__all__ = [
    "BatchedSystems",
    "BlowUpError",
    "MolecularDynamics",
    "UncertaintyError",
    "last_frames",
    "relax",
    "trajectory_paths",
]
