"""Time integrators and FIRE as plain functions over tensor state (JAX-MD style).

No ASE objects, no I/O: a step takes a state and a force callable and returns a new state, so the
same code drives the Equiformer MD engine (:mod:`equiformer_ase.dynamics`) and a learned
Hamiltonian.

Units are ASE's: positions in Angstrom, masses in amu, momenta in amu * Angstrom / (ASE time unit),
forces in eV / Angstrom, and ``dt`` in ASE time units (``femtoseconds * ase.units.fs``), exactly as
``ase.md.verlet.VelocityVerlet`` uses them.

``force_fn(positions) -> (forces, energy)``: forces have the shape of ``positions``; ``energy`` is
the potential energy of each system (B,) in eV, or None where the caller has none, and is stored in
the state.

``mask``: optional (N, 1) or (N,) tensor, 1 where an atom moves and 0 where it is frozen (fixed
atoms, or every atom of a system that is masked out, via :func:`atom_mask`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .nn.scatter import scatter_sum

ForceFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class MDState:
    """positions, momenta, forces (N, D); masses (N, 1); energy: the potential energy ``force_fn`` returned."""

    positions: torch.Tensor
    momenta: torch.Tensor
    forces: torch.Tensor
    masses: torch.Tensor
    energy: torch.Tensor | None = None


def init_md_state(
    positions: torch.Tensor, momenta: torch.Tensor, masses: torch.Tensor, force_fn: ForceFn
) -> MDState:
    """State with the forces at ``positions``; masses (N,) or (N, 1)."""
    forces, energy = force_fn(positions)
    return MDState(positions, momenta, forces, masses.reshape(-1, 1), energy)


def atom_mask(
    system_mask: torch.Tensor, batch: torch.Tensor, atom_movable: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, 1) bool: atoms of systems where ``system_mask`` (B,) bool is True and ``atom_movable`` (N,) bool allows."""
    mask = system_mask.index_select(0, batch)
    if atom_movable is not None:
        mask = mask & atom_movable
    return mask.unsqueeze(-1)


