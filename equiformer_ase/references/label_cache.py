"""A label cache: no reference label (above all a DFT one) is computed twice.

Labels live in one SQLite file keyed by the geometry and the method: sha256 over the method string
(functional, basis, every setting that changes the label), the atomic numbers, the positions rounded
to 1e-6 Angstrom, the cell and the periodic flags. Several processes may share one cache (SQLite's
locking, WAL journal); an interrupted labelling resumes because every label is committed as it is made.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

ENV_VARIABLE = "EQUIFORMER_ASE_LABEL_CACHE"
POSITION_DECIMALS = 6  # Angstrom: geometries closer than 1e-6 A share a label

_SCHEMA = """CREATE TABLE IF NOT EXISTS labels (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, formula TEXT NOT NULL, energy REAL NOT NULL,
    forces BLOB NOT NULL, seconds REAL, scf_cycles INTEGER, created REAL)"""


def default_cache_path() -> Path:
    """``$EQUIFORMER_ASE_LABEL_CACHE`` or ``~/.cache/equiformer-ase/labels.sqlite``."""
    if os.environ.get(ENV_VARIABLE):
        return Path(os.environ[ENV_VARIABLE])
    return Path.home() / ".cache" / "equiformer-ase" / "labels.sqlite"


def label_key(atoms: Atoms, method: str) -> str:
    """The cache key (hex sha256) of ``atoms`` labelled by ``method``."""
    digest = hashlib.sha256(method.encode())
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update((np.round(atoms.positions, POSITION_DECIMALS) + 0.0).tobytes())
    digest.update((np.round(atoms.cell.array, POSITION_DECIMALS) + 0.0).tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return digest.hexdigest()


class LabelCache:
    """Energies (eV) and forces (eV/A) by :func:`label_key`, in a SQLite file at ``path``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=120.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as err:
            raise ValueError(f"label cache {self.path} is not a usable SQLite file ({err})") from None

    def get(self, atoms: Atoms, method: str) -> tuple[float, np.ndarray] | None:
        """(energy, forces (n, 3)) of ``atoms`` by ``method``, or None when not labelled yet."""
        row = self._db.execute(
            "SELECT energy, forces FROM labels WHERE key = ?", (label_key(atoms, method),)
        ).fetchone()
        if row is None:
            return None
        return float(row[0]), np.frombuffer(row[1], dtype=np.float64).reshape(len(atoms), 3).copy()

    def put(
        self,
        atoms: Atoms,
        method: str,
        energy: float,
        forces: np.ndarray,
        seconds: float | None = None,
        scf_cycles: int | None = None,
    ) -> None:
        """Store a label, committed at once (a later kill keeps it)."""
        forces = np.ascontiguousarray(forces, dtype=np.float64)
        if forces.shape != (len(atoms), 3) or not np.isfinite(forces).all() or not np.isfinite(energy):
            raise ValueError(f"refusing to cache a label with non-finite or mis-shaped values ({method})")
        self._db.execute(
            "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                label_key(atoms, method),
                method,
                atoms.get_chemical_formula(),
                float(energy),
                forces.tobytes(),
                seconds,
                scf_cycles,
                time.time(),
            ),
        )
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM labels").fetchone()[0])


class CachedCalculator(Calculator):
    """An ASE calculator that answers from ``cache`` and otherwise asks ``calculator`` and stores the answer.

    ``calculator`` needs a ``method`` attribute (e.g. :class:`~.pyscf_dft.PySCFDFT`) or ``method`` must
    be given: the string that says what a label means. ``hits`` and ``misses`` count the calls.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self, calculator: Calculator, cache: LabelCache, method: str | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.inner, self.cache = calculator, cache
        self.method = method or calculator.method
        self.hits = self.misses = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        stored = self.cache.get(self.atoms, self.method)
        if stored is None:
            self.misses += 1
            work = self.atoms.copy()
            work.calc = self.inner
            energy, forces = work.get_potential_energy(), work.get_forces()
            self.cache.put(
                self.atoms,
                self.method,
                energy,
                forces,
                seconds=getattr(self.inner, "seconds", None),
                scf_cycles=getattr(self.inner, "scf_cycles", None),
            )
        else:
            self.hits += 1
            energy, forces = stored
        self.results["energy"] = self.results["free_energy"] = float(energy)
        self.results["forces"] = np.array(forces)
