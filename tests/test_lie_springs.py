"""Spring systems: the analytic potential, RK4 ground truth and leapfrog energy behaviour."""

import numpy as np
import pytest
import torch

from equiformer_ase.integrators import MDState, velocity_verlet_step
from equiformer_ase.lie.springs import (
    SpringData,
    generate_springs,
    integrate_springs,
    spring_forces,
    spring_hamiltonian,
    spring_potential,
)


def random_system(seed=0, batch=3, n=6):
    g = torch.Generator().manual_seed(seed)
    q = 0.4 * torch.randn(batch, n, 2, generator=g, dtype=torch.float64)
    p = 0.6 * torch.randn(batch, n, 2, generator=g, dtype=torch.float64)
    m = 0.1 + 3.0 * torch.rand(batch, n, generator=g, dtype=torch.float64)
    k = 5.0 * torch.rand(batch, n, generator=g, dtype=torch.float64)
    return q, p, m, k


def test_potential_is_the_ordered_pair_sum_and_forces_its_gradient():
    q, _, _, k = random_system()
    pairs = 0.5 * (k[:, :, None] * k[:, None, :] * (q[:, :, None] - q[:, None, :]).pow(2).sum(-1)).sum((1, 2))
    torch.testing.assert_close(spring_potential(q, k), pairs, rtol=1e-12, atol=0)
    q.requires_grad_(True)
    (grad,) = torch.autograd.grad(spring_potential(q, k).sum(), q)
    torch.testing.assert_close(spring_forces(q, k), -grad, rtol=1e-12, atol=1e-14)


def test_generated_trajectories_conserve_energy_and_converge():
    ts = np.linspace(0, 5, 500)[:101]  # the generator's grid, first second
    data = generate_springs(2, seed=1, ts=ts)
    q, p, m, k = (torch.as_tensor(a) for a in (data.q, data.p, data.m[:, None], data.k[:, None]))
    energy = spring_hamiltonian(q, p, m, k)  # (B, T)
    assert (energy - energy[:, :1]).abs().max() < 1e-9 * energy.abs().max()
    finer = generate_springs(2, seed=1, ts=ts, substeps=40)
    assert np.abs(finer.q - data.q).max() < 1e-10


def test_leapfrog_energy_error_is_bounded_and_second_order():
    q, p, m, k = random_system(batch=2)
    masses = m[..., None]

    def max_energy_error(dt, steps):
        state = MDState(q, p, spring_forces(q, k), masses)
        e0 = spring_hamiltonian(q, p, m, k)
        errors = []
        for _ in range(steps):
            state = velocity_verlet_step(state, lambda x: (spring_forces(x, k), None), dt)
            errors.append((spring_hamiltonian(state.positions, state.momenta, m, k) - e0).abs().max())
        return torch.stack(errors)

    errors = max_energy_error(0.01, 10_000)
    first, second = errors[:5000].max(), errors[5000:].max()
    assert second < 1.5 * first  # oscillates, does not drift
    ratio = max_energy_error(0.02, 500).max() / max_energy_error(0.01, 1000).max()
    assert 3.0 < ratio < 5.0  # O(dt^2)


def test_rk4_matches_the_generator_and_files_round_trip(tmp_path):
    data = generate_springs(1, seed=2, ts=np.linspace(0, 1, 21))
    q, p = integrate_springs(
        *(torch.as_tensor(a) for a in (data.q[:, 0], data.p[:, 0], data.m, data.k, data.ts))
    )
    np.testing.assert_allclose(q.numpy(), data.q, atol=1e-12)
    data.save(tmp_path / "springs.npz")
    loaded = SpringData.load(tmp_path / "springs.npz")
    for name in ("q", "p", "m", "k", "ts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(data, name))


def test_bad_shapes_and_files_are_refused(tmp_path):
    data = generate_springs(1, seed=0, ts=np.linspace(0, 1, 5))
    with pytest.raises(ValueError, match="field 'm' has shape"):
        SpringData(data.q, data.p, data.m[:, :3], data.k, data.ts)
    np.savez(tmp_path / "bad.npz", q=data.q)
    with pytest.raises(ValueError, match="missing"):
        SpringData.load(tmp_path / "bad.npz")


def test_cli_springs_generate(tmp_path, capsys):
    from equiformer_ase.cli import main

    out = tmp_path / "springs.npz"
    assert main(["springs", "generate", "--out", str(out), "--systems", "2", "--seed", "3"]) == 0
    data = SpringData.load(out)
    assert data.q.shape == (2, 500, 6, 2) and data.ts[-1] == 5.0
    np.testing.assert_array_equal(data.q, generate_springs(2, seed=3).q)
