"""Run one job in a worker: rebuild its Cerebro from the spec, run it, return its table rows.

A job that raises returns rows carrying its traceback in ``error`` (numbers left NaN), so
one bad parameter set never stops a sweep.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import backtrader as bt

from ..kinds import kind_of
from ..strategy_file import load_strategy
from .metrics import METRICS, day_metrics, run_metrics
from .spec import ChannelSpec, JobSpec, StrategyRef

__all__ = ["ChainedSource", "local_path", "run_job"]

CACHE_DIR = Path(tempfile.gettempdir()) / "btchannels-sweep-cache"
_loaded: dict[tuple[str, str | None, str | None], type] = {}


class ChainedSource:
    """The sources of several files (a range of days) streamed one after the other, counting
    the rows each delivered."""

    def __init__(self, sources: list[Any]) -> None:
        self.sources = sources
        self.rows = [0] * len(sources)

    @property
    def path(self) -> Path:
        return self.sources[0].path

    @property
    def format(self) -> str:
        return self.sources[0].format

    @property
    def skipped_rows(self) -> int:
        return sum(source.skipped_rows for source in self.sources)

    def chunks(self) -> Iterator[Any]:
        self.rows = [0] * len(self.sources)
        for part, source in enumerate(self.sources):
            for chunk in source.chunks():
                self.rows[part] += len(chunk)
                yield chunk


def _cached(folder: str, key: str, name: str, write: Callable[[Path], object]) -> Path:
    """A file of this machine's cache, named ``name``, written by ``write`` the first time."""
    copy = CACHE_DIR / folder / hashlib.sha256(key.encode()).hexdigest()[:16] / name
    if not copy.is_file():
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_name(f"{name}.{os.getpid()}.part")  # workers of a machine may race
        write(partial)
        partial.replace(copy)
    return copy


def local_path(path: str) -> str:
    """A local file for ``path``: a path or ``file://`` URL as it is; another URL (fsspec:
    http(s)://, s3://...) downloaded once per machine into the cache, keeping its name."""
    if "://" not in path:
        return path
    import fsspec

    fs, inner = fsspec.core.url_to_fs(path)
    if "file" in fs.protocol:
        return inner

    def download(target: Path) -> None:
        with fs.open(inner, "rb") as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)

    return str(_cached("data", path, path.rsplit("/", 1)[-1], download))


def strategy_file(ref: StrategyRef) -> Path:
    """The strategy file: its path when this machine sees it, else its shipped text, cached."""
    assert ref.path is not None  # a StrategyRef has a class or a path
    path = Path(ref.path)
    source = ref.source
    if path.is_file() or source is None:
        return path
    return _cached("strategies", source, path.name, lambda target: target.write_text(source))


def load_strategy_ref(ref: StrategyRef) -> type:
    """The strategy class of ``ref`` (a file is loaded once per worker process and text)."""
    if ref.cls is not None:
        return ref.cls
    assert ref.path is not None  # a StrategyRef has a class or a path
    key = (ref.path, ref.name, ref.source)
    if key not in _loaded:
        _loaded[key] = load_strategy(strategy_file(ref), ref.name)
    return _loaded[key]


def _channel_class(spec: ChannelSpec) -> Any:
    return kind_of(spec.kind).channel


def _source(spec: ChannelSpec, path: str) -> Any:
    """The source of one more file of the channel, opened as the channel opens its own."""
    return _channel_class(spec)(spec.symbol, path, format=spec.format).source


def _run(job: JobSpec) -> list[dict[str, float]]:
    strategy = load_strategy_ref(job.strategy)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(job.cash)
    cerebro.broker.setcommission(commission=job.commission)
    sources = []
    for spec in job.channels:
        paths = [local_path(path) for path in spec.paths]
        channel = cerebro.add_channel(_channel_class(spec), symbol=spec.symbol, dataname=paths[0], format=spec.format)
        channel.source = ChainedSource([channel.source] + [_source(spec, path) for path in paths[1:]])
        sources.append(channel.source)
    cerebro.addstrategy(strategy, **job.params)
    cerebro.run(mode=bt.RunMode.TICK, **job.run_kwargs)
    result = cerebro.tick_result
    if not job.split_days:
        return [run_metrics(result)]
    events = [sum(parts) for parts in zip(*(source.rows for source in sources))]
    return day_metrics(result, job.days, events)


def job_rows(job: JobSpec, numbers: list[dict[str, Any]], error: str = "") -> list[dict[str, Any]]:
    """The table rows of a job: its identity, parameters, day and numbers."""
    days = job.days if job.split_days else (job.day,)
    return [
        {"job": job.index, **job.params, "symbol": job.symbol, "day": day, **row, "error": error}
        for day, row in zip(days, numbers)
    ]


def run_job(job: JobSpec) -> list[dict[str, Any]]:
    """The rows of one job; a failure becomes rows with the traceback in ``error``."""
    try:
        return job_rows(job, _run(job))
    except Exception:  # a strategy file that cannot be loaded (StrategyFileError) too
        failed = dict.fromkeys(METRICS, math.nan)
        return job_rows(job, [failed] * len(job.days), traceback.format_exc())
