"""RedisServer: a real ``redis-server`` on 127.0.0.1, on a free port, for tests and examples."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer", "redis_server_binary"]

INSTALL_HINT = "redis-server not found: install it (Debian: apt-get install redis-server)"


def redis_server_binary() -> str:
    """The ``redis-server`` executable, or a RuntimeError saying how to install it."""
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(INSTALL_HINT)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``redis-server`` in a temporary directory; ``appendonly=True`` keeps the data across
    ``restart()`` (fsync every write), otherwise nothing is saved."""

    def __init__(self, *, appendonly: bool = False, port: int | None = None) -> None:
        self.binary = redis_server_binary()
        self.appendonly = appendonly
        self.port = port or _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="btchannels-redis-"))
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        self._process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *persistence,
             "--dir", str(self._dir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()  # not left running unreachable: nobody would stop it
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """``kill -9`` the server: what it did not write to its append-only file is gone."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            return self.start()
        except BaseException:
            self.close()  # its directory too: __exit__ is not called
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()
