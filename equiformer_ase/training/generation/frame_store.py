"""Append-only, task-keyed frame files that survive interruption: extended XYZ or ase.db.

Every frame carries ``info["task"]`` (the id of the task that made it) and
``info["task_frames"]`` (how many frames that task made). A task's frames are written in one
go; on reopening, a task counts as finished only if all its frames are there, and a torn tail
(an interrupted write) is cut off, so a resumed run neither loses finished work nor duplicates it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write
from ase.io.extxyz import key_val_str_to_dict

FORMATS = (".extxyz", ".xyz", ".db")


class ExtxyzFrameStore:
    """Frames appended to an extended XYZ file, one whole task per write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _scan(self) -> tuple[list[str], int]:
        """Ids of the whole tasks at the start of the file, and the byte offset where they end."""
        finished, end = [], 0
        if not self.path.exists():
            return finished, end
        with open(self.path, "rb") as handle:
            task, count = None, 0
            while header := handle.readline():
                try:
                    natoms = int(header)
                except ValueError:
                    break
                lines = [handle.readline() for _ in range(natoms + 1)]
                if not all(line.endswith(b"\n") for line in lines):
                    break
                info = key_val_str_to_dict(lines[0].decode())
                if info.get("task") != task:
                    task, count = info.get("task"), 0
                count += 1
                if count == info.get("task_frames"):
                    finished.append(task)
                    end = handle.tell()
        return finished, end

    def finished_tasks(self) -> list[str]:
        """Ids of the finished tasks, in file order; cuts off any unfinished tail first."""
        finished, end = self._scan()
        if self.path.exists() and self.path.stat().st_size > end:
            warnings.warn(
                f"{self.path}: dropping {self.path.stat().st_size - end} bytes of an unfinished task",
                stacklevel=2,
            )
            with open(self.path, "r+b") as handle:
                handle.truncate(end)
        return finished

    def append(self, frames: list[Atoms]) -> None:
        """Write one task's frames with a single write, flushed to disk."""
        buffer = StringIO()
        write(buffer, frames, format="extxyz")
        with open(self.path, "a") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[Atoms]:
        return read(self.path, index=":", format="extxyz")


class DbFrameStore:
    """Frames in an ase.db (SQLite) file, one transaction per task."""

    def __init__(self, path: Path) -> None:
        from ase.db import connect

        self.db = connect(path, append=True)

    def finished_tasks(self) -> list[str]:
        """Ids of the tasks in the file, in file order (a task is written in one transaction)."""
        return list(dict.fromkeys(row.task for row in self.db.select(sort="id", include_data=False)))

    def append(self, frames: list[Atoms]) -> None:
        """Write one task's frames in a single transaction."""
        with self.db:
            for frame in frames:
                self.db.write(frame, key_value_pairs=frame.info, data={"fixed": frame.arrays["fixed"]})

    def read(self) -> list[Atoms]:
        frames = []
        for row in self.db.select(sort="id"):
            frame = row.toatoms()
            frame.info.update(row.key_value_pairs)
            frame.arrays["fixed"] = np.asarray(row.data["fixed"], dtype=bool)
            frames.append(frame)
        return frames


def open_frame_store(path: str | Path) -> ExtxyzFrameStore | DbFrameStore:
    """The store for ``path``, chosen by its extension (.extxyz / .xyz or .db)."""
    path = Path(path)
    if path.suffix == ".db":
        return DbFrameStore(path)
    if path.suffix in (".extxyz", ".xyz"):
        return ExtxyzFrameStore(path)
    raise ValueError(
        f"unsupported output extension {path.suffix!r} in {path}; use one of {', '.join(FORMATS)}"
    )


def read_frames(path: str | Path) -> list[Atoms]:
    """All frames of a generated data file (extxyz or ase.db), with info, ``fixed`` and reference results."""
    return open_frame_store(path).read()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks): how recipes and records name data."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
