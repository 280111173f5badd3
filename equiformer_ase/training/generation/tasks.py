"""Resumable units of data generation: a ``Task`` makes labelled frames from its own random stream.

Each task draws its random numbers from a generator seeded by (recipe seed, task id) only, so a
task gives the same frames whether it runs in an uninterrupted run or after a resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from tqdm import tqdm

from .frame_store import DbFrameStore, ExtxyzFrameStore


@dataclass(frozen=True)
class Task:
    """``run(rng)`` returns the frames of one (subset, system, sampling) unit, labelled in ``info``."""

    id: str
    run: Callable[[np.random.Generator], list[Atoms]]


def task_rng(seed: int, task_id: str) -> np.random.Generator:
    """The random stream of one task: independent of every other task and of run order."""
    digest = hashlib.sha256(task_id.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def run_tasks(
    tasks: list[Task], store: ExtxyzFrameStore | DbFrameStore, seed: int, desc: str = "tasks"
) -> int:
    """Run the tasks not yet finished in ``store``, in order, appending each one's frames when it ends.

    Frames get ``info["task"]`` and ``info["task_frames"]``. Returns the number of tasks run.
    An interruption loses at most the task in progress.
    """
    ids = [task.id for task in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate task ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    finished = set(store.finished_tasks())
    todo = [task for task in tasks if task.id not in finished]
    if todo:
        tqdm.write(
            f"{desc}: {len(todo)} of {len(tasks)} tasks to run; each task's frames are written when it ends "
            "(an MD task can take minutes, the bar moves per task)"
        )
    with tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=desc, unit="task") as bar:
        for task in todo:
            bar.set_postfix_str(task.id)
            frames = task.run(task_rng(seed, task.id))
            for frame in frames:
                frame.info.update(task=task.id, task_frames=len(frames))
            store.append(frames)
            bar.update()
    return len(todo)
