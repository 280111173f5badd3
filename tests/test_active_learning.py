"""Active learning: two iterations on tiny EMT data, resume after kills without relabelling, the
trust-window selector, and clear errors for bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.io import read, write
from conftest import ELEMENTS, TINY, cli_error, tiny_potential

import equiformer_ase as ea
from equiformer_ase.cli import main
from equiformer_ase.training import generate
from equiformer_ase.training.active import learn as learn_module
from equiformer_ase.training.active.learn import LearnSettings, learn
from equiformer_ase.training.generation.frame_store import file_sha256
from equiformer_ase.training.generation.generate import recipe_path
from equiformer_ase.training.generation.selection import select_frames
from equiformer_ase.training.shipping.learned_data import rebuild_data

REFERENCE = "test_active_learning:CountingEMT"
SETTINGS = LearnSettings(
    reference=REFERENCE,
    iterations=2,
    trust_low=0.0,
    trust_high=1e6,
    max_selected=4,
    per_group=2,
    systems=2,
    md_temperatures=(300.0,),
    md_steps=4,
    md_interval=2,
    rattle_frames=2,
    strain_frames=1,
    placements=1,
    placement_sizes=((2, 2, 3),),
    relax_steps=3,
    epochs=1,
    validation=3,
    test=3,
)


class CountingEMT(EMT):
    """EMT that counts its calculations and can fail at a given call (a kill while labelling)."""

    calls = 0
    fail_at: int | None = None

    def calculate(self, *args, **kwargs):
        CountingEMT.calls += 1
        if CountingEMT.calls == CountingEMT.fail_at:
            raise KeyboardInterrupt("killed while labelling")
        super().calculate(*args, **kwargs)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Tiny EMT training data (every second frame of the tiny preset), a 6-frame probe from another
    seed and two untrained tiny members."""
    root = tmp_path_factory.mktemp("inputs")
    generate("surfaces", root / "full.extxyz", preset="tiny", seed=0)
    write(root / "data.extxyz", read(root / "full.extxyz", index="::2"))
    # the full file's recipe, so that learn writes one for its data and a member can be shipped from it
    recipe_path(root / "data.extxyz").write_text(recipe_path(root / "full.extxyz").read_text())
    generate("surfaces", root / "probe-full.extxyz", preset="tiny", seed=7)
    write(root / "probe.extxyz", read(root / "probe-full.extxyz", index="::6"))
    members = []
    for seed in range(2):
        tiny_potential(seed=seed).save(root / f"member{seed}.safetensors")
        members.append(root / f"member{seed}.safetensors")
    return {"data": root / "data.extxyz", "probe": root / "probe.extxyz", "members": members}


