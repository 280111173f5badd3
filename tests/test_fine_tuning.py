"""Fine-tuning (``train --init-from``): starts exactly at the parent, learns, records the lineage."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import TINY, cli_error

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.potential import with_attention_activation
from equiformer_ase.training import (
    Distributed,
    LossWeights,
    TrainingConfig,
    compute_gradients,
    train,
)
from equiformer_ase.training.fitting.dataset import read_structures, to_samples


@pytest.fixture(scope="module")
def data(tiny_surfaces):
    return tiny_surfaces


@pytest.fixture(scope="module")
def parent(data, tmp_path_factory):
    """A potential for H, C, N, O, Cu trained for one epoch on ``data``."""
    out = tmp_path_factory.mktemp("parent")
    config = TrainingConfig(epochs=1, batch_size=8, validation=4, test=4, dtype="float32")
    train(data, out, config, elements=["H", "C", "N", "O", "Cu"], model_overrides=TINY)
    return out / "best.safetensors"


def loss(potential, samples) -> float:
    """The float64 training loss of a copy of ``potential`` on ``samples``."""
    potential = copy.deepcopy(potential).to(dtype=torch.float64)
    return compute_gradients(
        potential, samples, LossWeights(), Distributed(), torch.device("cpu"), torch.float64
    )["loss"]


def test_zero_steps_reproduce_the_parent_exactly(data, parent, tmp_path):
    config = TrainingConfig(epochs=0, validation=4, test=4, dtype="float32")
    train(data, tmp_path, config, init_from=parent)
    child, original = ea.load_potential(tmp_path / "best.safetensors"), ea.load_potential(parent)
    assert child.weights_hash() == original.weights_hash()
    assert child.reference_energies == original.reference_energies
    assert child.config == original.config
    lineage = child.metadata["training"]["parent"]
    assert lineage["name"] == str(parent) and lineage["weights_sha256"] == original.weights_hash()
    assert lineage["data_sha256"] == original.metadata["training"]["data_sha256"]


def test_fine_tuning_lowers_the_loss_and_chains_the_lineage(data, parent, tmp_path):
    config = TrainingConfig(epochs=4, batch_size=8, lr=5e-3, validation=4, test=4, dtype="float64")
    assert (
        main(
            [
                "train",
                str(data),
                "--out",
                str(tmp_path / "a"),
                "--init-from",
                str(parent),
                "--epochs",
                "4",
                "--lr",
                "5e-3",
                "--validation",
                "4",
                "--test",
                "4",
                "--dtype",
                "float64",
            ]
        )
        == 0
    )
    child = ea.load_potential(tmp_path / "a" / "best.safetensors")
    samples = to_samples(read_structures(data), child.config.elements)[:16]
    before, after = loss(ea.load_potential(parent), samples), loss(child, samples)
    print(f"loss on 16 frames: parent {before:.4g}, fine-tuned {after:.4g}")
    assert after < before
    # the shipped card names the parent
    (tmp_path / "limits.md").write_text("Tiny.")
    assert (
        main(
            [
                "ship",
                str(tmp_path / "a"),
                "--data",
                str(data),
                "--name",
                "tiny-ft",
                "--limits",
                str(tmp_path / "limits.md"),
                "--out",
                str(tmp_path / "shipped"),
            ]
        )
        == 0
    )
    card = (tmp_path / "shipped" / "tiny-ft.md").read_text()
    assert "## Lineage" in card and ea.load_potential(parent).weights_hash() in card
    # a grandchild keeps the chain back to the first run
    train(
        data,
        tmp_path / "b",
        TrainingConfig(**{**config.__dict__, "epochs": 0}),
        init_from=tmp_path / "a" / "best.safetensors",
    )
    lineage = ea.load_potential(tmp_path / "b" / "best.safetensors").metadata["training"]["parent"]
    assert lineage["weights_sha256"] == child.weights_hash()
    assert lineage["parent"]["weights_sha256"] == ea.load_potential(parent).weights_hash()


def test_refit_references_changes_only_the_references(data, parent, tmp_path):
    """A parent with shifted references gets back the references fitted on the same training split."""
    original = ea.load_potential(parent)
    shifted = ea.load_potential(parent)
    shifted.set_reference_energies({el: e + 1.0 for el, e in original.reference_energies.items()})
    shifted.save(tmp_path / "shifted.safetensors")
    config = TrainingConfig(epochs=0, validation=4, test=4, dtype="float32")
    train(data, tmp_path / "run", config, init_from=tmp_path / "shifted.safetensors", refit_references=True)
    child = ea.load_potential(tmp_path / "run" / "best.safetensors")
    assert child.weights_hash() == original.weights_hash()
    for el, energy in original.reference_energies.items():
        assert child.reference_energies[el] == pytest.approx(energy, abs=1e-9)


def test_elements_the_parent_lacks_are_a_clear_error(data, tmp_path, capsys):
    cfg = ea.EquiformerConfig(elements=["H", "C", "O"], **TINY)
    ea.Potential.from_config(cfg).save(tmp_path / "no-copper.safetensors")
    assert "contains Cu, which the parent potential" in cli_error(
        capsys,
        [
            "train",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--init-from",
            str(tmp_path / "no-copper.safetensors"),
        ],
    )
    with pytest.raises(ea.UnsupportedElementError, match="Cu"):
        train(
            data,
            tmp_path / "run2",
            TrainingConfig(epochs=0, validation=4, test=4),
            init_from=tmp_path / "no-copper.safetensors",
        )


def test_smooth_attention_keeps_the_weights_and_records_the_change(data, parent, tmp_path, capsys):
    """An older (LeakyReLU) parent fine-tuned with smooth_attention: same weights, smooth config, lineage says so."""
    older = with_attention_activation(ea.load_potential(parent), "leaky_relu")
    older.save(tmp_path / "leaky.safetensors")
    config = TrainingConfig(epochs=0, validation=4, test=4, dtype="float32")
    train(data, tmp_path / "run", config, init_from=tmp_path / "leaky.safetensors", smooth_attention=True)
    child = ea.load_potential(tmp_path / "run" / "best.safetensors")
    assert child.config.attention_activation == "smooth_leaky_relu"
    assert child.weights_hash() == older.weights_hash()
    assert "smooth_leaky_relu" in child.metadata["training"]["parent"]["changed"]
    assert "give init_from" in cli_error(
        capsys, ["train", str(data), "--out", str(tmp_path / "new"), "--smooth-attention"]
    )


def test_keep_last_ships_the_final_weights_whatever_the_validation_says(data, parent, tmp_path):
    """``keep="last"``: best.safetensors holds the EMA weights at the end (those of the checkpoint), not the
    ones of the lowest validation loss; a wrong ``keep`` is refused."""
    config = TrainingConfig(
        epochs=3, batch_size=8, lr=5e-3, validation=4, test=4, dtype="float64", keep="last"
    )
    train(data, tmp_path, config, init_from=parent)
    kept = ea.load_potential(tmp_path / "best.safetensors")
    final = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)["ema"]["weights"]
    for name, value in kept.state_dict().items():
        assert torch.equal(value, final[name].to(value.dtype)), name
    assert kept.metadata["training"]["best_epoch"] == 3
    with pytest.raises(ValueError, match="keep"):
        TrainingConfig(epochs=1, keep="latest")
