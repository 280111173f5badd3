"""Structure files given by users and the output paths work will be written to, checked up front.

The command line reads inputs and checks outputs here before any computation, so a typo costs a
one-line error, never a finished relaxation.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms

from .errors import UserFileError


def read_frames(path: str | Path) -> list[Atoms]:
    """Every frame of the structure file ``path`` (any format ASE reads).

    Raises :class:`UserFileError` naming the file and ASE's complaint for a missing, empty or
    unreadable file or a directory.
    """
    from ase.io import read

    path = Path(path)
    if path.is_dir():
        raise UserFileError(f"{path} is a directory, not a structure file")
    if not path.is_file():
        raise UserFileError(f"structure file {path} does not exist")
    try:
        frames = read(str(path), index=":")
    except Exception as exc:  # ASE's readers raise anything from StopIteration to KeyError on bad files
        raise UserFileError(f"cannot read structures from {path}: {type(exc).__name__}: {exc}") from None
    if not frames:
        raise UserFileError(f"{path} holds no structures")
    return frames


def check_output(path: str | Path, what: str, frames: int | None = None, makes_folder: bool = False) -> None:
    """Refuse, before any work, an output ``path`` that is a directory or sits in a missing or
    read-only directory. ``frames``: the path is written with ``ase.io.write``; also refuse names
    whose format ASE cannot tell or write, or a one-frame format for several frames.
    ``makes_folder``: the command creates missing folders when it starts writing, so a missing
    folder is fine where its nearest existing ancestor is a writable directory.
    ``what`` names the option in messages ("--out")."""
    path = Path(path)
    if path.is_dir():
        raise UserFileError(f"{what} {path} is a directory; give a file name")
    folder = path.parent
    if makes_folder:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    if not folder.is_dir():
        raise UserFileError(f"{what} {path}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserFileError(f"{what} {path} is not writable")
    if frames is not None:
        from ase.io.formats import filetype, ioformats

        try:
            io_format = ioformats[filetype(str(path), read=False)]
        except Exception:
            raise UserFileError(
                f"{what} {path}: ASE cannot tell a format from this name (use e.g. .extxyz)"
            ) from None
        if not io_format.can_write or (io_format.single and frames > 1):
            raise UserFileError(f"{what} {path}: ASE cannot write {frames} structure(s) as {io_format.name}")


def check_not_input(path: str | Path, inputs: list[str | Path], what: str) -> None:
    """Refuse an output ``path`` that is one of the ``inputs``, however either is spelled (relative,
    absolute, ``./``, through symlinks or hard links): writing it would destroy the input."""
    resolved = Path(path).resolve()
    for given in inputs:
        same = Path(given).resolve() == resolved
        if not same and Path(path).exists() and Path(given).exists():
            same = os.path.samefile(path, given)
        if same:
            raise UserFileError(f"{what} {path} is the input file {given}: give another output file")
