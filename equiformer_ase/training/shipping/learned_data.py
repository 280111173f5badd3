"""Training data grown by active learning (``equiformer-ase learn``): a recipe's frames followed by the frames
the loop labelled, in order.

``learn`` writes ``OUT/data.extxyz`` and, when its input data has a recipe, ``OUT/data.extxyz.recipe.json``:
that recipe plus an ``"active"`` block (iterations, labelled frames, reference). Shipping a potential trained
on it keeps the labelled frames, byte for byte, beside the model file (``NAME.active.extxyz.gz``, a few
hundred kB), and :func:`rebuild_data` puts regenerated recipe frames and those together into the very file
the potential was trained on (same sha256), so ``evaluate --split test`` reproduces its card.
"""

from __future__ import annotations

import gzip
import json
import os
from io import StringIO
from pathlib import Path

from ase import Atoms
from ase.io import write

from ..fitting.dataset import read_structures
from ..generation.generate import recipe_path

ACTIVE_SUFFIX = ".active.extxyz.gz"


def frames_text(frames: list[Atoms]) -> str:
    """The extended-XYZ text of ``frames``, as ``learn`` writes its data."""
    buffer = StringIO()
    write(buffer, frames, format="extxyz")
    return buffer.getvalue()


def write_learned_recipe(
    data: Path, base: Path, iterations: int, active_frames: int, reference: str, added: int = 0
) -> None:
    """Write the recipe of ``data``: ``base``'s frames, then ``active_frames`` labelled frames (the first
    ``added`` of them given to ``learn``, the others labelled in ``iterations`` iterations with
    ``reference``); nothing when ``base`` has no recipe of its own."""
    source = recipe_path(base)
    if not source.exists():
        return
    description = json.loads(source.read_text())
    description["active"] = {
        "iterations": iterations,
        "frames": active_frames,
        "added": added,
        "reference": reference,
    }
    target = recipe_path(data)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(description, indent=2) + "\n")
    os.replace(temporary, target)


def _frame_starts(lines: list[str]) -> list[int]:
    """Line numbers where the frames of extended-XYZ ``lines`` start (each: a count, a comment, count atoms)."""
    starts, line = [], 0
    while line < len(lines):
        starts.append(line)
        line += int(lines[line]) + 2
    return starts


def keep_active_frames(data: str | Path, count: int, path: str | Path) -> Path:
    """Write the last ``count`` frames of extended-XYZ ``data``, byte for byte, gzip-compressed to ``path``."""
    lines = Path(data).read_text().splitlines(keepends=True)
    starts = _frame_starts(lines)
    if not 0 < count <= len(starts):
        raise ValueError(f"{data} has {len(starts)} frames, cannot keep the last {count}")
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write("".join(lines[starts[-count] :]).encode())
    return Path(path)


def rebuild_data(potential: str | Path, base: str | Path, out: str | Path) -> Path:
    """``out`` = the frames of ``base`` (regenerated from the card's recipe of ``potential``, a shipped name or
    file) as ``learn`` wrote them, then the labelled frames kept beside ``potential`` (``NAME.active.extxyz.gz``):
    the data the potential was trained on. Also writes ``out``'s recipe JSON (the card's recipe and its
    ``"active"`` block), so a potential fine-tuned on ``out`` ships the labelled frames on."""
    from ...potential import read_header
    from ...shipped import POTENTIAL, resolve

    path = resolve(potential, POTENTIAL)
    description = read_header(path)["training"].get("recipe") or {}
    if "active" not in description:
        raise ValueError(f"{potential} was not trained on active-learning data: nothing to rebuild")
    active = path.with_name(path.stem + ACTIVE_SUFFIX)
    if not active.exists():
        raise FileNotFoundError(f"the labelled frames of {potential} are missing: {active} does not exist")
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists; choose another output path")
    with gzip.open(active, "rt") as handle:
        tail = handle.read()
    out.write_text(frames_text(read_structures(base)) + tail)
    recipe_path(out).write_text(json.dumps(description, indent=2) + "\n")
    return out
