"""Reference-data generation: tiny presets are deterministic, resumable, labelled and checkable."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import pytest
from ase.calculators.emt import EMT
from conftest import cli_error

from equiformer_ase.training import SurfaceRecipe, generate, make_recipe, read_frames, recipe_path
from equiformer_ase.training.generation import generate as generate_module
from equiformer_ase.training.generation.tasks import Task


def test_tiny_surfaces_deterministic_for_a_seed(tiny_surfaces, tmp_path):
    again = tmp_path / "again.extxyz"
    other_seed = tmp_path / "other.extxyz"
    generate("surfaces", again, preset="tiny", seed=0)
    generate("surfaces", other_seed, preset="tiny", seed=1)
    assert again.read_bytes() == tiny_surfaces.read_bytes()
    assert other_seed.read_bytes() != tiny_surfaces.read_bytes()


def test_tiny_surfaces_labels_and_results(tiny_surfaces):
    frames = read_frames(tiny_surfaces)
    assert {f.info["subset"] for f in frames} == {"bulk", "slab", "adsorbate", "gas"}
    assert {f.info["source"] for f in frames} == {"md", "relax", "rattle", "strain"}
    for frame in frames:
        assert np.isfinite(frame.get_potential_energy())
        assert np.isfinite(frame.get_forces()).all()
        assert ("stress" in frame.calc.results) == frame.pbc.all()
        assert (frame.info["source"] == "md") == ("temperature" in frame.info)
    adsorbed = [f for f in frames if f.info["subset"] == "adsorbate"]
    assert {f.info["site"] for f in adsorbed} == {"top", "hollow"}
    assert all(f.info["system"] == f"Cu111+{f.info['adsorbate']}" and not f.pbc[2] for f in adsorbed)
    assert all(f.arrays["fixed"].any() for f in frames if f.info["subset"] in ("slab", "adsorbate"))
    assert recipe_path(tiny_surfaces).exists()


def test_stored_results_match_emt(tiny_surfaces):
    frames = read_frames(tiny_surfaces)
    for frame in frames[:: max(1, len(frames) // 6)]:
        stored = frame.calc.results
        frame.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(stored["energy"], abs=1e-6)
        np.testing.assert_allclose(frame.get_forces(), stored["forces"], atol=1e-5)
        if frame.pbc.all():
            np.testing.assert_allclose(frame.get_stress(), stored["stress"], atol=1e-6)


@pytest.mark.parametrize("suffix", [".extxyz", ".db"])
def test_interrupted_run_resumes_to_the_same_data(tmp_path, monkeypatch, suffix):
    path, uninterrupted = tmp_path / f"interrupted{suffix}", tmp_path / f"uninterrupted{suffix}"
    generate("surfaces", uninterrupted, preset="tiny", seed=0)
    surface_tasks = generate_module.TASK_BUILDERS["surfaces"]

    def interrupted_after_five(recipe):
        tasks = surface_tasks(recipe)

        def interrupt(rng):
            raise KeyboardInterrupt

        return tasks[:5] + [Task(tasks[5].id, interrupt)] + tasks[6:]

    monkeypatch.setitem(generate_module.TASK_BUILDERS, "surfaces", interrupted_after_five)
    with pytest.raises(KeyboardInterrupt):
        generate("surfaces", path, preset="tiny", seed=0)
    assert len({f.info["task"] for f in read_frames(path)}) == 5
    if suffix == ".extxyz":  # a write torn by a kill: half of the next task's text
        complete = uninterrupted.read_bytes()
        done = path.stat().st_size
        with open(path, "ab") as handle:
            handle.write(complete[done : done + 700])
    monkeypatch.setitem(generate_module.TASK_BUILDERS, "surfaces", surface_tasks)
    n_tasks = len(surface_tasks(make_recipe("surfaces", "tiny")))
    with pytest.warns(UserWarning, match="dropping 700 bytes") if suffix == ".extxyz" else nullcontext():
        assert generate("surfaces", path, preset="tiny", seed=0) == n_tasks - 5
    assert generate("surfaces", path, preset="tiny", seed=0) == 0
    resumed, reference = read_frames(path), read_frames(uninterrupted)
    tasks = [f.info["task"] for f in resumed]
    assert all(tasks.count(t) == f.info["task_frames"] for t, f in zip(tasks, resumed))
    assert tasks == [f.info["task"] for f in reference]
    for a, b in zip(resumed, reference):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == b.get_potential_energy()
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())
    if suffix == ".extxyz":
        assert path.read_bytes() == uninterrupted.read_bytes()


def test_tiny_molecules_deterministic(tmp_path, monkeypatch):
    pytest.importorskip("tblite")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    first, second = tmp_path / "a.extxyz", tmp_path / "b.extxyz"
    generate("molecules", first, preset="tiny", seed=0)
    generate("molecules", second, preset="tiny", seed=0)
    a, b = read_frames(first), read_frames(second)
    assert len(a) == 6
    for x, y in zip(a, b):
        assert (
            x.info["subset"] == "md17" and x.info["molecule"] == "ethanol" and x.info["temperature"] == 500.0
        )
        assert "stress" not in x.calc.results
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-8)
        assert x.get_potential_energy() == pytest.approx(y.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(x.get_forces(), y.get_forces(), atol=1e-7)
    # a recipe written before temperatures could be several still claims its own data
    recipe = recipe_path(first)
    description = json.loads(recipe.read_text())
    description["recipe"]["temperature"] = description["recipe"].pop("temperatures")[0]
    recipe.write_text(json.dumps(description))
    assert generate("molecules", first, preset="tiny", seed=0) == 0


def test_bad_input_is_named(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown subset 'proteins'"):
        generate("proteins", tmp_path / "x.extxyz")
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        generate("surfaces", tmp_path / "x.extxyz", preset="huge")
    with pytest.raises(ValueError, match=r"metals: unknown .*Fe"):
        SurfaceRecipe(metals=("Cu", "Fe"))
    with pytest.raises(ValueError, match="bulk_md_frames must not be negative"):
        SurfaceRecipe(bulk_md_frames=-1)
    with pytest.raises(ValueError, match=r"unsupported output extension '\.csv'"):
        generate("surfaces", tmp_path / "x.csv", preset="tiny")
    assert "unsupported output extension '.csv'" in cli_error(
        capsys, ["generate", "surfaces", "--out", str(tmp_path / "x.csv"), "--preset", "tiny"]
    )
    path = tmp_path / "x.extxyz"
    generate("surfaces", path, preset="tiny", seed=0)
    with pytest.raises(ValueError, match="different recipe .*differs in seed"):
        generate("surfaces", path, preset="tiny", seed=1)


def test_adsorbate_starts_are_placed_as_users_place_them():
    """The "starts" part: random lateral sites, heights in the window, rattle bounded, then the EMT relaxation."""
    from equiformer_ase.training.generation.surfaces_data import surface_tasks
    from equiformer_ase.training.generation.tasks import task_rng

    recipe = SurfaceRecipe(
        parts=("starts",),
        metals=("Cu",),
        adsorbate_facets=("fcc111",),
        start_adsorbates=("O",),
        start_slab_sizes=((2, 2, 3), (3, 3, 3)),
        start_placements=3,
        start_heights=(1.2, 2.0),
        start_rattle=0.08,
        start_relax_frames=3,
        relax_max_steps=5,
    )
    tasks = surface_tasks(recipe)
    assert [t.id for t in tasks] == ["start:Cu111+O:2x2", "start:Cu111+O:3x3"]
    frames = [f for t in tasks for f in t.run(task_rng(0, t.id))]
    starts = [f for f in frames if f.info["source"] == "start"]
    assert len(starts) == 6 and {f.info["cell"] for f in starts} == {"2x2", "3x3"}
    assert {f.info["source"] for f in frames} == {"start", "relax"}
    lateral = []
    for frame in starts:
        oxygen = frame.positions[frame.numbers == 8][0]
        top = frame.positions[frame.numbers == 29][:, 2].max()
        assert 1.2 - 2 * 0.08 <= oxygen[2] - top <= 2.0 + 0.08
        lateral.append(tuple(np.round(oxygen[:2], 3)))
        assert frame.arrays["fixed"].sum() > 0 and np.isfinite(frame.get_forces()).all()
    assert len(set(lateral)) == 6  # no two placements on the same spot
    probe = make_recipe("surfaces", "probe")
    assert probe.parts == ("starts",) and probe.seed != make_recipe("surfaces", "starts").seed


@pytest.mark.parametrize(
    "subset, preset, seed",
    [
        ("molecules", "compact", 1),
        ("molecules", "probe", None),
        ("surfaces", "probe", None),
        ("surfaces", "compact", 7),
    ],
)
def test_regenerate_command_names_the_recipe(subset, preset, seed):
    """The card's command line rebuilds the same recipe, seed included; the probe presets keep their own seed."""
    recipe = make_recipe(subset, preset, seed)
    description = {"preset": preset, "recipe": generate_module.recipe_to_dict(recipe)}
    words = generate_module.regenerate_command(description).split()
    assert words[:4] == ["equiformer-ase", "generate", subset, "--preset"]
    rebuilt_seed = int(words[words.index("--seed") + 1]) if "--seed" in words else None
    assert make_recipe(subset, words[4], rebuilt_seed) == recipe
    assert ("--seed" in words) == (seed is not None)
    if preset == "probe":
        assert recipe.seed == 1000


