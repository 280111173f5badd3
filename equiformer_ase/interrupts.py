"""Interruptions of long runs: SIGTERM (e.g. SLURM pre-emption) handled like Ctrl-C, and signals held
while files are written so an interruption never leaves half a frame."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def sigterm_as_interrupt():
    """While the block runs in the main thread, SIGTERM raises KeyboardInterrupt, as SIGINT does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM while the block (a file write) runs; they arrive after it."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
