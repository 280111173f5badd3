"""Labelled data that no recipe regenerates: label runs kept in a folder, combined into training data with
a recipe naming every run, shipped with a card that says so, and rebuilt byte for byte."""

from __future__ import annotations

import json

import pytest
from ase.io import read
from conftest import TINY

import equiformer_ase as ea
from equiformer_ase.training import TrainingConfig, train
from equiformer_ase.training.generation.generate import recipe_path
from equiformer_ase.training.generation.labelled_data import (
    combine_labels,
    keep_labels,
    rebuild_labelled_data,
)
from equiformer_ase.training.generation.labelling import LabelSettings, label_frames, settings_path
from equiformer_ase.training.shipping.card import render_card, ship


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_surfaces):
    """Two labelling runs (EMT labels of the tiny surfaces' frames) kept in a package-like folder."""
    folder = tmp_path_factory.mktemp("labelled")
    kept = []
    for name, systems in (("a.extxyz", ("Cu",)), ("b.extxyz", ("CO", "Cu111+O"))):
        out = folder / "work" / name
        label_frames(
            tiny_surfaces, out, LabelSettings(reference="emt", max_frames=8, per_group=4, systems=systems)
        )
        kept.append(keep_labels(out, folder / "kept"))
    return folder, kept


def test_combined_data_names_every_run(runs, tmp_path):
    folder, kept = runs
    data = combine_labels(kept, tmp_path / "data.extxyz")
    recipe = json.loads(recipe_path(data).read_text())
    labelled = recipe["labelled"]
    assert labelled["reference"] == "emt" == recipe["recipe"]["reference"]
    assert recipe["recipe"]["sampled_by"].startswith("EMT") and recipe["preset"] == "tiny"
    assert [r["file"] for r in labelled["runs"]] == ["a.extxyz", "b.extxyz"]
    assert labelled["frames"] == len(read(data, ":")) == sum(r["frames"] for r in labelled["runs"])
    seconds = sum(frame.info["label_seconds"] for frame in read(data, ":"))
    assert sum(r["label_seconds"] for r in labelled["runs"]) == pytest.approx(seconds, abs=0.1)
    record = json.loads(settings_path(folder / "kept" / "a.extxyz").read_text())
    assert record["candidates_recipe"]["recipe"]["subset"] == "surfaces"
    with pytest.raises(ValueError, match="exists"):
        combine_labels(kept, data)


def test_combine_refuses_runs_of_different_references(runs, tmp_path):
    folder, kept = runs
    record_path = settings_path(folder / "kept" / "b.extxyz")
    other = tmp_path / "b.extxyz.gz"
    other.write_bytes(kept[1].read_bytes())
    record = json.loads(record_path.read_text())
    settings_path(tmp_path / "b.extxyz").write_text(json.dumps({**record, "reference_method": "gfn2"}))
    with pytest.raises(ValueError, match="different references"):
        combine_labels([kept[0], other], tmp_path / "mixed.extxyz")


def test_shipped_potential_card_and_exact_rebuild(runs, tmp_path):
    folder, kept = runs
    data = combine_labels(kept, tmp_path / "data.extxyz")
    train(
        data,
        tmp_path / "run",
        TrainingConfig(epochs=1, validation=2, test=2, dtype="float64"),
        model_overrides=TINY,
    )
    probe = folder / "work" / "b.extxyz"
    path = ship(
        tmp_path / "run", data, "labelled-tiny", tmp_path / "shipped", "Tiny.", nve_duration=20.0, probe=probe
    )
    shipped = ea.load_potential(path)
    card = path.with_suffix(".md").read_text()
    assert card == render_card(shipped.metadata)
    assert (
        "frames labelled by `emt` in 2 labelling runs" in card
        and "rebuild_labelled_data('labelled-tiny'" in card
        and "| label CPU h |" in card
        and "The labels cost" in card
    )
    assert (
        "## Fresh frames never trained on" in card
        and shipped.metadata["metrics"]["probe"]["overall"]["structures"]
    )
    rebuilt = rebuild_labelled_data(path, tmp_path / "rebuilt.extxyz", folder=folder / "kept")
    assert rebuilt.read_bytes() == data.read_bytes()
    # the runs go on labelling after the potential was trained: it still rebuilds from their first frames
    grown = tmp_path / "grown"
    grown.mkdir()
    for name in ("a.extxyz", "b.extxyz"):
        text = (folder / "work" / name).read_text()
        (grown / name).write_text(text + text)  # frames appended
    assert rebuild_labelled_data(path, tmp_path / "r2.extxyz", folder=grown).read_bytes() == data.read_bytes()
    assert json.loads(recipe_path(rebuilt).read_text()) == json.loads(recipe_path(data).read_text())
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    text = (folder / "work" / "a.extxyz").read_text()
    (tampered / "a.extxyz").write_text(text.replace("\nCu ", "\nAg ", 1))  # one atom changed
    (tampered / "b.extxyz").write_bytes((folder / "work" / "b.extxyz").read_bytes())
    with pytest.raises(ValueError, match="sha256 differs"):
        rebuild_labelled_data(path, tmp_path / "again.extxyz", folder=tampered)
