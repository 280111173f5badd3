"""Training pipeline: a tiny run learns and writes a potential, resume is exact, bad data is refused,
2-process data parallelism gives the 1-process gradients, evaluate's per-subset errors are right."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from conftest import TINY, cli_error

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.training import (
    Distributed,
    LossWeights,
    Trainer,
    TrainingConfig,
    compute_gradients,
    predict,
    read_frames,
    to_samples,
    train,
)
from equiformer_ase.training.fitting.trainer import build_potential
from equiformer_ase.training.shipping.card import held_out, render_card


def fast_config(**overrides) -> TrainingConfig:
    return TrainingConfig(
        **{**dict(epochs=1, batch_size=8, lr=5e-3, validation=4, test=4, dtype="float64"), **overrides}
    )


@pytest.fixture(scope="module")
def surfaces(tiny_surfaces):
    return tiny_surfaces


def labelled(atoms, energy, forces, stress=None):
    atoms = atoms.copy()
    results = {"energy": energy, "forces": forces, "stress": stress}
    atoms.calc = SinglePointCalculator(atoms, **{k: v for k, v in results.items() if v is not None})
    return atoms


def test_training_lowers_the_loss_and_writes_a_loadable_potential(surfaces, tmp_path):
    trainer = Trainer(
        surfaces, tmp_path, fast_config(epochs=50, lr=2e-2, warmup_fraction=0.0), model_overrides=TINY
    )  # lr stays near its peak
    batch = trainer.subsets["train"][:8]
    device, dtype = trainer.device, trainer.dtype

    def batch_loss():
        trainer.potential.zero_grad()
        return compute_gradients(trainer.potential, batch, LossWeights(), Distributed(), device, dtype)[
            "loss"
        ]

    before = batch_loss()
    for _ in range(16):  # the shared value weights start slower: 0.69x after 8 steps, 0.16x after 16
        trainer.train_step(batch)
    after = batch_loss()
    print(f"loss on a fixed batch: {before:.4g} -> {after:.4g} after 16 steps")
    assert after < 0.5 * before

    result = train(surfaces, tmp_path / "run", fast_config(), model_overrides=TINY)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {
        "best.safetensors",
        "checkpoint.pt",
        "metrics.csv",
        "metrics.json",
        "parity_energy.png",
        "parity_forces.png",
    } <= files
    potential = ea.load_potential(tmp_path / "run" / "best.safetensors")
    info = potential.metadata["training"]
    assert info["split"] == {"train": 29, "validation": 4, "test": 4}
    assert info["seed"] == 0 and info["epochs"] == 1 and len(info["data_sha256"]) == 64
    assert potential.metadata["metrics"]["test"]["overall"]["structures"] == 4
    assert potential.reference_energies == trainer.potential.reference_energies
    assert potential.reference_energies["Cu"] != 0.0
    assert potential.config.avg_num_neighbors == trainer.potential.config.avg_num_neighbors > 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"] == result["metrics"]

    # shipping: the card is rendered from the header, and evaluate --split test reproduces its test errors
    (tmp_path / "limits.md").write_text("Seen only Cu, C and O.")
    assert (
        main(
            [
                "ship",
                str(tmp_path / "run"),
                "--data",
                str(surfaces),
                "--name",
                "tiny-cu",
                "--limits",
                str(tmp_path / "limits.md"),
                "--out",
                str(tmp_path / "shipped"),
            ]
        )
        == 0
    )
    shipped = ea.load_potential(tmp_path / "shipped" / "tiny-cu.safetensors")
    card = (tmp_path / "shipped" / "tiny-cu.md").read_text()
    assert card == render_card(shipped.metadata) and "Seen only Cu, C and O." in card
    assert shipped.metadata["training"]["frames"] == {"bulk": 6, "slab": 10, "adsorbate": 16, "gas": 5}
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "shipped" / "tiny-cu.safetensors"),
                str(surfaces),
                "--split",
                "test",
                "--json",
                str(tmp_path / "test.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "test.json").read_text()) == shipped.metadata["metrics"]["test"]
    write(tmp_path / "other.extxyz", read_frames(surfaces)[:-1])
    with pytest.raises(ValueError, match="not the data this potential was trained on"):
        held_out(shipped, tmp_path / "other.extxyz")


def test_resume_continues_exactly(surfaces, tmp_path, monkeypatch):
    config = fast_config(epochs=2, checkpoint_minutes=0.0)
    uninterrupted = Trainer(surfaces, tmp_path / "a", config, model_overrides=TINY)
    uninterrupted.run()

    step = Trainer.train_step

    def interrupt_after_five(self, batch):
        if self.step == 5:  # mid-way through the second epoch (4 steps per epoch)
            raise KeyboardInterrupt
        return step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", interrupt_after_five)
    with pytest.raises(KeyboardInterrupt):
        Trainer(surfaces, tmp_path / "b", config, model_overrides=TINY).run()
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = Trainer(surfaces, tmp_path / "b", config, model_overrides=TINY, resume=True)
    assert (resumed.step, resumed.epoch, resumed.batch_in_epoch) == (5, 1, 1)
    resumed.run()
    assert resumed.step == uninterrupted.step == 8
    for (name, a), b in zip(
        uninterrupted.ema.module.state_dict().items(), resumed.ema.module.state_dict().values()
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert resumed.optimizer.param_groups[0]["lr"] == uninterrupted.optimizer.param_groups[0]["lr"]


def test_resuming_with_other_loss_weights_tracks_the_best_under_the_new_loss(surfaces, tmp_path):
    Trainer(surfaces, tmp_path, fast_config(epochs=1), model_overrides=TINY).run()
    same = Trainer(surfaces, tmp_path, fast_config(epochs=2), model_overrides=TINY, resume=True)
    assert same.best_epoch == 1
    fine_tune = Trainer(
        surfaces, tmp_path, fast_config(epochs=2, energy_weight=100.0), model_overrides=TINY, resume=True
    )
    assert fine_tune.best_epoch == -1
    fine_tune.run()
    assert fine_tune.best_epoch == 2
    assert ea.load_potential(tmp_path / "best.safetensors").metadata["training"]["best_epoch"] == 2


def test_bad_data_is_refused_naming_the_frame(surfaces, tmp_path, capsys):
    frames = read_frames(surfaces)[:3]
    good = [labelled(f, f.get_potential_energy(), f.get_forces()) for f in frames]
    no_forces = good[:2] + [labelled(frames[2], 1.0, None)]
    nan_energy = good[:1] + [labelled(frames[1], np.nan, frames[1].get_forces())]
    nan_forces = good[:1] + [labelled(frames[1], 1.0, np.full((len(frames[1]), 3), np.inf))]
    cases = {
        "no_forces": (no_forces, "frame 2: no reference forces"),
        "nan_energy": (nan_energy, "frame 1: energy contains NaN"),
        "nan_forces": (nan_forces, "frame 1: forces contains NaN or inf"),
    }
    for data, message in cases.values():
        with pytest.raises(ValueError, match=message):
            to_samples(data, ["Cu", "O", "C"])
    adsorbate = next(k for k, f in enumerate(read_frames(surfaces)) if "O" in f.get_chemical_symbols())
    with pytest.raises(ea.UnsupportedElementError, match=f"frame {adsorbate}: unsupported element.*O"):
        to_samples(read_frames(surfaces), ["Cu", "C"])
    (tmp_path / "empty.extxyz").write_text("")
    assert "contains no structures" in cli_error(
        capsys, ["train", str(tmp_path / "empty.extxyz"), "--out", str(tmp_path / "out")]
    )


DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from conftest import TINY, cli_error
from equiformer_ase.training import LossWeights, compute_gradients, init_distributed, read_frames, to_samples
from equiformer_ase.training.shipping.card import held_out, render_card
from equiformer_ase.training.fitting.trainer import build_potential
torch.set_num_threads(1)
all_samples = to_samples(read_frames({data!r}), ["C", "O", "Cu"])
samples = [all_samples[k] for k in {picks}]
potential = build_potential(samples, ["C", "O", "Cu"], "small", 0, TINY).double()
dist = init_distributed(torch.device("cpu"))
loss = compute_gradients(potential, samples, LossWeights(1.0, 1.0, 1.0), dist, torch.device("cpu"), torch.float64)
if dist.is_main:
    torch.save({{"loss": loss["loss"], **{{n: p.grad for n, p in potential.named_parameters()}}}}, {out!r})
dist.close()
"""


