"""The screening workflow: relax slabs, gas references and every placement of every (surface, adsorbate), on Dask;
optionally relax every placement with a reference calculator (the dense ground truth) and verify the lowest
ML structures with its single points (AdsorbML's ML+SP pipeline).

Results go to an ase.db (SQLite path or PostgreSQL URL), one row per structure as soon as its batch
finishes; only the client writes. A row is keyed by ``task``, ``method`` (the potential's name, or the
reference calculator's, such as "emt" or "module:Class") and ``settings`` (:attr:`ScreeningSpec.settings`:
the potential's weights hash and every setting that changes the answer), so re-running the same screen
skips finished work, an interrupted run loses only the batches in flight, and results of another potential
or other settings in the same database are kept but never taken for this screen's. "Done?" and the write
happen in one transaction that holds the database's write lock, so concurrent screens on one database never
write a row twice.

Tasks: "slab:Cu111", "gas:H2"; "adsorbate:Cu111:CO:fcc" (a placement relaxed by the potential; the last
part is the :mod:`.placements` name, which holds the height offset and the random seed), "reference:..."
(the same start relaxed by the reference), "sp:..." (the reference's single point at the potential's
relaxed structure). A screen reads only the rows of its own placements.

Row key-value pairs: kind ("slab", "gas", "adsorbate" or "single_point"), task, method, settings, converged;
metal and facet (facet as an integer, 111, since ase.db refuses digit strings); molecule (gas); adsorbate
and site (the placement's name); adsorption_energy (eV) and anomaly ("" when none, see :mod:`.anomalies`)
for relaxed placements; sp_energy and sp_adsorption_energy (eV) for single points; max_forces_dev (eV/A,
at the relaxed structure) where the potential is a committee; force_calls where a reference calculator
computed the row. Energies are in the row's calculator results.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import parameters as emt_parameters
from tqdm.auto import tqdm

from ..devices import check_device_name
from ..dispersion import check_dispersion
from ..errors import UnsupportedElementError
from ..references import reference_calculator
from ..shipped import COMMITTEE
from ..shipped import read_header as read_model_header
from ..training.generation.sampling import snapshot
from .adsorbates import Adsorbate, adsorbate, place_adsorbate
from .anomalies import detect_anomaly
from .calculations import relax_with_potential, relax_with_reference, single_points
from .placements import placements
from .references import GAS_REFERENCES, adsorption_energy, chemical_potentials, gas_molecule
from .sites import site_kind_at
from .success import ranked
from .surfaces import FACET_BUILDERS, build_surface, fcc_metals, surface_name

REFERENCE_METHOD = "emt"


@dataclass(frozen=True)
class ScreeningSpec:
    """What to screen and how. ``potential``: a potential or committee (shipped name or file), or "emt";
    ``adsorbates``: built-in names or :class:`Adsorbate` objects; ``fmax`` (eV/A) and ``steps`` stop each
    FIRE relaxation; ``batch_size`` structures relax together in one batched graph per Dask task; slab
    ``size``/``vacuum`` as :func:`build_surface`; ``random_placements`` random sites per system besides
    the heuristic ones, seeded by ``seed``, every site at each height offset of ``heights`` (Angstrom,
    >= 0; see :mod:`.placements`); ``dispersion="d3"`` adds D3(BJ) to the potential (:mod:`..dispersion`).

    ``method`` is the potential's name (file stem) or "emt"; ``settings`` the key of this screen's results:
    the potential's :func:`potential_hash` (or "emt") and every setting that changes a relaxed structure
    (placements are told apart by their task names instead)."""

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
    random_placements: int = 0
    heights: tuple[float, ...] = (0.0,)
    seed: int = 0
    dispersion: str | None = None
    method: str = field(init=False)
    settings: str = field(init=False)

    def __post_init__(self) -> None:
        if self.potential == REFERENCE_METHOD:
            covered = list(emt_parameters)  # the elements ASE's EMT has parameters for
        else:
            covered = model_headers(self.potential)[0]["elements"]  # a missing potential fails here, first
        metals = [m for m in fcc_metals() if m in covered]
        unknown = [m for m in self.metals if m not in metals]
        if unknown or not self.metals:
            raise ValueError(
                f"{', '.join(unknown) or 'no metals'}: not an fcc metal covered by {self.potential}, "
                f"which covers {', '.join(metals) or 'no fcc metal'}"
            )
        unknown = [f for f in self.facets if f not in FACET_BUILDERS]
        if unknown or not self.facets:
            raise ValueError(
                f"unknown or no facets {unknown or list(self.facets)}; choose from {', '.join(FACET_BUILDERS)}"
            )
        if not self.adsorbates:
            raise ValueError("no adsorbates to screen")
        object.__setattr__(
            self,
            "adsorbates",
            tuple(a if isinstance(a, Adsorbate) else adsorbate(a) for a in self.adsorbates),
        )
        needed = {symbol for a in self.adsorbates for symbol in a.atoms.get_chemical_symbols()}
        needed |= {symbol for name in GAS_REFERENCES for symbol in gas_molecule(name).get_chemical_symbols()}
        if needed - set(covered):
            raise UnsupportedElementError(sorted(needed - set(covered)), covered)
        if self.fmax <= 0 or self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"need fmax > 0, steps >= 1 and batch_size >= 1, got {self.fmax}, {self.steps}, "
                f"{self.batch_size}"
            )
        object.__setattr__(self, "heights", tuple(float(h) for h in self.heights))
        if (
            self.random_placements < 0
            or not self.heights
            or len(set(self.heights)) < len(self.heights)
            or not all(0 <= h < math.inf for h in self.heights)
        ):
            raise ValueError(
                f"need random_placements >= 0 and distinct finite heights >= 0 (Angstrom), got "
                f"{self.random_placements} and {list(self.heights)}"
            )
        check_dispersion(self.dispersion)
        check_device_name(self.device)
        if self.dispersion and self.potential == REFERENCE_METHOD:
            raise ValueError(
                f"dispersion={self.dispersion!r} is added to a potential, not to {REFERENCE_METHOD}"
            )
        object.__setattr__(
            self,
            "method",
            Path(self.potential).stem if self.potential.endswith(".safetensors") else self.potential,
        )
        weights = REFERENCE_METHOD if self.potential == REFERENCE_METHOD else potential_hash(self.potential)
        object.__setattr__(
            self,
            "settings",
            f"{weights} fmax={self.fmax:g} steps={self.steps} "
            f"size={'x'.join(map(str, self.size))} vacuum={self.vacuum:g} {self.dtype}"
            + (f" +{self.dispersion}" if self.dispersion else ""),
        )


def model_headers(potential: str) -> list[dict]:
    """The checked header of a potential file or shipped name, or each member's header of a committee."""
    from ..committee import is_committee_file
    from ..potential import read_header

    if is_committee_file(potential):
        return read_model_header(potential, COMMITTEE)["members"]
    return [read_header(potential)]


