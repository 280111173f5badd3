"""The ASE calculator: caching, properties, CLI."""

import torch
from ase.build import molecule
from ase.optimize import BFGS
from conftest import tiny_potential

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.dynamics import MolecularDynamics


def test_check_state_caches_results(calc64, monkeypatch):
    calls = []
    original = calc64.calculate_batch
    monkeypatch.setattr(calc64, "calculate_batch", lambda atoms_list: calls.append(1) or original(atoms_list))
    atoms = molecule("H2O")
    atoms.calc = calc64
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_potential_energies()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert len(calls) == 2


def test_free_energy_equals_energy(calc64):
    atoms = molecule("NH3")
    atoms.calc = calc64
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()


def test_drives_an_ase_optimizer(calc64):
    atoms = molecule("CH4")
    atoms.rattle(0.1, seed=1)
    atoms.calc = calc64
    e0 = atoms.get_potential_energy()
    BFGS(atoms, logfile=None).run(fmax=0.05, steps=30)
    assert atoms.get_potential_energy() < e0


def test_cli_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "equiformer-ase" in out and "torch" in out and "e3nn" in out and "shipped potentials" in out
    for name in ea.list_potentials():
        assert name in out


def test_cli_sets_a_passive_wait_policy_and_threads(monkeypatch):
    """Spinning OpenMP threads made 2 threads 10x slower than 1 on a busy machine: the CLI asks for PASSIVE
    (keeping a user's own choice) and --threads sets torch's thread count."""
    import os

    import torch

    from equiformer_ase.cli import _cpu_threads, build_parser

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads = torch.get_num_threads()
    try:
        _cpu_threads(build_parser().parse_args(["--threads", "2", "info"]).threads)
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    _cpu_threads(None)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and torch.get_num_threads() == threads


def test_compile_flag_hands_each_model_to_torch_compile(monkeypatch, tmp_path):
    """Plumbing only: compiling takes minutes on 2 cores (benchmarks/bench_compile.py times it and
    compares its results with eager ones), so torch.compile is replaced by a recorder here."""
    compiled = []
    monkeypatch.setattr(
        torch.nn.Module, "compile", lambda self, **options: compiled.append((type(self).__name__, options))
    )
    ea.EquiformerCalculator(tiny_potential(), device="cpu")
    assert compiled == []
    ea.EquiformerCalculator(tiny_potential(), device="cpu", compile=True)
    ea.EquiformerCalculator([tiny_potential(seed=0), tiny_potential(seed=1)], device="cpu", compile=True)
    MolecularDynamics([molecule("H2O")], tiny_potential(), timestep=0.5, device="cpu", compile=True)
    tiny_potential().save(tmp_path / "tiny.safetensors")
    molecule("H2O").write(tmp_path / "water.xyz")
    assert (
        main(
            [
                "md",
                str(tmp_path / "water.xyz"),
                "--potential",
                str(tmp_path / "tiny.safetensors"),
                "--timestep",
                "0.5",
                "--steps",
                "2",
                "--traj",
                str(tmp_path / "md.traj"),
                "--device",
                "cpu",
                "--compile",
            ]
        )
        == 0
    )
    assert compiled == [("Equiformer", {"dynamic": True})] * 5
