"""On-device integrators, batched MD and FIRE relaxation (float64, tiny potential)."""

import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from ase import units
from ase.build import molecule
from ase.constraints import FixAtoms
from ase.io import Trajectory, read, write
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE
from conftest import ethanol, tiny_potential, triclinic_copper

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.dynamics import BlowUpError, MolecularDynamics, last_frames, relax
from equiformer_ase.integrators import MDState, rk4_step, velocity_verlet_step


@pytest.fixture(scope="module")
def potential():
    return tiny_potential()


@pytest.fixture(scope="module")
def fast_potential():
    """One block: half the cost, for the long runs."""
    return tiny_potential(num_blocks=1)


def thermalised(atoms, temperature, seed):
    thermalize_momenta(atoms, temperature, rng=np.random.default_rng(seed))
    return atoms


# ------------------------------------------------------------------------------- integrators
def test_integrators_on_a_harmonic_oscillator():
    """Velocity Verlet conserves a shadow energy; RK4 is 4th order."""
    k, m, dt = 2.0, 3.0, 0.05

    def force_fn(q):
        return -k * q, 0.5 * k * (q**2).sum()

    state = MDState(
        torch.ones(1, 1, dtype=torch.float64),
        torch.zeros(1, 1, dtype=torch.float64),
        -k * torch.ones(1, 1, dtype=torch.float64),
        torch.full((1, 1), m, dtype=torch.float64),
    )
    energies = []
    for _ in range(2000):
        state = velocity_verlet_step(state, force_fn, dt)
        energies.append(float(state.energy + 0.5 * state.momenta**2 / m))
    assert np.ptp(energies) < 2 * (dt**2) * k / m  # bounded O(dt^2) oscillation, no drift

    def derivative(t, y):
        q, p = y
        return p / m, -k * q

    omega = math.sqrt(k / m)
    errors = []
    for h in (0.1, 0.05):
        y = (torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64))
        for n in range(round(2.0 / h)):
            y = rk4_step(derivative, n * h, y, h)
        errors.append(abs(float(y[0]) - math.cos(omega * 2.0)))
    assert 12 < errors[0] / errors[1] < 20  # 2^4 = 16


# ----------------------------------------------------------------------------------------- MD
def test_velocity_verlet_reproduces_ase(potential, tmp_path):
    atoms = thermalised(ethanol(), 300, seed=0)
    reference = atoms.copy()
    reference.calc = ea.EquiformerCalculator(potential, device="cpu", dtype="float64")
    ase_positions = []
    dynamics = VelocityVerlet(reference, timestep=0.5 * units.fs)
    dynamics.attach(lambda: ase_positions.append(reference.positions.copy()))
    dynamics.run(50)

    md = MolecularDynamics([atoms], potential, timestep=0.5, device="cpu")
    md.run(50, trajectory=tmp_path / "md.traj", interval=1, progress=False)
    engine_positions = [frame.positions for frame in read(tmp_path / "md.traj", index=":")]
    assert len(engine_positions) == len(ase_positions) == 51
    deviation = max(np.abs(a - b).max() for a, b in zip(engine_positions, ase_positions))
    assert deviation < 1e-8
    np.testing.assert_allclose(read(tmp_path / "md.traj").get_momenta(), reference.get_momenta(), atol=1e-8)


def test_nve_energy_drift(fast_potential, tmp_path):
    """Rattled periodic Cu cell at 300 K, 2 fs (a usual Cu timestep), 1000 steps."""
    atoms = thermalised(triclinic_copper(), 300, seed=1)
    # the untrained model lets two Cu atoms reach 1.32 A: allowed, this tests the integrator
    md = MolecularDynamics([atoms], fast_potential, timestep=2.0, device="cpu", allow_close_contacts=True)
    md.run(1000, logfile=tmp_path / "nve.csv", interval=10, progress=False)
    log = np.genfromtxt(tmp_path / "nve.csv", delimiter=",", names=True)
    assert len(log) == 101 and log["step"][-1] == 1000
    total = log["total_eV"]
    drift = np.abs(total - total[0]).max() / len(atoms)
    print(f"NVE drift over 1000 x 2 fs: {drift:.2e} eV/atom (final T {log['temperature_K'][-1]:.0f} K)")
    assert drift < 1e-4
    np.testing.assert_allclose(log["total_eV"], log["potential_eV"] + log["kinetic_eV"], atol=1e-9)


