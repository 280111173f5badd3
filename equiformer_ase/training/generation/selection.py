"""Choosing which explored frames to label: inside a trust window of the committee's deviation,
spread over the window and over (system, exploration source) groups.

A frame whose largest per-atom force deviation ``max_forces_dev`` (eV/A) lies below ``low`` is
already described well (labelling it teaches nothing); above ``high`` it usually comes from an
exploration that has left physical space (labelling it teaches states production runs never
visit). Between them the committee disagrees enough to learn from (DP-GEN's model deviation).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .sampling import evenly_spaced


def select_frames(
    deviations: np.ndarray,
    groups: Sequence[Hashable],
    low: float,
    high: float,
    max_frames: int,
    per_group: int,
    seed: int | Sequence[int],
) -> np.ndarray:
    """Sorted indices of at most ``max_frames`` frames with ``low <= deviations < high``.

    ``deviations`` (F,): ``max_forces_dev`` per frame, eV/A; ``groups`` (F,): a key per frame, e.g.
    (system, source). Each group contributes at most ``per_group`` frames, evenly spaced over its
    sorted deviations (its lowest and highest in-window frames kept), so one long trajectory cannot
    fill the quota with copies of one state. When more remain than ``max_frames``, groups take turns
    (order and within-group order drawn from ``seed``), so as many groups as possible are represented.
    """
    deviations = np.asarray(deviations, dtype=float)
    if len(groups) != len(deviations):
        raise ValueError(f"{len(groups)} group keys for {len(deviations)} deviations")
    if not 0 <= low < high:
        raise ValueError(f"the trust window needs 0 <= low < high, got [{low}, {high})")
    if max_frames < 0 or per_group < 1:
        raise ValueError(f"max_frames must be >= 0 and per_group >= 1, got {max_frames} and {per_group}")
    rng = np.random.default_rng(seed)
    by_group: dict[Hashable, list[int]] = {}
    for k in np.flatnonzero((deviations >= low) & (deviations < high)):
        by_group.setdefault(groups[k], []).append(int(k))
    queues = []
    for key in sorted(by_group, key=repr):
        ranked = sorted(by_group[key], key=lambda k: (deviations[k], k))
        queues.append([int(k) for k in rng.permutation(evenly_spaced(ranked, per_group))])
    order = rng.permutation(len(queues))
    chosen = [queues[q][turn] for turn in range(per_group) for q in order if turn < len(queues[q])]
    return np.array(sorted(chosen[:max_frames]), dtype=int)