def potential_hash(potential: str) -> str:
    """16 hex digits of the sha256 over a potential file's weights hash, config and reference energies (a
    committee: over those of every member, in order): it changes with anything that changes the energies,
    not with the model card."""
    identity = [
        {key: header.get(key) for key in ("weights_sha256", "config", "reference_energies")}
        for header in model_headers(potential)
    ]
    return hashlib.sha256(
        json.dumps(identity[0] if len(identity) == 1 else identity, sort_keys=True).encode()
    ).hexdigest()[:16]


@dataclass
class Task:
    """One structure to compute: ``key`` (unique in the database), ``atoms`` (start), ``labels`` (row keys)."""

    key: str
    atoms: Atoms
    labels: dict


def reference_tasks(spec: ScreeningSpec) -> list[Task]:
    """Clean slabs and gas molecules."""
    tasks = []
    for metal in spec.metals:
        for facet in spec.facets:
            tasks.append(
                Task(
                    f"slab:{surface_name(metal, facet)}",
                    build_surface(metal, facet, spec.size, spec.vacuum),
                    dict(kind="slab", metal=metal, facet=int(facet)),
                )
            )
    tasks += [
        Task(f"gas:{name}", gas_molecule(name), dict(kind="gas", molecule=name)) for name in GAS_REFERENCES
    ]
    return tasks


