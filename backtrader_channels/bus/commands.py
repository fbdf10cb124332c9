"""How control commands reach a running strategy: the bus, or a local Unix socket.

Bus: ``send_command(url, run, 'stop')`` appends to the stream ``btchannels:control:<run>``;
the run's ``ControlFeed`` reads the commands sent after it started. Local:
``ControlSocket(path)`` listens on a Unix socket; ``send_local(path, 'pause')`` writes one
line and waits for ``ok``. ``add_control(cerebro, run, bus=..., socket=...)`` wires either
or both into a live run.

Both run on the market feeds' event loop (``FeedThread``): each feed awaits between its
reads, so a command waits there for one batch's work at most (1-2 ms under a flood of
trades on the bus; a thread of its own measured slower, the GIL hand-offs). On the queue
commands have a lane of their own and pre-empt the backlog (``LiveEventQueue``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

from ..kinds.control import CONTROL, ControlCommand, control_event
from ..live import LiveEventQueue
from .codec import CodecError, decode, encode
from .lifecycle import AsyncFeed, RedisFeed, log
from .streams import control_stream

__all__ = ["ControlFeed", "ControlSocket", "add_control", "send_command", "send_local"]


class ControlFeed(RedisFeed):
    """Commands for ``run`` from the bus, pushed as CONTROL events."""

    channel_type, priority = CONTROL.name, CONTROL.priority

    def __init__(self, url: str, run: str, event_queue: LiveEventQueue, *, block_ms: int = 1000, **options: Any) -> None:
        super().__init__(url, **options)
        self.symbol = run
        self.event_queue = event_queue
        self.stream = control_stream(run)
        self.block_ms = block_ms
        self._cursor: str | bytes | None = None

    def __repr__(self) -> str:
        return f"ControlFeed({self.stream!r})"

    async def _session(self, connection: Any) -> None:
        if self._cursor is None:  # commands sent before the run started are not for it
            last = await connection.xrevrange(self.stream, count=1)
            self._cursor = last[0][0] if last else "0-0"
        while not self._stop_requested:
            reply = await self._read(connection.xread({self.stream: self._cursor}, block=self.block_ms))
            self._failures = 0
            for _, entries in reply:
                for entry_id, fields in entries:
                    self._cursor = entry_id
                    self._take(fields.get(b"d", b""))

    def _take(self, payload: bytes) -> None:
        self._counters.messages += 1
        try:
            command = decode(payload)
            if type(command) is not ControlCommand:
                raise CodecError(f"a {type(command).__name__} on a control stream")
            self.event_queue.push(control_event(command, self.symbol))
        except (CodecError, ValueError, TypeError) as error:
            self._counters.bad_messages += 1
            log.warning("%r: skipped a bad command: %s", self, error)


class ControlSocket(AsyncFeed):
    """Commands for ``run`` from a local Unix socket at ``path``: one command per line,
    answered ``ok`` or ``error: ...``."""

    channel_type, priority = CONTROL.name, CONTROL.priority

    def __init__(self, path: str | os.PathLike, run: str, event_queue: LiveEventQueue) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.symbol = run
        self.event_queue = event_queue

    def __repr__(self) -> str:
        return f"ControlSocket({self.path!r})"

    async def _run(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a socket left by a run that was killed
        server = await asyncio.start_unix_server(self._client, path=self.path)
        try:
            await asyncio.Event().wait()  # until cancelled by stop()
        finally:
            server.close()
            await server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                self._counters.messages += 1
                try:
                    command = ControlCommand(line.decode().strip())
                except (ValueError, UnicodeDecodeError) as error:
                    self._counters.bad_messages += 1
                    writer.write(f"error: {error}\n".encode())
                else:
                    self.event_queue.push(control_event(command, self.symbol))
                    writer.write(b"ok\n")
                await writer.drain()
        except asyncio.CancelledError:
            # the run stopped with this client connected: end, not cancelled (Python 3.11's
            # start_unix_server calls exception() on a cancelled handler and logs the error)
            return
        finally:
            writer.close()


def send_command(url: str, run: str, command: str) -> str:
    """Send ``command`` to the run called ``run`` over the bus; returns the entry id."""
    import redis

    checked = ControlCommand(command)
    connection = redis.Redis.from_url(url)
    try:
        entry_id = connection.xadd(control_stream(run), {"d": encode(checked)},
                                   maxlen=1000, approximate=True)
    finally:
        connection.close()
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def send_local(path: str | os.PathLike, command: str, timeout: float = 5.0) -> None:
    """Send ``command`` to the run listening on the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(os.fspath(path))
        client.sendall(command.encode() + b"\n")
        answer = client.makefile("rb").readline().decode().strip()
    if answer != "ok":
        raise ValueError(f"{path}: {answer or 'no answer'}")


def add_control(cerebro: Any, run: str, *, bus: str | None = None, socket_path: str | os.PathLike | None = None,
                event_queue: LiveEventQueue | None = None) -> list[AsyncFeed]:
    """Let commands reach ``cerebro``'s live run from the bus (``bus`` URL) and/or a local
    Unix socket; uses the Cerebro's live queue (add the market feeds first) or ``event_queue``."""
    queue = event_queue or getattr(cerebro, "_event_queue", None)
    if queue is None:
        raise ValueError("add_control needs the run's LiveEventQueue: add the live feeds first, or pass event_queue=")
    cerebro._event_queue = queue
    feeds: list[AsyncFeed] = []
    if bus is not None:
        feeds.append(ControlFeed(bus, run, queue))
    if socket_path is not None:
        feeds.append(ControlSocket(socket_path, run, queue))
    if not feeds:
        raise ValueError("add_control needs bus= and/or socket_path=")
    cerebro.__dict__.setdefault("_bc_live_feeds", []).extend(feeds)
    return feeds
