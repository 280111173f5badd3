"""Fitting a learned Hamiltonian to trajectories, and the metrics of the LieConv dynamics benchmark.

Training follows LieConv / LieTransformer: each epoch draws one chunk of ``chunk_len`` consecutive
grid points from every training trajectory, rolls the model out from the chunk's first state with
RK4, and minimises the MSE between predicted and true states (q and p together, the exact initial
state included in the mean, as LieConv computes it); Adam with a cosine learning-rate schedule.
Checkpoints every few minutes and at each epoch end; ``resume`` continues exactly.

Metrics (:func:`evaluate_hamiltonian`): the ``chunk_len``-step MSE on one fixed chunk per
trajectory, the MSE of a ``rollout_steps`` rollout from t = 0, and the relative drift of the TRUE
energy along predicted rollouts, for RK4 and for leapfrog.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..integrators import particle_kinetic_energy
from ..schedules import warmup_cosine
from ..training_run import TrainingRun
from .hamiltonian import LearnedHamiltonian
from .hamiltonian_files import save_hamiltonian
from .springs import SpringData, spring_hamiltonian

TrueEnergy = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FitConfig:
    """``epochs`` and/or ``max_time`` (minutes) bound the run; ``substeps`` RK4 steps per grid interval;
    validation every ``validate_every`` epochs and after the last (small training sets have one-step epochs)."""

    epochs: int = 100
    max_time: float | None = None
    batch_size: int = 200
    lr: float = 3e-3
    min_lr_ratio: float = 0.01
    chunk_len: int = 5
    substeps: int = 1
    seed: int = 0
    checkpoint_minutes: float = 5.0
    validate_every: int = 1

    def __post_init__(self) -> None:
        counts = (self.epochs, self.batch_size, self.substeps, self.validate_every)
        if min(counts) < 1 or self.chunk_len < 2 or self.lr <= 0:
            raise ValueError(
                "need epochs, batch_size, substeps, validate_every >= 1, chunk_len >= 2 and lr > 0, "
                f"got {self}"
            )


def mean_kinetic_energy(data: SpringData) -> float:
    """Mean over systems and times of sum_i |p_i|^2 / (2 m_i): a natural ``energy_scale``."""
    return float(particle_kinetic_energy(data.p, data.m[:, None]).sum(-1).mean())


def _tensors(data: SpringData, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {name: torch.as_tensor(getattr(data, name), dtype=dtype) for name in ("q", "p", "m", "k", "ts")}


def sample_chunks(
    data: dict[str, torch.Tensor], chunk_len: int, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """One random chunk per trajectory: q, p (B, L, n, d), m, k (B, n), ts (L,) starting at 0 (uniform grids)."""
    steps = data["ts"].shape[0]
    if steps < chunk_len:
        raise ValueError(f"trajectories have {steps} time points, fewer than chunk_len={chunk_len}")
    spacing = torch.diff(data["ts"])
    if not torch.allclose(spacing, spacing[0].expand_as(spacing), rtol=1e-6, atol=0):
        raise ValueError("chunks need a uniform time grid")
    starts = torch.as_tensor(rng.integers(0, steps - chunk_len + 1, size=data["q"].shape[0]))
    index = starts[:, None] + torch.arange(chunk_len)
    rows = torch.arange(data["q"].shape[0])[:, None]
    return {
        "q": data["q"][rows, index],
        "p": data["p"][rows, index],
        "m": data["m"],
        "k": data["k"],
        "ts": data["ts"][:chunk_len] - data["ts"][0],
    }


def state_mse(
    model: LearnedHamiltonian,
    chunk: dict[str, torch.Tensor],
    substeps: int = 1,
    create_graph: bool = False,
    method: str = "rk4",
    per_system: bool = False,
) -> torch.Tensor:
    """Mean squared error of the rolled-out (q, p) against ``chunk`` over all its time points: a scalar,
    or (B,) with ``per_system`` (the scalar is their mean)."""
    q, p = model.integrate(
        chunk["q"][:, 0],
        chunk["p"][:, 0],
        chunk["ts"],
        chunk["m"],
        _features(model, chunk),
        method,
        substeps,
        create_graph,
    )
    mse = trajectory_mse(q, p, chunk["q"], chunk["p"])
    return mse if per_system else mse.mean()


def trajectory_mse(
    q: torch.Tensor, p: torch.Tensor, q_true: torch.Tensor, p_true: torch.Tensor
) -> torch.Tensor:
    """Per-system MSE (B,) of predicted states q, p (B, T, n, d) against the true ones, q and p weighted equally."""
    dims = tuple(range(1, q.dim()))
    return 0.5 * ((q - q_true).pow(2).mean(dims) + (p - p_true).pow(2).mean(dims))


def energy_drift(energy: torch.Tensor) -> torch.Tensor:
    """max_t |H(t) - H(0)| / |H(0)| per system (B,) of energies (B, T)."""
    return (energy - energy[:, :1]).abs().amax(1) / energy[:, 0].abs()


def _features(model: LearnedHamiltonian, chunk: dict[str, torch.Tensor]) -> torch.Tensor | None:
    return chunk["k"][..., None] if model.config.in_features else None


def evaluate_hamiltonian(
    model: LearnedHamiltonian,
    data: SpringData,
    chunk_len: int = 5,
    rollout_steps: int = 100,
    seed: int = 0,
    true_energy: TrueEnergy = spring_hamiltonian,
    batch_size: int = 100,
    progress: bool = True,
) -> dict[str, float]:
    """``mse_chunk`` (``chunk_len`` points; ``mse_chunk_median``: the median over systems, since a few
    systems outside the training distribution can dominate the mean), ``mse_rollout`` (``rollout_steps``
    steps from t = 0) and ``energy_drift_rk4`` / ``energy_drift_leapfrog``: mean over systems of
    max_t |H(t) - H(0)| / |H(0)| of ``true_energy`` along the predicted rollouts. Systems go through in
    batches of ``batch_size`` (the same numbers, less memory), with a progress bar."""
    model.eval()
    dtype = next(model.parameters()).dtype
    tensors = _tensors(data, dtype)
    chunks = sample_chunks(tensors, chunk_len, np.random.default_rng(seed))
    steps = min(rollout_steps, data.q.shape[1] - 1)
    truth = {name: tensors[name][:, : steps + 1] if name in ("q", "p") else tensors[name] for name in tensors}
    truth["ts"] = tensors["ts"][: steps + 1]
    methods = ["rk4"] + (["leapfrog"] if model.config.separable else [])
    per_system: dict[str, list[torch.Tensor]] = {"chunk": [], "rollout": [], **{m: [] for m in methods}}
    for start in tqdm(
        range(0, data.q.shape[0], batch_size),
        desc="evaluate (systems / batch)",
        unit="batch",
        disable=not progress,
    ):

        def part(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {k: v if k == "ts" else v[start : start + batch_size] for k, v in source.items()}

        per_system["chunk"].append(state_mse(model, part(chunks), per_system=True).detach())
        batch = part(truth)
        for method in methods:
            q, p = model.integrate(
                batch["q"][:, 0], batch["p"][:, 0], batch["ts"], batch["m"], _features(model, batch), method
            )
            if method == "rk4":
                per_system["rollout"].append(trajectory_mse(q, p, batch["q"], batch["p"]))
            energy = true_energy(q, p, batch["m"][:, None], batch["k"][:, None])  # (B, T)
            per_system[method].append(energy_drift(energy))
    joined = {key: torch.cat(values) for key, values in per_system.items()}
    metrics = {
        "trajectories": int(data.q.shape[0]),
        "mse_chunk": float(joined["chunk"].mean()),
        "mse_chunk_median": float(joined["chunk"].median()),
        "rollout_steps": steps,
        "mse_rollout": float(joined["rollout"].mean()),
    }
    metrics.update({f"energy_drift_{method}": float(joined[method].mean()) for method in methods})
    return metrics


class HamiltonianFit(TrainingRun):
    """Trains ``model`` on ``train`` trajectories, validating on ``validation``, writing into ``out_dir``:
    ``best.safetensors`` (best validation chunk MSE), ``checkpoint.pt``, ``metrics.csv``."""

    def __init__(
        self,
        model: LearnedHamiltonian,
        train: SpringData,
        validation: SpringData,
        config: FitConfig,
        out_dir: str | Path,
        resume: bool = False,
        training_info: dict | None = None,
    ):
        super().__init__(out_dir, config.max_time)
        self.model, self.config = model, config
        self.dtype = next(model.parameters()).dtype
        self.train, self.validation = _tensors(train, self.dtype), validation
        self.training_info = dict(
            training_info or {},
            trajectories=int(train.q.shape[0]),
            hyperparameters=dataclasses.asdict(config),
        )
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.epoch = 0
        state = self.read_checkpoint() if resume else None
        if state is not None:
            if state["config"] != dataclasses.asdict(model.config):
                raise ValueError(f"cannot resume: {self.checkpoint_path} holds a different model config")
            model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.epoch, self.elapsed, self.best_metric = state["epoch"], state["elapsed"], state["best"]
            self.history = list(state["history"])

    def batches_per_epoch(self) -> int:
        return math.ceil(self.train["q"].shape[0] / self.config.batch_size)

    def _progress(self) -> float:
        return self.budget_used(self.epoch / self.config.epochs)

    def learning_rate(self) -> float:
        return warmup_cosine(self.config.lr, self._progress(), min_lr_ratio=self.config.min_lr_ratio)

    def run(self, progress: bool = True) -> list[dict]:
        """Train until the epochs or the time budget (checked after every batch) are used up; returns the
        per-epoch history."""
        c = self.config
        last_checkpoint = time.monotonic()
        with tqdm(total=c.epochs, initial=self.epoch, desc="epochs", disable=not progress) as bar:
            while self._progress() < 1.0:
                started = time.monotonic()
                rng = np.random.default_rng([c.seed, self.epoch])
                chunks = sample_chunks(self.train, c.chunk_len, rng)
                order = torch.as_tensor(rng.permutation(chunks["q"].shape[0]))
                losses = []
                self.model.train()
                for start in range(0, len(order), c.batch_size):
                    rows = order[start : start + c.batch_size]
                    batch = {k: v[rows] if k != "ts" else v for k, v in chunks.items()}
                    for group in self.optimizer.param_groups:
                        group["lr"] = self.learning_rate()
                    self.optimizer.zero_grad(set_to_none=True)
                    loss = state_mse(self.model, batch, c.substeps, create_graph=True)
                    loss.backward()
                    self.optimizer.step()
                    losses.append(loss.item())
                    if self.max_time and self.elapsed + time.monotonic() - started >= 60 * self.max_time:
                        break  # the budget ran out mid-epoch: the run ends with this (partial) epoch
                self.epoch += 1
                self.elapsed += time.monotonic() - started
                if self.epoch % c.validate_every == 0 or self._progress() >= 1.0:
                    self._validate(float(np.mean(losses)))
                bar.update()
                bar.set_postfix(train=f"{losses[-1]:.3g}", best_val=f"{self.best_metric:.3g}")
                if time.monotonic() - last_checkpoint > 60 * c.checkpoint_minutes or self._progress() >= 1.0:
                    self.save_checkpoint()
                    last_checkpoint = time.monotonic()
        return self.history

    def _validate(self, train_loss: float) -> None:
        mse = float(
            state_mse(
                self.model.eval(),
                sample_chunks(
                    _tensors(self.validation, self.dtype), self.config.chunk_len, np.random.default_rng(0)
                ),
            )
        )
        row = {
            "epoch": self.epoch,
            "train_time_s": round(self.elapsed, 2),
            "lr": self.learning_rate(),
            "train_mse": train_loss,
            "val_mse_chunk": mse,
        }
        if self.record(row, mse):
            info = dict(
                self.training_info,
                epochs=self.epoch,
                best_epoch=self.epoch,
                train_time_s=round(self.elapsed, 1),
            )
            save_hamiltonian(
                self.model, self.out_dir / "best.safetensors", info, {"validation_mse_chunk": mse}
            )

    def save_checkpoint(self) -> None:
        self.write_checkpoint(
            {
                "config": dataclasses.asdict(self.model.config),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch,
                "elapsed": self.elapsed,
                "best": self.best_metric,
                "history": self.history,
            }
        )


def train_hamiltonian(
    data: str | Path,
    out_dir: str | Path,
    config: FitConfig | None = None,
    *,
    train: int = 3000,
    validation: int = 200,
    validation_data: str | Path | None = None,
    resume: bool = False,
    **model_options,
) -> HamiltonianFit:
    """Fit a new float64 :class:`LearnedHamiltonian` to the first ``train`` trajectories of the spring data
    file ``data``, validating on the last ``validation`` of ``validation_data`` (default: ``data`` itself,
    where the two parts must not overlap); returns the finished :class:`HamiltonianFit`.

    ``model_options``: fields of :class:`~equiformer_ase.lie.hamiltonian.HamiltonianConfig`; its ``dim``
    and ``num_particles`` come from the data, ``energy_scale`` is the training part's
    :func:`mean_kinetic_energy` and ``seed`` is ``config.seed``.
    """
    config = config or FitConfig()
    springs = SpringData.load(data)
    total = springs.q.shape[0]
    held_out = SpringData.load(validation_data) if validation_data else springs
    if validation_data is None and train + validation > total:
        raise ValueError(
            f"{data} has {total} trajectories, fewer than --train {train} + --validation {validation}"
        )
    count = held_out.q.shape[0]
    if train > total or validation > count:
        raise ValueError(
            f"--train {train} / --validation {validation} exceed the trajectories in {data} ({total}) / "
            f"{validation_data} ({count})"
        )
    train_part = springs.systems(slice(0, train))
    model = LearnedHamiltonian(
        dim=springs.q.shape[-1],
        num_particles=springs.q.shape[2],
        energy_scale=mean_kinetic_energy(train_part),
        seed=config.seed,
        **model_options,
    )
    fit = HamiltonianFit(
        model.double(),
        train_part,
        held_out.systems(slice(count - validation, count)),
        config,
        out_dir,
        resume=resume,
        training_info={
            "data": f"{data} (first {train})",
            "validation": f"{validation_data or data} (last {validation})",
        },
    )
    fit.run()
    return fit
