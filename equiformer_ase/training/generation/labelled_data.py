"""Training data made of reference labels that no recipe can regenerate cheaply (DFT), kept in the package.

``label`` writes one file per labelling run (frames chosen from recipe-made candidates, labelled by a
reference such as PBE). Those files are kept, gzip-compressed and with their labelling records, in
``equiformer_ase/data/<set>/`` (``pbe_md17``: the PBE/def2-SVP labels of the MD17 molecules).
:func:`combine_labels` concatenates labelling runs, byte for byte, into one training file and writes its
recipe: the candidates' recipe with the label reference as its ``reference``, and a ``"labelled"``
block naming every run (file, frames, their sha256, candidates' sha256, committee weight hashes, settings).
A run may go on labelling after a potential was trained on it: it only appends, and the potential's recipe
names the prefix it used. :func:`rebuild_labelled_data` writes that very file again (same sha256) from the
kept runs, so
``evaluate --split test`` reproduces a card and ``train --init-from NAME`` can start the next run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from .generate import recipe_path
from .labelling import settings_path

LABELLED_SETS = Path(__file__).resolve().parents[2] / "data"


def read_labels(path: str | Path) -> bytes:
    """The bytes of a labelling run's file, plain or gzip-compressed (``.gz``)."""
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()


def _frames_and_seconds(text: bytes) -> tuple[int, float]:
    """The number of frames of a labelling run's ``text`` and the reference's seconds for them in all
    (each frame's ``label_seconds``: one thread, wall time of the calculation)."""
    from io import StringIO

    from ase.io import iread

    frames = list(iread(StringIO(text.decode()), index=":", format="extxyz"))
    return len(frames), float(sum(frame.info.get("label_seconds", 0.0) for frame in frames))


def frames_prefix(text: bytes, frames: int) -> bytes:
    """The first ``frames`` frames of extended-XYZ ``text``, byte for byte (a labelling run only ever
    appends, so a prefix of it never changes)."""
    lines = text.splitlines(keepends=True)
    line = 0
    for _ in range(frames):
        if line >= len(lines):
            raise ValueError(f"the file holds fewer than {frames} frames")
        line += int(lines[line]) + 2
    return b"".join(lines[:line])


def _record_path(path: Path) -> Path:
    """The labelling record of a run's file, also for its ``.gz`` copy."""
    return settings_path(path.with_suffix("") if path.suffix == ".gz" else path)


def combine_labels(label_files: list[str | Path], out: str | Path) -> Path:
    """Write ``out`` = the frames of ``label_files`` (plain or ``.gz``) in order, and its recipe (see the
    module docstring).

    Every file needs its labelling record (``FILE.label.json``, also beside a ``FILE.gz``) with the
    candidates' recipe beside it (``candidates_recipe`` in the record, or the candidates file's recipe);
    all must share one reference method and one subset. Refuses an existing ``out``.
    """
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists; choose another output path")
    runs, methods, base, texts = [], set(), None, []
    for path in map(Path, label_files):
        record_path = _record_path(path)
        if not record_path.exists():
            raise ValueError(f"{path} has no labelling record {record_path}: combine files written by label")
        record = json.loads(record_path.read_text())
        recipe = record.get("candidates_recipe")
        if recipe is None:  # records written before they held the recipe
            candidates_recipe = recipe_path(record["candidates"])
            if not candidates_recipe.exists():
                raise ValueError(
                    f"the candidates of {path} ({record['candidates']}) have no recipe {candidates_recipe}"
                )
            recipe = json.loads(candidates_recipe.read_text())
        if base is not None and base["recipe"]["subset"] != recipe["recipe"]["subset"]:
            raise ValueError(f"{path}: candidates of another subset than the files before it")
        base = base or recipe
        methods.add(record["reference_method"])
        text = read_labels(path)
        texts.append(text)
        frames, seconds = _frames_and_seconds(text)
        runs.append(
            {
                "file": path.name.removesuffix(".gz"),
                "frames": frames,
                "label_seconds": round(seconds, 1),
                "sha256": hashlib.sha256(text).hexdigest(),
                "candidates_preset": recipe["preset"],
                "candidates_seed": recipe["recipe"]["seed"],
                "candidates_sha256": record["candidates_sha256"],
                "committee_weights_sha256": record["committee_weights_sha256"],
                "settings": record["settings"],
            }
        )
    if len(methods) != 1:
        raise ValueError(f"the files were labelled by different references: {', '.join(sorted(methods))}")
    (method,) = methods
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(texts))
    description = {
        "preset": base["preset"],
        "recipe": {**base["recipe"], "reference": method, "sampled_by": base["recipe"]["reference"]},
        "labelled": {"reference": method, "frames": sum(r["frames"] for r in runs), "runs": runs},
    }
    recipe_path(out).write_text(json.dumps(description, indent=2) + "\n")
    return out


def keep_labels(label_file: str | Path, folder: str | Path) -> Path:
    """Copy a labelling run into ``folder``: ``NAME.gz`` (reproducible gzip) and its record, with the
    candidates' recipe written into the record so that it stands alone. Returns the ``.gz`` path."""
    label_file, folder = Path(label_file), Path(folder)
    record = json.loads(settings_path(label_file).read_text())
    if record.get("candidates_recipe") is None:
        record["candidates_recipe"] = json.loads(recipe_path(record["candidates"]).read_text())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (label_file.name + ".gz")
    with gzip.GzipFile(target, "wb", mtime=0) as handle:
        handle.write(label_file.read_bytes())
    settings_path(folder / label_file.name).write_text(json.dumps(record, indent=1) + "\n")
    return target


def rebuild_labelled_data(potential: str | Path, out: str | Path, folder: str | Path | None = None) -> Path:
    """``out`` = the labelled data ``potential`` (a shipped name or file) was trained on, with its recipe,
    from the runs kept in ``folder`` (default: the package's labelled sets, every one searched)."""
    from ...potential import read_header
    from ...shipped import POTENTIAL, resolve

    description = read_header(resolve(potential, POTENTIAL))["training"].get("recipe") or {}
    if "labelled" not in description:
        raise ValueError(f"{potential} was not trained on labelled data (combine_labels): nothing to rebuild")
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists; choose another output path")
    folders = [Path(folder)] if folder else sorted(p for p in LABELLED_SETS.iterdir() if p.is_dir())
    texts = []
    for run in description["labelled"]["runs"]:
        found = [
            f / name for f in folders for name in (run["file"], run["file"] + ".gz") if (f / name).exists()
        ]
        if not found:
            raise FileNotFoundError(
                f"labelled frames {run['file']} of {potential} not found in {', '.join(map(str, folders))}"
            )
        text = frames_prefix(read_labels(found[0]), run["frames"])
        if hashlib.sha256(text).hexdigest() != run["sha256"]:
            raise ValueError(f"{found[0]} is not the file {potential} was trained on (sha256 differs)")
        texts.append(text)
    out.write_bytes(b"".join(texts))
    recipe_path(out).write_text(json.dumps(description, indent=2) + "\n")
    return out