def _masked(increment: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return increment if mask is None else increment * mask.reshape(len(increment), -1).to(increment.dtype)


def velocity_verlet_step(
    state: MDState, force_fn: ForceFn, dt: float, mask: torch.Tensor | None = None
) -> MDState:
    """One velocity Verlet (Stormer-Verlet, leapfrog in kick-drift-kick form) step, NVE.

    p += dt/2 F(q);  q += dt p / m;  p += dt/2 F(q). The same arithmetic as ASE's VelocityVerlet.
    """
    momenta = state.momenta + _masked(0.5 * dt * state.forces, mask)
    positions = state.positions + _masked(dt * momenta / state.masses, mask)
    forces, energy = force_fn(positions)
    momenta = momenta + _masked(0.5 * dt * forces, mask)
    return MDState(positions, momenta, forces, state.masses, energy)


def langevin_baoab_step(
    state: MDState,
    force_fn: ForceFn,
    dt: float,
    kT: float | torch.Tensor,
    friction: float,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
) -> MDState:
    """One BAOAB Langevin step (Leimkuhler & Matthews), NVT.

    ``kT`` in eV (scalar or (N, 1) per atom), ``friction`` gamma in 1 / (ASE time unit). The O part
    is exact: p <- c p + sqrt((1 - c^2) m kT) xi with c = exp(-gamma dt) and xi ~ N(0, 1) drawn
    from ``generator`` (reproducible).
    """
    momenta = state.momenta + _masked(0.5 * dt * state.forces, mask)
    positions = state.positions + _masked(0.5 * dt * momenta / state.masses, mask)
    decay = torch.exp(torch.as_tensor(-friction * dt, dtype=momenta.dtype))
    noise = torch.randn(momenta.shape, generator=generator, dtype=momenta.dtype, device=momenta.device)
    thermal = torch.sqrt((1 - decay**2) * state.masses * kT) * noise
    momenta = momenta + _masked((decay - 1) * momenta + thermal, mask)
    positions = positions + _masked(0.5 * dt * momenta / state.masses, mask)
    forces, energy = force_fn(positions)
    momenta = momenta + _masked(0.5 * dt * forces, mask)
    return MDState(positions, momenta, forces, state.masses, energy)


def particle_kinetic_energy(momenta, masses):
    """|p|^2 / 2m of each particle: ``momenta`` (..., D), ``masses`` (...) -> (...); torch or numpy."""
    return (momenta**2).sum(-1) / (2 * masses)


def kinetic_energy(
    momenta: torch.Tensor, masses: torch.Tensor, batch: torch.Tensor, num_systems: int
) -> torch.Tensor:
    """(B,) sum over each system of p^2 / 2m, eV; momenta (N, D), masses (N, 1), batch (N,)."""
    return scatter_sum(particle_kinetic_energy(momenta, masses.reshape(-1)), batch, num_systems)


# ----------------------------------------------------------------------------------------- FIRE
@dataclass(frozen=True)
class FireParameters:
    """ASE's ``ase.optimize.FIRE`` defaults: dt and dtmax in ASE's FIRE time units, maxstep Angstrom."""

    dt: float = 0.1
    maxstep: float = 0.2
    dtmax: float = 1.0
    Nmin: int = 5
    finc: float = 1.1
    fdec: float = 0.5
    astart: float = 0.1
    fa: float = 0.99


@dataclass
class FireState:
    """positions, velocities, forces (N, D); per system (B,): dt, alpha, steps since the last
    uphill move, and ``started`` (False until the first step, when ASE has no velocity yet)."""

    positions: torch.Tensor
    velocities: torch.Tensor
    forces: torch.Tensor
    dt: torch.Tensor
    alpha: torch.Tensor
    n_positive: torch.Tensor
    started: torch.Tensor
    energy: torch.Tensor | None = None


def init_fire_state(
    positions: torch.Tensor, num_systems: int, force_fn: ForceFn, params: FireParameters = FireParameters()
) -> FireState:
    forces, energy = force_fn(positions)
    per_system = positions.new_ones(num_systems)
    return FireState(
        positions,
        torch.zeros_like(positions),
        forces,
        params.dt * per_system,
        params.astart * per_system,
        torch.zeros(num_systems, dtype=torch.long, device=positions.device),
        torch.zeros(num_systems, dtype=torch.bool, device=positions.device),
        energy,
    )


def _system_dot(a: torch.Tensor, b: torch.Tensor, batch: torch.Tensor, num_systems: int) -> torch.Tensor:
    """(B,) sum over each system's atoms and components of a * b."""
    return scatter_sum((a * b).sum(dim=1), batch, num_systems)


def fire_step(
    state: FireState,
    force_fn: ForceFn,
    batch: torch.Tensor,
    active: torch.Tensor,
    params: FireParameters = FireParameters(),
    atom_movable: torch.Tensor | None = None,
) -> FireState:
    """One FIRE step for every system where ``active`` (B,) is True; others keep their state.

    The arithmetic of ``ase.optimize.FIRE.step`` applied per system: mixing when P = F.v > 0 (and
    the time step grows after ``Nmin`` such steps), else a reset; then v += dt F, and the whole
    system's displacement dt v is scaled down to norm ``maxstep`` if longer. ``atom_movable`` (N,)
    bool freezes atoms; their forces should be zero (as ASE's FixAtoms makes them).
    """
    num_systems = len(active)
    f, v = state.forces, state.velocities
    vf = _system_dot(f, v, batch, num_systems)
    f2 = _system_dot(f, f, batch, num_systems)
    v2 = _system_dot(v, v, batch, num_systems)
    downhill = vf > 0
    mixing = state.started & downhill
    reset = state.started & ~downhill
    grow = mixing & (state.n_positive > params.Nmin)

    alpha_atoms = state.alpha.index_select(0, batch).unsqueeze(-1)
    scale = (
        (torch.sqrt(v2) / torch.sqrt(f2).clamp_min(torch.finfo(f.dtype).tiny))
        .index_select(0, batch)
        .unsqueeze(-1)
    )
    mixed = (1 - alpha_atoms) * v + alpha_atoms * f * scale
    v = torch.where(mixing.index_select(0, batch).unsqueeze(-1), mixed, v)
    v = torch.where(reset.index_select(0, batch).unsqueeze(-1), torch.zeros_like(v), v)
    dt = torch.where(grow, torch.clamp(state.dt * params.finc, max=params.dtmax), state.dt)
    dt = torch.where(reset, dt * params.fdec, dt)
    alpha = torch.where(grow, state.alpha * params.fa, state.alpha)
    alpha = torch.where(reset, torch.full_like(alpha, params.astart), alpha)
    n_positive = torch.where(mixing, state.n_positive + 1, state.n_positive)
    n_positive = torch.where(reset, torch.zeros_like(n_positive), n_positive)

    v = v + dt.index_select(0, batch).unsqueeze(-1) * f
    dr = dt.index_select(0, batch).unsqueeze(-1) * v
    norm = torch.sqrt(_system_dot(dr, dr, batch, num_systems))
    shrink = torch.where(
        norm > params.maxstep, params.maxstep / norm.clamp_min(params.maxstep), torch.ones_like(norm)
    )
    dr = dr * shrink.index_select(0, batch).unsqueeze(-1)

    mask = atom_mask(active, batch, atom_movable)
    positions = state.positions + _masked(dr, mask)
    forces, energy = force_fn(positions)
    keep = ~active
    return FireState(
        positions=positions,
        velocities=torch.where(mask, v, state.velocities),
        forces=forces,
        dt=torch.where(keep, state.dt, dt),
        alpha=torch.where(keep, state.alpha, alpha),
        n_positive=torch.where(keep, state.n_positive, n_positive),
        started=state.started | active,
        energy=energy,
    )


# ------------------------------------------------------------------------------------------ RK4
def rk4_step(
    derivative: Callable[[float, tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...]],
    t: float,
    y: tuple[torch.Tensor, ...],
    dt: float,
) -> tuple[torch.Tensor, ...]:
    """Classical 4th-order Runge-Kutta step of dy/dt = derivative(t, y) for a tuple of tensors y."""

    def shifted(k, h):
        return tuple(a + h * b for a, b in zip(y, k))

    k1 = derivative(t, y)
    k2 = derivative(t + dt / 2, shifted(k1, dt / 2))
    k3 = derivative(t + dt / 2, shifted(k2, dt / 2))
    k4 = derivative(t + dt, shifted(k3, dt))
    return tuple(a + dt / 6 * (b1 + 2 * b2 + 2 * b3 + b4) for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4))
