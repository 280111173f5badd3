"""The training loss: Huber equals squared errors below its delta and grows linearly beyond it, the
gradient it backpropagates agrees, and the validation loss is the training loss of the whole set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY

from equiformer_ase.training import (
    Distributed,
    LossWeights,
    Trainer,
    TrainingConfig,
    compute_gradients,
)
from equiformer_ase.training.fitting.batching import predict
from equiformer_ase.training.fitting.loss import dataset_loss, error_counts


@pytest.fixture(scope="module")
def trainer(tiny_surfaces, tmp_path_factory):
    config = TrainingConfig(epochs=1, batch_size=8, validation=4, test=4, dtype="float64")
    return Trainer(tiny_surfaces, tmp_path_factory.mktemp("run"), config, model_overrides=TINY)


def test_huber_penalty_is_the_squared_error_below_delta_and_linear_beyond():
    huber = LossWeights(huber_delta=0.1)
    r = torch.tensor([-0.05, 0.0, 0.1, 0.3, -2.0], dtype=torch.float64)
    expected = torch.tensor(
        [0.0025, 0.0, 0.01, 2 * 0.1 * 0.3 - 0.01, 2 * 0.1 * 2.0 - 0.01], dtype=torch.float64
    )
    torch.testing.assert_close(huber.penalty(r), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(LossWeights().penalty(r), r.square(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="huber_delta must be positive"):
        LossWeights(huber_delta=0.0)
    with pytest.raises(ValueError, match="huber_delta must be positive"):
        TrainingConfig(epochs=1, huber_delta=-1.0)


def test_huber_with_a_delta_beyond_every_error_is_the_squared_loss(trainer):
    batch = trainer.subsets["train"][:6]
    device, dtype = trainer.device, trainer.dtype

    def loss_and_gradient(weights):
        trainer.potential.zero_grad()
        loss = compute_gradients(trainer.potential, batch, weights, Distributed(), device, dtype)["loss"]
        return loss, [p.grad.clone() for p in trainer.potential.parameters() if p.grad is not None]

    squared, squared_grad = loss_and_gradient(LossWeights(1.0, 1.0, 1.0))
    wide, wide_grad = loss_and_gradient(LossWeights(1.0, 1.0, 1.0, huber_delta=1e6))
    narrow, narrow_grad = loss_and_gradient(LossWeights(1.0, 1.0, 1.0, huber_delta=1e-4))
    assert wide == pytest.approx(squared, rel=1e-12)
    for a, b in zip(squared_grad, wide_grad):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)
    assert narrow < squared  # every error of an untrained model lies beyond 0.1 meV: linear, smaller
    assert sum(g.abs().sum() for g in narrow_grad) < sum(g.abs().sum() for g in squared_grad)


@pytest.mark.parametrize("delta", [None, 0.05])
def test_validation_loss_is_the_training_loss_of_the_whole_set(trainer, delta):
    samples = trainer.subsets["train"][:6]
    weights = LossWeights(2.0, 1.0, 0.5, huber_delta=delta)
    trainer.potential.zero_grad()
    one_batch = compute_gradients(
        trainer.potential, samples, weights, Distributed(), trainer.device, trainer.dtype
    )["loss"]
    predictions = predict(trainer.potential, samples, 2, trainer.device, trainer.dtype)
    assert dataset_loss(samples, predictions, weights) == pytest.approx(one_batch, rel=1e-9)
    assert error_counts(samples)["stress"] > 0  # the stress term is exercised
    assert np.isfinite(one_batch)
