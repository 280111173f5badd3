"""A screen end to end, as ``equiformer-ase screen`` runs it: the Dask client's lifecycle, the (resumable)
run and the report files beside the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..devices import resolve_device
from .report import screening_report
from .workflow import Screening, ScreeningSpec, check_run


@contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None) -> Iterator:
    """A dask.distributed Client of the scheduler at address ``scheduler`` (e.g. one dask-jobqueue started),
    else of a LocalCluster of ``workers`` single-threaded processes; None for ``workers=0`` (compute in this
    process). Client and cluster are closed on leaving, also after an error or an interruption."""
    if not scheduler and workers == 0:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def screen(
    spec: ScreeningSpec,
    database: str | Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    check_with: str | None = None,
    verify_with: str | None = None,
    top_k: int = 5,
) -> str:
    """Run (or resume) the screen ``spec`` into ``database`` on :func:`dask_client`, with the optional reference
    relaxations and single points of :meth:`Screening.run`, then write the report files
    (:func:`~.report.report_paths`); returns the report text."""
    check_run(spec, check_with, verify_with, top_k)  # a refused screen makes no database
    if scheduler is None:  # this machine's workers: its devices
        resolve_device(spec.device)
    with dask_client(workers, scheduler) as client:
        screening = Screening(spec, database, client)
        screening.run(check_with=check_with, verify_with=verify_with, top_k=top_k)
    return screening_report(screening, database, check_with, verify_with, top_k)
