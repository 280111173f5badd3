"""Energy conservation: the MD engine on a smooth analytic potential, smooth attention, and ship's NVE guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from conftest import TINY, cli_error, ethanol, tiny_potential
from torch import nn

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.conservation import drift_statistics, thermalised
from equiformer_ase.data import md17_molecule
from equiformer_ase.dynamics import MolecularDynamics
from equiformer_ase.nn import PolynomialEnvelope, scatter_sum
from equiformer_ase.potential import with_attention_activation, with_smooth_attention
from equiformer_ase.training import TrainingConfig, generate, train
from equiformer_ase.training.shipping.card import render_card


class MorsePairs(nn.Module):
    """Cu Morse pairs (Girifalco & Weizer) times the C2 cutoff envelope: a smooth potential with the
    Equiformer's interface, so it runs through Potential.evaluate, the neighbour list and the engine.

    E_i = 1/2 sum_j D [(1 - exp(-a (r_ij - r0)))^2 - 1] u(r_ij), eV; (N,) per-atom energies.
    """

    def __init__(self, cutoff: float):
        super().__init__()
        self.cfg = ea.EquiformerConfig(elements=["Cu"], cutoff=cutoff)
        self.envelope = PolynomialEnvelope(cutoff)
        self.depth = nn.Parameter(torch.tensor(0.3429))  # eV; a parameter gives the potential its dtype

    def forward(self, species, edge_index, edge_vectors):
        r = torch.linalg.vector_norm(edge_vectors, dim=1)
        pair = self.depth * ((1 - torch.exp(-1.3588 * (r - 2.866))) ** 2 - 1) * self.envelope(r)
        return 0.5 * scatter_sum(pair, edge_index[1], len(species))


def test_engine_conserves_a_smooth_potential_with_dt_squared_error():
    """Velocity Verlet through the engine: bounded energy error that falls 4x when the step halves, while
    third-shell pairs (4.42 A) cross the 4.5 A cutoff and the skin list is rebuilt."""
    cutoff = 4.5
    potential = ea.Potential(MorsePairs(cutoff))
    atoms = thermalised(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 600.0, seed=0)
    fluctuations = []
    for dt in (2.0, 1.0):
        md = MolecularDynamics([atoms], potential, timestep=dt, device="cpu", dtype="float64")
        edges, totals = [], [md.energies()["total"][0]]
        for _ in range(round(400 / dt)):
            md.run(1, progress=False)
            totals.append(md.energies()["total"][0])
            edges.append(
                md.systems.neighbour_list.update(md.state.positions, md.systems.templates).edge_index.shape[1]
            )
        stats = drift_statistics(dt * np.arange(len(totals)), np.array(totals) / len(atoms))
        print(
            f"dt {dt} fs: {stats}, {md.systems.neighbour_list.rebuilds} rebuilds, edges {min(edges)}..{max(edges)}"
        )
        assert md.systems.neighbour_list.rebuilds >= 3 and max(edges) - min(edges) >= 10
        assert abs(stats["drift"]) < 2e-5 and stats["fluctuation"] < 3e-5  # eV/atom/ps, eV/atom
        fluctuations.append(stats["fluctuation"])
    assert 3.0 < fluctuations[0] / fluctuations[1] < 5.0  # error ~ dt^2


def _force_curvature_along_a_ch_stretch(activation: str) -> np.ndarray:
    """|second differences| (eV/A) of the force on an ethanol H moved along its C-H bond in 1 mA steps."""
    calc = ea.EquiformerCalculator(
        tiny_potential(attention_activation=activation), device="cpu", dtype="float64"
    )
    atoms = ethanol()
    carbon, hydrogen = 0, 6
    bond = atoms.positions[hydrogen] - atoms.positions[carbon]
    bond /= np.linalg.norm(bond)
    path = []
    for shift in np.linspace(-0.1, 0.1, 201):
        path.append(atoms.copy())
        path[-1].positions[hydrogen] += shift * bond
    forces = [result["forces"][hydrogen] @ bond for result in calc.calculate_batch(path)]
    return np.abs(np.diff(forces, 2))


def test_smooth_attention_keeps_forces_continuous():
    """LeakyReLU attention logits put jumps in the force (second differences 100x their median where a
    logit feature changes sign); the smooth activation leaves none."""
    leaky, smooth = (_force_curvature_along_a_ch_stretch(a) for a in ("leaky_relu", "smooth_leaky_relu"))
    print(
        f"max |d2F|: leaky {leaky.max():.2e}, smooth {smooth.max():.2e} eV/A (median {np.median(smooth):.1e})"
    )
    assert leaky.max() > 100 * np.median(leaky)
    assert smooth.max() < 5 * np.median(smooth)


def test_new_configs_are_smooth_and_old_configs_keep_leaky_relu():
    assert ea.EquiformerConfig.preset("small", elements=["H"]).attention_activation == "smooth_leaky_relu"
    old = {
        k: v for k, v in ea.EquiformerConfig(elements=["H"]).to_dict().items() if k != "attention_activation"
    }
    assert ea.EquiformerConfig.from_dict(old).attention_activation == "leaky_relu"


def leaky_gfn2(path):
    """The shipped gfn2-md17's weights behind LeakyReLU attention logits (its kinks back): a rough model, saved."""
    with_attention_activation(ea.load_potential("gfn2-md17"), "leaky_relu").save(path)
    return path


