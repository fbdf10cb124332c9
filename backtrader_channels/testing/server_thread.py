"""ServerThread: a local asyncio server run on a background thread of its own (the fakes' lifecycle)."""

from __future__ import annotations

import asyncio
import threading
from typing import TypeVar

__all__ = ["ServerThread"]

Self = TypeVar("Self", bound="ServerThread")


class ServerThread:
    """``start()`` runs ``_serve`` on a new thread and returns once it has bound its port;
    ``stop()`` sets ``_stopping``, joins the thread and raises what ended it, if anything;
    a ``with`` block does both. Subclasses implement ``_serve(ready)``: set ``_loop``, bind,
    ``ready.set()``, then serve until ``_stopping`` is set."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = asyncio.Event()  # set by stop(): the server shuts down
        self._failure: list[BaseException] = []  # what ended the server's thread

    async def _serve(self, ready: threading.Event) -> None:
        raise NotImplementedError

    def start(self: Self, timeout: float = 10.0) -> Self:
        """Serve in a background thread; returns once the port is bound."""
        name = type(self).__name__
        if self._thread is not None:
            raise RuntimeError(f"{name} is already started")
        ready = threading.Event()
        failure = self._failure

        def serve() -> None:
            try:
                asyncio.run(self._serve(ready))
            except BaseException as error:  # reported to start()'s caller (binding) or stop()'s
                failure.append(error)
                ready.set()

        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{name} did not start")
        if failure:
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to shut down and join its thread (nothing when it is not running)."""
        if self._thread is None or self._loop is None or not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"{type(self).__name__} did not stop within {timeout} s")
        if self._failure:
            raise self._failure[0]

    def __enter__(self: Self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
