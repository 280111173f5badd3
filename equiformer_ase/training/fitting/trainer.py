"""The training loop: AdamW, warm-up + cosine learning rate, clipping, EMA, checkpoints and resume.

``train`` joins the process group torchrun describes (if any), reads and validates the data, splits
it by seed, fits reference energies and the data-derived scales (``energy_scale``,
``avg_num_neighbors``) on the training set, then trains. Each step evaluates
``Potential.evaluate(..., create_graph=True)`` on this process's shard of the batch. After every
epoch the EMA weights are validated; the best ones (the last with ``keep="last"``) are written to ``best.safetensors``.
``checkpoint.pt`` (model, EMA, optimizer, position in the epoch, best metric, history) is written
every ``checkpoint_minutes`` and at every epoch end, and a run started again with ``resume=True``
continues from it. The loop draws no random numbers but the shuffling of epoch e, which depends
only on (seed, e), and the learning rate depends only on the step (and elapsed time under a time
budget), so an epoch-limited run resumed from a checkpoint takes the same steps as an
uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...devices import resolve_device, resolve_dtype
from ...errors import UnsupportedElementError
from ...model import EquiformerConfig
from ...potential import Potential, load_potential, with_smooth_attention, with_weightless_change
from ...schedules import warmup_cosine
from ...training_run import TrainingRun
from ..generation.frame_store import file_sha256
from .batching import collate, evaluate_batch, predict
from .dataset import Sample, elements_in, read_structures, split_indices, to_samples
from .distributed import Distributed, init_distributed
from .ema import ExponentialMovingAverage
from .loss import TERMS, LossWeights, dataset_loss, error_counts, penalty_sums
from .metrics import error_summary, group_errors
from .parity import write_parity_plots
from .reference_energies import average_num_neighbors, energy_scale, fit_reference_energies

CHECKPOINT_FORMAT = 1


@dataclass
class TrainingConfig:
    """Hyper-parameters. ``epochs`` and/or ``max_time`` (minutes) bound the run; sizes of the
    validation and test sets are fractions (< 1) or counts (>= 1). ``keep``: which EMA weights become
    ``best.safetensors``: ``"best"`` (lowest validation loss) or ``"last"`` (the final ones; for a
    fine-tune on a superset of its parent's data, whose validation frames the parent mostly fitted
    already, so that their loss cannot show what the new frames taught)."""

    epochs: int | None = 100
    max_time: float | None = None
    batch_size: int = 8
    lr: float = 1e-3
    min_lr_ratio: float = 0.01
    warmup_fraction: float = 0.05
    weight_decay: float = 1e-4
    clip_norm: float = 10.0
    ema_decay: float = 0.99
    energy_weight: float = 1.0
    force_weight: float = 1.0
    stress_weight: float = 1.0
    huber_delta: float | None = None
    validation: float = 0.1
    test: float = 0.1
    seed: int = 0
    checkpoint_minutes: float = 10.0
    dtype: str = "float32"
    keep: str = "best"

    def __post_init__(self):
        if self.epochs is None and self.max_time is None:
            raise ValueError("give epochs or max_time (minutes), or both")
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', got {self.keep!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        resolve_dtype(self.dtype)
        _ = self.loss_weights  # LossWeights checks huber_delta

    @property
    def loss_weights(self) -> LossWeights:
        return LossWeights(self.energy_weight, self.force_weight, self.stress_weight, self.huber_delta)


def learning_rate(config: TrainingConfig, progress: float) -> float:
    """Linear warm-up over ``warmup_fraction`` of the run, then cosine decay to ``min_lr_ratio * lr``.

    ``progress`` in [0, 1] is the larger of the fraction of steps and of the time budget done.
    """
    return warmup_cosine(config.lr, progress, config.warmup_fraction, config.min_lr_ratio)


def compute_gradients(
    potential: Potential,
    batch: list[Sample],
    weights: LossWeights,
    dist: Distributed,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, float]:
    """Backpropagate the loss of ``batch`` (this process's shard of it) and all-reduce the gradients.

    Afterwards every process holds the gradient of the whole batch's loss. Returns the batch's
    ``loss`` and mean penalties ``energy``, ``forces``, ``stress`` (:mod:`.loss`; without a Huber delta
    the mean squared errors, eV^2/atom^2, eV^2/A^2, eV^2/A^6).
    """
    counts = error_counts(batch)
    totals = {k: torch.zeros((), dtype=dtype, device=device) for k in TERMS}
    shard = dist.shard(batch)
    if shard:  # a process may get no structures of a batch smaller than the world
        part = collate(shard, potential.config.elements, potential.config.cutoff, device, dtype)
        totals = penalty_sums(evaluate_batch(potential, part, create_graph=True), part, weights)
    if any(t.requires_grad for t in totals.values()):
        weights.combine(totals, counts).backward()
    dist.all_reduce_gradients(potential)
    summed = dist.sum(torch.stack([totals[k].detach() for k in TERMS]))
    means = {k: float(summed[j]) / counts[k] if counts[k] else 0.0 for j, k in enumerate(TERMS)}
    return {"loss": float(weights.combine(means, {k: 1 for k in TERMS})), **means}


def hardware_string(device: torch.device, world_size: int) -> str:
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine())
    )
    return f"{world_size} x {device.type} ({name}), {os.cpu_count()} CPU cores, torch {torch.__version__}"


def build_potential(
    samples: list[Sample], elements: list[str], preset: str, seed: int, model_overrides: dict | None = None
) -> Potential:
    """An untrained potential with reference energies, ``energy_scale`` and ``avg_num_neighbors`` from ``samples``."""
    cfg = EquiformerConfig.preset(preset, elements=elements, **(model_overrides or {}))
    references = fit_reference_energies(samples, elements)
    cfg.energy_scale = energy_scale(samples, references)
    cfg.avg_num_neighbors = average_num_neighbors(samples, elements, cfg.cutoff)
    return Potential.from_config(cfg, seed=seed, reference_energies=references)


def fine_tuning_start(
    parent: str | Path,
    frames: list,
    elements: list[str] | None,
    smooth_attention: bool = False,
    pair_repulsion: str | None = None,
) -> tuple[Potential, dict]:
    """The potential to fine-tune from (a shipped name or a file) and its lineage record.

    The parent's config, elements and reference energies are kept (``smooth_attention``: except that its
    attention logits switch to the smooth LeakyReLU, :func:`~equiformer_ase.potential.with_smooth_attention`;
    ``pair_repulsion``: the short-range prior switches to that, ``"zbl"`` or ``"none"``);
    ``frames`` may hold only elements the parent knows. The record: ``name``, ``weights_sha256``, the
    parent's own ``data`` / ``data_sha256`` and its ``parent`` record (so the chain back to the first
    training run stays in every descendant's header).
    """
    potential = load_potential(parent)
    known = potential.config.elements
    if elements is not None and list(elements) != list(known):
        raise ValueError(
            f"--elements {','.join(elements)} differs from the parent's elements {','.join(known)}; "
            "a fine-tuned potential keeps its parent's elements"
        )
    missing = [el for el in elements_in(frames) if el not in known]
    if missing:
        error = UnsupportedElementError(missing, known)
        error.args = (
            f"the data contains {', '.join(missing)}, which the parent potential {parent} lacks "
            f"(it knows {', '.join(known)})",
        )
        raise error
    info = potential.training_info
    lineage = {
        "name": str(parent),
        "weights_sha256": potential.weights_hash(),
        "data": info.get("data"),
        "data_sha256": info.get("data_sha256"),
        "parent": info.get("parent"),
    }
    changes = []
    if smooth_attention and potential.config.attention_activation != "smooth_leaky_relu":
        potential = with_smooth_attention(potential)
        changes.append("attention logits: leaky_relu -> smooth_leaky_relu")
    if pair_repulsion is not None and pair_repulsion != potential.config.pair_repulsion:
        changes.append(f"pair repulsion: {potential.config.pair_repulsion} -> {pair_repulsion}")
        potential = with_weightless_change(potential, pair_repulsion=pair_repulsion)
    if changes:
        lineage["changed"] = "; ".join(changes)
    return potential, lineage


class Trainer(TrainingRun):
    """One training run writing to ``out_dir``, as process ``dist`` of a data-parallel run (default: the only
    one); see the module docstring. Use :func:`train`."""

    def __init__(
        self,
        data: str | Path,
        out_dir: str | Path,
        config: TrainingConfig,
        *,
        elements: list[str] | None = None,
        preset: str = "small",
        model_overrides: dict | None = None,
        device: str | torch.device = "cpu",
        resume: bool = False,
        init_from: str | Path | None = None,
        refit_references: bool = False,
        smooth_attention: bool = False,
        pair_repulsion: str | None = None,
        dist: Distributed = Distributed(),
    ):
        super().__init__(out_dir, config.max_time)
        self.config, self.data, self.dist = config, Path(data), dist
        self.data_sha256 = file_sha256(self.data)
        self.device = _device(device)
        self.dtype = resolve_dtype(config.dtype)
        frames = read_structures(self.data)
        checkpoint = self._read_checkpoint() if resume else None
        self.parent = checkpoint.get("parent") if checkpoint is not None else None
        if init_from is None and (refit_references or smooth_attention):
            raise ValueError(
                "refit_references and smooth_attention change a parent potential: give init_from"
            )
        if init_from is not None and checkpoint is None:
            if model_overrides:
                raise ValueError("a fine-tuned potential keeps its parent's config: drop the model overrides")
            parent, self.parent = fine_tuning_start(
                init_from, frames, elements, smooth_attention, pair_repulsion
            )
            elements = parent.config.elements
        elements = elements or elements_in(frames)
        self.samples = to_samples(frames, elements)
        self.split = split_indices(len(self.samples), config.validation, config.test, config.seed)
        if len(self.split["validation"]) == 0 or len(self.split["test"]) == 0:
            raise ValueError(
                f"{len(self.samples)} structures give an empty validation or test set: "
                f"raise validation/test sizes (now {config.validation}, {config.test})"
            )
        self.subsets = {name: [self.samples[k] for k in index] for name, index in self.split.items()}
        if checkpoint is None and self.parent is not None:
            potential = parent
            if refit_references:
                potential.set_reference_energies(fit_reference_energies(self.subsets["train"], elements))
        elif checkpoint is None:
            if pair_repulsion is not None:
                model_overrides = {**(model_overrides or {}), "pair_repulsion": pair_repulsion}
            potential = build_potential(self.subsets["train"], elements, preset, config.seed, model_overrides)
        else:
            cfg = EquiformerConfig.from_dict(checkpoint["model_config"])
            potential = Potential.from_config(
                cfg, seed=config.seed, reference_energies=checkpoint["reference_energies"]
            )
        self.potential = potential.to(self.device, self.dtype)
        self.preset = preset
        self.ema = ExponentialMovingAverage(self.potential, config.ema_decay)
        self.optimizer = torch.optim.AdamW(
            self.potential.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.epoch = self.batch_in_epoch = self.step = 0
        if checkpoint is not None:
            self._restore(checkpoint)

    # ------------------------------------------------------------------ checkpoints
    def _read_checkpoint(self) -> dict | None:
        checkpoint = self.read_checkpoint()
        if checkpoint is None:
            return None
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"{self.checkpoint_path}: unknown checkpoint format {checkpoint.get('format')!r}"
            )
        if checkpoint["data_sha256"] != self.data_sha256:
            raise ValueError(
                f"cannot resume: {self.data} differs from the data {self.checkpoint_path} was trained on "
                "(sha256 mismatch)"
            )
        return checkpoint

    def _restore(self, checkpoint: dict) -> None:
        self.potential.load_state_dict(checkpoint["model"])
        self.ema.load_state_dict(checkpoint["ema"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.epoch, self.batch_in_epoch, self.step = (
            checkpoint["epoch"],
            checkpoint["batch_in_epoch"],
            checkpoint["step"],
        )
        self.elapsed = checkpoint["elapsed_s"]
        self.best_metric, self.best_epoch = checkpoint["best_metric"], checkpoint["best_epoch"]
        self.history = list(checkpoint["history"])
        if TrainingConfig(**checkpoint["training_config"]).loss_weights != self.config.loss_weights:
            # fine-tuning with other loss weights: losses under the old weights are not comparable,
            # so the first validation of this leg sets the new best
            self.best_metric, self.best_epoch = math.inf, -1

    def save_checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "data_sha256": self.data_sha256,
            "model_config": self.potential.config.to_dict(),
            "reference_energies": self.potential.reference_energies,
            "model": self.potential.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "elapsed_s": self.elapsed,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "training_config": dataclasses.asdict(self.config),
            "parent": self.parent,
        }
        self.write_checkpoint(state)

    # ------------------------------------------------------------------ loop
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.subsets["train"]) / self.config.batch_size)

    def _progress(self) -> float:
        return self.budget_used(
            self.step / (self.config.epochs * self.steps_per_epoch()) if self.config.epochs else 0.0
        )

    def epoch_order(self) -> np.ndarray:
        """The order of the training set in this epoch: the loop's only randomness, drawn from (seed, epoch) alone."""
        return np.random.default_rng([self.config.seed, self.epoch]).permutation(len(self.subsets["train"]))

    def _finished(self) -> bool:
        return (
            self.config.epochs is not None and self.epoch >= self.config.epochs
        ) or self._progress() >= 1.0

    def train_step(self, batch: list[Sample]) -> dict[str, float]:
        """One optimizer step on ``batch``; updates the EMA."""
        lr = learning_rate(self.config, self._progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        self.potential.train()
        losses = compute_gradients(
            self.potential, batch, self.config.loss_weights, self.dist, self.device, self.dtype
        )
        torch.nn.utils.clip_grad_norm_(self.potential.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.ema.update(self.potential)
        self.step += 1
        return {**losses, "lr": lr}

    def run(self) -> None:
        """Train until the epochs or the time budget are used up, checkpointing on the way. The budget
        counts the wall-clock time of this loop (steps, validation, checkpoints), checked after every batch."""
        config = self.config
        last_checkpoint = clock = time.monotonic()

        def count_time() -> None:
            nonlocal clock
            now = time.monotonic()
            self.elapsed = float(
                self.dist.sum(torch.tensor(now - clock + self.elapsed)) / self.dist.world_size
            )
            clock = now

        while not self._finished():
            train = self.subsets["train"]
            order = self.epoch_order()
            batches = [order[k : k + config.batch_size] for k in range(0, len(order), config.batch_size)]
            losses = []
            bar = tqdm(
                total=len(batches),
                initial=self.batch_in_epoch,
                desc=f"epoch {self.epoch + 1}",
                unit="batch",
                disable=not self.dist.is_main,
                leave=False,
            )
            while self.batch_in_epoch < len(batches) and not self._finished():
                result = self.train_step([train[k] for k in batches[self.batch_in_epoch]])
                self.batch_in_epoch += 1
                count_time()
                losses.append(result["loss"])
                bar.update()
                bar.set_postfix(
                    loss=f"{result['loss']:.4g}", lr=f"{result['lr']:.2e}", best_val=f"{self.best_metric:.4g}"
                )
                if time.monotonic() - last_checkpoint > 60 * config.checkpoint_minutes:
                    self.save_checkpoint()
                    last_checkpoint = time.monotonic()
            bar.close()
            train_loss = float(np.mean(losses)) if losses else math.nan
            if self.batch_in_epoch == len(batches):
                self.epoch += 1
                self.batch_in_epoch = 0
                self._validate(train_loss)
            elif self._finished() and losses:  # the budget ran out mid-epoch: validate the final weights too
                self._validate(train_loss)
            last_checkpoint = time.monotonic()
            self.save_checkpoint()
            self.dist.barrier()
            count_time()

    def _validate(self, train_loss: float) -> None:
        """Validate the EMA weights, log a row, and save them as best.safetensors if they are the best so far
        (every time with ``keep="last"``)."""
        if not self.dist.is_main:
            return
        predictions = self.predict(self.subsets["validation"])
        summary = error_summary(self.subsets["validation"], predictions)
        val_loss = dataset_loss(self.subsets["validation"], predictions, self.config.loss_weights)
        epoch = self.epoch + self.batch_in_epoch / self.steps_per_epoch()  # fractional after a mid-epoch stop
        row = {
            "epoch": epoch,
            "step": self.step,
            "train_time_s": round(self.elapsed, 2),
            "lr": learning_rate(self.config, self._progress()),
            "train_loss": train_loss,
            "val_loss": val_loss,
            **{f"val_{k}": v for k, v in summary.items() if k != "structures"},
        }
        if self.record(row, val_loss) or self.config.keep == "last":
            self.save_best({"validation": summary})
        tqdm.write(
            f"epoch {row['epoch']:.3g}: train loss {train_loss:.4g}, val loss {val_loss:.4g}, "
            f"val E MAE {summary['energy_mae_mev_per_atom']:.2f} meV/atom, "
            f"val F MAE {summary['forces_mae_mev_per_a']:.1f} meV/A"
        )

    def predict(self, samples: list[Sample]) -> list[dict]:
        self.ema.module.eval()
        return predict(self.ema.module, samples, self.config.batch_size, self.device, self.dtype)

    def training_info(self) -> dict:
        return {
            "data": str(self.data),
            "data_sha256": self.data_sha256,
            "split": {name: len(index) for name, index in self.split.items()},
            "seed": self.config.seed,
            "preset": self.preset,
            "hyperparameters": dataclasses.asdict(self.config),
            "epochs": self.epoch,
            "steps": self.step,
            "best_epoch": self.best_epoch
            if self.config.keep == "best" or not self.history
            else self.history[-1]["epoch"],
            "train_time_s": round(self.elapsed, 1),
            "hardware": hardware_string(self.device, self.dist.world_size),
            **({"parent": self.parent} if self.parent else {}),
        }

    def save_best(self, metrics: dict) -> None:
        self.ema.module.training_info = self.training_info()
        self.ema.module.metrics = metrics
        self.ema.module.save(self.out_dir / "best.safetensors")

    def finish(self) -> dict:
        """Test the best potential, write metrics.json and parity plots, store test metrics in the file."""
        if not self.dist.is_main:
            return {}
        best_path = self.out_dir / "best.safetensors"
        if not best_path.exists():  # the budget ran out before the first epoch ended
            self.save_best({})
        best = load_potential(best_path).to(self.device, self.dtype).eval()
        test = self.subsets["test"]
        predictions = predict(best, test, self.config.batch_size, self.device, self.dtype)
        errors = group_errors(test, predictions)
        best.training_info = {
            **best.training_info,
            "epochs": self.epoch,
            "steps": self.step,
            "train_time_s": round(self.elapsed, 1),
        }
        best.metrics = {**best.metrics, "test": errors}
        best.save(best_path)
        write_parity_plots(test, predictions, self.out_dir)
        result = {"training": best.training_info, "metrics": best.metrics, "history": self.history}
        (self.out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
        return result


def _device(name: str) -> torch.device:
    """:func:`resolve_device`, with a bare "cuda" meaning this process's GPU under torchrun."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def train(
    data: str | Path,
    out_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    device: str = "cpu",
    **options,
) -> dict:
    """Train on ``data`` (extxyz/xyz or ase.db) into ``out_dir``; returns what metrics.json holds.

    Under torchrun this process joins the process group for the run and leaves it at the end.
    ``options``: ``elements`` (default: those in the data), ``preset``, ``model_overrides`` (fields
    of :class:`EquiformerConfig`), ``resume``; ``init_from`` (a shipped name or file)
    fine-tunes that potential with a fresh schedule, keeping its config, elements and reference
    energies (``refit_references=True`` refits the latter on this data; ``smooth_attention=True`` gives an
    older potential the smooth attention logits, which conserve NVE energy) and recording it as the
    ``parent`` in the new file's header.
    """
    device = _device(device)
    dist = init_distributed(device)
    try:
        trainer = Trainer(data, out_dir, config or TrainingConfig(), device=device, dist=dist, **options)
        trainer.run()
        return trainer.finish()
    finally:
        dist.close()