def test_with_smooth_attention_keeps_the_weights_and_nearly_the_energies(tmp_path):
    shipped = ea.load_potential(leaky_gfn2(tmp_path / "leaky.safetensors"))
    smooth = with_smooth_attention(shipped)
    assert (smooth.config.attention_activation, shipped.config.attention_activation) == (
        "smooth_leaky_relu",
        "leaky_relu",
    )
    assert (
        smooth.weights_hash() == shipped.weights_hash()
        and smooth.reference_energies == shipped.reference_energies
    )
    atoms = md17_molecule("ethanol")
    energies = [
        calculator.calculate_batch([atoms])[0]["energy"]
        for calculator in (
            ea.EquiformerCalculator(p, device="cpu", dtype="float64") for p in (shipped, smooth)
        )
    ]
    # ~1 meV/atom for gfn2-md17: small, but enough that a converted potential is fine-tuned before shipping
    assert 0 < abs(energies[1] - energies[0]) / len(atoms) < 5e-3  # eV/atom


# ------------------------------------------------------------------------------------------ ship's guard
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Tiny Cu/C/O data and a 1-epoch run on it with the default (smooth) attention."""
    folder = tmp_path_factory.mktemp("nve")
    generate("surfaces", folder / "data.extxyz", preset="tiny", seed=0)
    train(
        folder / "data.extxyz",
        folder / "run",
        TrainingConfig(epochs=1, validation=4, test=4, dtype="float64"),
        model_overrides=TINY,
    )
    (folder / "limits.md").write_text("Tiny.")
    return folder


def ship_argv(run, data, folder, name: str) -> list[str]:
    return [
        "ship",
        str(run),
        "--data",
        str(data),
        "--name",
        name,
        "--limits",
        str(folder / "limits.md"),
        "--out",
        str(folder / "shipped"),
        "--nve-duration",
        "200",
    ]


def test_ship_refuses_a_potential_whose_energy_drifts(tiny_run, capsys):
    """The rough model is real: gfn2-md17's weights with LeakyReLU attention make the forces jump."""
    run = tiny_run / "rough-run"
    run.mkdir()
    leaky_gfn2(run / "best.safetensors")
    error = cli_error(capsys, ship_argv(run, tiny_run / "data.extxyz", tiny_run, "rough"))
    assert "NVE energy drift" in error and "ethanol" in error and "--allow-drift" in error
    assert not (tiny_run / "shipped" / "rough.safetensors").exists()


def test_ship_allow_drift_puts_a_warning_in_the_card(tmp_path, monkeypatch):
    pytest.importorskip("tblite")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    generate("molecules", tmp_path / "data.extxyz", preset="tiny", seed=0)
    # one step at a negligible learning rate: rough weights (kinks) with a training record for this data
    train(
        tmp_path / "data.extxyz",
        tmp_path / "run",
        TrainingConfig(epochs=1, lr=1e-12, validation=1, test=1, dtype="float64"),
        init_from=leaky_gfn2(tmp_path / "leaky.safetensors"),
    )
    (tmp_path / "limits.md").write_text("Rough.")
    assert (
        main(ship_argv(tmp_path / "run", tmp_path / "data.extxyz", tmp_path, "rough") + ["--allow-drift"])
        == 0
    )
    shipped = ea.load_potential(tmp_path / "shipped" / "rough.safetensors")
    nve = shipped.metadata["metrics"]["nve"]
    assert not nve["passed"] and max(abs(run["drift"]) for run in nve["runs"]) > nve["limit_ev_per_atom_ps"]
    card = (tmp_path / "shipped" / "rough.md").read_text()
    assert card == render_card(shipped.metadata) and "**Warning: shipped although it fails" in card


def test_ship_passes_a_smooth_potential_and_records_its_drift(tiny_run):
    assert main(ship_argv(tiny_run / "run", tiny_run / "data.extxyz", tiny_run, "smooth")) == 0
    shipped = ea.load_potential(tiny_run / "shipped" / "smooth.safetensors")
    nve = shipped.metadata["metrics"]["nve"]
    print(f"smooth: {nve['runs']}")
    assert nve["passed"] and [run["system"] for run in nve["runs"]] == ["Cu(111)+O"]
    assert nve["runs"][0]["steps"] == 200 and nve["runs"][0]["timestep_fs"] == 1.0
    card = (tiny_run / "shipped" / "smooth.md").read_text()
    assert card == render_card(shipped.metadata)
    assert (
        "## Energy conservation (NVE)" in card
        and "| Cu(111)+O | 13 | 1 | 200 |" in card
        and "Warning" not in card
    )