def adsorbate_tasks(spec: ScreeningSpec, slabs: dict[str, Atoms]) -> list[Task]:
    """Every adsorbate at every :func:`.placements.placements` start on every relaxed slab (``slabs`` keyed
    by surface name)."""
    tasks = []
    for metal in spec.metals:
        for facet in spec.facets:
            slab = slabs[surface_name(metal, facet)]
            for molecule in spec.adsorbates:
                system = f"{surface_name(metal, facet)}:{molecule.name}"
                for start in placements(slab, system, spec.random_placements, spec.heights, spec.seed):
                    tasks.append(
                        Task(
                            f"adsorbate:{system}:{start.name}",
                            place_adsorbate(slab, molecule, start.site, start.height, start.rotation),
                            dict(
                                kind="adsorbate",
                                metal=metal,
                                facet=int(facet),
                                adsorbate=molecule.name,
                                site=start.name,
                            ),
                        )
                    )
    return tasks


def _renamed(task: Task, prefix: str) -> Task:
    """``task`` in another role: "adsorbate:Cu111:O:fcc" -> "{prefix}:Cu111:O:fcc", same start and labels."""
    return Task(f"{prefix}:{task.key.split(':', 1)[1]}", task.atoms, task.labels)


def check_run(spec: ScreeningSpec, check_with: str | None, verify_with: str | None, top_k: int) -> list[str]:
    """The reference calculators of a :meth:`Screening.run` with these options; ValueError for options that
    cannot run (two different references, one that does not load, ``top_k`` < 1), before anything is made."""
    references = [name for name in dict.fromkeys((check_with, verify_with)) if name]
    if len(references) > 1:
        raise ValueError(
            f"check_with {check_with!r} and verify_with {verify_with!r} differ: the success rate "
            "compares one reference's single points with its own minimum"
        )
    for name in references:
        reference_calculator(name)  # an unknown or broken reference fails now, before any work
        if name == spec.method != spec.potential:
            raise ValueError(
                f"the potential's name {name!r} is also the reference calculator's: rename the file"
            )
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    return references


