"""Hostile and careless inputs (issue 16): each gets a clear error of the package's own type, or the
right answer, and nothing on disk is lost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import write
from conftest import ELEMENTS, cli_error, rewrite_header, tiny_calculator, tiny_potential

import equiformer_ase as ea
from equiformer_ase.cli import main


@pytest.mark.parametrize("shift", [1e5, 1e8])
def test_float32_forces_far_from_the_origin(shift):
    calc = tiny_calculator("float32")
    water = molecule("H2O")
    water.calc = calc
    near = water.get_forces().copy(), water.get_potential_energy()
    far = water.copy()
    far.positions += shift
    far.calc = calc
    np.testing.assert_allclose(far.get_forces(), near[0], atol=1e-4)
    assert far.get_potential_energy() == pytest.approx(near[1], abs=1e-4)


def test_one_atom_far_away_builds_a_small_graph():
    """matscipy's cell list would bin the whole bounding box (1e5 A: ~1e13 bins); the k-d tree does not."""
    water = molecule("H2O")
    far = water + Atoms("H", positions=[[1e5, -3e4, 2e4]])
    graph = ea.build_graph([far], ELEMENTS, 4.0)
    reference = ea.build_graph([water], ELEMENTS, 4.0)
    assert graph.edge_index.tolist() == reference.edge_index.tolist()
    with pytest.raises(ValueError, match="bins"):
        ea.build_graph([far], ELEMENTS, 4.0, backend="matscipy")


def test_huge_periodic_box():
    """A 1e4 A periodic box with a dimer, on either side of a face: two edges across the face."""
    dimer = Atoms("H2", positions=[[0.2, 5.0, 5.0], [1e4 - 0.4, 5.0, 5.0]], cell=[1e4, 1e4, 1e4], pbc=True)
    graph = ea.build_graph([dimer], ELEMENTS, 4.0)
    assert sorted(map(tuple, graph.edge_index.T.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(np.linalg.norm(graph.edge_vectors().numpy(), axis=1), [0.6, 0.6])


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    tiny_potential().save(path)
    return path


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.update(cutoff=3.0),
        lambda h: h["config"].update(cutoff=3.0),
        lambda h: h["reference_energies"].update(H=-13.6),
        lambda h: h["metrics"].update(forces_mae=0.001),
    ],
)
def test_edited_header_fields_fail_the_header_hash(saved, edit):
    rewrite_header(saved, edit)
    with pytest.raises(ea.PotentialFileError, match="header_sha256"):
        ea.load_potential(saved)


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda h: h["config"].update(cutoff=float("nan")), "cutoff"),
        (lambda h: h["config"].update(cutoff=1e9), "cutoff"),
        (lambda h: h["config"].update(num_blocks="2"), "num_blocks"),
        (lambda h: h["config"].update(num_blocks=True), "num_blocks"),
        (lambda h: h["config"].update(num_radial=10_000_000), "num_radial"),
        (lambda h: h["config"].update(radial_basis="cosine"), "radial_basis"),
        (lambda h: h["config"].update(parity="yes"), "parity"),
        (lambda h: h["config"].update(node_channels=[16, -8, 4]), "node_channels"),
        (lambda h: h["config"].update(elements=["H", "Xx"]), "Xx"),
        (lambda h: h["config"].pop("elements") and None, "elements"),
        (lambda h: h.update(config=[1, 2]), "config"),
        (lambda h: h.update(reference_energies={"H": 0.0}), "reference_energies"),
        (lambda h: h["reference_energies"].update(H=float("nan")), "reference_energies"),
        (lambda h: h.update(cutoff=3.0), "cutoff"),
        (lambda h: h.pop("reference_energies") and None, "reference_energies"),
        (lambda h: h.update(training="none"), "training"),
        (lambda h: [h], "list"),
        (lambda h: "text", "str"),
        (lambda h: h.update(format_version=True), "format version"),
    ],
)
def test_malformed_or_out_of_range_headers_raise_the_file_error(saved, edit, problem):
    """Crafted files (the header hash recomputed): every field is checked, and the error is ours."""
    rewrite_header(saved, edit, rehash=True)
    with pytest.raises(ea.PotentialFileError, match=problem):
        ea.load_potential(saved)


