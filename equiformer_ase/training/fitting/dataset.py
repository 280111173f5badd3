"""Labelled structures for training: read, validate, split.

A :class:`Sample` is one frame with its reference labels: energy (eV), forces (n, 3) eV/A and,
for fully periodic frames that have it, stress (3, 3) eV/A^3 in ASE's sign convention. Bad data
is refused with a message naming the frame index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from ...errors import UnsupportedElementError
from ...graph import validate_atoms

GROUP_KEYS = ("subset", "metal", "adsorbate", "molecule")


@dataclass
class Sample:
    """One labelled structure; ``groups`` maps a key of :data:`GROUP_KEYS` to the frame's label."""

    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    groups: dict[str, str] = field(default_factory=dict)


def read_structures(path: str | Path) -> list[Atoms]:
    """All frames of an extxyz/xyz file or an ase.db, with ``info`` and the stored results."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file {path} does not exist")
    if path.suffix == ".db":
        from ase.db import connect

        frames = []
        for row in connect(path).select(sort="id"):
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            frames.append(atoms)
    else:
        from ase.io import read

        frames = read(path, index=":") if path.stat().st_size else []
    if not frames:
        raise ValueError(f"{path} contains no structures")
    return frames


def _labels(atoms: Atoms) -> dict:
    results = atoms.calc.results if atoms.calc is not None else {}
    return {key: results.get(key) for key in ("energy", "forces", "stress")}


def to_sample(
    atoms: Atoms, index: int, elements: list[str], group_keys: tuple[str, ...] = GROUP_KEYS
) -> Sample:
    """Validate frame ``index`` against ``elements`` and return its :class:`Sample`."""
    try:
        validate_atoms(atoms, elements)
    except UnsupportedElementError as err:
        err.args = (f"frame {index}: {err}",)
        raise
    except ValueError as err:
        raise ValueError(f"frame {index}: {err}") from None
    labels = _labels(atoms)
    for key in ("energy", "forces"):
        if labels[key] is None:
            raise ValueError(
                f"frame {index}: no reference {key} (every training frame needs energy and forces)"
            )
    energy = float(labels["energy"])
    forces = np.asarray(labels["forces"], dtype=np.float64)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"frame {index}: forces have shape {forces.shape}, expected ({len(atoms)}, 3)")
    stress = labels["stress"]
    if stress is not None:
        if not atoms.pbc.all():
            raise ValueError(
                f"frame {index}: has a stress label but pbc={atoms.pbc.tolist()} (stress needs pbc all True)"
            )
        stress = np.asarray(stress, dtype=np.float64)
        stress = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)
    for key, value in (("energy", energy), ("forces", forces), ("stress", stress)):
        if value is not None and not np.isfinite(value).all():
            raise ValueError(f"frame {index}: {key} contains NaN or inf")
    groups = {key: str(atoms.info[key]) for key in group_keys if key in atoms.info}
    return Sample(atoms=atoms, energy=energy, forces=forces, stress=stress, groups=groups)


def to_samples(
    frames: list[Atoms], elements: list[str], group_keys: tuple[str, ...] = GROUP_KEYS
) -> list[Sample]:
    """Validate every frame (see :func:`to_sample`); ``group_keys``: the ``info`` keys errors are grouped by."""
    if not frames:
        raise ValueError("no structures given")
    return [to_sample(atoms, k, elements, group_keys) for k, atoms in enumerate(frames)]


def elements_in(frames: list[Atoms]) -> list[str]:
    """Chemical symbols present in ``frames``, in order of atomic number."""
    from ase.data import chemical_symbols

    numbers = sorted({int(z) for atoms in frames for z in atoms.numbers})
    return [chemical_symbols[z] for z in numbers]


def _count(size: float, total: int, name: str) -> int:
    """A fraction (< 1) of ``total`` or an absolute count (>= 1)."""
    if size < 0:
        raise ValueError(f"{name} size must not be negative, got {size}")
    return int(round(size * total)) if size < 1 else int(size)


def split_indices(total: int, validation: float, test: float, seed: int) -> dict[str, np.ndarray]:
    """Random train / validation / test indices; sizes are fractions (< 1) or counts (>= 1)."""
    n_validation, n_test = _count(validation, total, "validation"), _count(test, total, "test")
    n_train = total - n_validation - n_test
    if n_train < 1:
        raise ValueError(
            f"{total} structures leave none for training after {n_validation} validation "
            f"and {n_test} test structures"
        )
    order = np.random.default_rng(seed).permutation(total)
    return {
        "train": np.sort(order[:n_train]),
        "validation": np.sort(order[n_train : n_train + n_validation]),
        "test": np.sort(order[n_train + n_validation :]),
    }