def test_langevin_reaches_target_temperature(fast_potential, tmp_path):
    target, replicas = 500.0, 16
    systems = [thermalised(molecule("H2O"), target, seed=k) for k in range(replicas)]
    # the untrained potential does not bind water: an H atom may leave, which the escape check would stop
    md = MolecularDynamics(
        systems,
        fast_potential,
        timestep=0.5,
        ensemble="nvt",
        temperature=target,
        friction=0.1,
        seed=0,
        device="cpu",
        check_escape=False,
    )
    temperatures = []
    for _ in range(300):
        md.run(1, progress=False)
        temperatures.append(md.energies()["temperature"])
    second_half = np.array(temperatures[150:])  # (steps, replicas)
    per_replica = second_half.mean(axis=0)  # independent replicas: an honest standard error
    mean, error = per_replica.mean(), per_replica.std(ddof=1) / math.sqrt(replicas)
    print(f"Langevin: <T> = {mean:.1f} +- {error:.1f} K (target {target} K)")
    assert error < 0.15 * target
    assert abs(mean - target) < 3 * error

    # same seed -> same trajectory
    again = MolecularDynamics(
        systems,
        fast_potential,
        timestep=0.5,
        ensemble="nvt",
        temperature=target,
        friction=0.1,
        seed=0,
        device="cpu",
    )
    again.run(3, progress=False)
    first = MolecularDynamics(
        systems,
        fast_potential,
        timestep=0.5,
        ensemble="nvt",
        temperature=target,
        friction=0.1,
        seed=0,
        device="cpu",
    )
    first.run(3, progress=False)
    assert torch.equal(again.state.positions, first.state.positions)


def test_fixed_atoms_do_not_move(fast_potential):
    atoms = thermalised(ethanol(), 600, seed=2)
    atoms.set_constraint(FixAtoms(indices=[0, 3]))
    start = atoms.positions.copy()
    md = MolecularDynamics(
        [atoms], fast_potential, timestep=0.5, ensemble="nvt", temperature=600, friction=0.05, device="cpu"
    )
    final = md.run(20, progress=False)[0]
    np.testing.assert_array_equal(final.positions[[0, 3]], start[[0, 3]])
    assert np.abs(final.positions - start).max() > 1e-3
    assert np.all(final.get_momenta()[[0, 3]] == 0)


def test_batched_different_sizes_equal_one_by_one(fast_potential):
    """Also checks that skin-reused neighbour lists give what fresh ones (skin 0) give."""
    systems = [
        thermalised(a, 800, seed=k) for k, a in enumerate([ethanol(), molecule("H2O"), triclinic_copper()])
    ]
    batched = MolecularDynamics(systems, fast_potential, timestep=1.0, device="cpu", skin=0.3)
    together = batched.run(25, progress=False)
    assert batched.systems.neighbour_list.rebuilds < 25
    for atoms, result in zip(systems, together):
        alone = MolecularDynamics([atoms], fast_potential, timestep=1.0, device="cpu", skin=0.0).run(
            25, progress=False
        )[0]
        np.testing.assert_allclose(result.positions, alone.positions, atol=1e-10)
        np.testing.assert_allclose(result.get_momenta(), alone.get_momenta(), atol=1e-10)