def test_ood_preset_leaves_the_training_data():
    from ase.data import covalent_radii

    from equiformer_ase.training.generation.surfaces_data import surface_tasks

    recipe = replace(
        make_recipe("surfaces", "ood"), metals=("Cu",), start_adsorbates=("O",), ood_fragments=("OH",)
    )
    assert recipe.seed == 2000 and recipe.parts == ("ood",)
    frames = [f for task in surface_tasks(recipe) for f in task.run(np.random.default_rng(0))]
    volumes = sorted(f.get_volume() / len(f) for f in frames if f.info["subset"] == "bulk")
    assert volumes[-1] / volumes[0] == pytest.approx(1.2 / 0.8, rel=0.02)
    for frame in (f for f in frames if f.info["source"] == "contact"):
        o = frame.get_chemical_symbols().index("O")
        nearest = min(frame.get_distances(o, [k for k in range(len(frame)) if k != o], mic=True))
        radii = covalent_radii[8] + covalent_radii[29]
        assert 0.5 * radii < nearest < max(1.2, 0.5 * radii + 0.3) + 2 * 0.08 * 3**0.5 < 0.8 * radii
    fragments = [f for f in frames if f.info["source"] == "fragment"]
    assert len(fragments) == 4 and all(f.get_distance(0, 1) > 1.2 for f in fragments)