class Screening:
    """Runs a :class:`ScreeningSpec` against ``database``; ``client`` is a dask.distributed Client,
    or None to compute in this process."""

    def __init__(self, spec: ScreeningSpec, database: str | Path, client=None, progress: bool = True):
        import ase.db

        self.spec, self.client, self.progress = spec, client, progress
        self.database = str(database)
        if "://" not in self.database:
            if Path(self.database).suffix != ".db":
                raise ValueError(
                    f"the screening database must be an SQLite .db file or a postgresql:// URL, "
                    f"got {self.database}"
                )
            _check_sqlite(Path(self.database))
            _create_sqlite(Path(self.database))
        # no lock file: a killed client would leave it behind; the transactions of _exclusive() do its work
        self.db = ase.db.connect(self.database, use_lock_file=False)
        self.db.count()  # the schema exists before any work starts
        self.relaxed_count, self.single_point_count, self.relax_seconds = 0, 0, 0.0
        self._placements: list[Task] | None = None

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
        others = Counter(
            row.get("settings", "no settings (an older screen)")
            for row in self.db.select(include_data=False)
            if row.get("settings") != self.spec.settings
        )
        if not others:
            return ""
        listed = "; ".join(f"{count} x {settings}" for settings, count in others.most_common(3))
        more = f"; and {len(others) - 3} more" if len(others) > 3 else ""
        return (
            f"{self.database} also holds {sum(others.values())} results of other potentials or settings, kept and "
            f"not used here: {listed}{more} (this screen: {self.spec.settings})"
        )

    def run(self, check_with: str | None = None, verify_with: str | None = None, top_k: int = 5) -> None:
        """Compute what is not in the database yet: slabs, gas references and placements relaxed with the
        potential; with ``check_with`` (a reference calculator: "emt", "gfn2" or "module:Class") every placement
        relaxed with it too (the dense ground truth); with ``verify_with`` its relaxed slabs and gas molecules
        and its single points at the ``top_k`` lowest anomaly-free ML structures of each system."""
        references = check_run(self.spec, check_with, verify_with, top_k)
        for method in [self.spec.method] + references:
            self._compute(reference_tasks(self.spec), method)
        self._compute(self.placements(), self.spec.method)
        if check_with:
            self._compute([_renamed(task, "reference") for task in self.placements()], check_with)
        if verify_with:
            self._compute(self.verification_tasks(verify_with, top_k), verify_with)

    def placements(self) -> list[Task]:
        """The adsorbate tasks of this screen, placed on the potential's relaxed slabs (which must be done)."""
        if self._placements is None:
            slabs = {
                surface_name(r.metal, str(r.facet)): r.toatoms()
                for r in self.db.select(kind="slab", method=self.spec.method, settings=self.spec.settings)
            }
            self._placements = adsorbate_tasks(self.spec, slabs)
        return self._placements

    def verification_tasks(self, reference: str, top_k: int) -> list[Task]:
        """Single points of the ``top_k`` lowest anomaly-free relaxed placements of each system."""
        systems: dict[tuple, list] = {}
        for row in self.rows("adsorbate", self.spec.method):
            systems.setdefault((row.metal, row.facet, row.adsorbate), []).append(row)
        return [
            Task(
                f"sp:{row.task.split(':', 1)[1]}",
                row.toatoms(),
                dict(
                    kind="single_point",
                    metal=row.metal,
                    facet=row.facet,
                    adsorbate=row.adsorbate,
                    site=row.site,
                ),
            )
            for rows in systems.values()
            for row in ranked(rows)[:top_k]
        ]

    def rows(self, prefix: str, method: str) -> list:
        """This screen's rows of ``method`` for its placements in the role ``prefix`` ("adsorbate", "reference"
        or "sp"): rows of other placements (other seeds, heights, counts) are left out."""
        keys = {f"{prefix}:{task.key.split(':', 1)[1]}" for task in self.placements()}
        kind = "single_point" if prefix == "sp" else "adsorbate"
        selected = self.db.select(kind=kind, method=method, settings=self.spec.settings)
        return [row for row in selected if row.task in keys]

    def _compute(self, tasks: list[Task], method: str) -> None:
        pending = [t for t in tasks if not self.done(t, method)]
        if not pending:
            return
        spec = self.spec
        single_point = pending[0].labels["kind"] == "single_point"
        if single_point:
            function, arguments, what = single_points, (method,), "single points"
        elif method == spec.method and spec.potential != REFERENCE_METHOD:
            function, arguments, what = (
                relax_with_potential,
                (spec.potential, spec.fmax, spec.steps, spec.device, spec.dtype, spec.dispersion),
                "relax",
            )
        else:
            function, arguments, what = relax_with_reference, (method, spec.fmax, spec.steps), "relax"
        batches = [pending[k : k + spec.batch_size] for k in range(0, len(pending), spec.batch_size)]
        if self.progress:
            where = "in this process" if self.client is None else "on Dask workers (each first loads torch)"
            tqdm.write(
                f"{what} ({method}): {len(pending)} structures in {len(batches)} batches of up to "
                f"{spec.batch_size} {where}; the bar moves as each batch finishes (--batch-size)"
            )
        started = time.monotonic()
        with tqdm(
            total=len(pending), desc=f"{what} ({method})", unit="structure", disable=not self.progress
        ) as bar:
            if self.client is None:
                for batch in batches:
                    todo = [t for t in batch if not self.done(t, method)]  # another client may have done some
                    if todo:
                        self._write(todo, function([t.atoms for t in todo], *arguments), method)
                    bar.update(len(batch))
            else:
                from distributed import as_completed

                futures = {
                    self.client.submit(function, [t.atoms for t in batch], *arguments, pure=False): batch
                    for batch in batches
                }
                for future in as_completed(futures):
                    self._write(futures[future], future.result(), method)
                    bar.update(len(futures[future]))
        if not single_point:
            self.relax_seconds += time.monotonic() - started

    def _write(self, batch: list[Task], results: list, method: str) -> None:
        """Write each result unless its row exists; counts the rows written."""
        for task, (atoms, converged, extra) in zip(batch, results):
            kind = task.labels["kind"]
            pairs = dict(
                task.labels,
                task=task.key,
                method=method,
                settings=self.spec.settings,
                converged=bool(converged),
                **extra,
            )
            with self._exclusive():
                if self.done(task, method):  # written by another client, or a re-submitted batch
                    continue
                if kind == "adsorbate":
                    slab_atoms, energy = self._adsorption_energy(atoms, task.labels, method)
                    pairs.update(
                        adsorption_energy=energy, anomaly=detect_anomaly(task.atoms, atoms, slab_atoms)
                    )
                elif kind == "single_point":
                    pairs.update(
                        sp_energy=float(atoms.get_potential_energy()),
                        sp_adsorption_energy=self._adsorption_energy(atoms, task.labels, method)[1],
                    )
                self.db.write(atoms, key_value_pairs=pairs)
            if kind == "single_point":
                self.single_point_count += 1
            else:
                self.relaxed_count += 1

    def _adsorption_energy(self, atoms: Atoms, labels: dict, method: str) -> tuple[int, float]:
        """(slab atom count, adsorption energy in eV) of slab + adsorbate ``atoms`` with ``method``'s references."""
        settings = self.spec.settings
        slab_row = self.db.get(
            kind="slab", method=method, settings=settings, metal=labels["metal"], facet=labels["facet"]
        )
        gas = {
            row.molecule: row.energy for row in self.db.select(kind="gas", method=method, settings=settings)
        }
        slab_atoms = slab_row.natoms
        energy = adsorption_energy(
            atoms.get_potential_energy(),
            slab_row.energy,
            atoms.get_chemical_symbols()[slab_atoms:],
            chemical_potentials(gas),
        )
        return slab_atoms, float(energy)

    def best(self, method: str | None = None) -> dict[tuple[str, str, str], dict]:
        """:func:`best_sites` of this screen's placements relaxed by the potential, or with ``method`` by that
        reference calculator (``run(check_with=method)``)."""
        rows = self.rows("adsorbate", self.spec.method) if method is None else self.rows("reference", method)
        return best_sites(rows)

    def systems(self, check_with: str | None, verify_with: str | None) -> dict[tuple[str, str, str], tuple]:
        """{(metal, facet, adsorbate): (candidates, reference)}, the records of :mod:`.success`: the potential's
        relaxed placements with ``verify_with``'s single points (``sp_adsorption_energy``, NaN where none), and
        ``check_with``'s relaxations of the same placements (empty without ``check_with``); ``final_site`` is
        found when first read (:class:`_Record`)."""
        molecules = {molecule.name: molecule for molecule in self.spec.adsorbates}
        slabs = {
            (metal, facet): build_surface(metal, facet, self.spec.size, self.spec.vacuum)
            for metal in self.spec.metals
            for facet in self.spec.facets
        }

        def record(row) -> _Record:
            return _Record(
                row,
                molecules[row.adsorbate],
                slabs[row.metal, str(row.facet)],
                **{
                    key: row.get(key)
                    for key in (
                        "site",
                        "adsorption_energy",
                        "anomaly",
                        "converged",
                        "max_forces_dev",
                        "force_calls",
                    )
                },
            )

        def placement(row) -> str:
            return row.task.split(":", 1)[1]

        verified = (
            {placement(r): r.sp_adsorption_energy for r in self.rows("sp", verify_with)}
            if verify_with
            else {}
        )
        systems: dict[tuple, tuple[list, list]] = {}
        for row in self.rows("adsorbate", self.spec.method):
            candidate = record(row)
            candidate["sp_adsorption_energy"] = verified.get(placement(row), math.nan)
            systems.setdefault((row.metal, str(row.facet), row.adsorbate), ([], []))[0].append(candidate)
        for row in self.rows("reference", check_with) if check_with else []:
            systems.setdefault((row.metal, str(row.facet), row.adsorbate), ([], []))[1].append(record(row))
        return systems

    def labelled_frames(self, systems: list[tuple[str, str, str]], reference: str) -> list[Atoms]:
        """Training frames of ``systems`` (keys of :meth:`systems`) labelled by ``reference``: its single points
        at the potential's structures and its anomaly-free relaxations of the placements, with the labels of
        the surfaces data (subset "adsorbate", system "Cu111+O", metal, facet "fcc111", adsorbate, site) and
        source "screening", for the active-learning loop's data."""
        wanted = {(metal, int(facet), name) for metal, facet, name in systems}
        rows = self.rows("sp", reference) + [r for r in self.rows("reference", reference) if r.anomaly == ""]
        return [
            snapshot(
                row.toatoms(),
                subset="adsorbate",
                system=f"{surface_name(row.metal, str(row.facet))}+{row.adsorbate}",
                metal=row.metal,
                facet=f"fcc{row.facet}",
                adsorbate=row.adsorbate,
                site=row.site,
                source="screening",
            )
            for row in rows
            if (row.metal, row.facet, row.adsorbate) in wanted
        ]

    def throughput(self) -> str:
        """What this run computed, for the user: count and rate, or that everything was already done."""
        if not self.relaxed_count and not self.single_point_count:
            return "nothing left to relax: every result was already in the database"
        text = (
            f"{self.relaxed_count} structures relaxed this run "
            f"({60.0 * self.relaxed_count / max(self.relax_seconds, 1e-9):.1f} per minute)"
        )
        return text + (f", {self.single_point_count} single points" if self.single_point_count else "")