def test_blow_up_is_reported_and_last_good_frame_kept(fast_potential, tmp_path, monkeypatch):
    atoms = thermalised(ethanol(), 300, seed=3)
    with pytest.raises(BlowUpError, match="max_force"):
        MolecularDynamics([atoms], fast_potential, timestep=0.5, max_force=1e-6, device="cpu")

    md = MolecularDynamics([atoms], fast_potential, timestep=0.5, device="cpu")
    evaluate, calls = md.systems.potential.evaluate, []

    def failing_evaluate(graph, **kwargs):  # 8 good steps, then NaN
        calls.append(1)
        out = evaluate(graph, **kwargs)
        return {**out, "energy": out["energy"] * math.nan} if len(calls) > 8 else out

    monkeypatch.setattr(md.systems.potential, "evaluate", failing_evaluate)
    path = tmp_path / "blow.traj"
    with pytest.raises(BlowUpError, match=r"step 9.*last good frame \(step 8\)"):
        md.run(20, trajectory=path, interval=5, progress=False)
    last = read(path)
    assert last.info["md_step"] == 8 and np.isfinite(last.positions).all()
    np.testing.assert_array_equal(last.positions, md.state.positions.numpy())

    huge = MolecularDynamics([atoms], fast_potential, timestep=1e300, device="cpu")
    with pytest.raises(BlowUpError, match="step 1"):
        huge.run(5, trajectory=tmp_path / "huge.traj", progress=False)
    assert read(tmp_path / "huge.traj").info["md_step"] == 0


def test_resume_continues_from_last_frames(fast_potential, tmp_path):
    systems = [thermalised(ethanol(), 300, seed=4), thermalised(molecule("H2O"), 300, seed=5)]
    straight = MolecularDynamics(systems, fast_potential, timestep=0.5, device="cpu").run(10, progress=False)
    path = tmp_path / "run.traj"
    MolecularDynamics(systems, fast_potential, timestep=0.5, device="cpu").run(
        6, trajectory=path, interval=3, progress=False
    )
    resumed = MolecularDynamics(last_frames(path, 2), fast_potential, timestep=0.5, device="cpu")
    assert resumed.step_count == 6
    final = resumed.run(4, trajectory=path, interval=3, progress=False)
    for a, b in zip(straight, final):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-12)
    assert [f.info["md_step"] for f in read(tmp_path / "run_1.traj", index=":")] == [0, 3, 6, 9, 10]


def test_resuming_a_finished_run_adds_nothing(potential, tmp_path):
    potential_path, structure, traj = (
        tmp_path / "tiny.safetensors",
        tmp_path / "start.extxyz",
        tmp_path / "md.traj",
    )
    potential.save(potential_path)
    write(structure, ethanol())
    command = [
        "md",
        str(structure),
        "--potential",
        str(potential_path),
        "--temperature",
        "300",
        "--timestep",
        "0.5",
        "--steps",
        "5",
        "--traj",
        str(traj),
        "--interval",
        "2",
        "--dtype",
        "float64",
        "--device",
        "cpu",
    ]
    assert main(command) == 0
    log = (tmp_path / "md.log").read_text()
    assert main(command + ["--resume"]) == 0
    assert [f.info["md_step"] for f in read(traj, index=":")] == [0, 2, 4, 5]
    assert (tmp_path / "md.log").read_text() == log


def _keep_frames(path, steps):
    """Rewrite trajectory ``path`` with only its frames at ``steps`` (what a kill between writes leaves)."""
    frames = [atoms for atoms in read(path, index=":") if atoms.info["md_step"] in steps]
    with Trajectory(str(path), "w") as out:
        for atoms in frames:
            out.write(atoms)


