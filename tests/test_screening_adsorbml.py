"""AdsorbML-style screening: placements, ML+SP verification with a reference calculator, success rate."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import ase.db
import numpy as np
import pytest
from conftest import TINY

import equiformer_ase as ea
from equiformer_ase.cli import main as cli_main
from equiformer_ase.screening import (
    Screening,
    ScreeningSpec,
    adsorbate,
    build_surface,
    detect_anomaly,
    find_sites,
    place_adsorbate,
    placements,
    site_kind_at,
    success_rates,
)

NAN = math.nan


def candidate(ml: float, sp: float = NAN, anomaly: str = "", site: str = "fcc") -> dict:
    return {"adsorption_energy": ml, "sp_adsorption_energy": sp, "anomaly": anomaly, "final_site": site}


def reference(energy: float, anomaly: str = "", site: str = "fcc") -> dict:
    return {"adsorption_energy": energy, "anomaly": anomaly, "final_site": site}


def test_success_rate_arithmetic_on_a_hand_made_table():
    systems = {
        # lowest ML structure verified 0.08 eV above the reference minimum: success at k = 1
        ("A", "111", "O"): (
            [candidate(-1.0, -0.92), candidate(-0.5, -0.6)],
            [reference(-1.0), reference(-0.4)],
        ),
        # below the reference minimum counts
        ("B", "111", "O"): ([candidate(-2.0, -1.5)], [reference(-1.3)]),
        # the lowest ML structure is anomalous and skipped; k = 1 verifies the next one (0.3 eV too high);
        # k = 2 reaches the one on the minimum's site
        ("C", "111", "O"): (
            [
                candidate(-9.0, -3.0, anomaly="dissociated"),
                candidate(-1.0, -0.7, site="top"),
                candidate(-0.9, -1.0),
            ],
            [reference(-1.0), reference(-0.7, site="top")],
        ),
        # no anomaly-free structure: a failure
        ("D", "111", "O"): ([candidate(-1.0, -1.0, anomaly="desorbed")], [reference(-1.0)]),
        # right site, verified energy too high: an energy error
        ("E", "111", "O"): ([candidate(-1.0, -0.5)], [reference(-1.0)]),
        # the reference has no anomaly-free structure: no ground truth, left out
        ("F", "111", "O"): ([candidate(-1.0, -1.0)], [reference(-1.0, anomaly="intercalated")]),
    }
    metrics = success_rates(systems, k_max=2)
    assert metrics["systems"] == 5 and metrics["left_out"] == [("F", "111", "O")]
    assert metrics["success"] == [pytest.approx(2 / 5), pytest.approx(3 / 5)]
    assert metrics["failures"] == [
        {("C", "111", "O"): "wrong site", ("D", "111", "O"): "anomaly", ("E", "111", "O"): "energy error"},
        {("D", "111", "O"): "anomaly", ("E", "111", "O"): "energy error"},
    ]
    # ML-only: A (|E_ML - E_SP| = 0.08) only; B's ML energy is 0.5 eV off its single point, C's 0.3 eV
    assert metrics["ml_only"] == pytest.approx(1 / 5)
    assert success_rates({}, 1) == {
        "systems": 0,
        "left_out": [],
        "success": [pytest.approx(NAN, nan_ok=True)],
        "ml_only": pytest.approx(NAN, nan_ok=True),
        "failures": [{}],
    }


def test_random_placements_are_seeded_and_distinct():
    slab = build_surface("Cu", "111")
    first = placements(slab, "Cu111:CO", random_count=5, heights=(0.0, 0.5), seed=0)
    assert placements(slab, "Cu111:CO", random_count=5, heights=(0.0, 0.5), seed=0) == first
    names = [p.name for p in first]
    assert len(set(names)) == len(names) == 2 * (4 + 5)
    assert names[:2] == ["top", "top+0.5"] and names[-1] == "random-4-seed0+0.5"
    randoms = [p for p in first if p.site.kind == "random" and p.height == 0]
    xy = np.array([p.site.position[:2] for p in randoms])
    assert min(np.linalg.norm(a - b) for i, a in enumerate(xy) for b in xy[i + 1 :]) > 0.1
    assert len({round(p.rotation, 6) for p in randoms}) == 5 and all(0 <= p.rotation < 360 for p in randoms)
    other_seed = placements(slab, "Cu111:CO", random_count=5, seed=1)
    other_system = placements(slab, "Cu111:OH", random_count=5, seed=0)
    for other in (other_seed, other_system):
        assert [p.site.position for p in other if p.site.kind == "random"] != [
            p.site.position for p in randoms
        ]
    # a height offset lifts the whole molecule; a rotation turns it about z
    site = randoms[0].site
    low, high = (place_adsorbate(slab, adsorbate("OH"), site, height=h) for h in (0.0, 0.5))
    assert high.positions[len(slab) :] - low.positions[len(slab) :] == pytest.approx(
        np.array([[0, 0, 0.5]] * 2)
    )
    nh2 = [place_adsorbate(slab, adsorbate("NH2"), site, rotation=r).positions[-2:] for r in (0.0, 90.0)]
    assert not np.allclose(*nh2)


def test_site_kind_at_names_every_site_and_its_periodic_images():
    for facet in ("111", "100"):
        slab = build_surface("Pt", facet)
        for site in find_sites(slab):
            for shift in (np.zeros(2), slab.cell.array[0, :2], -slab.cell.array[1, :2]):
                assert site_kind_at(slab, np.array(site.position[:2]) + shift + 0.1) == site.kind


def test_an_adsorbate_touching_a_fixed_atom_is_intercalated():
    slab = build_surface("Cu", "111")
    start = place_adsorbate(slab, adsorbate("O"), find_sites(slab)[2])
    fixed = start.constraints[0].index[-1]  # a subsurface atom of the fixed bottom half
    inside = start.copy()
    inside.positions[-1] = start.positions[fixed] + [0.0, 0.0, 1.6]
    assert detect_anomaly(start, inside, len(slab)) == "intercalated"


DYING = """
import os, signal
from ase.calculators.emt import EMT

