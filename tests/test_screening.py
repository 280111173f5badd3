"""Adsorbate screening: sites, placement, references, anomalies, and the Dask/ase.db workflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import ase.db
import numpy as np
import pytest
from ase.build import molecule
from ase.geometry import find_mic
from conftest import ELEMENTS, TINY

import equiformer_ase as ea
from equiformer_ase.screening import (
    GAS_REFERENCES,
    Screening,
    ScreeningSpec,
    adsorbate,
    adsorbate_from_atoms,
    adsorption_energy,
    build_surface,
    chemical_potentials,
    compare_methods,
    detect_anomaly,
    find_sites,
    place_adsorbate,
)


@pytest.fixture(scope="module")
def potential_file(tmp_path_factory) -> str:
    """An untrained tiny potential for Cu, Pt, H, C, N, O, as a file Dask workers can load."""
    elements = ELEMENTS + ["Pt"]
    config = ea.EquiformerConfig(elements=elements, **TINY)
    path = tmp_path_factory.mktemp("screening") / "tiny.safetensors"
    ea.Potential.from_config(config, seed=0).save(path)
    return str(path)


@pytest.mark.parametrize("metal", ["Cu", "Pt", "Al"])
def test_fcc111_has_exactly_four_site_types(metal):
    sites = find_sites(build_surface(metal, "111"))
    assert [s.name for s in sites] == ["top", "bridge", "fcc", "hcp"]
    assert [len(s.atoms) for s in sites] == [1, 2, 3, 3]


def test_fcc100_sites_and_larger_cells():
    assert [s.name for s in find_sites(build_surface("Cu", "100"))] == ["top", "bridge", "hollow"]
    # a bigger cell has more atoms but the same distinct sites
    assert [s.name for s in find_sites(build_surface("Cu", "111", size=(4, 4, 3)))] == [
        "top",
        "bridge",
        "fcc",
        "hcp",
    ]


def test_fcc_and_hcp_are_told_apart_by_the_atom_below():
    slab = build_surface("Cu", "111")
    fcc, hcp = [s for s in find_sites(slab) if s.kind in ("fcc", "hcp")]

    def depth_of_atom_below(site):
        offsets = slab.positions - np.array([*site.position[:2], 0.0])
        offsets[:, 2] = 0.0
        lateral = np.linalg.norm(find_mic(offsets, slab.cell, slab.pbc)[0], axis=1)
        below = slab.positions[lateral < 0.3, 2]
        return site.position[2] - below.max()

    spacing = slab.positions[:, 2].max() - np.unique(slab.positions[:, 2].round(3))[-2]
    assert depth_of_atom_below(hcp) == pytest.approx(spacing, abs=2e-3)  # second layer
    assert depth_of_atom_below(fcc) == pytest.approx(2 * spacing, abs=4e-3)  # third layer


@pytest.mark.parametrize("facet", ["111", "100", "110", "211"])
def test_placement_puts_the_binding_atom_at_bond_length(facet):
    slab = build_surface("Pt", facet)
    for site in find_sites(slab):
        system = place_adsorbate(slab, adsorbate("OH"), site)
        binding = system.info["binding_atom"]
        distances = system.get_distances(binding, range(len(slab)), mic=True)
        bond = 1.36 + 0.66  # covalent radii of Pt and O
        assert bond - 1e-9 <= distances.min() <= bond + 0.01  # at most 0.5 A above a wide hollow
        assert (
            system.positions[binding + 1, 2] > system.positions[binding, 2]
        )  # H points away from the surface
        assert len(system.constraints[0].index) == len(slab.constraints[0].index)


def test_user_adsorbate_needs_a_binding_atom():
    water = molecule("H2O")
    assert adsorbate_from_atoms("H2O", water, "O").binding_index == 0
    with pytest.raises(ValueError, match="give the binding atom"):
        adsorbate_from_atoms("H2O", water, None)
    with pytest.raises(ValueError, match="occurs 2 times"):
        adsorbate_from_atoms("H2O", water, "H")
    with pytest.raises(ValueError, match="not an atom index"):
        adsorbate_from_atoms("H2O", water, 7)
    with pytest.raises(ValueError, match="unknown adsorbate 'XY'"):
        adsorbate("XY")


def test_gas_references_follow_the_oc20_formula():
    energies = {"H2": -6.0, "H2O": -14.0, "CO": -15.0, "N2": -16.0}
    mu = chemical_potentials(energies)
    assert mu == {"H": -3.0, "O": -8.0, "C": -7.0, "N": -8.0}
    # OH: E - E_slab - (E(H2O) - E(H2)/2)
    assert adsorption_energy(-120.0, -100.0, ["O", "H"], mu) == pytest.approx(-120 + 100 + 14 - 3)
    with pytest.raises(ValueError, match="no gas reference for S"):
        adsorption_energy(-1.0, 0.0, ["S"], mu)
    with pytest.raises(ValueError, match="gas references missing: N2"):
        chemical_potentials({k: v for k, v in energies.items() if k != "N2"})


def test_anomalies_are_detected():
    slab = build_surface("Cu", "111")
    start = place_adsorbate(slab, adsorbate("OH"), find_sites(slab)[2])
    n = len(slab)
    assert detect_anomaly(start, start, n) == ""
    moved = start.copy()
    moved.positions[n:, 2] += 4.0
    assert detect_anomaly(start, moved, n) == "desorbed"
    moved = start.copy()
    moved.positions[n + 1, 2] += 2.0
    assert detect_anomaly(start, moved, n) == "dissociated"
    # EMT's own O-H bond (1.2-1.26 A) is a bond; 1.5 A is past the 1.5 x (0.66 + 0.31) A cutoff
    for length, anomaly in ((1.26, ""), (1.5, "dissociated")):
        stretched = start.copy()
        direction = start.positions[n + 1] - start.positions[n]
        stretched.positions[n + 1] = start.positions[n] + length * direction / np.linalg.norm(direction)
        assert detect_anomaly(start, stretched, n) == anomaly
    moved = start.copy()
    moved.positions[n - 1, 2] += 1.5
    assert detect_anomaly(start, moved, n) == "reconstructed"


@pytest.mark.parametrize(
    "metal, facet, kind, height, neighbours, distance",
    [
        ("Pt", "111", "fcc", 1.75, 3, 2.38),  # EMT: H in Pt(111) hollows, 2.4 A from three Pt atoms
        ("Pt", "100", "hollow", 1.57, 4, 2.52),  # EMT: Pt(100) hollow, 1.51 x the covalent-radii sum
        ("Al", "100", "hollow", 1.38, 4, 2.46),  # EMT: Al(100) hollow, 1.62 x
    ],
)
def test_hydrogen_in_a_hollow_is_adsorbed_not_desorbed(metal, facet, kind, height, neighbours, distance):
    slab = build_surface(metal, facet)
    hollow = next(site for site in find_sites(slab) if site.kind == kind)
    placed = place_adsorbate(slab, adsorbate("H"), hollow)
    n = len(slab)
    top = slab.positions[:, 2].max()
    relaxed = placed.copy()
    relaxed.positions[n, 2] = top + height
    assert np.sort(relaxed.get_distances(n, range(n), mic=True))[:neighbours] == pytest.approx(
        distance, abs=0.05
    )
    assert detect_anomaly(placed, relaxed, n) == ""
    relaxed.positions[n, 2] = top + 3.5
    assert detect_anomaly(placed, relaxed, n) == "desorbed"


def test_bad_screen_inputs_are_refused(potential_file, tmp_path):
    for metals in (("Xx",), ("Fe",), ("Al",)):  # not a metal; not fcc; fcc but not in the potential
        with pytest.raises(
            ValueError, match=f"{metals[0]}: not an fcc metal covered by .* which covers Cu, Pt$"
        ):
            ScreeningSpec(potential_file, metals, ("111",), ("O",))
    with pytest.raises(ea.PotentialFileError, match="does not exist"):
        ScreeningSpec(str(tmp_path / "missing.safetensors"), ("Cu",), ("111",), ("O",))
    no_nitrogen = tmp_path / "no-n.safetensors"
    ea.Potential.from_config(ea.EquiformerConfig(elements=["Cu", "H", "C", "O"], **TINY)).save(no_nitrogen)
    with pytest.raises(ea.UnsupportedElementError, match="unsupported element.s. N"):  # the N2 gas reference
        ScreeningSpec(str(no_nitrogen), ("Cu",), ("111",), ("O",))
    with pytest.raises(ValueError, match="unknown or no facets \\['311'\\]"):
        ScreeningSpec(potential_file, ("Cu",), ("311",), ("O",))
    with pytest.raises(ValueError, match="unknown adsorbate 'Q'"):
        ScreeningSpec(potential_file, ("Cu",), ("111",), ("Q",))


def _tasks(db_path) -> list[str]:
    return [row.task for row in ase.db.connect(str(db_path)).select()]


def test_screen_on_a_local_cluster_writes_rows_once(potential_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = ScreeningSpec(
        potential_file, ("Cu", "Pt"), ("111",), ("O", "CO"), steps=3, batch_size=4, device="cpu"
    )
    db_path = tmp_path / "screen.db"
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        first = Screening(spec, db_path, client, progress=False)
        first.run()
        second = Screening(spec, db_path, client, progress=False)
        second.run()
    db = ase.db.connect(str(db_path))
    assert first.relaxed_count == 2 + len(GAS_REFERENCES) + 2 * 4 * 2 and second.relaxed_count == 0
    assert first.throughput().startswith("22 structures relaxed this run")
    assert second.throughput() == "nothing left to relax: every result was already in the database"
    assert db.count(kind="slab") == 2 and db.count(kind="gas") == 4 and db.count(kind="adsorbate") == 16
    tasks = _tasks(db_path)
    assert len(tasks) == len(set(tasks))
    row = db.get(task="adsorbate:Cu111:CO:fcc")
    assert (row.metal, row.facet, row.adsorbate, row.site, row.method) == ("Cu", 111, "CO", "fcc", "tiny")
    slab, gas = db.get(task="slab:Cu111"), {r.molecule: r.energy for r in db.select(kind="gas")}
    assert row.adsorption_energy == pytest.approx(
        adsorption_energy(row.energy, slab.energy, ["C", "O"], chemical_potentials(gas)), abs=1e-10
    )
    best = second.best()
    assert set(best) == {(m, "111", a) for m in ("Cu", "Pt") for a in ("O", "CO")}


def test_check_with_emt_compares_best_sites(potential_file, tmp_path):
    spec = ScreeningSpec(potential_file, ("Cu", "Pt"), ("111",), ("O",), steps=2, device="cpu")
    screening = Screening(spec, tmp_path / "check.db", progress=False)
    screening.run(check_with="emt")
    assert ase.db.connect(str(tmp_path / "check.db")).count(method="emt", kind="adsorbate") == 8
    comparison = compare_methods(screening.best(), screening.best("emt"), ["O"])
    assert comparison["O"]["surfaces"] == 2 and np.isfinite(comparison["O"]["mae"])


def test_compare_methods_reports_error_spread_and_rank_correlation():
    reference = {
        ("M", "111", "O"): -1.0,
        ("N", "111", "O"): -0.5,
        ("P", "111", "O"): 0.0,
        ("Q", "111", "O"): 0.5,
    }
    ours = {
        ("M", "111", "O"): -0.8,
        ("N", "111", "O"): -0.6,
        ("P", "111", "O"): 0.3,
        ("Q", "111", "O"): 0.2,
        ("R", "111", "O"): float("nan"),
    }  # NaN (no valid site) and missing surfaces are left out
    comparison = compare_methods(
        {k: {"adsorption_energy": v} for k, v in ours.items()},
        {k: {"adsorption_energy": v} for k, v in reference.items()},
        ["O", "CO"],
    )
    o = comparison["O"]
    assert o["surfaces"] == 4
    assert o["mae"] == pytest.approx((0.2 + 0.1 + 0.3 + 0.3) / 4)
    assert o["mean_signed"] == pytest.approx((0.2 - 0.1 + 0.3 - 0.3) / 4)
    assert o["error_std"] == pytest.approx(np.sqrt((0.175**2 + 0.125**2 + 0.275**2 + 0.325**2) / 4))
    assert o["reference_std"] == pytest.approx(np.sqrt(0.3125))
    assert o["spearman"] == pytest.approx(0.8)  # one swapped pair among four: 1 - 6 * 2 / (4 * 15)
    assert comparison["CO"]["surfaces"] == 0 and np.isnan(comparison["CO"]["mae"])


def test_results_are_keyed_by_potential_hash_and_settings(potential_file, tmp_path):
    """Two training runs both write best.safetensors: neither screen may take the other's results."""
    for run, seed in (("runA", 0), ("runB", 1)):
        (tmp_path / run).mkdir()
        ea.Potential.from_config(ea.load_potential(potential_file).config, seed=seed).save(
            tmp_path / run / "best.safetensors"
        )
    db_path = tmp_path / "keyed.db"

    def screen(run: str, **settings) -> Screening:
        spec = ScreeningSpec(
            str(tmp_path / run / "best.safetensors"),
            ("Cu",),
            ("111",),
            ("O",),
            steps=2,
            device="cpu",
            **settings,
        )
        screening = Screening(spec, db_path, progress=False)
        screening.run()
        return screening

    first = screen("runA")
    assert first.other_results() == ""
    second = screen("runB")
    assert first.relaxed_count == 1 + len(GAS_REFERENCES) + 4 and second.relaxed_count == first.relaxed_count
    assert second.best() != first.best()
    assert second.other_results().startswith(
        f"{db_path} also holds 9 results of other potentials or settings, "
        f"kept and not used here: 9 x {first.spec.settings}"
    )
    assert screen("runA", fmax=0.01).relaxed_count == first.relaxed_count
    assert screen("runA", vacuum=7.0).relaxed_count == first.relaxed_count
    again = screen("runA")
    assert again.relaxed_count == 0 and again.best() == first.best()
    assert ase.db.connect(str(db_path)).count() == 4 * first.relaxed_count
    assert first.spec.settings.split()[1:] == ["fmax=0.05", "steps=2", "size=3x3x4", "vacuum=6", "float64"]