def test_replicas_ending_at_different_steps_are_cut_back(fast_potential, tmp_path):
    systems = [thermalised(ethanol(), 300, seed=4), thermalised(molecule("H2O"), 300, seed=5)]
    straight = MolecularDynamics(systems, fast_potential, timestep=0.5, device="cpu").run(10, progress=False)
    path, log = tmp_path / "run.traj", tmp_path / "run.log"
    MolecularDynamics(systems, fast_potential, timestep=0.5, device="cpu").run(
        6, trajectory=path, logfile=log, interval=3, progress=False
    )
    _keep_frames(tmp_path / "run_1.traj", {0, 3})  # killed after writing system 0's step-6 frame
    with pytest.warns(UserWarning, match="ended at steps \\[3, 6\\]: cut back to step 3"):
        frames = last_frames(path, 2)
    assert [f.info["md_step"] for f in read(tmp_path / "run_0.traj", index=":")] == [0, 3]
    resumed = MolecularDynamics(frames, fast_potential, timestep=0.5, device="cpu")
    final = resumed.run(7, trajectory=path, logfile=log, interval=3, progress=False)
    for a, b in zip(straight, final):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-12)
    for k in range(2):
        assert [f.info["md_step"] for f in read(tmp_path / f"run_{k}.traj", index=":")] == [0, 3, 6, 9, 10]
    rows = np.genfromtxt(log, delimiter=",", names=True)
    assert rows["step"].tolist() == [s for s in (0, 3, 6, 9, 10) for _ in range(2)]

    _keep_frames(tmp_path / "run_0.traj", {0, 6, 9, 10})
    _keep_frames(tmp_path / "run_1.traj", {0, 3})
    with pytest.raises(ValueError, match="run_0.traj has no frame at step 3"):
        last_frames(path, 2)


def test_sigterm_keeps_the_last_step_and_resumes(potential, tmp_path):
    """SLURM pre-emption: SIGTERM stops like Ctrl-C, writing the last finished step; --resume goes on."""
    potential_path, structure, traj = (
        tmp_path / "tiny.safetensors",
        tmp_path / "start.extxyz",
        tmp_path / "md.traj",
    )
    potential.save(potential_path)
    write(structure, ethanol())
    arguments = [
        "md",
        str(structure),
        "--potential",
        str(potential_path),
        "--temperature",
        "300",
        "--timestep",
        "0.5",
        "--traj",
        str(traj),
        "--interval",
        "7",
        "--dtype",
        "float64",
        "--device",
        "cpu",
    ]
    command = [sys.executable, "-m", "equiformer_ase.cli", *arguments, "--steps", "100000"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "md.log"
    while process.poll() is None and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)  # polling only: the assertions do not depend on when the signal lands
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 130 and "add --resume" in process.stderr.read()
    steps = [f.info["md_step"] for f in read(traj, index=":")]
    logged = np.genfromtxt(log, delimiter=",", names=True)["step"].tolist()
    assert steps == logged and steps[-1] >= 7 and len(set(steps)) == len(steps)
    last = steps[-1]
    assert main(arguments + ["--steps", str(last + 3), "--resume"]) == 0
    added = sorted({s for s in range(last + 1, last + 3) if s % 7 == 0} | {last + 3})
    assert [f.info["md_step"] for f in read(traj, index=":")] == steps + added


def test_watchdogs_stop_the_h2o_blow_up(tmp_path):
    """The issue's case: H2O at 3000 K with a 10 fs step (gfn2-md17, float32) heated to 42,900 K unnoticed."""
    water = molecule("H2O")
    thermalize_momenta(water, 3000, rng=np.random.default_rng(0))
    path = tmp_path / "h2o.traj"
    limits = [dict(), dict(max_drift=math.inf), dict(max_drift=math.inf, max_temperature=1e9)]
    for tripped, off in zip(["max_drift", "max_temperature", "flew apart"], limits):
        md = MolecularDynamics([water], "gfn2-md17", timestep=10.0, dtype="float32", device="cpu", **off)
        with pytest.raises(BlowUpError, match=f"system 0: .*{tripped}.*last good frame"):
            md.run(100, trajectory=path, progress=False)
        last = read(path)
        assert last.info["md_step"] == md.step_count and np.isfinite(last.positions).all()
    md = MolecularDynamics(
        [water],
        "gfn2-md17",
        timestep=10.0,
        dtype="float32",
        device="cpu",
        max_drift=math.inf,
        max_temperature=1e9,
        check_escape=False,
    )
    md.run(100, progress=False)
    assert md.energies()["temperature"][0] > 20000  # what used to pass unnoticed


