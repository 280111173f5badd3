"""The screening workflow: relax slabs, gas references and every (surface, adsorbate, site), on Dask.

Results go to an ase.db (SQLite path or PostgreSQL URL), one row per relaxed structure as soon as
its batch finishes; only the client writes. A row is keyed by ``task`` (such as
"adsorbate:Cu111:CO:fcc"), ``method`` (the potential's name, or "emt" for the reference check) and
``settings`` (:attr:`ScreeningSpec.settings`: the potential's weights hash and every setting that changes
the answer), so re-running the same screen skips finished work, an interrupted run loses only the batches
in flight, and results of another potential or other settings in the same database are kept but never
taken for this screen's. "Done?" and the write happen in one transaction that holds the database's write
lock, so concurrent screens on one database never write a row twice.

Row key-value pairs: kind ("slab", "gas" or "adsorbate"), task, method, settings, converged; metal and facet
(slabs and adsorbates; facet as an integer, 111, since ase.db refuses digit strings); molecule (gas);
adsorbate, site, adsorption_energy (eV) and anomaly ("" when none, see :mod:`.anomalies`) for
adsorbates. Energies are in the row's calculator results.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.emt import parameters as emt_parameters
from ase.calculators.singlepoint import SinglePointCalculator
from ase.optimize import FIRE
from tqdm.auto import tqdm

from ..errors import UnsupportedElementError
from ..shipped import POTENTIAL, read_header
from .adsorbates import Adsorbate, adsorbate, place_adsorbate
from .anomalies import detect_anomaly
from .references import GAS_REFERENCES, adsorption_energy, chemical_potentials, gas_molecule
from .sites import find_sites
from .surfaces import FACET_BUILDERS, build_surface, fcc_metals, surface_name

REFERENCE_METHOD = "emt"


@dataclass(frozen=True)
class ScreeningSpec:
    """What to screen and how. ``adsorbates``: built-in names or :class:`Adsorbate` objects;
    ``fmax`` (eV/A) and ``steps`` stop each FIRE relaxation; ``batch_size`` structures relax together
    in one batched graph per Dask task; slab ``size``/``vacuum`` as :func:`build_surface`.

    ``method`` is the potential's name (file stem) or "emt"; ``settings`` the key of this screen's results:
    the potential's :func:`potential_hash` (or "emt") and every setting that changes a relaxed structure."""

    potential: str
    metals: tuple[str, ...]
    facets: tuple[str, ...]
    adsorbates: tuple[Adsorbate, ...]
    fmax: float = 0.05
    steps: int = 300
    batch_size: int = 8
    size: tuple[int, int, int] = (3, 3, 4)
    vacuum: float = 6.0
    device: str = "auto"
    dtype: str = "float64"
    method: str = field(init=False)
    settings: str = field(init=False)

    def __post_init__(self) -> None:
        if self.potential == REFERENCE_METHOD:
            covered = list(emt_parameters)   # the elements ASE's EMT has parameters for
        else:
            covered = read_header(self.potential, POTENTIAL)["elements"]  # a missing potential fails here, first
        metals = [m for m in fcc_metals() if m in covered]
        unknown = [m for m in self.metals if m not in metals]
        if unknown or not self.metals:
            raise ValueError(f"{', '.join(unknown) or 'no metals'}: not an fcc metal covered by {self.potential}, "
                             f"which covers {', '.join(metals) or 'no fcc metal'}")
        unknown = [f for f in self.facets if f not in FACET_BUILDERS]
        if unknown or not self.facets:
            raise ValueError(f"unknown or no facets {unknown or list(self.facets)}; choose from {', '.join(FACET_BUILDERS)}")
        if not self.adsorbates:
            raise ValueError("no adsorbates to screen")
        object.__setattr__(self, "adsorbates", tuple(a if isinstance(a, Adsorbate) else adsorbate(a)
                                                     for a in self.adsorbates))
        needed = {symbol for a in self.adsorbates for symbol in a.atoms.get_chemical_symbols()}
        needed |= {symbol for name in GAS_REFERENCES for symbol in gas_molecule(name).get_chemical_symbols()}
        if needed - set(covered):
            raise UnsupportedElementError(sorted(needed - set(covered)), covered)
        if self.fmax <= 0 or self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"need fmax > 0, steps >= 1 and batch_size >= 1, got {self.fmax}, {self.steps}, "
                             f"{self.batch_size}")
        object.__setattr__(self, "method", Path(self.potential).stem if self.potential.endswith(".safetensors")
                           else self.potential)
        weights = REFERENCE_METHOD if self.potential == REFERENCE_METHOD else potential_hash(self.potential)
        object.__setattr__(self, "settings", f"{weights} fmax={self.fmax:g} steps={self.steps} "
                           f"size={'x'.join(map(str, self.size))} vacuum={self.vacuum:g} {self.dtype}")


