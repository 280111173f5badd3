"""One relaxation as the command line makes it: every structure relaxed (batched FIRE, or ASE's optimizers
with the cell), each written to the output file as soon as it finishes, under a lock, and resumable."""

from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path

from ase import Atoms

from .ase_relax import relax_cells
from .dynamics import relax
from .errors import UserFileError
from .interrupts import signals_held, sigterm_as_interrupt
from .io import read_frames
from .locks import locked
from .structures import structure_list

INDEX, CONVERGED = "relax_index", "relax_converged"  # info keys of a written frame: its input, its outcome


def run_relax(
    structures: Atoms | list[Atoms],
    potential,
    out: str | Path,
    *,
    cell: bool = False,
    optimizer: str = "fire",
    resume: bool = False,
    **options,
) -> tuple[list[Atoms], list[bool]]:
    """Relax every structure into ``out``; returns the relaxed structures (input order) and converged flags.

    Each structure goes to ``out`` (rewritten whole, atomically, in input order) as soon as it finishes,
    with ``info["relax_index"]`` (its input position) and ``info["relax_converged"]``; ``resume`` keeps
    the finished ones already in ``out`` and relaxes the rest. ``out.lock`` (and that of a ``logfile`` in
    ``options``) is held while it runs; SIGTERM stops it as Ctrl-C does. ``cell``: :func:`~equiformer_ase.ase_relax.relax_cells` with ``optimizer``,
    else the batched :func:`~equiformer_ase.dynamics.relax`; ``options``: theirs (fmax, steps, device, ...).
    """
    structures = structure_list(structures)
    out = Path(out)
    with locked([path for path in (out, options.get("logfile")) if path]), sigterm_as_interrupt():
        done = finished_structures(out, structures) if resume else {}
        todo = [k for k in range(len(structures)) if k not in done]

        def finished(position: int, atoms: Atoms, converged: bool) -> None:
            atoms.info.update({INDEX: todo[position], CONVERGED: converged})
            done[todo[position]] = atoms
            with signals_held():
                _write_atomically(out, [done[k] for k in sorted(done)])

        if todo:
            pending = [structures[k] for k in todo]
            if cell:
                relax_cells(pending, potential, optimizer=optimizer, finished=finished, **options)
            else:
                relax(pending, potential, finished=finished, **options)
    relaxed = [done[k] for k in range(len(structures))]
    return relaxed, [bool(atoms.info[CONVERGED]) for atoms in relaxed]


def finished_structures(out: Path, structures: list[Atoms]) -> dict[int, Atoms]:
    """The frames of an earlier run's ``out`` by input position; none if it does not exist yet.
    :class:`UserFileError` where a frame does not say which input it is or holds other atoms."""
    if not out.exists():
        return {}
    done = {}
    for position, atoms in enumerate(read_frames(out)):
        k = atoms.info.get(INDEX)
        if not isinstance(k, Integral) or not 0 <= k < len(structures) or CONVERGED not in atoms.info:
            raise UserFileError(
                f"--resume: frame {position} of {out} does not say which input it relaxes (info {INDEX!r}): "
                "not written by relax, or in a format that drops it (use .extxyz or .traj)"
            )
        k = int(k)
        if list(atoms.numbers) != list(structures[k].numbers):
            raise UserFileError(
                f"--resume: frame {position} of {out} ({atoms.get_chemical_formula()}) is not input structure "
                f"{k} ({structures[k].get_chemical_formula()}): it belongs to another run"
            )
        done[k] = atoms
    return done


def _write_atomically(out: Path, frames: list[Atoms]) -> None:
    """Write ``frames`` to ``out`` through a temporary file in its folder, so ``out`` is never half written."""
    from ase.io import write
    from ase.io.formats import filetype

    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    write(str(temporary), frames, format=filetype(str(out), read=False))
    os.replace(temporary, out)
