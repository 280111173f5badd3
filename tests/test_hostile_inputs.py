"""Hostile and careless inputs (issue 16): each gets a clear error of the package's own type, or the
right answer, and nothing on disk is lost."""

from __future__ import annotations

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
    assert "No such file" in cli_error(capsys, md + [str(tmp_path / "never.traj"), "--resume"])
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