class DyingEMT(EMT):
    '''EMT that kills its own process (SIGKILL) when its DIE_AT-th instance is made.'''
    made = 0

    def __init__(self, **kwargs):
        DyingEMT.made += 1
        if DyingEMT.made == int(os.environ.get("DIE_AT", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(**kwargs)
"""


def test_verification_writes_sp_rows_and_resumes_after_a_kill(tmp_path, monkeypatch):
    (tmp_path / "dying_emt.py").write_text(DYING)
    db_path = tmp_path / "verify.db"
    command = [
        sys.executable,
        "-m",
        "equiformer_ase.cli",
        "screen",
        "--potential",
        "emt",
        "--metals",
        "Cu",
        "--facets",
        "111",
        "--adsorbates",
        "O",
        "--db",
        str(db_path),
        "--workers",
        "0",
        "--steps",
        "5",
        "--batch-size",
        "1",
        "--random-placements",
        "1",
        "--verify-with",
        "dying_emt:DyingEMT",
        "--top-k",
        "3",
    ]
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    # 1 slab + 4 gas relaxations with the reference, then single points: the 8th instance is the third one
    killed = subprocess.run(
        command, env={**os.environ, "PYTHONPATH": path, "DIE_AT": "8"}, capture_output=True
    )
    assert killed.returncode == -9
    db = ase.db.connect(str(db_path))
    first = {row.task: row.id for row in db.select(kind="single_point")}
    assert len(first) == 2 and db.count(kind="adsorbate") == 5

    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ScreeningSpec("emt", ("Cu",), ("111",), ("O",), steps=5, batch_size=1, random_placements=1)
    screening = Screening(spec, db_path, progress=False)
    screening.run(verify_with="dying_emt:DyingEMT", top_k=3)
    assert screening.relaxed_count == 0 and screening.single_point_count == 1
    rows = list(db.select(kind="single_point"))
    assert len(rows) == 3 and all(first[row.task] == row.id for row in rows if row.task in first)
    slab = db.get(task="slab:Cu111", method="dying_emt:DyingEMT")
    gas = {row.molecule: row.energy for row in db.select(kind="gas", method="dying_emt:DyingEMT")}
    for row in rows:
        relaxed = db.get(task=row.task.replace("sp:", "adsorbate:"), method="emt")
        assert row.sp_energy == pytest.approx(relaxed.energy, abs=1e-9)  # EMT's single point at EMT's minimum
        assert row.sp_adsorption_energy == pytest.approx(
            ea.screening.adsorption_energy(
                row.sp_energy, slab.energy, ["O"], ea.screening.chemical_potentials(gas)
            ),
            abs=1e-9,
        )
    # the three are the lowest anomaly-free relaxed placements
    ranked = sorted(
        (r for r in db.select(kind="adsorbate", method="emt") if r.anomaly == ""),
        key=lambda r: r.adsorption_energy,
    )
    assert sorted(row.site for row in rows) == sorted(r.site for r in ranked[:3])


def test_other_seeds_and_heights_are_other_rows(tmp_path):
    db_path = tmp_path / "seeds.db"

    def screen(**placement) -> Screening:
        spec = ScreeningSpec("emt", ("Cu",), ("100",), ("O",), steps=3, random_placements=2, **placement)
        screening = Screening(spec, db_path, progress=False)
        screening.run(check_with="emt")
        return screening

    first = screen(seed=0)
    assert (
        first.relaxed_count == 5 + 5 + 5
    )  # slab and gas, 3 sites + 2 random with the potential, and with EMT
    second = screen(seed=1)
    assert second.relaxed_count == 2 + 2  # the heuristic sites are shared, the random ones are new
    assert {r.site for r in second.rows("adsorbate", "emt")} == {
        "top",
        "bridge",
        "hollow",
        "random-0-seed1",
        "random-1-seed1",
    }
    assert screen(seed=0, heights=(0.0, 0.25)).relaxed_count == 5 + 5
    assert screen(seed=0).relaxed_count == 0


def test_a_reference_that_does_not_import_or_is_no_calculator_is_refused(tmp_path, capsys):
    spec = ScreeningSpec("emt", ("Cu",), ("111",), ("O",), steps=2)
    screening = Screening(spec, tmp_path / "refused.db", progress=False)
    for reference, message in (
        ("no_such_module_xyz:Calc", "cannot import no_such_module_xyz"),
        ("collections:OrderedDict", "collections.OrderedDict is not an ASE calculator class"),
        ("ase.calculators.emt:NoSuchClass", "has no calculator class NoSuchClass"),
        ("nonsense", "unknown reference calculator 'nonsense'"),
    ):
        with pytest.raises(ValueError, match=message):
            screening.run(check_with=reference)
        code = cli_main(
            [
                "screen",
                "--potential",
                "emt",
                "--metals",
                "Cu",
                "--adsorbates",
                "O",
                "--workers",
                "0",
                "--db",
                str(tmp_path / "refused.db"),
                "--verify-with",
                reference,
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err
    with pytest.raises(ValueError, match="check_with 'emt' and verify_with 'gfn2' differ"):
        screening.run(check_with="emt", verify_with="gfn2")
    assert ase.db.connect(str(tmp_path / "refused.db")).count() == 0  # refused before any work


def test_a_committee_screen_stores_max_forces_dev(tmp_path):
    members = [
        ea.Potential.from_config(ea.EquiformerConfig(elements=["H", "C", "N", "O", "Cu"], **TINY), seed=seed)
        for seed in (0, 1)
    ]
    path = tmp_path / "committee.safetensors"
    ea.Committee(members).save(path)
    members[0].save(tmp_path / "member.safetensors")
    spec = ScreeningSpec(str(path), ("Cu",), ("111",), ("O",), steps=2, device="cpu")
    assert (
        spec.settings.split()[0]
        != ScreeningSpec(
            str(tmp_path / "member.safetensors"), ("Cu",), ("111",), ("O",), steps=2
        ).settings.split()[0]
    )
    screening = Screening(spec, tmp_path / "committee.db", progress=False)
    screening.run()
    rows = screening.rows("adsorbate", "committee")
    assert len(rows) == 4 and all(row.max_forces_dev > 0 for row in rows)
    best = screening.best()[("Cu", "111", "O")]
    assert best["max_forces_dev"] == next(r.max_forces_dev for r in rows if r.site == best["site"])


def test_report_prints_the_adsorbml_metrics_and_exports_the_failing_systems(tmp_path):
    from ase.calculators.emt import EMT
    from ase.io import read
    from conftest import ELEMENTS

    from equiformer_ase.screening.report import screening_report

    path = tmp_path / "untrained.safetensors"
    ea.Potential.from_config(ea.EquiformerConfig(elements=ELEMENTS, **TINY), seed=0).save(path)
    spec = ScreeningSpec(str(path), ("Cu",), ("111",), ("O", "CO"), steps=2, device="cpu")
    screening = Screening(spec, tmp_path / "report.db", progress=False)
    screening.run(check_with="emt", verify_with="emt", top_k=2)
    text = screening_report(screening, tmp_path / "report.db", "emt", "emt", top_k=2)
    systems = screening.systems("emt", "emt")
    metrics = success_rates(systems, 2)
    assert metrics["systems"] == 2 and metrics["failures"][0], "an untrained potential should miss somewhere"
    assert f"  1 {100 * metrics['success'][0]:>7.1f}%" in text and "failing at k=1: Cu111/" in text
    frames = read(tmp_path / "report_failures.extxyz", index=":")
    failing = {key[2] for key in metrics["failures"][0]}
    assert frames and {f.info["adsorbate"] for f in frames} == failing
    assert {f.info["facet"] for f in frames} == {"fcc111"} and {f.info["source"] for f in frames} == {
        "screening"
    }
    for frame in frames:  # labelled by EMT, forces on the fixed atoms included
        atoms = frame.copy()
        atoms.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
        assert frame.get_forces() == pytest.approx(atoms.get_forces(apply_constraint=False), abs=1e-6)
        assert (
            frame.arrays["fixed"].sum() == 18 and np.abs(frame.get_forces()[frame.arrays["fixed"]]).max() > 0
        )
