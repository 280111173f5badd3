"""Committees in the MD engine, relaxation and the CLI: mean forces, logged deviation, the uncertainty stop."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import all_changes
from ase.io import read, write
from ase.md.velocitydistribution import thermalize_momenta
from conftest import ethanol, tiny_potential

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.dynamics import MolecularDynamics, UncertaintyError, relax


@pytest.fixture(scope="module")
def members():
    return [tiny_potential(seed=seed, num_blocks=1) for seed in range(3)]


def hot_ethanol():
    atoms = ethanol()
    thermalize_momenta(atoms, 300, rng=np.random.default_rng(0))
    return atoms


def test_engine_runs_on_the_committee_mean_and_records_its_deviation(members, tmp_path):
    md = MolecularDynamics([hot_ethanol()], members, timestep=0.5, device="cpu", dtype="float64")
    md.run(4, trajectory=tmp_path / "md.traj", logfile=tmp_path / "md.log", interval=2, progress=False)
    frames = read(tmp_path / "md.traj", index=":")
    calc = ea.EquiformerCalculator(members, device="cpu", dtype="float64")
    for frame in frames:
        calc.calculate(frame, ["forces"], all_changes)
        np.testing.assert_allclose(frame.get_forces(), calc.results["forces"], atol=1e-10)
        assert frame.info["max_forces_dev"] == pytest.approx(calc.results["max_forces_dev"], abs=1e-10)
    log = (tmp_path / "md.log").read_text().splitlines()
    assert log[0].endswith("max_forces_dev_eV_per_A") and len(log) == 1 + len(frames)
    assert float(log[-1].split(",")[-1]) == pytest.approx(frames[-1].info["max_forces_dev"], abs=1e-6)


def test_max_uncertainty_stops_the_run_and_keeps_the_last_good_frame(members, tmp_path):
    """NVE is deterministic: a free run gives each step's deviation; a limit between the first and the
    largest must stop the rerun exactly before the first step above it."""
    free = MolecularDynamics([hot_ethanol()], members, timestep=0.5, device="cpu", dtype="float64")
    deviations = [float(free.systems.max_forces_dev[0])]
    for _ in range(30):
        free.run(1, progress=False)
        deviations.append(float(free.systems.max_forces_dev[0]))
    limit = 0.5 * (deviations[0] + max(deviations))
    first_above = next(k for k, d in enumerate(deviations) if d > limit)
    md = MolecularDynamics(
        [hot_ethanol()], members, timestep=0.5, device="cpu", dtype="float64", max_uncertainty=limit
    )
    with pytest.raises(UncertaintyError, match="above max_uncertainty.*last good frame"):
        md.run(30, trajectory=tmp_path / "md.traj", interval=1, progress=False)
    frames = read(tmp_path / "md.traj", index=":")
    assert frames[-1].info["md_step"] == first_above - 1
    np.testing.assert_allclose(
        [f.info["max_forces_dev"] for f in frames], deviations[:first_above], atol=1e-10
    )
    with pytest.raises(UncertaintyError):  # already above at the start
        MolecularDynamics(
            [hot_ethanol()], members, timestep=0.5, device="cpu", max_uncertainty=0.5 * deviations[0]
        )
    with pytest.raises(ValueError, match="needs a committee"):
        MolecularDynamics([hot_ethanol()], members[0], timestep=0.5, device="cpu", max_uncertainty=0.1)


def test_relax_reports_the_deviation_and_cli_takes_several_potentials(members, tmp_path, capsys):
    relaxed, _ = relax([ethanol()], members, fmax=0.1, steps=20, device="cpu", progress=False)
    assert relaxed[0].info["max_forces_dev"] > 0
    paths = []
    for k, member in enumerate(members):
        paths.append(str(tmp_path / f"m{k}.safetensors"))
        member.save(paths[-1])
    write(tmp_path / "start.extxyz", hot_ethanol())
    assert (
        main(
            [
                "md",
                str(tmp_path / "start.extxyz"),
                "--potential",
                *paths,
                "--timestep",
                "0.5",
                "--steps",
                "2",
                "--traj",
                str(tmp_path / "md.traj"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "final max_forces_dev" in capsys.readouterr().out
    assert (
        main(
            [
                "relax",
                str(tmp_path / "start.extxyz"),
                "--potential",
                *paths,
                "--fmax",
                "0.05",
                "--steps",
                "3",
                "--out",
                str(tmp_path / "relaxed.extxyz"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "max_forces_dev" in capsys.readouterr().out
