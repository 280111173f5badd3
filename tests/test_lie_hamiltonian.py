"""Learned Hamiltonians: invariance, rollouts on the true springs, training, files, the ASE link."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.calculators.lj import LennardJones
from ase.md.verlet import VelocityVerlet
from conftest import cli_error

from equiformer_ase.cli import main
from equiformer_ase.lie import (
    FitConfig,
    HamiltonianFit,
    LearnedHamiltonian,
    SpringData,
    evaluate_hamiltonian,
    generate_lj_clusters,
    generate_springs,
    lj_hamiltonian,
    load_hamiltonian,
    propagate_atoms,
    save_hamiltonian,
    spring_hamiltonian,
)
from equiformer_ase.lie.fitting import _tensors, mean_kinetic_energy, sample_chunks, state_mse
from equiformer_ase.lie.hamiltonian_card import render_hamiltonian_card
from equiformer_ase.lie.springs import spring_potential


def springs(num=3, seed=0, points=6):
    return generate_springs(num, seed=seed, ts=np.linspace(0, 5, 500)[:points])


def with_true_springs(model: LearnedHamiltonian) -> LearnedHamiltonian:
    """``model`` whose network is replaced by the exact spring potential (features = k)."""
    model._scalar_net = lambda q, features: spring_potential(q, features[..., 0])
    return model


def rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def test_learned_energy_is_invariant_under_the_group():
    data = springs()
    q, p, m, f = data.q[:, 0], data.p[:, 0], data.m, data.k[..., None]
    t2 = LearnedHamiltonian(group="T(2)").double()
    energy = t2.energy(q, p, m, f)
    np.testing.assert_allclose(t2.energy(q + np.array([1.7, -0.4]), p, m, f), energy, rtol=0, atol=1e-12)
    assert (
        np.abs(t2.energy(q @ rotation(0.7).T, p @ rotation(0.7).T, m, f) - energy).max() > 1e-6
    )  # T(2) only
    se2 = LearnedHamiltonian(group="SE(2)").double()
    energy = se2.energy(q, p, m, f)
    moved = q @ rotation(0.7).T + np.array([1.7, -0.4])
    np.testing.assert_allclose(
        se2.energy(moved, p @ rotation(0.7).T, m, f), energy, rtol=1e-4
    )  # lift sampling
    quarter_turn = q @ rotation(np.pi / 2).T  # maps the 4-sample stabiliser grid onto itself: exact
    np.testing.assert_allclose(se2.energy(quarter_turn, p, m, f), energy, rtol=1e-13)
    permutation = np.array([3, 1, 0, 5, 4, 2])
    np.testing.assert_allclose(
        se2.energy(q[:, permutation], p[:, permutation], m[:, permutation], f[:, permutation]),
        energy,
        rtol=1e-10,
    )


@pytest.mark.parametrize("source", ["random T(2)", "lie-springs-t2", "lie-springs-se2"])
def test_energy_and_rollouts_commute_with_large_translations(source):
    """Issue 32: a system far from the origin is no different for a translation-invariant model.

    ``moved = q + c`` is rounded once; ``(q + c) - c`` is exact (Sterbenz), so ``back`` is the very
    configuration ``moved`` translated by -c, and the model sees bitwise the same differences."""
    data = springs(num=4, seed=3)
    model = (
        LearnedHamiltonian(group="T(2)").double() if source.startswith("random") else load_hamiltonian(source)
    )
    q, p, m, f = data.q[:, 0], data.p[:, 0], data.m, data.k[..., None]
    for c in (np.array([2.0**10, -(2.0**9)]), np.array([-(2.0**20), 2.0**17])):
        moved = q + c
        back = moved - c
        energy = model.energy(back, p, m, f)
        np.testing.assert_allclose(model.energy(moved, p, m, f), energy, rtol=1e-13, atol=0)
    c = np.array([2.0**10, -(2.0**9)])
    q_moved, p_moved = model.rollout(q + c, p, data.ts, m, f)
    q_back, p_back = model.rollout((q + c) - c, p, data.ts, m, f)
    np.testing.assert_allclose(q_moved - c, q_back, rtol=0, atol=1e-10)  # ulp(1024) ~ 2e-13 per step
    np.testing.assert_allclose(p_moved, p_back, rtol=0, atol=1e-9)


def test_rk4_rollout_of_the_true_hamiltonian_matches_the_generator():
    data = generate_springs(2, seed=4, ts=np.linspace(0, 1, 11))
    model = with_true_springs(LearnedHamiltonian().double())
    q, p = model.rollout(data.q[:, 0], data.p[:, 0], data.ts, data.m, data.k[..., None], substeps=20)
    assert isinstance(q, np.ndarray) and q.shape == data.q.shape
    np.testing.assert_allclose(q, data.q, atol=1e-10)
    np.testing.assert_allclose(p, data.p, atol=1e-10)
    tq, _ = model.rollout(
        *(torch.as_tensor(a) for a in (data.q[:, 0], data.p[:, 0], data.ts, data.m, data.k[..., None]))
    )
    assert isinstance(tq, torch.Tensor) and torch.equal(tq[:, 0], torch.as_tensor(data.q[:, 0]))


def test_leapfrog_rollout_conserves_the_true_energy_without_drift():
    data = springs(num=2, points=2)
    model = with_true_springs(LearnedHamiltonian().double())
    ts = np.arange(10_001) * 0.002
    q, p = model.rollout(data.q[:, 0], data.p[:, 0], ts, data.m, data.k[..., None], method="leapfrog")
    energy = spring_hamiltonian(
        torch.as_tensor(q),
        torch.as_tensor(p),
        torch.as_tensor(data.m)[:, None],
        torch.as_tensor(data.k)[:, None],
    )
    error = (energy - energy[:, :1]).abs() / energy[:, :1].abs()
    assert error.max() < 1e-3
    assert error[:, 5000:].max() < 1.5 * error[:, :5000].max()  # bounded oscillation, no drift


def test_training_lowers_the_chunk_loss_and_resumes_exactly(tmp_path):
    train, validation = springs(12, seed=0, points=20), springs(4, seed=1, points=20)
    chunk = sample_chunks(_tensors(train, torch.float64), 5, np.random.default_rng(0))
    for kind in ("lie", "mlp"):  # Adam steps on one batch of chunks lower its loss
        model = LearnedHamiltonian(
            model=kind, width=16, depth=1, heads=2, energy_scale=mean_kinetic_energy(train)
        ).double()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        before = float(state_mse(model, chunk))
        for _ in range(25):
            optimizer.zero_grad()
            state_mse(model, chunk, create_graph=True).backward()
            optimizer.step()
        assert float(state_mse(model, chunk)) < 0.6 * before, kind
    config = FitConfig(epochs=2, batch_size=6, lr=1e-2, checkpoint_minutes=0.0)
    straight = LearnedHamiltonian(model="mlp", width=16).double()
    HamiltonianFit(straight, train, validation, config, tmp_path / "a").run(progress=False)
    first = LearnedHamiltonian(model="mlp", width=16).double()
    HamiltonianFit(
        first, train, validation, FitConfig(**{**config.__dict__, "epochs": 1}), tmp_path / "b"
    ).run(progress=False)
    resumed = LearnedHamiltonian(model="mlp", width=16).double()
    HamiltonianFit(resumed, train, validation, config, tmp_path / "b", resume=True).run(progress=False)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_files_round_trip_and_bad_files_are_refused(tmp_path):
    data = springs()
    model = LearnedHamiltonian(group="SE(2)", width=16).double()
    save_hamiltonian(model, tmp_path / "h.safetensors", {"note": "test"}, {"mse": 1.0})
    loaded = load_hamiltonian(tmp_path / "h.safetensors")
    args = (data.q[:, 0], data.p[:, 0], data.m, data.k[..., None])
    np.testing.assert_array_equal(loaded.energy(*args), model.energy(*args))
    assert loaded.header["training"] == {"note": "test"} and loaded.config == model.config
    with pytest.raises(ValueError, match="neither a file nor a shipped Hamiltonian"):
        load_hamiltonian("no-such-hamiltonian")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_hamiltonian(tmp_path / "bad.safetensors")


def test_bad_inputs_get_clear_errors():
    data = springs()
    model = LearnedHamiltonian().double()
    q, p, m, f = data.q[:, 0], data.p[:, 0], data.m, data.k[..., None]
    with pytest.raises(ValueError, match=r"q must have shape \(B, n, 2\)"):
        model.rollout(q[..., :1], p, data.ts, m, f)
    with pytest.raises(ValueError, match="p must have the shape of q"):
        model.rollout(q, p[:, :3], data.ts, m, f)
    with pytest.raises(ValueError, match="masses must be positive"):
        model.rollout(q, p, data.ts, -m, f)
    with pytest.raises(ValueError, match=r"features must have shape \(3, 6, 1\), got None"):
        model.rollout(q, p, data.ts, m, None)
    with pytest.raises(ValueError, match="ts must be a 1-d increasing"):
        model.rollout(q, p, data.ts[::-1], m, f)
    with pytest.raises(ValueError, match="leapfrog needs a separable"):
        LearnedHamiltonian(separable=False).double().rollout(q, p, data.ts, m, f, method="leapfrog")
    with pytest.raises(ValueError, match="takes 6 particles, got 5"):
        LearnedHamiltonian(model="mlp").double().rollout(q[:, :5], p[:, :5], data.ts, m[:, :5], f[:, :5])
    with pytest.raises(ValueError, match="acts on 2-d space, but dim=3"):
        LearnedHamiltonian(group="SE(2)", dim=3)


def test_ase_link_matches_ase_velocity_verlet_for_the_true_potential(tmp_path):
    sigma, epsilon = 3.4, 0.0104
    atoms = Atoms("Ar4", positions=[[0, 0, 0], [3.8, 0, 0], [0, 3.9, 0], [0.2, 0.1, 3.7]])
    atoms.set_momenta(np.random.default_rng(0).normal(0, 0.5, (4, 3)))

    def lennard_jones(q, _features):
        distance = (q[:, :, None] - q[:, None]).norm(dim=-1) + torch.eye(q.shape[1], dtype=q.dtype)
        x = (sigma / distance).pow(6) * (1 - torch.eye(q.shape[1], dtype=q.dtype))
        return (
            2 * epsilon * (x.pow(2) - x).sum((-1, -2))
        )  # 4 eps sum over pairs = 2 eps sum over ordered pairs

    model = LearnedHamiltonian(group="T(3)", dim=3, in_features=0).double()
    model._scalar_net = lennard_jones
    frames = propagate_atoms(
        atoms, model, timestep=2.0, steps=40, interval=10, trajectory=tmp_path / "h.traj"
    )
    reference = atoms.copy()
    reference.calc = LennardJones(sigma=sigma, epsilon=epsilon, rc=100.0)
    dynamics = VelocityVerlet(reference, timestep=2.0 * units.fs)
    for frame in frames:
        dynamics.run(10)
        np.testing.assert_allclose(frame.positions, reference.positions, atol=1e-8)
        np.testing.assert_allclose(frame.get_momenta(), reference.get_momenta(), atol=1e-8)
    from ase.io import read

    assert len(read(tmp_path / "h.traj", ":")) == 4


def test_lennard_jones_ground_truth_conserves_energy():
    data = generate_lj_clusters(2, num_atoms=5, frames=30, seed=1)
    assert data.q.shape == (2, 30, 5, 3) and np.all(data.k == 1)
    energy = lj_hamiltonian(
        torch.as_tensor(data.q), torch.as_tensor(data.p), torch.as_tensor(data.m)[:, None]
    )
    assert (energy < 0).all()  # a bound cluster
    assert float((energy - energy[:, :1]).abs().max() / energy.abs().min()) < 1e-3


def test_cli_springs_train_and_evaluate(tmp_path, capsys):
    data = springs(10, seed=0, points=30)
    data.save(tmp_path / "s.npz")
    assert (
        main(
            [
                "springs",
                "train",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "run"),
                "--model",
                "mlp",
                "--train",
                "8",
                "--validation",
                "2",
                "--epochs",
                "2",
                "--batch-size",
                "4",
                "--width",
                "16",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "springs",
                "evaluate",
                str(tmp_path / "s.npz"),
                str(tmp_path / "run" / "best.safetensors"),
                "--rollout-steps",
                "20",
            ]
        )
        == 0
    )
    assert '"mse_rollout"' in capsys.readouterr().out
    assert "fewer than --train 9" in cli_error(
        capsys,
        [
            "springs",
            "train",
            str(tmp_path / "s.npz"),
            "--out",
            str(tmp_path / "x"),
            "--train",
            "9",
            "--validation",
            "2",
        ],
    )
    metrics = evaluate_hamiltonian(
        load_hamiltonian(tmp_path / "run" / "best.safetensors"), data, rollout_steps=20
    )
    assert set(metrics) >= {
        "mse_chunk",
        "mse_chunk_median",
        "mse_rollout",
        "energy_drift_rk4",
        "energy_drift_leapfrog",
    }
    assert isinstance(SpringData.load(tmp_path / "s.npz"), SpringData)


def test_cli_separate_validation_data_and_ship_with_card(tmp_path, capsys):
    springs(10, seed=0, points=30).save(tmp_path / "train.npz")
    springs(3, seed=2, points=30).save(tmp_path / "val.npz")
    springs(4, seed=1, points=30).save(tmp_path / "test.npz")
    common = [
        "--model",
        "mlp",
        "--batch-size",
        "4",
        "--width",
        "16",
        "--validation-data",
        str(tmp_path / "val.npz"),
    ]
    assert (
        main(
            [
                "springs",
                "train",
                str(tmp_path / "train.npz"),
                "--out",
                str(tmp_path / "run"),
                "--train",
                "10",
                "--validation",
                "3",
                "--epochs",
                "4",
                "--validate-every",
                "3",
                *common,
            ]
        )
        == 0
    )
    history = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["3", "4"]  # every 3 epochs and after the last
    assert "exceed the trajectories" in cli_error(
        capsys,
        [
            "springs",
            "train",
            str(tmp_path / "train.npz"),
            "--out",
            str(tmp_path / "x"),
            "--train",
            "10",
            "--validation",
            "4",
            *common,
        ],
    )
    (tmp_path / "limits.md").write_text("- A test model.")
    assert (
        main(
            [
                "springs",
                "ship",
                str(tmp_path / "run"),
                str(tmp_path / "test.npz"),
                "--out",
                str(tmp_path / "pot"),
                "--name",
                "tiny",
                "--limits",
                str(tmp_path / "limits.md"),
                "--baseline",
                f"itself={tmp_path / 'run' / 'best.safetensors'}",
                "--describe-test",
                "springs(4, seed=1)",
            ]
        )
        == 0
    )
    shipped = load_hamiltonian(tmp_path / "pot" / "tiny.safetensors")
    header = shipped.header
    assert (tmp_path / "pot" / "tiny.md").read_text() == render_hamiltonian_card(header)
    test = SpringData.load(tmp_path / "test.npz")
    assert header["metrics"]["test"] == evaluate_hamiltonian(shipped, test)
    assert header["metrics"]["baselines"]["itself"] == header["metrics"]["test"]
    assert header["training"]["test_data"] == "springs(4, seed=1)"
    assert "val.npz (last 3)" in header["training"]["validation"]
    card = render_hamiltonian_card(header)
    assert f"{header['metrics']['test']['mse_chunk_median']:.3g}" in card and "- A test model." in card