class _Record(dict):
    """A row's values for :mod:`.success`; ``final_site``, the kind of site of the clean ``slab`` that the
    binding atom of ``molecule`` ends over (:func:`.sites.site_kind_at`), is found from the row's structure
    when first read: the report needs it for a few rows only."""

    def __init__(self, row, molecule: Adsorbate, slab: Atoms, **values):
        super().__init__(values)
        self.row, self.molecule, self.slab = row, molecule, slab

    def __missing__(self, key: str):
        if key != "final_site":
            raise KeyError(key)
        binding = self.row.natoms - len(self.molecule.atoms) + self.molecule.binding_index
        self[key] = site_kind_at(self.slab, self.row.positions[binding])
        return self[key]


def _check_sqlite(path: Path) -> None:
    """ValueError for an existing, non-empty ``path`` that is not an SQLite database (its 16-byte header)."""
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise ValueError(
                    f"--db {path} exists and is not an SQLite database: give a new or an ase.db file"
                )


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
    except FileExistsError:  # another client made it first
        pass
    finally:
        temporary.unlink()


def best_sites(rows) -> dict[tuple[str, str, str], dict]:
    """Lowest adsorption energy among anomaly-free adsorbate ``rows`` (ase.db rows of one method) per
    (metal, facet, adsorbate): {key: {"site", "adsorption_energy", "converged"}, plus "max_forces_dev" where the
    rows have it}; where every site is anomalous, site "" and NaN."""
    best: dict[tuple[str, str, str], dict] = {}
    for row in rows:
        key = (row.metal, str(row.facet), row.adsorbate)
        entry = best.setdefault(key, {"site": "", "adsorption_energy": float("nan"), "converged": False})
        if row.anomaly == "" and not row.adsorption_energy >= entry["adsorption_energy"]:
            entry.update(site=row.site, adsorption_energy=row.adsorption_energy, converged=row.converged)
            if "max_forces_dev" in row:
                entry["max_forces_dev"] = row.max_forces_dev
    return best


