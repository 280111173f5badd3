"""Spring systems (the LieConv / LieTransformer dynamics benchmark): Hamiltonian, generator, files.

``n`` particles in ``d`` dimensions with masses ``m`` and per-particle constants ``k``; every pair
is joined by a spring of constant ``k_i k_j``:

    H(q, p) = sum_i |p_i|^2 / (2 m_i) + V(q),   V(q) = 1/2 sum_{i != j} k_i k_j |q_i - q_j|^2,

the sum running over ordered pairs (each unordered pair counted twice, as in LieConv's data).
With ``K = sum_i k_i``: ``V = K sum_i k_i |q_i|^2 - |sum_i k_i q_i|^2`` and
``-dV/dq_i = -2 k_i (K q_i - sum_j k_j q_j)``, O(n) instead of O(n^2).

File format (``.npz``): ``q`` (B, T, n, d), ``p`` (B, T, n, d), ``m`` (B, n), ``k`` (B, n), ``ts`` (T,).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..integrators import particle_kinetic_energy, rk4_step

FIELDS = ("q", "p", "m", "k", "ts")


def spring_potential(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """V for positions ``q`` (..., n, d) and constants ``k`` (..., n) -> (...)."""
    total = k.sum(-1)
    weighted = (k[..., None] * q).sum(-2)
    return total * (k * q.pow(2).sum(-1)).sum(-1) - weighted.pow(2).sum(-1)


def spring_forces(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """-dV/dq (..., n, d)."""
    total = k.sum(-1)[..., None, None]
    weighted = (k[..., None] * q).sum(-2, keepdim=True)
    return -2.0 * k[..., None] * (total * q - weighted)


def spring_hamiltonian(q: torch.Tensor, p: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """H = kinetic + V: ``q``, ``p`` (..., n, d), ``m``, ``k`` (..., n) -> (...)."""
    return particle_kinetic_energy(p, m).sum(-1) + spring_potential(q, k)


@dataclass
class SpringData:
    """Trajectories ``q``, ``p`` (B, T, n, d); masses ``m`` and constants ``k`` (B, n); times ``ts`` (T,)."""

    q: np.ndarray
    p: np.ndarray
    m: np.ndarray
    k: np.ndarray
    ts: np.ndarray

    def __post_init__(self):
        batch, steps, n, _ = np.shape(self.q)
        expected = {"p": np.shape(self.q), "m": (batch, n), "k": (batch, n), "ts": (steps,)}
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(
                    f"spring data field {name!r} has shape {np.shape(getattr(self, name))}, "
                    f"expected {shape} for q of shape {np.shape(self.q)}"
                )

    def systems(self, rows: slice) -> "SpringData":
        """The systems ``rows`` (a slice over B), sharing ``ts``."""
        return SpringData(self.q[rows], self.p[rows], self.m[rows], self.k[rows], self.ts)

    def save(self, path: str | Path) -> None:
        np.savez(path, **{name: getattr(self, name) for name in FIELDS})

    @classmethod
    def load(cls, path: str | Path) -> "SpringData":
        with np.load(path) as f:
            missing = [name for name in FIELDS if name not in f.files]
            if missing:
                raise ValueError(f"{path} is not spring data: missing {missing} (needs {list(FIELDS)})")
            return cls(**{name: f[name] for name in FIELDS})


def integrate_springs(
    q0: torch.Tensor, p0: torch.Tensor, m: torch.Tensor, k: torch.Tensor, ts: torch.Tensor, substeps: int = 20
) -> tuple[torch.Tensor, torch.Tensor]:
    """RK4 on the true Hamiltonian, ``substeps`` steps per grid interval: (B, T, n, d) each, ``[:, 0] == q0``."""

    def derivative(_t, state):
        q, p = state
        return p / m[..., None], spring_forces(q, k)

    qs, ps = [q0], [p0]
    state = (q0, p0)
    for t0, t1 in zip(ts[:-1].tolist(), ts[1:].tolist()):
        dt = (t1 - t0) / substeps
        for s in range(substeps):
            state = rk4_step(derivative, t0 + s * dt, state, dt)
        qs.append(state[0])
        ps.append(state[1])
    return torch.stack(qs, 1), torch.stack(ps, 1)


def generate_springs(
    num_systems: int,
    seed: int = 0,
    num_particles: int = 6,
    dim: int = 2,
    ts: np.ndarray | None = None,
    substeps: int = 20,
) -> SpringData:
    """The LieConv recipe: m ~ U(0.1, 3.1), k ~ U(0, 5), q0 = 0.4 N(0,1), p0 = 0.6 N(0,1),
    ts = linspace(0, 5, 500); float64 RK4 ground truth with ``substeps`` steps per grid interval."""
    if num_systems < 1 or num_particles < 2:
        raise ValueError(f"need at least 1 system and 2 particles, got {num_systems} and {num_particles}")
    rng = np.random.default_rng(seed)
    ts = np.linspace(0.0, 5.0, 500) if ts is None else np.asarray(ts, dtype=np.float64)
    m = rng.uniform(0.1, 3.1, size=(num_systems, num_particles))
    k = rng.uniform(0.0, 5.0, size=(num_systems, num_particles))
    q0 = 0.4 * rng.standard_normal((num_systems, num_particles, dim))
    p0 = 0.6 * rng.standard_normal((num_systems, num_particles, dim))
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    q, p = integrate_springs(as_t(q0), as_t(p0), as_t(m), as_t(k), as_t(ts), substeps)
    return SpringData(q.numpy(), p.numpy(), m, k, ts)