_CLIENT = """
import sys, pathlib, time
from equiformer_ase.screening import Screening, ScreeningSpec
database, ready, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
spec = ScreeningSpec("emt", ("Cu", "Pt"), ("111",), ("O", "CO"), steps=1, batch_size=1)
ready.touch()
deadline = time.monotonic() + 300   # gone with the test
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.01)
screening = Screening(spec, database, progress=False)
screening.run()
print(screening.relaxed_count)
"""


def test_two_screens_on_one_database_write_each_row_once(tmp_path):
    """Two client processes start the same screen at once on a database neither has created yet, while a
    third polls it: every row is written once, and the two share the work."""
    db_path, go = tmp_path / "shared.db", tmp_path / "go"
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT, str(db_path), str(tmp_path / f"ready{k}"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)):
        assert all(client.poll() is None for client in clients), clients[0].communicate()
        time.sleep(0.01)
    go.touch()
    while any(client.poll() is None for client in clients):
        if db_path.exists():
            _tasks(db_path)  # a reader never meets a half-made schema
        time.sleep(0.01)
    outputs = [client.communicate() for client in clients]
    assert [client.returncode for client in clients] == [0, 0], outputs
    tasks = _tasks(db_path)
    assert len(tasks) == 22 and len(set(tasks)) == 22
    assert sum(int(out) for out, _ in outputs) == 22


def test_killed_screen_resumes_without_duplicates(potential_file, tmp_path):
    db_path = tmp_path / "killed.db"
    command = [
        sys.executable,
        "-m",
        "equiformer_ase.cli",
        "screen",
        "--potential",
        potential_file,
        "--metals",
        "Cu,Pt",
        "--facets",
        "111",
        "--adsorbates",
        "O,CO",
        "--db",
        str(db_path),
        "--workers",
        "0",
        "--steps",
        "3",
        "--batch-size",
        "1",
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not db_path.exists() or len(_tasks(db_path)) < 9):
        time.sleep(0.05)  # the database appears with its whole schema, so reading it here never fails
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = len(_tasks(db_path))
    assert 9 <= written < 22, "the run should have been killed midway"
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tasks = _tasks(db_path)
    assert len(tasks) == 22 and len(set(tasks)) == 22