def test_crafted_huge_config_fails_before_building(saved):
    rewrite_header(saved, lambda h: h["config"].update(num_blocks=30), rehash=True)
    start = time.perf_counter()
    with pytest.raises(ea.PotentialFileError, match="2 blocks, the config 30"):
        ea.load_potential(saved)
    rewrite_header(
        saved, lambda h: h["config"].update(num_blocks=2, num_radial=1000, radial_hidden=4000), rehash=True
    )
    with pytest.raises(ea.PotentialFileError, match="has shape"):
        ea.load_potential(saved)
    assert time.perf_counter() - start < 1.0  # no model was built (30 blocks take seconds)


def test_version_1_files_still_load(saved):
    """Files written before the header hash: same weights, same answers."""
    rewrite_header(saved, lambda h: h.update(format_version=1) or h.pop("header_sha256") and None)
    water = molecule("H2O")
    loaded, original = (
        ea.EquiformerCalculator(p, device="cpu", dtype="float64")
        for p in (ea.load_potential(saved), tiny_potential())
    )
    assert loaded.get_potential_energy(water) == original.get_potential_energy(water)


def test_config_checks_apply_to_python_callers_too():
    for bad in (
        dict(cutoff=float("inf")),
        dict(num_heads=0),
        dict(energy_scale=float("nan")),
        dict(elements="HO"),
    ):
        with pytest.raises(ValueError):
            ea.EquiformerConfig(**{"elements": ["H", "O"], **bad})


def test_expected_shapes_match_built_models():
    for cfg in (
        ea.EquiformerConfig.preset("small", elements=["H", "O"]),
        ea.EquiformerConfig(
            elements=["H"],
            node_channels=(8, 2),
            head_channels=(2, 1),
            ffn_channels=(8, 2),
            attention="dot_product",
            num_blocks=1,
        ),
    ):
        shapes = {k: tuple(v.shape) for k, v in ea.Equiformer(cfg).state_dict().items()}
        assert {k: shapes[k] for k in ea.Equiformer.expected_shapes(cfg)} == ea.Equiformer.expected_shapes(
            cfg
        )


def test_malformed_hamiltonian_files_raise_the_file_error(tmp_path):
    from equiformer_ase.lie import hamiltonian_files as files
    from equiformer_ase.lie.hamiltonian import LearnedHamiltonian

    path = tmp_path / "h.safetensors"
    key = files.HEADER_KEY
    for edit, problem in [
        (lambda h: [h], "list"),
        (lambda h: h.pop("config") and None, "config"),
        (lambda h: h["config"].update(width=10**7), "width"),
        (lambda h: h["config"].update(model="lie", group="Q(7)"), "do not make a learned Hamiltonian"),
        (lambda h: h["config"].update(depth=5), "do not make a learned Hamiltonian"),
    ]:
        files.save_hamiltonian(LearnedHamiltonian(model="mlp", width=8, depth=1), path)
        rewrite_header(path, edit, key=key, rehash=True)
        with pytest.raises(ea.PotentialFileError, match=problem):
            files.load_hamiltonian(path)
    files.save_hamiltonian(LearnedHamiltonian(model="mlp", width=8, depth=1), path)
    rewrite_header(path, lambda h: h["config"].update(energy_scale=2.0), key=key)
    with pytest.raises(ea.PotentialFileError, match="header_sha256"):
        files.load_hamiltonian(path)


def overlapping_water():
    water = molecule("H2O")
    water.positions[1] = water.positions[0] + [0.01, 0.0, 0.0]
    return water


def test_overlapping_atoms_are_refused_by_the_calculator(calc64):
    atoms = overlapping_water()
    atoms.calc = calc64
    with pytest.raises(ea.CloseContactError, match=r"atoms 0 \(O\) and 1 \(H\) are 0.01 A apart"):
        atoms.get_potential_energy()
    calc = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64", allow_close_contacts=True)
    assert np.isfinite(calc.get_potential_energy(atoms))


def test_overlapping_atoms_are_refused_by_the_engine():
    from equiformer_ase.dynamics import MolecularDynamics, relax

    structures = [molecule("H2O"), overlapping_water()]
    with pytest.raises(ea.CloseContactError, match="structure 1: atoms 0 .O. and 1 .H."):
        relax(structures, tiny_potential(), device="cpu", progress=False)
    with pytest.raises(ea.CloseContactError):
        MolecularDynamics(structures, tiny_potential(), timestep=0.5, device="cpu")
    relaxed, _ = relax(
        structures, tiny_potential(), steps=2, device="cpu", progress=False, allow_close_contacts=True
    )
    assert len(relaxed) == 2