def test_two_process_gradients_equal_one_process(surfaces, tmp_path):
    frames = read_frames(surfaces)
    # 4 structures: bulk (with stress), slab, adsorbate and gas, so shards mix stress and no-stress frames
    picks = [
        next(k for k, f in enumerate(frames) if f.info["subset"] == s)
        for s in ("bulk", "slab", "adsorbate", "gas")
    ]
    samples = [to_samples(frames, ["C", "O", "Cu"])[k] for k in picks]
    potential = build_potential(samples, ["C", "O", "Cu"], "small", 0, TINY).double()
    one = compute_gradients(
        potential, samples, LossWeights(1.0, 1.0, 1.0), Distributed(), torch.device("cpu"), torch.float64
    )
    script = tmp_path / "ddp.py"
    out = tmp_path / "grads.pt"
    tests = os.path.dirname(__file__)
    script.write_text(DDP_SCRIPT.format(tests=tests, data=str(surfaces), picks=picks, out=str(out)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    two = torch.load(out, weights_only=True)
    assert two.pop("loss") == pytest.approx(one["loss"], rel=1e-12, abs=0)
    worst = max(float((two[name] - p.grad).abs().max()) for name, p in potential.named_parameters())
    print(f"2-process vs 1-process gradients: max |difference| {worst:.2e}")
    for name, parameter in potential.named_parameters():
        torch.testing.assert_close(two[name], parameter.grad, rtol=0, atol=1e-10, msg=name)


def test_evaluate_per_subset_errors(surfaces, tmp_path):
    potential = build_potential(
        to_samples(read_frames(surfaces), ["C", "O", "Cu"]), ["C", "O", "Cu"], "small", 0, TINY
    ).double()
    frames = read_frames(surfaces)
    predictions = predict(potential, to_samples(frames, ["C", "O", "Cu"]), batch_size=16)
    # labels = the potential's own predictions, with bulk energies raised by 10 meV/atom
    shifted = [
        labelled(f, p["energy"] + (0.01 * len(f) if f.info["subset"] == "bulk" else 0.0), p["forces"])
        for f, p in zip(frames, predictions)
    ]
    for frame, original in zip(shifted, frames):
        frame.info.update(original.info)
    path, pot_path, out = tmp_path / "own.extxyz", tmp_path / "pot.safetensors", tmp_path / "errors.json"
    write(path, shifted)
    potential.save(pot_path)
    assert main(["evaluate", str(pot_path), str(path), "--json", str(out)]) == 0
    errors = json.loads(out.read_text())
    n_bulk = sum(f.info["subset"] == "bulk" for f in frames)
    assert errors["subset=bulk"]["energy_mae_mev_per_atom"] == pytest.approx(10.0, abs=1e-6)
    assert errors["overall"]["energy_mae_mev_per_atom"] == pytest.approx(
        10.0 * n_bulk / len(frames), abs=1e-6
    )
    for group in ("subset=slab", "subset=gas", "adsorbate=CO", "metal=Cu"):
        assert errors[group]["forces_mae_mev_per_a"] < 1e-4  # extxyz rounding
    assert errors["subset=slab"]["energy_mae_mev_per_atom"] < 1e-4
    # --group-by adds groups for any info key, without changing the default ones
    assert main(["evaluate", str(pot_path), str(path), "--json", str(out), "--group-by", "source"]) == 0
    by_source = json.loads(out.read_text())
    assert {"source=md", "source=relax"} <= set(by_source) and set(errors) < set(by_source)
    assert by_source["subset=bulk"] == errors["subset=bulk"]


def test_time_budget_is_checked_between_batches(surfaces, tmp_path):
    trainer = Trainer(surfaces, tmp_path, fast_config(epochs=None, max_time=1e-5), model_overrides=TINY)
    assert trainer.steps_per_epoch() > 1
    trainer.run()
    assert (trainer.step, trainer.epoch) == (1, 0)  # stopped after the first batch, mid-epoch


def test_max_time_is_an_old_name_of_max_minutes(capsys):
    from equiformer_ase.cli import build_parser

    assert build_parser().parse_args(["train", "d.extxyz", "--out", "o", "--max-minutes", "3"]).max_time == 3
    assert build_parser().parse_args(["train", "d.extxyz", "--out", "o", "--max-time", "2"]).max_time == 2
    assert capsys.readouterr().err == "equiformer-ase train: --max-time is deprecated; use --max-minutes\n"
