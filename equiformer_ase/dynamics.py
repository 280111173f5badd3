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
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import Trajectory, read
from tqdm.auto import tqdm

from .devices import resolve_device, resolve_dtype
from .errors import BlowUpError
from .graph import NeighbourList, check_close_contacts
from .integrators import (FireParameters, MDState, fire_step, init_fire_state, init_md_state,
                          kinetic_energy, langevin_baoab_step, velocity_verlet_step)
from .potential import Potential, inference_copy

ENSEMBLES = ("nve", "nvt")
LOG_HEADER = "step,time_fs,system,temperature_K,potential_eV,kinetic_eV,total_eV\n"


class BatchedSystems:
    """Structures as flat device tensors plus the batched force function.

    ``positions``, ``momenta`` (N, 3) float64 (``dtype`` is the model's); ``masses`` (N, 1) amu;
    ``batch`` (N,); ``movable`` (N,) bool (False for FixAtoms atoms); ``degrees_of_freedom`` (B,) =
    3 x movable atoms, as ASE counts them.
    ``max_force`` (eV/A): a force above it on any atom raises :class:`BlowUpError`. The input
    structures are checked up front (unsupported elements, NaN, cells; overlapping atoms raise
    :class:`~equiformer_ase.errors.CloseContactError` unless ``allow_close_contacts``).
    """

    def __init__(self, atoms_list: list[Atoms], potential: Potential | str | Path, *, device: str = "auto",
                 dtype: str = "float64", skin: float = 0.5, neighbour_backend: str = "auto",
                 max_force: float = math.inf, allow_close_contacts: bool = False):
        if isinstance(atoms_list, Atoms):
            atoms_list = [atoms_list]
        if len(atoms_list) == 0:
            raise ValueError("no structures given")
        self.device, self.dtype = resolve_device(device), resolve_dtype(dtype)
        self.potential = inference_copy(potential, self.device, self.dtype)
        cfg = self.potential.config
        # The state is float64 whatever the model's dtype: edge vectors far from the origin keep
        # their precision (Potential.evaluate casts them after the subtraction).
        self.neighbour_list = NeighbourList(cfg.elements, cfg.cutoff, skin, backend=neighbour_backend,
                                            device=self.device, dtype=torch.float64)
        graph = self.neighbour_list(atoms_list)  # the first build: input errors surface as themselves
        if not allow_close_contacts:
            check_close_contacts(graph, cfg.elements)
        self.templates = [atoms.copy() for atoms in atoms_list]
        self.max_force = float(max_force)

        def tensor(array, dtype=torch.float64):
            return torch.as_tensor(np.asarray(array), dtype=dtype, device=self.device)

        sizes = [len(atoms) for atoms in atoms_list]
        self.num_systems = len(atoms_list)
        self.batch = torch.repeat_interleave(torch.arange(self.num_systems, device=self.device),
                                             tensor(sizes, torch.long))
        self.movable = tensor(np.concatenate([_movable(atoms) for atoms in atoms_list]), torch.bool)
        self.positions = tensor(np.concatenate([atoms.positions for atoms in atoms_list]))
        self.masses = tensor(np.concatenate([atoms.get_masses() for atoms in atoms_list])).unsqueeze(-1)
        self.momenta = tensor(np.concatenate([atoms.get_momenta() for atoms in atoms_list])) * self.movable[:, None]
        self.degrees_of_freedom = 3 * self.movable.new_zeros(self.num_systems, dtype=torch.long).index_add_(
            0, self.batch, self.movable.long())
        self.atom_mask = None if bool(self.movable.all()) else self.movable[:, None]

    def forces(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Force function for the integrators: ``(forces (N, 3), energy (B,))``, fixed atoms' forces zero.

        Raises :class:`BlowUpError` for non-finite positions or energies, or forces above ``max_force``.
        """
        try:
            graph = self.neighbour_list.update(positions, self.templates)
        except ValueError as err:
            raise BlowUpError(f"cannot build the neighbour list ({err})") from None
        out = self.potential.evaluate(graph, forces=True)
        forces = out["forces"] * self.movable[:, None]
        largest = self.max_force_per_system(forces)
        bad = ~torch.isfinite(out["energy"]) | ~torch.isfinite(largest) | (largest > self.max_force)
        if bool(bad.any()):
            systems = torch.nonzero(bad).flatten().tolist()
            raise BlowUpError(
                f"systems {systems[:10]}: energy {out['energy'][bad][:10].tolist()} eV, largest force "
                f"{largest[bad][:10].tolist()} eV/A (threshold max_force={self.max_force} eV/A)")
        return forces, out["energy"]

    def max_force_per_system(self, forces: torch.Tensor) -> torch.Tensor:
        """(B,) largest per-atom force norm of each system, eV/A (ASE's fmax)."""
        norms = torch.linalg.vector_norm(forces, dim=1)
        return norms.new_zeros(self.num_systems).scatter_reduce_(0, self.batch, norms, reduce="amax")

    def temperature(self, momenta: torch.Tensor) -> torch.Tensor:
        """(B,) kinetic temperature 2 E_kin / (dof k_B), Kelvin."""
        ekin = kinetic_energy(momenta, self.masses, self.batch, self.num_systems)
        return 2 * ekin / (self.degrees_of_freedom.clamp_min(1) * units.kB)

    def to_atoms(self, positions: torch.Tensor, momenta: torch.Tensor | None, energy: torch.Tensor,
                 forces: torch.Tensor, info: dict | None = None) -> list[Atoms]:
        """Copies of the input structures at this state, with a SinglePointCalculator (energy, forces)."""
        positions, forces, energy = (t.detach().to("cpu", torch.float64).numpy() for t in (positions, forces, energy))
        momenta = None if momenta is None else momenta.detach().to("cpu", torch.float64).numpy()
        bounds = np.cumsum([0] + [len(atoms) for atoms in self.templates])
        frames = []
        for k, template in enumerate(self.templates):
            atoms, part = template.copy(), slice(bounds[k], bounds[k + 1])
            atoms.positions = positions[part]
            if momenta is not None:
                atoms.set_momenta(momenta[part], apply_constraint=False)
            atoms.info.update(info or {})
            atoms.calc = SinglePointCalculator(atoms, energy=float(energy[k]), forces=forces[part])
            frames.append(atoms)
        return frames


def _movable(atoms: Atoms) -> np.ndarray:
    """(n,) bool, False for atoms fixed by FixAtoms; other constraints are refused."""
    movable = np.ones(len(atoms), dtype=bool)
    for constraint in atoms.constraints:
        if not isinstance(constraint, FixAtoms):
            raise NotImplementedError(
                f"the on-device engine supports only FixAtoms constraints, got {type(constraint).__name__}; "
                "use ASE's own dynamics or optimizers with EquiformerCalculator for other constraints")
        movable[constraint.get_indices()] = False
    return movable


def trajectory_paths(trajectory: str | Path, num_systems: int) -> list[Path]:
    """One file per system: ``trajectory`` itself for one system, else ``STEM_k.SUFFIX``."""
    trajectory = Path(trajectory)
    if num_systems == 1:
        return [trajectory]
    return [trajectory.with_name(f"{trajectory.stem}_{k}{trajectory.suffix}") for k in range(num_systems)]


def last_frames(trajectory: str | Path, num_systems: int) -> list[Atoms]:
    """The last frame (positions, momenta, ``info['md_step']``) of each system's trajectory, to resume a run."""
    return [read(path, index=-1) for path in trajectory_paths(trajectory, num_systems)]


class MolecularDynamics:
    """Batched NVE (velocity Verlet) or NVT (Langevin BAOAB) on the device.

    ``timestep`` fs; ``temperature`` K (NVT); ``friction`` 1/fs (NVT); ``seed`` makes the Langevin
    noise reproducible. Initial momenta are the input Atoms' (set them, e.g., with ASE's
    ``MaxwellBoltzmannDistribution``); ``atoms.info['md_step']`` of the first structure sets the
    starting step, so the last frames of a trajectory (:func:`last_frames`) resume a run.
    ``max_force`` eV/A: the blow-up threshold; ``allow_close_contacts``: see :class:`BatchedSystems`.
    """

    def __init__(self, atoms_list: list[Atoms], potential: Potential | str | Path, *, timestep: float,
                 ensemble: str = "nve", temperature: float | None = None, friction: float = 0.01, seed: int = 0,
                 device: str = "auto", dtype: str = "float64", skin: float = 0.5, max_force: float = 100.0,
                 neighbour_backend: str = "auto", allow_close_contacts: bool = False):
        if ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
        if ensemble == "nvt" and (temperature is None or temperature < 0 or friction <= 0):
            raise ValueError(f"NVT needs temperature >= 0 K and friction > 0 1/fs, got {temperature}, {friction}")
        if not timestep > 0:
            raise ValueError(f"timestep must be > 0 fs, got {timestep}")
        self.systems = BatchedSystems(atoms_list, potential, device=device, dtype=dtype, skin=skin,
                                      neighbour_backend=neighbour_backend, max_force=max_force,
                                      allow_close_contacts=allow_close_contacts)
        first = atoms_list[0] if not isinstance(atoms_list, Atoms) else atoms_list
        self.step_count = int(first.info.get("md_step", 0))
        self.ensemble, self.timestep, self.temperature, self.friction = ensemble, timestep, temperature, friction
        self.generator = torch.Generator(device=self.systems.device).manual_seed(seed + self.step_count)
        s = self.systems
        self.state = init_md_state(s.positions, s.momenta, s.masses, s.forces)

    def step(self, state: MDState) -> MDState:
        dt, s = self.timestep * units.fs, self.systems
        if self.ensemble == "nve":
            return velocity_verlet_step(state, s.forces, dt, s.atom_mask)
        return langevin_baoab_step(state, s.forces, dt, units.kB * self.temperature, self.friction / units.fs,
                                   self.generator, s.atom_mask)

    def energies(self, state: MDState | None = None) -> dict[str, np.ndarray]:
        """Per system (B,): ``potential``, ``kinetic``, ``total`` (eV) and ``temperature`` (K)."""
        state = state or self.state
        s = self.systems
        kinetic = kinetic_energy(state.momenta, s.masses, s.batch, s.num_systems)
        out = {"potential": state.aux, "kinetic": kinetic, "total": state.aux + kinetic,
               "temperature": s.temperature(state.momenta)}
        return {k: v.detach().to("cpu", torch.float64).numpy() for k, v in out.items()}

    def get_atoms(self) -> list[Atoms]:
        """The current structures with momenta, energy and forces."""
        info = {"md_step": self.step_count, "md_time_fs": self.step_count * self.timestep}
        return self.systems.to_atoms(self.state.positions, self.state.momenta, self.state.aux, self.state.forces, info)

    def run(self, steps: int, trajectory: str | Path | None = None, logfile: str | Path | None = None,
            interval: int = 10, progress: bool = True) -> list[Atoms]:
        """Advance ``steps`` steps; every ``interval`` steps (and at the end) append a frame to each
        system's trajectory and a line per system to the CSV ``logfile``.

        A fresh run (step 0) overwrites the files; a resumed one appends. On a blow-up, interruption or
        any error, the last good state is written before the error propagates.
        """
        s = self.systems
        resuming = self.step_count > 0
        paths = trajectory_paths(trajectory, s.num_systems) if trajectory else []
        writers = [Trajectory(str(path), "a" if resuming else "w") for path in paths]
        log = None
        if logfile:
            log = open(logfile, "a" if resuming else "w")
            if not resuming:
                log.write(LOG_HEADER)
        written = None

        def record():
            nonlocal written
            if written == self.step_count:
                return
            for writer, atoms in zip(writers, self.get_atoms()):
                writer.write(atoms)
            if log:
                e, time_fs = self.energies(), self.step_count * self.timestep
                log.writelines(f"{self.step_count},{time_fs:.6g},{k},{e['temperature'][k]:.6f},{e['potential'][k]:.10f},"
                               f"{e['kinetic'][k]:.10f},{e['total'][k]:.10f}\n" for k in range(s.num_systems))
                log.flush()
            written = self.step_count

        try:
            if not resuming:
                record()
            for _ in tqdm(range(steps), disable=not progress, desc=f"MD {self.ensemble}", unit="step"):
                try:
                    self.state = self.step(self.state)
                except BlowUpError as err:
                    where = f"; last good frame (step {self.step_count}) is in {', '.join(map(str, paths))}" if paths else ""
                    raise BlowUpError(f"MD blew up at step {self.step_count + 1}: {err}{where}") from None
                self.step_count += 1
                if self.step_count % interval == 0:
                    record()
        finally:
            record()
            for writer in writers:
                writer.close()
            if log:
                log.close()
        return self.get_atoms()


def relax(atoms_list: list[Atoms], potential: Potential | str | Path, *, fmax: float = 0.05, steps: int = 1000,
          device: str = "auto", dtype: str = "float64", skin: float = 0.5, params: FireParameters = FireParameters(),
          neighbour_backend: str = "auto", progress: bool = True,
          allow_close_contacts: bool = False) -> tuple[list[Atoms], list[bool]]:
    """FIRE (ASE's algorithm and defaults) for all structures at once, fixed cells.

    A structure stops when its largest force norm is below ``fmax`` (eV/A) or after ``steps`` steps;
    converged structures are masked out. Returns relaxed copies (SinglePointCalculator with energy and
    forces) and per-structure converged flags. ``allow_close_contacts``: see :class:`BatchedSystems`.
    """
    s = BatchedSystems(atoms_list, potential, device=device, dtype=dtype, skin=skin,
                       neighbour_backend=neighbour_backend, allow_close_contacts=allow_close_contacts)
    state = init_fire_state(s.positions, s.num_systems, s.forces, params)
    converged = s.max_force_per_system(state.forces) < fmax
    with tqdm(total=steps, disable=not progress, desc="FIRE", unit="step") as bar:
        for _ in range(steps):
            if bool(converged.all()):
                break
            state = fire_step(state, s.forces, s.batch, ~converged, params, s.movable)
            converged = s.max_force_per_system(state.forces) < fmax
            bar.update()
            bar.set_postfix(converged=f"{int(converged.sum())}/{s.num_systems}")
    return s.to_atoms(state.positions, None, state.aux, state.forces), converged.tolist()


__all__ = ["BatchedSystems", "BlowUpError", "MolecularDynamics", "last_frames", "relax",
           "trajectory_paths"]
