"""What every training run keeps in its folder, shared by the Equiformer trainer and the Lie Hamiltonian fit.

``metrics.csv`` holds one row per validation (``history``); the best validation metric so far
(``best_metric``, lower is better, reached at ``best_epoch``) decides when the caller saves its
best model; ``elapsed`` (s) is the training time a ``max_time`` budget (minutes) counts; and
``checkpoint.pt`` is replaced atomically, so an interruption leaves the previous one whole.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch


class TrainingRun:
    """The bookkeeping of a run writing into ``out_dir`` under a time budget of ``max_time`` minutes (None: none)."""

    def __init__(self, out_dir: str | Path, max_time: float | None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.out_dir / "checkpoint.pt"
        self.max_time = max_time
        self.elapsed, self.best_metric, self.best_epoch = 0.0, math.inf, -1
        self.history: list[dict] = []

    def budget_used(self, done: float) -> float:
        """The larger of ``done`` (the fraction of the steps or epochs taken) and the fraction of the time budget used."""
        return max(done, self.elapsed / (60 * self.max_time) if self.max_time else 0.0)

    def record(self, row: dict, metric: float) -> bool:
        """Append ``row`` (with an ``epoch``) to the history and metrics.csv; True where ``metric`` is the best so far."""
        self.history.append(row)
        with open(self.out_dir / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self.history[0]))
            writer.writeheader()
            writer.writerows(self.history)
        if metric < self.best_metric:
            self.best_metric, self.best_epoch = metric, row["epoch"]
            return True
        return False

    def read_checkpoint(self) -> dict | None:
        """The checkpoint's contents (tensors on the CPU, nothing unpickled), or None where there is none."""
        if not self.checkpoint_path.exists():
            return None
        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)

    def write_checkpoint(self, state: dict) -> None:
        """Replace the checkpoint with ``state`` in one rename."""
        temporary = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, temporary)
        os.replace(temporary, self.checkpoint_path)
