"""``generate``: write a reference data set and its recipe, resuming whatever an earlier run finished.

The recipe is written as JSON next to the data (``surfaces.extxyz`` -> ``surfaces.extxyz.recipe.json``);
re-running with the same arguments skips finished tasks, and a different recipe for the same
file is refused rather than mixed in.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .frame_store import open_frame_store, read_frames
from .molecules_data import molecule_tasks
from .recipes import make_recipe, recipe_to_dict
from .surfaces_data import surface_tasks
from .tasks import run_tasks

TASK_BUILDERS = {"surfaces": surface_tasks, "molecules": molecule_tasks}


def recipe_path(out: str | Path) -> Path:
    """Where the recipe of data file ``out`` lives: same folder, ``.recipe.json`` appended to the name."""
    out = Path(out)
    return out.with_name(f"{out.name}.recipe.json")


def regenerate_command(description: dict, out: str = "DATA.extxyz") -> str:
    """The ``generate`` command line that rewrites the data of recipe ``description`` (a recipe JSON)."""
    recipe = description["recipe"]
    default_seed = make_recipe(recipe["subset"], description["preset"]).seed
    seed = "" if recipe["seed"] == default_seed else f" --seed {recipe['seed']}"
    return f"equiformer-ase generate {recipe['subset']} --preset {description['preset']}{seed} --out {out}"


def _software() -> dict[str, str]:
    versions = {}
    for package in ("equiformer-ase", "ase", "numpy", "tblite"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions


def _claim_recipe(out: Path, description: dict) -> None:
    """Write the recipe JSON, or check that an existing one (from an earlier run) is the same recipe."""
    path = recipe_path(out)
    if path.exists():
        stored = json.loads(path.read_text())
        stored.pop("software", None)
        if "temperature" in stored["recipe"]:  # molecule recipes written before temperatures could be several
            stored["recipe"]["temperatures"] = [stored["recipe"].pop("temperature")]
        wanted = json.loads(json.dumps(description))
        if stored != wanted:
            differ = sorted(
                k
                for k in set(stored["recipe"]) | set(wanted["recipe"])
                if stored["recipe"].get(k) != wanted["recipe"].get(k)
            )
            raise ValueError(
                f"{out} was generated with a different recipe ({path}; differs in "
                f"{', '.join(differ) or 'preset'}): choose another output path or delete both files"
            )
        return
    if out.exists():
        raise ValueError(f"{out} exists without its recipe {path}; choose another output path or delete it")
    path.write_text(json.dumps({**description, "software": _software()}, indent=2) + "\n")


def generate(subset: str, out: str | Path, preset: str = "full", seed: int | None = None) -> int:
    """Generate (or resume) reference data ``subset`` ("surfaces" or "molecules") into ``out``.

    ``out`` is an ``.extxyz``/``.xyz`` or ``.db`` path; ``preset`` "full" or "tiny"; ``seed``
    overrides the preset's seed. Returns the number of tasks run now (0 when already complete).
    """
    recipe = make_recipe(subset, preset, seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    store = open_frame_store(out)
    _claim_recipe(out, {"preset": preset, "recipe": recipe_to_dict(recipe)})
    tasks = TASK_BUILDERS[subset](recipe)
    return run_tasks(tasks, store, recipe.seed, desc=f"{subset} -> {out.name}")


def frame_counts(path: str | Path) -> dict[str, int]:
    """Frames per ``info["subset"]`` in a generated data file."""
    return dict(Counter(frame.info["subset"] for frame in read_frames(path)))