def test_unsupported_element_is_named_by_the_engine_not_a_blow_up():
    from equiformer_ase.dynamics import relax

    with pytest.raises(ea.UnsupportedElementError, match="Fe"):
        relax(
            [Atoms("Fe2", positions=[[0, 0, 0], [2.3, 0, 0]])], tiny_potential(), device="cpu", progress=False
        )


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def water_file(tmp_path):
    path = tmp_path / "water.xyz"
    write(path, molecule("H2O"))
    return path


def test_help_and_argument_errors_do_not_import_torch():
    """``--help``, ``--version`` and argument errors stay fast: torch and e3nn are imported by commands only."""
    script = (
        "import sys\nfrom equiformer_ase.cli import main\n"
        "for argv in (['--help'], ['--version'], ['md', 'x.xyz', '--steps', '-5']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "assert not {'torch', 'e3nn'} & set(sys.modules), sorted({'torch', 'e3nn'} & set(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"equiformer-ase {ea.__version__}" in done.stdout


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["md", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "write a frame and log line every N steps (default: 10)" in out


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--steps", "-5"], "argument --steps: '-5' is not a positive integer"),
        (["--interval", "0"], "argument --interval: '0' is not a positive integer"),
        (["--timestep", "nan"], "argument --timestep: 'nan' is not a positive number"),
        (["--temperature", "-3"], "argument --temperature: '-3' is not a number >= 0"),
    ],
)
def test_md_argument_mistakes(capsys, water_file, tmp_path, argv, problem):
    base = {"--steps": "5", "--interval": "1", "--timestep": "0.5", "--temperature": "300"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    args = ["md", str(water_file), "--potential", "x.safetensors", "--traj", str(tmp_path / "md.traj")]
    assert problem in cli_error(capsys, args + [item for pair in base.items() for item in pair])
    assert not (tmp_path / "md.traj").exists()


@pytest.fixture
def potential_path(tmp_path):
    path = tmp_path / "tiny.safetensors"
    tiny_potential().save(path)
    return str(path)


def test_structure_file_mistakes(capsys, tmp_path, potential_path):
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("3\nnot a comment line\nO 0 0 zero\n")
    for structure, problem in (
        (tmp_path / "missing.xyz", "structure file .*missing.xyz does not exist"),
        (tmp_path, "is a directory, not a structure file"),
        (garbage, "cannot read structures from .*garbage.xyz: ValueError"),
    ):
        err = cli_error(
            capsys,
            [
                "relax",
                str(structure),
                "--potential",
                potential_path,
                "--fmax",
                "0.1",
                "--out",
                str(tmp_path / "out.xyz"),
            ],
        )
        assert re.search(problem, err), err
    assert garbage.read_text() == "3\nnot a comment line\nO 0 0 zero\n"


def test_output_path_mistakes_are_caught_before_computing(capsys, tmp_path, potential_path, water_file):
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "keep.txt").write_text("earlier results")
    relax = ["relax", str(water_file), "--potential", potential_path, "--fmax", "0.1", "--out"]
    assert "--out" in cli_error(capsys, relax + [str(finished)])
    assert "does not exist" in cli_error(capsys, relax + [str(tmp_path / "no" / "such" / "dir.xyz")])
    assert "cannot tell a format" in cli_error(capsys, relax + [str(tmp_path / "relaxed.unknown")])
    md = ["md", str(water_file), "--potential", potential_path, "--timestep", "0.5", "--steps", "2", "--traj"]
    assert "--traj" in cli_error(capsys, md + [str(finished)])
    assert "no trajectory" in cli_error(capsys, md + [str(tmp_path / "never.traj"), "--resume"])
    assert [p.name for p in finished.iterdir()] == ["keep.txt"]
    assert (finished / "keep.txt").read_text() == "earlier results"


def test_bad_structures_and_potentials_are_named_and_nothing_is_overwritten(
    capsys, tmp_path, potential_path, water_file
):
    from ase.io import read

    iron, overlap = tmp_path / "iron.xyz", tmp_path / "overlap.xyz"
    write(iron, Atoms("Fe2", positions=[[0, 0, 0], [2.3, 0, 0]]))
    write(overlap, overlapping_water())
    trajectory = tmp_path / "earlier.traj"
    write(trajectory, molecule("H2O"))
    before = trajectory.read_bytes()
    md = ["md", "--potential", potential_path, "--timestep", "0.5", "--steps", "2", "--traj", str(trajectory)]
    assert "unsupported element(s) Fe" in cli_error(capsys, md + [str(iron)])
    assert "0.01 A apart" in cli_error(capsys, md + [str(overlap)])
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    err = cli_error(
        capsys,
        [
            "relax",
            str(water_file),
            "--potential",
            str(corrupt),
            "--fmax",
            "0.1",
            "--out",
            str(tmp_path / "r.xyz"),
        ],
    )
    assert "not a readable safetensors file" in err
    assert trajectory.read_bytes() == before and len(read(trajectory, ":")) == 1
    assert not (tmp_path / "r.xyz").exists()


def test_screen_mistakes_start_nothing_and_create_no_database(capsys, tmp_path, potential_path):
    screen = ["screen", "--facets", "111", "--adsorbates", "O", "--workers", "2"]
    db = tmp_path / "screen.db"
    missing = str(tmp_path / "none.safetensors")
    err = cli_error(capsys, screen + ["--potential", missing, "--metals", "Cu", "--db", str(db)])
    assert "does not exist" in err
    err = cli_error(capsys, screen + ["--potential", potential_path, "--metals", "Fe", "--db", str(db)])
    assert "Fe: not an fcc metal covered by" in err and err.rstrip().endswith("which covers Cu")
    err = cli_error(
        capsys,
        screen
        + ["--potential", potential_path, "--metals", "Cu", "--db", str(tmp_path / "missing" / "screen.db")],
    )
    assert "--db" in err and "does not exist" in err
    assert not db.exists() and not (tmp_path / "missing").exists()


def test_heatmap_of_a_small_screen_fits_its_title_and_colour_bar(tmp_path):
    import matplotlib.image

    from equiformer_ase.screening.report import write_heatmap

    path = tmp_path / "heatmap.png"
    write_heatmap(
        {("Cu", "111", "O"): {"adsorption_energy": -1.2}}, path, "adsorption energies, emt-surfaces (eV)"
    )
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= 400 and height >= 300  # was 228 x 174 with the title and colour-bar label cut off


def test_float32_engine_far_from_the_origin():
    """The MD/relax engine keeps its state in float64: a float32 model relaxes the same far away."""
    from equiformer_ase.dynamics import relax

    water = molecule("H2O")
    water.rattle(0.05, seed=1)
    far = water.copy()
    far.positions += 1e5
    (near_relaxed, far_relaxed), _ = relax(
        [water, far], tiny_potential(), steps=5, dtype="float32", device="cpu", progress=False
    )
    np.testing.assert_allclose(far_relaxed.positions - 1e5, near_relaxed.positions, atol=1e-5)
    np.testing.assert_allclose(far_relaxed.get_forces(), near_relaxed.get_forces(), atol=1e-4)


def test_committee_files_are_checked_like_potential_files(tmp_path):
    path = tmp_path / "committee.safetensors"
    key = "equiformer_ase_committee"
    for edit, rehash, problem in [
        (lambda h: h["members"][1]["reference_energies"].update(H=0.0), False, "header_sha256"),
        (
            lambda h: h["members"][1]["config"].update(cutoff=float("nan")),
            True,
            "member 1: invalid config .*cutoff",
        ),
        (
            lambda h: h["members"][0]["config"].update(num_blocks=30),
            True,
            "member 0: the weights hold 2 blocks",
        ),
        (lambda h: h.update(members={"a": 1}), True, "'members' must be a list"),
    ]:
        ea.Committee([tiny_potential(seed=0), tiny_potential(seed=1)]).save(path)
        rewrite_header(path, edit, key=key, rehash=rehash)
        with pytest.raises(ea.PotentialFileError, match=problem):
            ea.load_committee(path)


def _design_bad_inputs():
    """DESIGN.md's bad inputs as structures: (label, atoms, error type, message)."""
    nan = molecule("H2O")
    nan.positions[1, 0] = np.nan
    singular = Atoms(
        "Cu2", positions=[[0, 0, 0], [1.8, 0, 0]], cell=[[3.6, 0, 0], [0, 3.6, 0], [0, 0, 0]], pbc=True
    )
    return [
        ("unknown element", molecule("CH3Cl"), ea.UnsupportedElementError, "Cl"),
        ("NaN position", nan, ValueError, "NaN or inf"),
        ("singular cell", singular, ValueError, "singular cell"),
        ("empty", Atoms(), ValueError, "empty Atoms"),
        ("overlap", overlapping_water(), ea.CloseContactError, "apart"),
    ]


@pytest.mark.parametrize(
    "label, atoms, error, message", _design_bad_inputs(), ids=[case[0] for case in _design_bad_inputs()]
)
def test_design_bad_inputs_in_the_calculator_and_the_engine(label, atoms, error, message):
    from equiformer_ase.dynamics import relax

    atoms.calc = tiny_calculator()
    with pytest.raises(error, match=message):
        atoms.get_potential_energy()
    with pytest.raises(error, match=message):
        relax([molecule("H2O"), atoms], tiny_potential(), device="cpu", progress=False)


def test_design_bad_inputs_on_the_command_line_keep_earlier_results(capsys, tmp_path, potential_path):
    out = tmp_path / "relaxed.extxyz"
    write(out, molecule("CH4"))
    earlier = out.read_bytes()
    for label, atoms, _, message in _design_bad_inputs():
        structure = tmp_path / f"{label.replace(' ', '_')}.traj"
        write(structure, atoms)
        err = cli_error(
            capsys,
            ["relax", str(structure), "--potential", potential_path, "--fmax", "0.1", "--out", str(out)],
        )
        assert message in err or (label == "empty" and "holds no structures" in err), err
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(Path(potential_path).read_bytes()[:-100])  # truncated weights
    water = tmp_path / "water.traj"
    write(water, molecule("H2O"))
    assert "not a readable safetensors file" in cli_error(
        capsys, ["relax", str(water), "--potential", str(corrupt), "--fmax", "0.1", "--out", str(out)]
    )
    assert out.read_bytes() == earlier


# ----------------------------------------------------------------------------- issue 29: trust under attack


@pytest.mark.parametrize("device", ["tpu", "CPU", "mps", "cuda:x", "auto:0"])
def test_unknown_device_names_are_one_line(capsys, tmp_path, potential_path, water_file, device):
    argv = ["relax", str(water_file), "--potential", potential_path, "--fmax", "0.1"]
    err = cli_error(capsys, argv + ["--out", str(tmp_path / "r.xyz"), "--device", device])
    assert f"unknown device {device!r}: choose auto, cpu, cuda or cuda:N" in err
    with pytest.raises(ValueError, match="choose auto, cpu, cuda or cuda:N"):
        ea.EquiformerCalculator(tiny_potential(), device=device)


def _graphene():
    from ase.build import graphene

    return graphene()


@pytest.mark.parametrize("backend", ["matscipy", "kdtree"])
@pytest.mark.parametrize(
    "build",
    [lambda: __import__("ase.build").build.fcc111("Cu", (2, 2, 3)), _graphene],
    ids=["fcc111", "graphene"],
)
def test_slabs_without_a_vacuum_vector_equal_the_slab_with_vacuum(build, backend):
    bare = build()
    assert bare.pbc.tolist() == [True, True, False] and not bare.cell[2].any()
    padded = bare.copy()
    padded.cell[2] = [0, 0, 20.0]
    calc = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64", neighbour_backend=backend)
    energy, forces = calc.get_potential_energy(bare), calc.get_forces(bare)
    assert abs(energy - calc.get_potential_energy(padded)) < 1e-8
    np.testing.assert_allclose(forces, calc.get_forces(padded), atol=1e-8)
    bare.cell[1] = bare.cell[0]  # periodic directions still need independent vectors
    with pytest.raises(ValueError, match="singular cell"):
        calc.get_potential_energy(bare)


def _oxygen_above_copper(height: float) -> Atoms:
    from ase.build import add_adsorbate, fcc111

    slab = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    add_adsorbate(slab, "O", height, "ontop")
    return slab


def test_close_contacts_are_checked_on_every_geometry_of_one_system():
    calc = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64")
    atoms = _oxygen_above_copper(2.0)
    atoms.calc = calc
    atoms.get_potential_energy()
    atoms.positions[-1, 2] -= 1.7  # O 0.3 A above Cu: same numbers, cell and pbc
    with pytest.raises(ea.CloseContactError, match=r"\(O\).* are 0.3 A apart"):
        atoms.get_potential_energy()
    atoms.calc = ea.EquiformerCalculator(tiny_potential(), device="cpu", dtype="float64", skin=0.0)
    with pytest.raises(ea.CloseContactError):  # a fresh build each call checks too
        atoms.get_potential_energy()


def test_the_engine_stops_when_atoms_run_into_each_other():
    from equiformer_ase.dynamics import BatchedSystems

    systems = BatchedSystems([_oxygen_above_copper(2.0)], tiny_potential(), device="cpu")
    positions = systems.positions.clone()
    positions[-1, 2] -= 1.7
    with pytest.raises(ea.errors.BlowUpError, match="atoms ran into each other"):
        systems.forces(positions)


def test_a_committee_of_identical_members_is_refused(capsys, tmp_path, potential_path, water_file):
    with pytest.raises(ValueError, match="members 0 and 1 have the same weights"):
        ea.EquiformerCalculator([tiny_potential(), tiny_potential()], device="cpu")
    with pytest.raises(ValueError, match="members 0 and 2 have the same weights"):
        ea.Committee([tiny_potential(seed=0), tiny_potential(seed=1), tiny_potential(seed=0)])
    argv = ["relax", str(water_file), "--potential", potential_path, potential_path, "--fmax", "0.1"]
    err = cli_error(capsys, argv + ["--out", str(tmp_path / "r.xyz")])
    assert "same weights" in err


@pytest.fixture
def committee_paths(tmp_path):
    paths = [tmp_path / f"member{k}.safetensors" for k in range(2)]
    for seed, path in enumerate(paths):
        tiny_potential(seed=seed).save(path)
    return [str(path) for path in paths]


def _distorted_water():
    water = molecule("H2O")
    water.positions[1] += [0.15, 0.0, 0.1]
    return water


def test_relax_has_the_uncertainty_gate_of_md(capsys, tmp_path, committee_paths):
    from equiformer_ase.ase_relax import relax_with_ase
    from equiformer_ase.dynamics import relax

    with pytest.raises(ea.errors.UncertaintyError, match="max_uncertainty=1e-06"):
        relax([_distorted_water()], committee_paths, device="cpu", progress=False, max_uncertainty=1e-6)
    calc = ea.EquiformerCalculator(committee_paths, device="cpu", dtype="float64")
    with pytest.raises(ea.errors.UncertaintyError, match="max_uncertainty=1e-06"):
        relax_with_ase(_distorted_water(), calc, 0.05, 20, max_uncertainty=1e-6)
    structure = tmp_path / "water.xyz"
    write(structure, _distorted_water())
    code = main(
        ["relax", str(structure), "--potential", *committee_paths, "--fmax", "0.05", "--no-plot"]
        + ["--out", str(tmp_path / "r.xyz"), "--max-uncertainty", "1e-6", "--device", "cpu"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "above max_uncertainty=1e-06 eV/A" in err and "Traceback" not in err


def test_relaxed_results_above_the_trust_level_are_flagged(committee_paths):
    from equiformer_ase.ase_relax import relax_with_ase
    from equiformer_ase.dynamics import relax

    doubtful = ea.Committee([ea.load_potential(p) for p in committee_paths], {"trust_level": 1e-9})
    with pytest.warns(UserWarning, match="above the trust level 1e-09 eV/A"):
        relaxed, _ = relax([_distorted_water()], doubtful, steps=3, device="cpu", progress=False)
    assert relaxed[0].info["trusted"] is False
    confident = ea.Committee(doubtful.members, {"trust_level": 1e9})
    relaxed, _ = relax([_distorted_water()], confident, steps=3, device="cpu", progress=False)
    assert relaxed[0].info["trusted"] is True
    atoms = _distorted_water()
    with pytest.warns(UserWarning, match="above the trust level"):
        relax_with_ase(atoms, ea.EquiformerCalculator(doubtful, device="cpu", dtype="float64"), 0.05, 3)
    assert atoms.info["trusted"] is False


def _live_and_dead_pids():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return os.getpid(), int(finished.stdout)


def test_a_second_run_on_the_same_output_refuses_and_a_stale_lock_is_taken_over(
    capsys, tmp_path, potential_path, water_file
):
    from equiformer_ase.locks import lock_path

    live, dead = _live_and_dead_pids()
    traj, out = tmp_path / "md.traj", tmp_path / "r.xyz"
    md = ["md", str(water_file), "--potential", potential_path, "--timestep", "0.5", "--steps", "2"]
    md += ["--traj", str(traj), "--no-plot", "--device", "cpu"]
    relax = ["relax", str(water_file), "--potential", potential_path, "--fmax", "0.1", "--no-plot"]
    relax += ["--out", str(out), "--device", "cpu"]
    for argv, path in ((md, traj), (relax, out)):
        lock_path(path).write_text(f"{live}\n")
        err = cli_error(capsys, argv)
        assert f"is being written by another run (pid {live}" in err and not path.exists()
        lock_path(path).write_text(f"{dead}\n")
        assert main(argv) == 0
        assert path.exists() and not lock_path(path).exists()


def test_md_resume_checks_the_trajectory_and_the_structure(capsys, tmp_path, potential_path, water_file):
    traj = tmp_path / "md.traj"
    md = ["md", "--potential", potential_path, "--timestep", "0.5", "--traj", str(traj), "--no-plot"]
    md += ["--device", "cpu", "--interval", "1"]
    assert main([*md, str(water_file), "--steps", "3"]) == 0
    methane = tmp_path / "methane.xyz"
    write(methane, molecule("CH4"))
    err = cli_error(capsys, [*md, str(methane), "--steps", "6", "--resume"])
    assert "holds H2O, system 0 of the structure file is CH4" in err
    err = cli_error(capsys, [*md, str(water_file), "--steps", "6", "--resume", "--replicas", "2"])
    assert "no trajectory" in err
    data = traj.read_bytes()
    traj.write_bytes(data[: len(data) * 3 // 4])  # e.g. two runs wrote it at once
    err = cli_error(capsys, [*md, str(water_file), "--steps", "6", "--resume"])
    assert "is unreadable after" in err and "damaged" in err
    assert traj.read_bytes() == data[: len(data) * 3 // 4]


def test_relax_refuses_an_output_that_is_its_input(capsys, tmp_path, potential_path, monkeypatch):
    structure = tmp_path / "water.xyz"
    write(structure, _distorted_water())
    before = structure.read_bytes()
    (tmp_path / "link.xyz").symlink_to(structure)
    monkeypatch.chdir(tmp_path)
    for input_name, output in (
        ("water.xyz", "water.xyz"),
        ("water.xyz", "./water.xyz"),
        ("water.xyz", str(structure)),
        (str(structure), "sub/../water.xyz"),
        ("water.xyz", "link.xyz"),
    ):
        (tmp_path / "sub").mkdir(exist_ok=True)
        argv = ["relax", input_name, "--potential", potential_path, "--fmax", "0.1", "--out", output]
        err = cli_error(capsys, argv)
        assert "is the input file" in err
    assert structure.read_bytes() == before


def test_relax_writes_each_structure_as_it_finishes_and_resumes(
    capsys, tmp_path, potential_path, monkeypatch
):
    import signal

    from ase.io import read

    from equiformer_ase import relax_run

    structure, out = tmp_path / "two.xyz", tmp_path / "relaxed.extxyz"
    lone = Atoms("O", positions=[[0, 0, 0]])  # no forces: finishes at once
    write(structure, [lone, _distorted_water()])
    argv = ["relax", str(structure), "--potential", potential_path, "--fmax", "0.001", "--steps", "30"]
    argv += ["--out", str(out), "--no-plot", "--device", "cpu"]
    original = relax_run._write_atomically

    def write_then_terminate(path, frames):
        original(path, frames)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives once the write is done, as SIGINT would

    monkeypatch.setattr(relax_run, "_write_atomically", write_then_terminate)
    assert main(argv) == 130
    assert "add --resume to continue" in capsys.readouterr().err
    kept = read(out, ":")
    assert len(kept) == 1 and kept[0].info["relax_index"] == 0 and kept[0].get_chemical_formula() == "O"
    monkeypatch.setattr(relax_run, "_write_atomically", original)
    frame = kept[0]
    frame.info["marker"] = "from the first run"
    write(out, [frame])
    assert main([*argv, "--resume"]) == 0
    done = read(out, ":")
    assert [f.info["relax_index"] for f in done] == [0, 1] and done[0].info["marker"] == "from the first run"
    write(out, [read(structure, 1)])
    err = cli_error(capsys, [*argv, "--resume"])
    assert "does not say which input it relaxes" in err


def test_refused_screens_create_nothing_and_a_non_sqlite_db_is_one_line(capsys, tmp_path, potential_path):
    screen = ["screen", "--potential", potential_path, "--metals", "Cu", "--facets", "111"]
    screen += ["--adsorbates", "O", "--workers", "0"]
    db = tmp_path / "screen.db"
    for extra, problem in (
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--check-with", "emt", "--verify-with", "no.such:Module"], "differ"),
        (["--check-with", "no.such:Module"], "cannot import no.such"),
    ):
        err = cli_error(capsys, [*screen, "--db", str(db), *extra])
        assert problem in err
        assert not db.exists() and not list(tmp_path.glob("*screen*"))
    db.write_text("not a database\n")
    err = cli_error(capsys, [*screen, "--db", str(db)])
    assert "is not an SQLite database" in err and db.read_text() == "not a database\n"


# ------------------------------------------------------------- issue 29 item 4: memory estimated before a call


def _copper_bulk(repeat=(5, 5, 20)) -> Atoms:
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=0)
    return atoms


@pytest.mark.parametrize(
    "preset, mode, measured",
    # bytes per edge of an energy+forces call, float32, Cu bulk (benchmarks/bench_memory.py)
    [
        ("small", "low", 4.7e3),
        ("small", "fast", 24e3),
        ("paper-md17-l2", "low", 55e3),
        ("paper-md17-l2", "fast", 287e3),
    ],
)
def test_memory_estimate_matches_the_benchmark(preset, mode, measured):
    from equiformer_ase.memory_estimate import estimate_bytes

    cfg = ea.EquiformerConfig.preset(preset, elements=["Cu"])
    atoms = _copper_bulk()
    num_edges = ea.build_graph([atoms], cfg.elements, cfg.cutoff).edge_index.shape[1]
    assert 40 < num_edges / len(atoms) < 45
    per_edge = estimate_bytes(cfg, num_edges, len(atoms), "float32", mode) / num_edges
    assert per_edge == pytest.approx(measured, rel=0.3)
    float64 = estimate_bytes(cfg, num_edges, len(atoms), "float64", mode) / num_edges
    assert 1.8 < float64 / per_edge < 2.2


def _little_memory(monkeypatch, available: int = 1000):
    import equiformer_ase.memory_estimate as memory_estimate

    monkeypatch.setattr(memory_estimate, "available_bytes", lambda device: available)


def test_a_call_that_needs_more_memory_than_the_device_has_is_refused_before_it_runs(monkeypatch):
    from equiformer_ase.errors import MemoryEstimateError

    calc = tiny_calculator("float64")
    calc.potential.memory = "fast"
    water = molecule("H2O")
    water.calc = calc
    _little_memory(monkeypatch)
    for _ in range(2):  # the failed check is not taken as passed by the unchanged neighbour list
        with pytest.raises(MemoryEstimateError) as refused:
            water.get_potential_energy()
        message = str(refused.value)
        assert "\n" not in message and re.search(r"needs about [0-9.e-]+ GB", message)
        assert "1e-06 GB available" in message and "3 atoms" in message
        assert 'memory mode "low"' in message and "float32" in message and "fewer atoms" in message
        assert not calc.results
    with pytest.raises(MemoryEstimateError, match="needs about"):
        calc.calculate_batch([water, water])
    monkeypatch.setenv("EQUIFORMER_ASE_MEMORY_CHECK", "0")
    assert np.isfinite(water.get_potential_energy())


def test_md_that_needs_more_memory_than_the_device_has_is_one_line_and_writes_nothing(
    capsys, monkeypatch, tmp_path, potential_path, water_file
):
    _little_memory(monkeypatch)
    traj, log = tmp_path / "md.traj", tmp_path / "md.log"
    argv = ["md", str(water_file), "--potential", potential_path, "--traj", str(traj), "--log", str(log)]
    err = cli_error(
        capsys, argv + ["--steps", "3", "--timestep", "0.5", "--interval", "1", "--device", "cpu"]
    )
    assert "needs about" in err and "GB available" in err and "fewer atoms per call" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors", "water.xyz"]
    from equiformer_ase.dynamics import MolecularDynamics
    from equiformer_ase.errors import MemoryEstimateError

    with pytest.raises(MemoryEstimateError, match="needs about"):
        MolecularDynamics([molecule("H2O")], tiny_potential(), device="cpu", timestep=0.5)


def test_an_output_whose_lock_cannot_be_written_is_one_clear_error(tmp_path, monkeypatch):
    """A folder that exists but refuses files (read-only, /proc): the error names the output, not a traceback."""
    from equiformer_ase.errors import UserFileError
    from equiformer_ase.locks import locked

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(UserFileError, match=r"cannot write .*out\.xyz: Permission denied"):
        with locked([tmp_path / "out.xyz"]):
            pass
