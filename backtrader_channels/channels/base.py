"""What every channel shares: a symbol, the latest value, a bounded history and a count."""

from __future__ import annotations

from collections import deque
from os import PathLike
from typing import TYPE_CHECKING, Any, ClassVar

from ..events import Event, EventPriority
from ..sources.window import DateLike, DateWindow, window_ns

if TYPE_CHECKING:
    from ..kinds.base import Kind

__all__ = ["Channel"]

DEFAULT_HISTORY = 10_000


class Channel:
    """Base of the channels: ``push(event)``, ``latest``, ``history(n)``, ``len()``.

    A channel with a ``dataname`` also owns a historical source (opened, and so checked,
    at construction) that a tick-mode run streams into it; ``fromdate``/``todate`` keep
    only its rows between them (both included, as on a backtrader data feed: see
    ``sources/window.py``).
    """

    kind: ClassVar[Kind]  # set by the Kind that names this channel class, with the two below
    channel_type: ClassVar[str]
    priority: ClassVar[EventPriority]
    prints_trades: ClassVar[bool] = False  # its events are trades orders can fill against

    def __init__(
        self,
        symbol: str,
        dataname: str | PathLike | None = None,
        *,
        history_size: int = DEFAULT_HISTORY,
        format: str | None = None,
        on_error: str = "raise",
        fromdate: DateLike = None,
        todate: DateLike = None,
        **source_options: Any,
    ) -> None:
        if not symbol or not isinstance(symbol, str):
            raise ValueError(f"{type(self).__name__}: symbol must be a non-empty string, got {symbol!r}")
        if history_size < 1:
            raise ValueError(f"{type(self).__name__}: history_size must be >= 1, got {history_size!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"{type(self).__name__}: on_error must be 'raise' or 'skip', got {on_error!r}")
        self.symbol = symbol
        self.dataname = dataname
        self.on_error = on_error
        self.latest: Any = None
        self._history: deque = deque(maxlen=history_size)
        self._size = history_size  # the history's bound (deque.maxlen as a plain int)
        self._count = 0
        self.source = (
            None
            if dataname is None
            else self._open_source(dataname, format=format, on_error=on_error, **source_options)
        )
        window = window_ns(fromdate, todate)
        if window is not None:
            if self.source is None:
                raise ValueError(f"{type(self).__name__}: fromdate/todate select rows of a file; there is no dataname")
            self.source = DateWindow(self.source, window)

    def reset(self) -> None:
        """Forget every event (a new run starts from an empty channel)."""
        self.latest = None
        self._history.clear()
        self._count = 0

    @property
    def key(self) -> tuple[str, str]:
        """``(channel_type, symbol)``: how strategies find this channel."""
        return (self.channel_type, self.symbol)

    def _open_source(self, dataname: Any, **options: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def _unwrap(event: Any) -> Any:
        return event.data if type(event) is Event else event

    def push(self, event: Any) -> Any:
        """Take one item (bare or inside an ``Event``): it becomes ``latest`` and joins the
        history; returns it."""
        item = self._unwrap(event)
        self.append(item)
        return item

    def append(self, item: Any) -> None:
        """Take one bare item (the hot path of the steps): ``latest``, history, count."""
        self.latest = item
        self._history.append(item)
        self._count += 1

    def history(self, n: int | None = None) -> list:
        """The last ``n`` items (all kept when None), oldest first."""
        items = list(self._history)
        return items if n is None else items[-n:] if n > 0 else []

    def __len__(self) -> int:
        """How many events the channel has received."""
        return self._count

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.symbol!r}, events={self._count})"
