"""Lock files: a run holds ``PATH.lock`` (its pid inside) next to each file it writes, so a second run on
the same file refuses instead of interleaving frames with it. A lock left by a dead process is taken over."""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .errors import UserFileError


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``PATH.lock`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _acquire(path: Path) -> Path:
    """Create ``path``'s lock file with O_CREAT | O_EXCL, taking over one whose pid is dead or missing;
    :class:`UserFileError` naming the live holder otherwise."""
    lock = lock_path(path)
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder > 0 and _alive(holder):
                raise UserFileError(
                    f"{path} is being written by another run (pid {holder}, lock {lock}): wait for it to end, "
                    "or write elsewhere"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as err:  # a folder that does not exist or cannot be written
            raise UserFileError(f"cannot write {path}: {err.strerror} ({lock})") from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        return lock
    raise UserFileError(f"cannot take the lock {lock} of {path}: another run keeps taking it")


@contextmanager
def locked(paths: list[str | Path]):
    """Hold the lock files of ``paths`` while the block runs; they are removed when it ends, however it ends."""
    with ExitStack() as stack:
        for path in dict.fromkeys(Path(p).absolute() for p in paths):
            stack.callback(_acquire(path).unlink, missing_ok=True)
        yield
