"""``label``: relabel a choice of candidate frames with a reference (PBE for ``pbe-md17``), one at a time.

Candidates are frames sampled cheaply (GFN2-xTB MD at several temperatures, ``generate molecules
--preset pool``). A committee, when given, scores each by its ``max_forces_dev`` (eV/A) and chooses
the frames (:func:`.selection.select_frames`: inside ``[trust_low, inf)``, at most ``per_group`` per
(system, temperature) spread over the deviations); without a committee the frames of each group are
taken evenly spaced in time. The chosen frames are labelled in turns over the systems, so an
interrupted labelling leaves a balanced data set, and each label is appended (and fsynced) as it is
made. ``OUT.label.json`` records the candidates' sha256 and recipe, the reference's full description,
the committee's weights hashes and the chosen indices: a rerun resumes the same choice and refuses other
settings. Labels go through the reference's label cache, so no geometry is computed twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm import tqdm

from ...references import SCFNotConvergedError, reference_calculator, reference_description
from .frame_store import ExtxyzFrameStore, file_sha256, read_frames
from .generate import recipe_path
from .selection import select_frames


@dataclass(frozen=True)
class LabelSettings:
    """What decides the chosen frames and their labels. ``systems``: only these (empty: all)."""

    reference: str = "pbe"
    committee: str | None = None
    max_frames: int = 100
    per_group: int = 10
    trust_low: float = 0.0  # eV/A; frames below it are not chosen
    systems: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_frames < 1 or self.per_group < 1:
            raise ValueError(
                f"max_frames and per_group must be >= 1, got {self.max_frames}, {self.per_group}"
            )
        if self.trust_low < 0:
            raise ValueError(f"trust_low must not be negative, got {self.trust_low}")


def settings_path(out: str | Path) -> Path:
    """Where the labelling record of ``out`` lives: ``OUT.label.json``."""
    out = Path(out)
    return out.with_name(f"{out.name}.label.json")


def _group(frame: Atoms) -> tuple[str, float]:
    """(system, temperature) of a candidate frame."""
    system = frame.info.get("system", frame.get_chemical_formula())
    return str(system), float(frame.info.get("temperature", 0.0))


def committee_deviations(committee: str, frames: list[Atoms], batch_size: int = 16) -> np.ndarray:
    """(F,) ``max_forces_dev`` (eV/A) of each frame under ``committee`` (a file or shipped name)."""
    from ...calculator import EquiformerCalculator

    calc = EquiformerCalculator(committee, dtype="float64")
    deviations = []
    for start in tqdm(range(0, len(frames), batch_size), desc="committee deviations", unit="batch"):
        deviations += [r["max_forces_dev"] for r in calc.calculate_batch(frames[start : start + batch_size])]
    return np.array(deviations, dtype=float)


def _committee_hashes(committee: str) -> list[str]:
    from ...committee import load_committee

    return [member.weights_hash() for member in load_committee(committee).members]


def choose_frames(frames: list[Atoms], settings: LabelSettings) -> tuple[list[int], list[float]]:
    """Indices of the frames to label, in labelling order (turns over systems), and their deviations."""
    keep = [k for k, f in enumerate(frames) if not settings.systems or _group(f)[0] in settings.systems]
    if not keep:
        raise ValueError(f"no candidate frame of the systems {', '.join(settings.systems)}")
    subset = [frames[k] for k in keep]
    if settings.committee:
        deviations = committee_deviations(settings.committee, subset)
    else:
        deviations = np.zeros(len(subset))
    groups = [_group(f) for f in subset]
    chosen = select_frames(
        deviations, groups, settings.trust_low, np.inf, settings.max_frames, settings.per_group, settings.seed
    )
    by_system: dict[str, list[int]] = {}
    for j in chosen:
        by_system.setdefault(groups[j][0], []).append(int(j))
    rng = np.random.default_rng(settings.seed)
    queues = [list(rng.permutation(by_system[name])) for name in sorted(by_system)]
    order = [q[turn] for turn in range(max(map(len, queues))) for q in queues if turn < len(q)]
    return [keep[j] for j in order], [float(deviations[j]) for j in order]


def _claim(out: Path, candidates: Path, settings: LabelSettings) -> dict:
    """The labelling record of ``out``: read and checked against these settings, or made and written."""
    path = settings_path(out)
    candidates_recipe = recipe_path(candidates)
    claim = {
        "candidates": str(candidates),
        "candidates_sha256": file_sha256(candidates),
        "candidates_recipe": json.loads(candidates_recipe.read_text())
        if candidates_recipe.exists()
        else None,
        "reference_method": reference_description(settings.reference),
        "committee_weights_sha256": _committee_hashes(settings.committee) if settings.committee else None,
        "settings": json.loads(json.dumps(asdict(settings))),
    }
    if path.exists():
        stored = json.loads(path.read_text())
        same_file = ("candidates", "candidates_recipe")  # the sha256 decides
        differ = [key for key in claim if key not in same_file and stored.get(key) != claim[key]]
        if differ:
            raise ValueError(
                f"{out} was labelled with other settings ({path} differs in {', '.join(differ)}): "
                "choose another output path or delete both files"
            )
        return stored
    if out.exists():
        raise ValueError(f"{out} exists without its labelling record {path}; choose another output path")
    frames = read_frames(candidates)
    indices, deviations = choose_frames(frames, settings)
    claim.update(chosen=indices, max_forces_dev=deviations)
    path.write_text(json.dumps(claim, indent=1) + "\n")
    return claim


def _labelled_frame(candidate: Atoms, calc, index: int, deviation: float, method: str) -> Atoms:
    atoms = candidate.copy()
    for key in ("task", "task_frames"):
        atoms.info.pop(key, None)
    start = time.perf_counter()
    work = atoms.copy()
    work.calc = calc
    energy, forces = work.get_potential_energy(), work.get_forces()
    atoms.info.update(
        candidate_index=index,
        reference=method,
        label_seconds=round(time.perf_counter() - start, 3),
        task=f"label{index}",
        task_frames=1,
    )
    if deviation:
        atoms.info["max_forces_dev"] = deviation
    atoms.calc = SinglePointCalculator(atoms, energy=energy, free_energy=energy, forces=forces)
    return atoms


def label_frames(
    candidates: str | Path,
    out: str | Path,
    settings: LabelSettings,
    threads: int | None = None,
    cache: str | Path | None = None,
) -> dict:
    """Choose frames of ``candidates`` and label them with ``settings.reference`` into ``out`` (extxyz).

    Resumes an interrupted run (frames already in ``out`` are kept, a torn last frame is cut off).
    A frame whose SCF does not converge is left out and listed in the returned ``failed``. Returns
    ``{"chosen", "labelled", "new", "failed", "seconds"}``.
    """
    candidates, out = Path(candidates), Path(out)
    if out.suffix not in (".extxyz", ".xyz"):
        raise ValueError(f"label writes extended XYZ: {out} should end in .extxyz")
    if out.resolve() == candidates.resolve():
        raise ValueError(f"the output {out} is the candidates file: choose another output path")
    factory = reference_calculator(settings.reference, threads=threads, cache=cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    claim = _claim(out, candidates, settings)
    frames = read_frames(candidates)
    store = ExtxyzFrameStore(out)
    done = {int(task.removeprefix("label")) for task in store.finished_tasks()}
    calculators: dict[str, object] = {}  # one per system: the previous density is the next guess
    failed, new, start = [], 0, time.perf_counter()
    todo = [(k, d) for k, d in zip(claim["chosen"], claim["max_forces_dev"]) if k not in done]
    with tqdm(
        total=len(claim["chosen"]), initial=len(claim["chosen"]) - len(todo), desc=f"label {out.name}"
    ) as bar:
        for index, deviation in todo:
            system = _group(frames[index])[0]
            calc = calculators.setdefault(system, factory())
            bar.set_postfix_str(system)
            try:
                store.append(
                    [_labelled_frame(frames[index], calc, index, deviation, claim["reference_method"])]
                )
                new += 1
            except SCFNotConvergedError as err:
                failed.append(index)
                tqdm.write(f"skipped frame {index}: {err}")
            bar.update()
    return {
        "chosen": len(claim["chosen"]),
        "labelled": len(done) + new,
        "new": new,
        "failed": failed,
        "seconds": time.perf_counter() - start,
    }
