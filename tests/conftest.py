"""Shared fixtures: a tiny float64 potential that keeps the physics tests fast on 2 CPU cores."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

import equiformer_ase as ea

ELEMENTS = ["H", "C", "N", "O", "Cu"]

# The physics tests' device: "cpu" here; benchmarks/gpu_check.py reruns them with "cuda".
TEST_DEVICE = os.environ.get("EQUIFORMER_TEST_DEVICE", "cpu")

TINY = dict(
    node_channels=(16, 8, 4),
    head_channels=(4, 2, 1),
    ffn_channels=(32, 8, 4),
    num_blocks=2,
    num_heads=2,
    alpha_channels=4,
    cutoff=4.0,
    num_radial=8,
    radial_hidden=16,
    output_hidden=16,
    avg_num_neighbors=10.0,
)


def tiny_potential(seed: int = 0, **overrides) -> ea.Potential:
    """An untrained tiny potential with non-zero reference energies."""
    cfg = ea.EquiformerConfig(elements=ELEMENTS, **{**TINY, **overrides})
    refs = {el: -0.5 * (k + 1) for k, el in enumerate(ELEMENTS)}
    return ea.Potential.from_config(cfg, seed=seed, reference_energies=refs)


def tiny_calculator(dtype: str = "float64", **overrides) -> ea.EquiformerCalculator:
    return ea.EquiformerCalculator(tiny_potential(**overrides), device=TEST_DEVICE, dtype=dtype)


def rewrite_header(path, change, key: str = "equiformer_ase", rehash: bool = False) -> None:
    """Edit the JSON header under ``key`` of the safetensors file ``path`` in place, as a user with a
    text editor would: ``change(header)`` edits it or returns a replacement. ``rehash=True`` also
    recomputes ``header_sha256``, as a crafted file would."""
    from equiformer_ase.shipped import header_sha256

    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    outer = json.loads(raw[8 : 8 + size])
    meta = json.loads(outer["__metadata__"][key])
    replaced = change(meta)
    meta = meta if replaced is None else replaced
    if rehash and isinstance(meta, dict):
        meta["header_sha256"] = header_sha256(meta)
    outer["__metadata__"][key] = json.dumps(meta)
    encoded = json.dumps(outer).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + size :])


def cli_error(capsys, argv: list[str]) -> str:
    """Run the command line on ``argv``, expecting a user mistake: exit code 2 and one line on stderr."""
    from equiformer_ase.cli import main

    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def random_rotation(seed: int) -> np.ndarray:
    """A proper rotation matrix (det +1) drawn uniformly."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def ethanol() -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=3)
    return atoms


def triclinic_copper() -> Atoms:
    """A rattled, sheared 4-atom Cu cell: periodic, triclinic, smaller than the cutoff."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    shear = np.array([[1.0, 0.08, -0.05], [0.03, 0.97, 0.06], [-0.04, 0.02, 1.05]])
    atoms.set_cell(atoms.cell.array @ shear, scale_atoms=True)
    atoms.rattle(0.08, seed=5)
    return atoms


def copper_with_adsorbate() -> Atoms:
    """A periodic Cu slab with CO on top (C down), as a fully periodic cell (vacuum inside the box).

    ``mol_index=1`` anchors the C: anchoring ASE's first atom (O) put the C 0.76 A from a Cu atom,
    inside the surface, which the close-contact check now refuses."""
    from ase.build import add_adsorbate, fcc111

    slab = fcc111("Cu", size=(2, 2, 2), vacuum=4.0)
    add_adsorbate(slab, molecule("CO"), 1.9, "ontop", mol_index=1)
    slab.pbc = True
    slab.rattle(0.05, seed=7)
    return slab


@pytest.fixture(scope="session")
def calc64() -> ea.EquiformerCalculator:
    return tiny_calculator("float64")


@pytest.fixture(scope="session")
def tiny_surfaces(tmp_path_factory):
    """The ``tiny`` EMT surfaces recipe (seed 0), generated once per session; read it, do not write beside it."""
    from equiformer_ase.training import generate

    path = tmp_path_factory.mktemp("tiny_surfaces") / "surfaces.extxyz"
    generate("surfaces", path, preset="tiny", seed=0)
    return path


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)


# Tests measure physics, not speed: one thread avoids oversubscribing small CPU machines.
torch.set_num_threads(1)
