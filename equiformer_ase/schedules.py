"""Learning-rate schedule shared by the Equiformer trainer and the Lie Hamiltonian fit."""

from __future__ import annotations

import math


def warmup_cosine(
    lr: float, progress: float, warmup_fraction: float = 0.0, min_lr_ratio: float = 0.01
) -> float:
    """Linear warm-up over ``warmup_fraction`` of the run, then cosine decay from ``lr`` to ``min_lr_ratio * lr``.

    ``progress`` in [0, 1] is the fraction of the run done (steps or time budget).
    """
    if progress < warmup_fraction:
        return lr * progress / warmup_fraction
    cosine = 0.5 * (
        1.0 + math.cos(math.pi * min(1.0, (progress - warmup_fraction) / max(1.0 - warmup_fraction, 1e-12)))
    )
    return lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine)