def test_escape_from_a_non_periodic_cell_is_stopped(fast_potential):
    water = molecule("H2O")
    water.cell = [8.0, 8.0, 8.0]
    water.center()
    water.set_velocities(np.tile([0.5 / units.fs, 0.0, 0.0], (3, 1)))  # 0.5 A/fs towards the x wall
    md = MolecularDynamics([water], fast_potential, timestep=0.5, device="cpu", max_temperature=1e9)
    with pytest.raises(BlowUpError, match="atom 0 left the cell along a non-periodic axis"):
        md.run(40, progress=False)
    assert 10 <= md.step_count < 20


# --------------------------------------------------------------------------------- relaxation
def test_batched_relax_matches_ase_fire(potential):
    fixed = triclinic_copper()
    fixed.set_constraint(FixAtoms(indices=[0]))
    systems = [ethanol(), fixed, molecule("H2O")]
    fmax = 0.01
    # the untrained model pulls ethanol's C-C to 0.76 A: allowed, this compares two FIRE implementations
    relaxed, converged = relax(
        systems, potential, fmax=fmax, steps=300, device="cpu", progress=False, allow_close_contacts=True
    )
    assert converged == [True, True, True]
    calc = ea.EquiformerCalculator(potential, device="cpu", dtype="float64", allow_close_contacts=True)
    for atoms, result in zip(systems, relaxed):
        reference = atoms.copy()
        reference.calc = calc
        FIRE(reference, logfile=None).run(fmax=fmax, steps=300)
        difference = abs(result.get_potential_energy() - reference.get_potential_energy())
        print(f"{atoms.get_chemical_formula()}: |E_engine - E_ASE FIRE| = {difference:.2e} eV")
        assert difference < 1e-3
        assert np.linalg.norm(result.get_forces(), axis=1).max() < fmax
    np.testing.assert_array_equal(relaxed[1].positions[0], fixed.positions[0])


# ---------------------------------------------------------------------------------------- CLI
def test_cli_md_and_relax(potential, tmp_path, capsys):
    potential_path = tmp_path / "tiny.safetensors"
    potential.save(potential_path)
    structure = tmp_path / "start.extxyz"
    from ase.io import write

    write(structure, [ethanol(), molecule("H2O")])
    traj = tmp_path / "md.traj"
    assert (
        main(
            [
                "md",
                str(structure),
                "--potential",
                str(potential_path),
                "--ensemble",
                "nvt",
                "--temperature",
                "300",
                "--timestep",
                "0.5",
                "--steps",
                "4",
                "--traj",
                str(traj),
                "--replicas",
                "2",
                "--dtype",
                "float64",
                "--interval",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    frames = read(tmp_path / "md_3.traj", index=":")  # 2 structures x 2 replicas
    assert len(frames) == 3 and frames[-1].info["md_step"] == 4
    assert (tmp_path / "md.log").read_text().startswith("step,time_fs")

    out = tmp_path / "relaxed.extxyz"
    assert (
        main(
            [
                "relax",
                str(structure),
                "--potential",
                str(potential_path),
                "--fmax",
                "0.05",
                "--steps",
                "200",
                "--out",
                str(out),
                "--device",
                "cpu",
                "--allow-close-contacts",  # the untrained model collapses ethanol
            ]
        )
        == 0
    )
    assert len(read(out, index=":")) == 2

    copper = tmp_path / "cu.extxyz"
    write(copper, triclinic_copper())
    assert (
        main(
            [
                "relax",
                str(copper),
                "--potential",
                str(potential_path),
                "--cell",
                "--fmax",
                "0.05",
                "--steps",
                "5",
                "--out",
                str(tmp_path / "cu_relaxed.extxyz"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "converged" in capsys.readouterr().out