@pytest.fixture(scope="module")
def uninterrupted(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("learn")
    CountingEMT.calls, CountingEMT.fail_at = 0, None
    rows = learn(inputs["data"], inputs["members"], inputs["probe"], out, SETTINGS)
    return out, rows, CountingEMT.calls


def labels(out, iteration):
    return read(out / f"iter_{iteration:03d}" / "labels.extxyz", index=":")


def test_two_iterations_label_append_fine_tune_and_report(inputs, uninterrupted):
    out, rows, calls = uninterrupted
    assert [row["iteration"] for row in rows] == [0, 1, 2]
    labelled = labels(out, 1) + labels(out, 2)
    assert calls == len(labelled) == rows[1]["labelled"] + rows[2]["labelled"] > 0
    assert all(f.info["source"] == "active" for f in labelled)
    assert [f.info["iteration"] for f in labelled] == [1] * rows[1]["labelled"] + [2] * rows[2]["labelled"]
    data = read(out / "data.extxyz", index=":")
    assert len(data) == len(read(inputs["data"], index=":")) + len(labelled) == rows[2]["training_frames"]
    np.testing.assert_allclose(data[-1].get_forces(), labelled[-1].get_forces())
    for row in rows[1:]:
        assert 0 < row["selected"] <= SETTINGS.max_selected and row["labelled"] == row["selected"]
        assert row["explored"] >= row["selected"]
    # every member was fine-tuned from its previous weights, and the lineage says so
    before, after = rows[0]["committee"], rows[2]["committee"]
    for old, new in zip(rows[1]["committee"], after):
        child = ea.load_potential(new)
        assert child.metadata["training"]["parent"]["weights_sha256"] == ea.load_potential(old).weights_hash()
    assert ea.load_potential(after[0]).weights_hash() != ea.load_potential(before[0]).weights_hash()
    assert len(ea.load_committee(out / "iter_002" / "committee.safetensors")) == 2
    with open(out / "learn.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in table] == [0, 1, 2]
    assert all(float(r["probe_forces_mae_mev_per_a"]) > 0 for r in table)
    assert (out / "learn.png").stat().st_size > 0


def test_resume_after_kills_relabels_nothing_and_matches(inputs, uninterrupted, tmp_path, monkeypatch):
    reference_out, reference_rows, _ = uninterrupted
    out = tmp_path / "learn"
    CountingEMT.calls, CountingEMT.fail_at = 0, 3  # killed while labelling the third frame
    with pytest.raises(KeyboardInterrupt):
        learn(inputs["data"], inputs["members"], inputs["probe"], out, SETTINGS)
    assert len(labels(out, 1)) == 2 and not (out / "iter_001" / "done_label.json").exists()

    real_train, killed = learn_module.train, []

    def train_killed_once(data, member_out, *args, **kwargs):
        if member_out.name == "member_1" and not killed:
            killed.append(member_out)
            raise KeyboardInterrupt("killed while fine-tuning")
        return real_train(data, member_out, *args, **kwargs)

    monkeypatch.setattr(learn_module, "train", train_killed_once)
    CountingEMT.calls, CountingEMT.fail_at = 0, None
    with pytest.raises(KeyboardInterrupt):
        learn(inputs["data"], inputs["members"], inputs["probe"], out, SETTINGS)
    assert (out / "iter_001" / "done_train_0.json").exists() and killed
    rows = learn(inputs["data"], inputs["members"], inputs["probe"], out, SETTINGS)
    total = rows[1]["labelled"] + rows[2]["labelled"]
    assert CountingEMT.calls == total - 2  # the two frames labelled before the kill were kept
    for iteration in (1, 2):
        for ours, theirs in zip(labels(out, iteration), labels(reference_out, iteration), strict=True):
            np.testing.assert_allclose(ours.positions, theirs.positions, atol=1e-6)
    assert rows[2]["probe_forces_mae_mev_per_a"] == pytest.approx(
        reference_rows[2]["probe_forces_mae_mev_per_a"], rel=1e-4
    )


def test_other_settings_are_refused_in_one_line(inputs, uninterrupted, capsys):
    out = uninterrupted[0]
    with pytest.raises(ValueError, match="made with other settings \\(differs in trust_low\\)"):
        learn(
            inputs["data"],
            inputs["members"],
            inputs["probe"],
            out,
            LearnSettings(**{**SETTINGS.__dict__, "trust_low": 0.01}),
        )
    members = [str(p) for p in inputs["members"]]
    assert (
        main(
            [
                "learn",
                str(inputs["data"]),
                "--committee",
                *members,
                "--probe",
                str(inputs["probe"]),
                "--out",
                str(out),
                "--reference",
                REFERENCE,
            ]
        )
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert (
        error.startswith("equiformer-ase learn: error:") and "other settings" in error and "\n" not in error
    )


def test_cli_runs_an_iteration_and_prints_the_table(inputs, tmp_path, capsys):
    members = [str(p) for p in inputs["members"]]
    assert (
        main(
            [
                "learn",
                str(inputs["data"]),
                "--committee",
                *members,
                "--probe",
                str(inputs["probe"]),
                "--out",
                str(tmp_path / "out"),
                "--iterations",
                "1",
                "--systems",
                "1",
                "--temperatures",
                "300",
                "--md-steps",
                "10",
                "--placements",
                "1",
                "--max-selected",
                "2",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "probe F MAE" in printed and "learn.csv" in printed
    assert (tmp_path / "out" / "iter_001" / "done_evaluate.json").exists()


def test_bad_input_is_a_clear_error(inputs, tmp_path, capsys):
    members = [str(p) for p in inputs["members"]]
    base = [
        "learn",
        str(inputs["data"]),
        "--committee",
        *members,
        "--probe",
        str(inputs["probe"]),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(base + ["--reference", "dft"]) == 2
    assert "unknown reference calculator 'dft'" in capsys.readouterr().err
    assert main(base + ["--reference", "no_such_module:Calc"]) == 2
    assert "cannot import no_such_module" in capsys.readouterr().err
    (tmp_path / "empty.extxyz").write_text("")
    with pytest.raises(ValueError, match="probe set .*empty.extxyz.* contains no structures"):
        learn(inputs["data"], inputs["members"], tmp_path / "empty.extxyz", tmp_path / "out", SETTINGS)
    with pytest.raises(ValueError, match="shares 19 structures with"):
        learn(inputs["data"], inputs["members"], inputs["data"], tmp_path / "out", SETTINGS)
    other = ea.Potential.from_config(ea.EquiformerConfig(elements=ELEMENTS[:-1], **TINY))
    with pytest.raises(ValueError, match="member 1 has elements H,C,N,O, member 0 has H,C,N,O,Cu"):
        learn(inputs["data"], [inputs["members"][0], other], inputs["probe"], tmp_path / "out", SETTINGS)
    with pytest.raises(ValueError, match="needs 0 <= low < high"):
        LearnSettings(trust_low=0.2, trust_high=0.1)
    assert main(base + ["--md-steps", "5"]) == 2
    assert "1 <= md_interval <= md_steps (got 10 and 5)" in capsys.readouterr().err
    assert "'300,-5' is not comma-separated temperatures > 0 (K)" in cli_error(
        capsys, base + ["--temperatures", "300,-5"]
    )
    with pytest.raises(ValueError, match="MD temperatures must be > 0 K, got \\[300.0, -5.0\\]"):
        LearnSettings(md_temperatures=(300.0, -5.0))
    with pytest.raises(ValueError, match="placement_heights need 0 < low <= high"):
        LearnSettings(placement_heights=(2.5, 1.0))
    with pytest.raises(ValueError, match="md_timestep > 0 \\(got 0.0\\)"):
        LearnSettings(md_timestep=0.0)
    assert not (tmp_path / "out").exists()  # nothing written before the input was checked


def test_selection_respects_the_trust_window_and_spreads():
    rng = np.random.default_rng(0)
    deviations = np.concatenate([rng.uniform(0, 0.3, 50), rng.uniform(0.0, 0.3, 150)])
    groups = ["md:one state"] * 50 + [f"system{k % 15}" for k in range(150)]
    low, high = 0.05, 0.15
    chosen = select_frames(deviations, groups, low, high, max_frames=20, per_group=3, seed=1)
    assert len(chosen) == 20 and len(set(chosen.tolist())) == 20
    assert np.all((deviations[chosen] >= low) & (deviations[chosen] < high))
    # groups take turns: every group with in-window frames is represented before any gives a third,
    # and the 50-frame trajectory of one state gives no more than the others
    represented = {groups[k] for k in range(len(groups)) if low <= deviations[k] < high}
    counts = {g: sum(groups[k] == g for k in chosen) for g in represented}
    assert len(represented) < 20 and min(counts.values()) >= 1 and max(counts.values()) <= 2
    # with room for everything: each group gives its lowest and highest in-window frame, at most per_group
    everything = select_frames(deviations, groups, low, high, max_frames=1000, per_group=3, seed=1)
    for group in set(groups):
        inside = [k for k in range(len(groups)) if groups[k] == group and low <= deviations[k] < high]
        picked = [k for k in everything if groups[k] == group]
        assert len(picked) == min(3, len(inside))
        if inside:
            assert deviations[picked].min() == deviations[inside].min()
            assert deviations[picked].max() == deviations[inside].max()
    np.testing.assert_array_equal(chosen, select_frames(deviations, groups, low, high, 20, 3, seed=1))
    assert len(select_frames(deviations, groups, 0.31, 0.4, 20, 3, seed=1)) == 0
    with pytest.raises(ValueError, match="low < high"):
        select_frames(deviations, groups, 0.2, 0.1, 20, 3, seed=1)


def test_a_learned_member_ships_with_its_active_frames_and_its_data_rebuilds(inputs, uninterrupted, tmp_path):
    """The learn data's recipe names the active frames; ship keeps them beside the file, and the recipe frames
    plus them rebuild the exact training data, so the card's test errors reproduce."""
    out, rows, _ = uninterrupted
    active_count = rows[1]["labelled"] + rows[2]["labelled"]
    recipe = json.loads(recipe_path(out / "data.extxyz").read_text())
    assert recipe["active"] == {
        "iterations": 2,
        "frames": active_count,
        "added": 0,
        "reference": SETTINGS.reference,
    }
    (tmp_path / "limits.md").write_text("Tiny.")
    member = Path(rows[2]["committee"][0]).parent
    assert (
        main(
            [
                "ship",
                str(member),
                "--data",
                str(out / "data.extxyz"),
                "--name",
                "tiny-al",
                "--limits",
                str(tmp_path / "limits.md"),
                "--out",
                str(tmp_path / "shipped"),
                "--nve-duration",
                "20",
                "--allow-drift",
            ]
        )
        == 0
    )
    card = (tmp_path / "shipped" / "tiny-al.md").read_text()
    assert (
        "## Active-learning frames" in card
        and f"{active_count} labelled frames, in order: those labelled by `{SETTINGS.reference}`" in card
    )
    kept = tmp_path / "shipped" / "tiny-al.active.extxyz.gz"
    assert kept.exists()
    rebuilt = rebuild_data(
        tmp_path / "shipped" / "tiny-al.safetensors", inputs["data"], tmp_path / "rebuilt.extxyz"
    )
    assert file_sha256(rebuilt) == file_sha256(out / "data.extxyz")
    ours, theirs = (json.loads(recipe_path(p).read_text()) for p in (rebuilt, out / "data.extxyz"))
    assert ours["active"] == theirs["active"] and ours["recipe"] == theirs["recipe"]
    assert (
        main(["evaluate", str(tmp_path / "shipped" / "tiny-al.safetensors"), str(rebuilt), "--split", "test"])
        == 0
    )


def test_added_labelled_frames_are_trained_on_and_recorded(inputs, uninterrupted, tmp_path):
    """--add-labelled (a screen's failures): after DATA, before the loop's labels, in the data's recipe; the
    same folder with other added frames, or none, is refused."""
    generate("surfaces", tmp_path / "other.extxyz", preset="tiny", seed=3)
    added = tmp_path / "failures.extxyz"
    write(added, read(tmp_path / "other.extxyz", index="::8"))
    out = tmp_path / "learn"
    settings = LearnSettings(**{**SETTINGS.__dict__, "iterations": 1})
    rows = learn(inputs["data"], inputs["members"], inputs["probe"], out, settings, added=added)
    data, base, extra = (read(path, index=":") for path in (out / "data.extxyz", inputs["data"], added))
    assert len(data) == len(base) + len(extra) + rows[1]["labelled"]
    for ours, theirs in zip(data[len(base) : len(base) + len(extra)], extra, strict=True):
        np.testing.assert_allclose(ours.get_forces(), theirs.get_forces())
    recipe = json.loads(recipe_path(out / "data.extxyz").read_text())
    assert recipe["active"]["added"] == len(extra) and recipe["active"]["frames"] == len(data) - len(base)
    with pytest.raises(ValueError, match="differs in added_sha256"):
        learn(inputs["data"], inputs["members"], inputs["probe"], out, settings)


def test_rebuild_data_names_a_potential_without_labelled_frames(tmp_path):
    with pytest.raises(ValueError, match="gfn2-md17 was not trained on active-learning data"):
        rebuild_data("gfn2-md17", tmp_path / "base.extxyz", tmp_path / "out.extxyz")
    assert not (tmp_path / "out.extxyz").exists()
