"""Run jobs: in this process ('serial'), on a local Dask cluster sized to the machine, or on
an existing Dask cluster (a scheduler address or a ``distributed.Client``).

Rows come back as jobs finish; Ctrl-C cancels what is left and keeps the finished rows. A
worker that dies is the scheduler's to handle: it runs the lost jobs again on other workers
(up to ``distributed.scheduler.allowed-failures`` times; a job that keeps killing workers is
reported as failed).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .jobs import job_rows, run_job
from .metrics import METRICS
from .progress import progress_bar
from .spec import JobSpec

__all__ = ["Outcome", "execute"]

SERIAL = "serial"


@dataclass
class Outcome:
    """What came back: the finished jobs' rows, and whether Ctrl-C cut the sweep short."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False


def execute(jobs: list[JobSpec], scheduler: Any = None, *, workers: int | None = None,
            progress: bool = True) -> Outcome:
    """Run ``jobs``; ``scheduler`` is None (a local cluster with ``workers`` processes, default
    one per core), ``'serial'``, a scheduler address such as ``tcp://host:8786`` or a Client."""
    if scheduler == SERIAL:
        return _collect(jobs, lambda: ((job, lambda job=job: run_job(job)) for job in jobs), progress)
    from distributed import Client, LocalCluster

    if scheduler is None:
        with _workers_ignore_ctrl_c():
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
        with cluster, Client(cluster) as client:
            return _on_dask(client, jobs, progress)
    if isinstance(scheduler, str):
        with Client(scheduler) as client:
            return _on_dask(client, jobs, progress)
    return _on_dask(scheduler, jobs, progress)


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (they inherit it), so a terminal's Ctrl-C
    reaches only this process, which cancels the sweep and closes the cluster."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


def _on_dask(client: Any, jobs: list[JobSpec], progress: bool) -> Outcome:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    keys = [f"btchannels-sweep-{token}-{job.index}" for job in jobs]
    by_key = dict(zip(keys, jobs))
    futures = client.map(run_job, jobs, key=keys, pure=False)

    def finished():
        for future in as_completed(futures):
            yield by_key[future.key], future.result

    try:
        return _collect(jobs, finished, progress)
    finally:
        client.cancel(futures)  # nothing left after a Ctrl-C (finished jobs are not touched)


def _collect(jobs: list[JobSpec], finished: Callable, progress: bool) -> Outcome:
    """Gather rows as jobs finish; a lost job (its worker died too often) becomes failed rows."""
    outcome = Outcome()
    with progress_bar(len(jobs), progress) as bar:
        try:
            for job, result in finished():
                try:
                    outcome.rows += result()
                except Exception as error:  # run_job catches the job's own errors: this is the cluster's
                    failed = dict.fromkeys(METRICS, math.nan)
                    message = f"lost by the cluster: {type(error).__name__}: {error}"
                    outcome.rows += job_rows(job, [failed] * len(job.days), message)
                bar.update(1)
        except KeyboardInterrupt:
            outcome.cancelled = True
    return outcome