def compare_methods(best: dict, reference: dict, adsorbates: list[str]) -> dict[str, dict]:
    """Per adsorbate, over surfaces valid in both: MAE, mean signed error (ours - reference) and the
    error's spread across surfaces of the adsorption energies, the reference's own spread (population
    stds), all in eV, and the Spearman rank correlation (NaN with fewer than 3 surfaces). A constant
    offset does not change ranks: ranking needs the error's spread well below the reference's."""
    from scipy.stats import spearmanr

    out = {}
    for name in adsorbates:
        keys = [
            k
            for k in best
            if k[2] == name
            and k in reference
            and np.isfinite(best[k]["adsorption_energy"])
            and np.isfinite(reference[k]["adsorption_energy"])
        ]
        ours = np.array([best[k]["adsorption_energy"] for k in keys])
        theirs = np.array([reference[k]["adsorption_energy"] for k in keys])
        error, nan = ours - theirs, float("nan")
        out[name] = {
            "surfaces": len(keys),
            "mae": float(np.abs(error).mean()) if keys else nan,
            "mean_signed": float(error.mean()) if keys else nan,
            "error_std": float(error.std()) if keys else nan,
            "reference_std": float(theirs.std()) if keys else nan,
            "spearman": float(spearmanr(ours, theirs)[0]) if len(keys) >= 3 else nan,
        }
    return out
