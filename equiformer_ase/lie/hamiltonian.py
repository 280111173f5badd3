"""Learned Hamiltonians H(q, p) for particle systems, and their time integration.

    separable (default):  H = sum_i |p_i|^2 / (2 m_i) + V(q, features)
    full:                 H = net(q, [features, p, m])      (learned kinetic term too)

``V`` (or the full ``net``) is a :class:`LieTransformer` over the particles (``model="lie"``), or,
for the baseline HNN, a plain MLP over the flattened coordinates (``model="mlp"``; fixed particle
count, no symmetry). Hamilton's equations come from autograd:

    dq/dt = dH/dp,   dp/dt = -dH/dq.

``rollout`` integrates them with RK4 (as in training) or leapfrog / Stormer-Verlet (symplectic,
separable H only), using ``integrators.py``. A LieTransformer V is invariant to its group; a full H
sees momenta as plain features, so it is invariant to translations (T(n)) only.

Shapes: q, p (B, n, d); masses (B, n); features (B, n, F) or None; ts (T,); any consistent units.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..integrators import MDState, particle_kinetic_energy, rk4_step, velocity_verlet_step
from .attention import mlp
from .transformer import LieTransformer

MODELS = ("lie", "mlp")
METHODS = ("rk4", "leapfrog")
# Upper bounds of the integer sizes, so a crafted file header cannot build a huge model.
SIZE_LIMITS = {
    "dim": 3,
    "num_particles": 10_000,
    "in_features": 1024,
    "width": 4096,
    "depth": 64,
    "heads": 64,
    "nsamples": 4096,
}


@dataclass(frozen=True)
class HamiltonianConfig:
    """Hyper-parameters of :class:`LearnedHamiltonian`, stored in its file header.

    model: "lie" (LieTransformer) or "mlp" (non-equivariant HNN baseline).
    group: the LieTransformer's group, e.g. "T(2)", "SE(2)", "T(3)", "SE(3)".
    dim: space dimension d; num_particles: n (fixed for "mlp"; a check for "lie").
    in_features: F, per-particle features (0: none).
    separable: True for kinetic + V(q), False for a fully learned H(q, p).
    width, depth, heads, nsamples: LieTransformer sizes (width and depth also size the MLP).
    normalisation: LieSelfAttention's; "dot_product" (default) lets the location kernel scale the
        messages directly, which learns spring forces far faster than "softmax" (measured in the
        test of training).
    energy_scale: the network's output is multiplied by it (energy units), so an O(1) network starts
        at the data's energy scale (:func:`~equiformer_ase.lie.fitting.train_hamiltonian` takes the
        training data's mean kinetic energy per system).
    seed: parameter initialisation.
    """

    model: str = "lie"
    group: str = "T(2)"
    dim: int = 2
    num_particles: int = 6
    in_features: int = 1
    separable: bool = True
    width: int = 64
    depth: int = 2
    heads: int = 4
    nsamples: int | None = None
    normalisation: str = "dot_product"
    energy_scale: float = 1.0
    seed: int = 0

    def __post_init__(self):
        """ValueError naming the field for an unknown model or a size outside :data:`SIZE_LIMITS`."""
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        for key, limit in SIZE_LIMITS.items():
            value = getattr(self, key)
            if value is not None and not (
                isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value <= limit
            ):
                raise ValueError(f"config {key} must be an integer in [0, {limit}], got {value!r}")


class LearnedHamiltonian(nn.Module):
    """A learned H(q, p) of ``config``, or of a :class:`HamiltonianConfig` made of ``options``."""

    def __init__(self, config: HamiltonianConfig | None = None, **options):
        super().__init__()
        self.config = c = config if config is not None else HamiltonianConfig(**options)
        extra = 0 if c.separable else c.dim + 1  # a full H also reads p and m per particle
        if c.model == "lie":
            self.net = LieTransformer(
                c.group,
                c.in_features + extra,
                1,
                width=c.width,
                depth=c.depth,
                heads=c.heads,
                nsamples=c.nsamples,
                normalisation=c.normalisation,
                seed=c.seed,
            )
            if self.net.group.space_dim != c.dim:
                raise ValueError(
                    f"group {c.group} acts on {self.net.group.space_dim}-d space, but dim={c.dim}"
                )
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(c.seed)
                self.net = mlp(
                    [c.num_particles * (c.dim + c.in_features + extra)] + [c.width] * (c.depth + 1) + [1]
                )

    # ------------------------------------------------------------------ energies
    def _scalar_net(self, q: Tensor, inputs: Tensor | None) -> Tensor:
        if self.config.model == "lie":
            return self.config.energy_scale * self.net(q, inputs).squeeze(-1)
        flat = [q.flatten(1)] + ([inputs.flatten(1)] if inputs is not None else [])
        return self.config.energy_scale * self.net(torch.cat(flat, 1)).squeeze(-1)

    def potential(self, q: Tensor, features: Tensor | None = None) -> Tensor:
        """V(q, features) (B,) of a separable H."""
        if not self.config.separable:
            raise ValueError("this Hamiltonian is fully learned (separable=False): it has no separate V(q)")
        return self._scalar_net(q, features)

    def hamiltonian(self, q: Tensor, p: Tensor, masses: Tensor, features: Tensor | None = None) -> Tensor:
        """H (B,) for tensors ``q``, ``p`` (B, n, d), ``masses`` (B, n), ``features`` (B, n, F)."""
        if self.config.separable:
            return particle_kinetic_energy(p, masses).sum(-1) + self._scalar_net(q, features)
        inputs = [p, masses[..., None]] if features is None else [features, p, masses[..., None]]
        return self._scalar_net(q, torch.cat(inputs, -1))

    def energy(self, q, p, masses, features=None):
        """H of each system (B,); numpy or torch in, the same kind out."""
        (q, p, masses, features), to_output = self._inputs(q, p, masses, features)
        with torch.no_grad():
            return to_output(self.hamiltonian(q, p, masses, features))

    # ------------------------------------------------------------------ dynamics
    def time_derivative(
        self, q: Tensor, p: Tensor, masses: Tensor, features: Tensor | None = None, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """(dq/dt, dp/dt) = (dH/dp, -dH/dq) by autograd; ``create_graph`` to train through them."""
        with torch.enable_grad():
            q = q if q.requires_grad else q.detach().requires_grad_(True)
            p = p if p.requires_grad else p.detach().requires_grad_(True)
            energy = self.hamiltonian(q, p, masses, features).sum()
            dh_dq, dh_dp = torch.autograd.grad(energy, (q, p), create_graph=create_graph)
        return dh_dp, -dh_dq

    def forces(self, q: Tensor, features: Tensor | None = None, create_graph: bool = False) -> Tensor:
        """-dV/dq (B, n, d) of a separable H."""
        with torch.enable_grad():
            q = q if q.requires_grad else q.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.potential(q, features).sum(), q, create_graph=create_graph)
        return -grad

    def integrate(
        self,
        q0: Tensor,
        p0: Tensor,
        ts: Tensor,
        masses: Tensor,
        features: Tensor | None = None,
        method: str = "rk4",
        substeps: int = 1,
        create_graph: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Tensor core of :meth:`rollout`: (B, T, n, d) each; ``create_graph`` keeps the graph for training."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if method == "leapfrog" and not self.config.separable:
            raise ValueError("leapfrog needs a separable Hamiltonian (kinetic + V(q)); use method='rk4'")

        def keep(x: Tensor) -> Tensor:
            return x if create_graph else x.detach()

        qs, ps = [q0], [p0]
        q, p = q0, p0
        if method == "rk4":

            def derivative(_t, state):
                return self.time_derivative(state[0], state[1], masses, features, create_graph)

            for t0, t1 in zip(ts[:-1].tolist(), ts[1:].tolist()):
                dt = (t1 - t0) / substeps
                for s in range(substeps):
                    q, p = (keep(x) for x in rk4_step(derivative, t0 + s * dt, (q, p), dt))
                qs.append(q)
                ps.append(p)
        else:

            def force_fn(x: Tensor) -> tuple[Tensor, None]:
                return keep(self.forces(x, features, create_graph)), None

            state = MDState(q, p, force_fn(q)[0], masses[..., None])
            for t0, t1 in zip(ts[:-1].tolist(), ts[1:].tolist()):
                for _ in range(substeps):
                    state = velocity_verlet_step(state, force_fn, (t1 - t0) / substeps)
                qs.append(state.positions)
                ps.append(state.momenta)
        return torch.stack(qs, 1), torch.stack(ps, 1)

    def rollout(self, q0, p0, ts, masses, features=None, method: str = "rk4", substeps: int = 1):
        """Integrate from (q0, p0) over the times ``ts``: q, p (B, T, n, d) with q[:, 0] == q0.

        ``method``: "rk4" or "leapfrog"; ``substeps`` integration steps per interval of ``ts``.
        numpy or torch in, the same kind out.
        """
        (q0, p0, masses, features), to_output = self._inputs(q0, p0, masses, features)
        ts = torch.as_tensor(np.ascontiguousarray(ts) if not isinstance(ts, Tensor) else ts, dtype=q0.dtype)
        if ts.dim() != 1 or len(ts) < 1 or (len(ts) > 1 and not bool((ts[1:] > ts[:-1]).all())):
            raise ValueError(f"ts must be a 1-d increasing array of times, got shape {tuple(ts.shape)}")
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        q, p = self.integrate(q0, p0, ts, masses, features, method, substeps)
        return to_output(q), to_output(p)

    def _inputs(self, q, p, masses, features):
        """Validated tensors in the parameters' dtype and device, and a converter back to the caller's kind."""
        numpy_in = isinstance(q, np.ndarray)
        parameter = next(self.parameters())

        def tensor(x):
            return (
                None
                if x is None
                else torch.as_tensor(
                    np.ascontiguousarray(x) if not isinstance(x, Tensor) else x,
                    dtype=parameter.dtype,
                    device=parameter.device,
                )
            )

        q, p, masses, features = (tensor(x) for x in (q, p, masses, features))
        cfg = self.config
        if q.dim() != 3 or q.shape[-1] != cfg.dim:
            raise ValueError(f"q must have shape (B, n, {cfg.dim}), got {tuple(q.shape)}")
        if p.shape != q.shape:
            raise ValueError(f"p must have the shape of q {tuple(q.shape)}, got {tuple(p.shape)}")
        if masses.shape != q.shape[:2] or not bool((masses > 0).all()):
            raise ValueError(
                f"masses must be positive with shape {tuple(q.shape[:2])}, got {tuple(masses.shape)}"
            )
        if cfg.model == "mlp" and q.shape[1] != cfg.num_particles:
            raise ValueError(f"this MLP Hamiltonian takes {cfg.num_particles} particles, got {q.shape[1]}")
        expected = (*q.shape[:2], cfg.in_features)
        if cfg.in_features == 0 and features is not None:
            raise ValueError("this Hamiltonian takes no features; pass features=None")
        if cfg.in_features and (features is None or features.shape != expected):
            got = None if features is None else tuple(features.shape)
            raise ValueError(f"features must have shape {expected}, got {got}")

        def to_output(x: Tensor):
            return x.detach().cpu().numpy() if numpy_in else x.detach()

        return (q, p, masses, features), to_output