def potential_hash(potential: str) -> str:
    """16 hex digits of the sha256 over a potential file's weights hash, config and reference energies:
    it changes with anything that changes the energies, not with the model card."""
    from ..potential import read_header

    header = read_header(potential)
    identity = {key: header.get(key) for key in ("weights_sha256", "config", "reference_energies")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Task:
    """One structure to relax: ``key`` (unique in the database), ``atoms`` (start), ``labels`` (row keys)."""

    key: str
    atoms: Atoms
    labels: dict


def relax_structures(structures: list[Atoms], method: str, potential: str, fmax: float, steps: int,
                     device: str = "cpu", dtype: str = "float64") -> list[tuple[Atoms, bool]]:
    """Relax ``structures`` (on a Dask worker or in process): ``method`` "emt" uses ASE's FIRE with EMT one by one,
    anything else the batched FIRE engine with ``potential``. Returns (relaxed copy with energy, converged)."""
    if method == REFERENCE_METHOD:
        results = []
        for atoms in structures:
            atoms = atoms.copy()
            atoms.calc = EMT()
            converged = bool(FIRE(atoms, logfile=None).run(fmax=fmax, steps=steps))
            atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
            results.append((atoms, converged))
        return results
    from ..dynamics import relax   # torch only where the potential runs
    relaxed, converged = relax(structures, potential, fmax=fmax, steps=steps, device=device, dtype=dtype,
                               progress=False)
    return list(zip(relaxed, converged))


def reference_tasks(spec: ScreeningSpec) -> list[Task]:
    """Clean slabs and gas molecules."""
    tasks = []
    for metal in spec.metals:
        for facet in spec.facets:
            tasks.append(Task(f"slab:{surface_name(metal, facet)}",
                              build_surface(metal, facet, spec.size, spec.vacuum),
                              dict(kind="slab", metal=metal, facet=int(facet))))
    tasks += [Task(f"gas:{name}", gas_molecule(name), dict(kind="gas", molecule=name)) for name in GAS_REFERENCES]
    return tasks


def adsorbate_tasks(spec: ScreeningSpec, slabs: dict[str, Atoms]) -> list[Task]:
    """Every adsorbate at every distinct site of every relaxed slab (``slabs`` keyed by surface name)."""
    tasks = []
    for metal in spec.metals:
        for facet in spec.facets:
            slab = slabs[surface_name(metal, facet)]
            for site in find_sites(slab):
                for molecule in spec.adsorbates:
                    key = f"adsorbate:{surface_name(metal, facet)}:{molecule.name}:{site.name}"
                    tasks.append(Task(key, place_adsorbate(slab, molecule, site),
                                      dict(kind="adsorbate", metal=metal, facet=int(facet), adsorbate=molecule.name,
                                           site=site.name)))
    return tasks


class Screening:
    """Runs a :class:`ScreeningSpec` against ``database``; ``client`` is a dask.distributed Client,
    or None to relax in this process."""

    def __init__(self, spec: ScreeningSpec, database: str | Path, client=None, progress: bool = True):
        import ase.db
        self.spec, self.client, self.progress = spec, client, progress
        self.database = str(database)
        if "://" not in self.database:
            if Path(self.database).suffix != ".db":
                raise ValueError(f"the screening database must be an SQLite .db file or a postgresql:// URL, "
                                 f"got {self.database}")
            _create_sqlite(Path(self.database))
        # no lock file: a killed client would leave it behind; the transactions of _exclusive() do its work
        self.db = ase.db.connect(self.database, use_lock_file=False)
        self.db.count()   # the schema exists before any work starts
        self.relaxed_count, self.relax_seconds = 0, 0.0

    def done(self, task: Task, method: str) -> bool:
        return self.db.count(task=task.key, method=method, settings=self.spec.settings) > 0

    @contextmanager
    def _exclusive(self):
        """One transaction holding the database's write lock from its first read (SQLite: BEGIN IMMEDIATE,
        PostgreSQL: a table lock), so another client cannot write between our "done?" and our write."""
        with self.db:
            if "://" in self.database:
                self.db.connection.cursor().execute("LOCK TABLE systems IN SHARE ROW EXCLUSIVE MODE")
            else:
                self.db.connection.execute("BEGIN IMMEDIATE")
            yield

    def other_results(self) -> str:
        """One line on the rows of other potentials or settings in the database (kept, not used here), or ""."""
        others = Counter(row.get("settings", "no settings (an older screen)")
                         for row in self.db.select(include_data=False) if row.get("settings") != self.spec.settings)
        if not others:
            return ""
        listed = "; ".join(f"{count} x {settings}" for settings, count in others.most_common(3))
        more = f"; and {len(others) - 3} more" if len(others) > 3 else ""
        return (f"{self.database} also holds {sum(others.values())} results of other potentials or settings, kept and "
                f"not used here: {listed}{more} (this screen: {self.spec.settings})")

    def run(self, check_with: str | None = None) -> None:
        """Relax what is not in the database yet; with ``check_with="emt"`` re-relax every result with EMT."""
        if check_with not in (None, REFERENCE_METHOD):
            raise ValueError(f"--check-with supports {REFERENCE_METHOD!r} only, got {check_with!r}")
        methods = [self.spec.method] + ([check_with] if check_with else [])
        for method in methods:
            self._relax(reference_tasks(self.spec), method)
        slabs = {surface_name(r.metal, str(r.facet)): r.toatoms() for r in
                 self.db.select(kind="slab", method=self.spec.method, settings=self.spec.settings)}
        self._relax(adsorbate_tasks(self.spec, slabs), self.spec.method)
        if check_with:   # each result re-relaxed from the potential's minimum
            names = {a.name for a in self.spec.adsorbates}
            self._relax([Task(r.task, r.toatoms(), {}) for r in
                         self.db.select(kind="adsorbate", method=self.spec.method, settings=self.spec.settings)
                         if r.metal in self.spec.metals and str(r.facet) in self.spec.facets and r.adsorbate in names],
                        check_with)

    def _relax(self, tasks: list[Task], method: str) -> None:
        pending = [t for t in tasks if not self.done(t, method)]
        if not pending:
            return
        spec = self.spec
        batches = [pending[k:k + spec.batch_size] for k in range(0, len(pending), spec.batch_size)]
        arguments = (method, spec.potential, spec.fmax, spec.steps, spec.device, spec.dtype)
        started = time.monotonic()
        with tqdm(total=len(pending), desc=f"relax ({method})", unit="structure", disable=not self.progress) as bar:
            if self.client is None:
                for batch in batches:
                    todo = [t for t in batch if not self.done(t, method)]   # another client may have done some
                    if todo:
                        self._write(todo, relax_structures([t.atoms for t in todo], *arguments), method)
                    bar.update(len(batch))
            else:
                from distributed import as_completed
                futures = {self.client.submit(relax_structures, [t.atoms for t in batch], *arguments, pure=False): batch
                           for batch in batches}
                for future in as_completed(futures):
                    self._write(futures[future], future.result(), method)
                    bar.update(len(futures[future]))
        self.relax_seconds += time.monotonic() - started

    def _write(self, batch: list[Task], results: list[tuple[Atoms, bool]], method: str) -> None:
        """Write each result unless its row exists; counts the rows written in ``relaxed_count``."""
        for task, (relaxed, converged) in zip(batch, results):
            labels = dict(task.labels) or self._labels_of(task.key)
            pairs = dict(labels, task=task.key, method=method, settings=self.spec.settings, converged=bool(converged))
            with self._exclusive():
                if self.done(task, method):   # written by another client, or a re-submitted batch
                    continue
                if labels["kind"] == "adsorbate":
                    pairs.update(self._adsorbate_results(task, relaxed, labels, method))
                self.db.write(relaxed, key_value_pairs=pairs)
            self.relaxed_count += 1

    def _labels_of(self, key: str) -> dict:
        row = next(self.db.select(task=key, method=self.spec.method, settings=self.spec.settings))
        return {k: row.key_value_pairs[k] for k in ("kind", "metal", "facet", "adsorbate", "site", "molecule")
                if k in row.key_value_pairs}

    def _adsorbate_results(self, task: Task, relaxed: Atoms, labels: dict, method: str) -> dict:
        settings = self.spec.settings
        slab_row = self.db.get(kind="slab", method=method, settings=settings, metal=labels["metal"],
                               facet=labels["facet"])
        gas = {row.molecule: row.energy for row in self.db.select(kind="gas", method=method, settings=settings)}
        slab_atoms = slab_row.natoms
        symbols = relaxed.get_chemical_symbols()[slab_atoms:]
        energy = adsorption_energy(relaxed.get_potential_energy(), slab_row.energy, symbols, chemical_potentials(gas))
        return dict(adsorption_energy=float(energy), anomaly=detect_anomaly(task.atoms, relaxed, slab_atoms))

    def best(self, method: str | None = None) -> dict[tuple[str, str, str], dict]:
        """:func:`best_sites` of this screen's surfaces and adsorbates, for ``method`` (default the potential)."""
        names = {a.name for a in self.spec.adsorbates}
        rows = [r for r in self.db.select(kind="adsorbate", method=method or self.spec.method,
                                          settings=self.spec.settings)
                if r.metal in self.spec.metals and str(r.facet) in self.spec.facets and r.adsorbate in names]
        return best_sites(rows)

    def throughput(self) -> str:
        """What this run relaxed, for the user: count and rate, or that everything was already done."""
        if not self.relaxed_count:
            return "nothing left to relax: every result was already in the database"
        per_minute = 60.0 * self.relaxed_count / self.relax_seconds
        return f"{self.relaxed_count} structures relaxed this run ({per_minute:.1f} per minute)"


def _create_sqlite(path: Path) -> None:
    """Create the SQLite file with ase.db's whole schema under a temporary name and link it into place, so
    no client or reader ever opens a half-made schema (ase.db creates its tables one by one)."""
    import ase.db

    if path.exists():
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ase.db.connect(str(temporary), type="db", use_lock_file=False).count()
    try:
        os.link(temporary, path)
    except FileExistsError:   # another client made it first
        pass
    finally:
        temporary.unlink()


def best_sites(rows) -> dict[tuple[str, str, str], dict]:
    """Lowest adsorption energy among anomaly-free adsorbate ``rows`` (ase.db rows of one method) per
    (metal, facet, adsorbate): {key: {"site", "adsorption_energy", "converged"}}; where every site is
    anomalous, site "" and NaN."""
    best: dict[tuple[str, str, str], dict] = {}
    for row in rows:
        key = (row.metal, str(row.facet), row.adsorbate)
        entry = best.setdefault(key, {"site": "", "adsorption_energy": float("nan"), "converged": False})
        if row.anomaly == "" and not row.adsorption_energy >= entry["adsorption_energy"]:
            entry.update(site=row.site, adsorption_energy=row.adsorption_energy, converged=row.converged)
    return best


def compare_methods(best: dict, reference: dict, adsorbates: list[str]) -> dict[str, dict]:
    """Per adsorbate, over surfaces valid in both: MAE, mean signed error (ours - reference) and the
    error's spread across surfaces of the adsorption energies, the reference's own spread (population
    stds), all in eV, and the Spearman rank correlation (NaN with fewer than 3 surfaces). A constant
    offset does not change ranks: ranking needs the error's spread well below the reference's."""
    from scipy.stats import spearmanr
    out = {}
    for name in adsorbates:
        keys = [k for k in best if k[2] == name and k in reference
                and np.isfinite(best[k]["adsorption_energy"]) and np.isfinite(reference[k]["adsorption_energy"])]
        ours = np.array([best[k]["adsorption_energy"] for k in keys])
        theirs = np.array([reference[k]["adsorption_energy"] for k in keys])
        error, nan = ours - theirs, float("nan")
        out[name] = {"surfaces": len(keys),
                     "mae": float(np.abs(error).mean()) if keys else nan,
                     "mean_signed": float(error.mean()) if keys else nan,
                     "error_std": float(error.std()) if keys else nan,
                     "reference_std": float(theirs.std()) if keys else nan,
                     "spearman": float(spearmanr(ours, theirs)[0]) if len(keys) >= 3 else nan}
    return out
