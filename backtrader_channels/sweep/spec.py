"""Job specs: what one sweep job runs, as plain picklable data rebuilt in a worker.

A job is one parameter set on one symbol over one day (``per_day``) or over the whole range
of days. Everything a worker needs travels in the spec: the strategy (a class, or a file
path and class name), the parameters, the data files (paths or URLs the worker can read),
the broker settings and the ``cerebro.run`` keywords.
"""

from __future__ import annotations

import glob
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..kinds import KINDS
from ..kinds.books import BOOKS
from ..kinds.trades import TRADES

__all__ = ["ChannelSpec", "JobSpec", "StrategyRef", "build_jobs", "day_of", "expand_files", "parameter_grid"]

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class StrategyRef:
    """A strategy class, or the file that defines it (``name`` picks one of several classes).

    A file travels with its text (``source``), so workers that cannot see the path run it too.
    """

    cls: type | None = None
    path: str | None = None
    name: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if (self.cls is None) == (self.path is None):
            raise ValueError("StrategyRef needs a strategy class or a file path, not both")

    @property
    def label(self) -> str:
        return self.cls.__name__ if self.cls is not None else f"{self.path}:{self.name or '*'}"


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of a job: a market-data kind ('tick', 'orderbook', 'funding'), symbol and its
    files, streamed in order."""

    kind: str
    symbol: str
    paths: tuple[str, ...]
    format: str | None = None

    def __post_init__(self) -> None:
        kind = KINDS.get(self.kind)
        if kind is None or not kind.market_data or kind.channel is None:
            files = [name for name, known in KINDS.items() if known.market_data and known.channel is not None]
            raise ValueError(f"channel kind must be one of {files}, got {self.kind!r}")
        if not self.paths:
            raise ValueError(f"{self.kind} channel {self.symbol!r}: no files")


@dataclass(frozen=True)
class JobSpec:
    """One job: a parameter set on one symbol over ``days`` (one day, or the whole range).

    ``split_days`` runs the range as one continuous backtest (positions carry over from day
    to day) and reports one row per day.
    """

    index: int
    strategy: StrategyRef
    params: Mapping[str, Any]
    symbol: str
    days: tuple[str, ...]
    channels: tuple[ChannelSpec, ...]
    cash: float = 10_000.0
    commission: float = 0.001
    run_kwargs: Mapping[str, Any] = field(default_factory=dict)
    split_days: bool = False

    @property
    def day(self) -> str:
        """The day label of a one-day job, ``first..last`` of a range."""
        return self.days[0] if len(self.days) == 1 else f"{self.days[0]}..{self.days[-1]}"


def parameter_grid(params: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the parameter values, the last parameter varying fastest."""
    names = list(params)
    values = [list(params[name]) for name in names]
    for name, options in zip(names, values):
        if not options:
            raise ValueError(f"parameter {name!r} has no values")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def expand_files(patterns: str | Sequence[str]) -> list[str]:
    """The files matching glob patterns (local paths or fsspec URLs), sorted, duplicates dropped."""
    if isinstance(patterns, str):
        patterns = [patterns]
    found: list[str] = []
    for pattern in map(str, patterns):
        if "://" in pattern:
            import fsspec

            fs, _, paths = fsspec.core.get_fs_token_paths(pattern)
            protocol = pattern.split("://", 1)[0]
            matches = [path if "://" in path else f"{protocol}://{path}" for path in paths]
        else:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            if not matches or not Path(matches[0]).exists():
                raise FileNotFoundError(f"{pattern}: no such file")
        found += [path for path in sorted(matches) if path not in found]
    return found


def day_of(path: str) -> str:
    """The day a file holds: the last ``YYYY-MM-DD`` in its name, else the name without suffixes."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    dates = DAY.findall(name)
    return dates[-1] if dates else name.split(".", 1)[0]


def _by_day(paths: list[str], what: str) -> dict[str, str]:
    days: dict[str, str] = {}
    for path in paths:
        day = day_of(path)
        if day in days:
            raise ValueError(f"{what}: two files for day {day}: {days[day]} and {path}")
        days[day] = path
    return dict(sorted(days.items()))


def build_jobs(
    strategy: StrategyRef,
    params: Mapping[str, Iterable[Any]],
    ticks: Mapping[str, str | Sequence[str]],
    *,
    books: Mapping[str, str | Sequence[str]] | None = None,
    per_day: bool = False,
    carry: bool = False,
    tick_format: str | None = None,
    book_format: str | None = None,
    cash: float = 10_000.0,
    commission: float = 0.001,
    run_kwargs: Mapping[str, Any] | None = None,
) -> list[JobSpec]:
    """The jobs of a sweep, in table order: parameter set, then symbol, then day.

    ``ticks`` and ``books`` map each symbol to its files (globs allowed), one file per day
    (the day is read from the name). Without ``per_day`` a job runs a symbol's whole range;
    with it, one job per day starting flat, or with ``carry`` one continuous job per range
    reporting a row per day.
    """
    books = books or {}
    unknown = set(books) - set(ticks)
    if unknown:
        raise ValueError(f"book files for symbols without trades: {', '.join(sorted(unknown))}")
    days_of = {symbol: _by_day(expand_files(pattern), f"trades of {symbol}") for symbol, pattern in ticks.items()}
    books_of = {symbol: _by_day(expand_files(pattern), f"book of {symbol}") for symbol, pattern in books.items()}
    for symbol, book_days in books_of.items():
        if list(book_days) != list(days_of[symbol]):
            raise ValueError(f"{symbol}: book days {list(book_days)} differ from trade days {list(days_of[symbol])}")
    if carry and not per_day:
        raise ValueError("carry applies to per-day runs (without per_day a job runs the whole range anyway)")
    if carry:
        for symbol, days in days_of.items():
            undated = [day for day in days if not DAY.fullmatch(day)]
            if undated:
                raise ValueError(f"carry splits by date: no YYYY-MM-DD in the file names of {symbol} ({undated[0]})")
    jobs: list[JobSpec] = []
    for combo in parameter_grid(params):
        for symbol, days in days_of.items():
            groups = [[day] for day in days] if per_day and not carry else [list(days)]
            for group in groups:
                channels = [ChannelSpec(TRADES.name, symbol, tuple(days[day] for day in group), tick_format)]
                if symbol in books_of:
                    book_files = tuple(books_of[symbol][day] for day in group)
                    channels.insert(0, ChannelSpec(BOOKS.name, symbol, book_files, book_format))
                jobs.append(JobSpec(
                    index=len(jobs), strategy=strategy, params=combo, symbol=symbol, days=tuple(group),
                    channels=tuple(channels), cash=cash, commission=commission,
                    run_kwargs=dict(run_kwargs or {}), split_days=carry,
                ))
    return jobs
