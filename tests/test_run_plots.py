"""md and relax write a PNG beside their log (energies and temperature; energy and max force per step)."""

import matplotlib.image
from ase.build import molecule
from ase.io import write
from conftest import tiny_potential

from equiformer_ase.cli import main


def structures(tmp_path):
    frames = [molecule("CH3CH2OH"), molecule("H2O")]
    for k, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=k)
    write(tmp_path / "in.extxyz", frames)
    return str(tmp_path / "in.extxyz")


def potentials(tmp_path, count):
    paths = [str(tmp_path / f"p{seed}.safetensors") for seed in range(count)]
    for seed, path in enumerate(paths):
        tiny_potential(seed=seed).save(path)
    return paths


def png_size(path):
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_md_writes_a_plot_beside_its_log_and_no_plot_skips_it(tmp_path, capsys):
    common = [
        structures(tmp_path),
        "--timestep",
        "0.5",
        "--steps",
        "20",
        "--interval",
        "2",
        "--device",
        "cpu",
    ]
    committee = ["--potential", *potentials(tmp_path, 2)]
    assert main(["md", *common, *committee, "--temperature", "300", "--traj", str(tmp_path / "md.traj")]) == 0
    assert f"plot {tmp_path / 'md.png'}" in capsys.readouterr().out
    width, height = png_size(tmp_path / "md.png")
    assert width >= 600 and height >= 600  # three panels: energies, temperature, max_forces_dev
    single = ["--potential", potentials(tmp_path, 1)[0]]
    assert main(["md", *common, *single, "--traj", str(tmp_path / "q.traj"), "--no-plot"]) == 0
    assert (tmp_path / "q.log").exists() and not (tmp_path / "q.png").exists()


def test_relax_writes_its_step_log_and_plot(tmp_path, capsys):
    out = tmp_path / "relaxed.extxyz"
    args = [structures(tmp_path), "--potential", "gfn2-md17", "--fmax", "0.05", "--steps", "30"]
    assert main(["relax", *args, "--out", str(out), "--device", "cpu"]) == 0
    assert f"plot {tmp_path / 'relaxed.png'}" in capsys.readouterr().out
    lines = (tmp_path / "relaxed.log").read_text().splitlines()
    assert lines[0] == "step,system,energy_eV,fmax_eV_per_A"
    assert {line.split(",")[1] for line in lines[1:]} == {"0", "1"}
    assert png_size(tmp_path / "relaxed.png")[0] >= 600
