"""A local data.binance.vision on 127.0.0.1: Binance's public data files, for download tests.

The site serves ``/data/<market>/<daily|monthly>/<data>/<SYMBOL>/...zip`` and beside each
zip a ``.zip.CHECKSUM`` holding ``sha256sum``'s line, ``<sha256 hex>  <zip name>`` (Binance's
public-data README, "CHECKSUM"); a file not published answers 404 (the site is an S3 bucket:
``NoSuchKey``). This server serves a directory laid out the same way (``root/data/...``),
counts the requests for each file, can send slowly (``bytes_per_second``) so a test can
interrupt a download mid-file, and can answer 503 Slow Down, as S3 does when asked too fast
(``unavailable``)::

    with BinanceDataServer(tmp_path) as site:
        site.publish_trades("BTCUSDT", "2024-01-01", generate_trades(1, "2024-01-01", 1000))
        download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-01", base_url=site.url, out=...)
        site.requests["spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip"]  # 1

It runs its own asyncio loop in a daemon thread, on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import random
import threading
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from aiohttp import web

from .server_thread import ServerThread

__all__ = ["BinanceDataServer", "SpotTrade", "generate_trades", "spot_trades_csv"]

_NO_SUCH_KEY = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                '<Message>The specified key does not exist.</Message></Error>')


class SpotTrade(NamedTuple):
    """One row of a spot trades file: ``id, price, qty, quote_qty, time, is_buyer_maker, is_best_match``."""

    id: int
    price: float
    qty: float
    time_ms: int
    is_buyer_maker: bool


def generate_trades(first_id: int, day: dt.date | str, count: int, *, seed: int = 1,
                    price: float = 42_000.0) -> list[SpotTrade]:
    """``count`` trades spread over ``day`` (UTC), ids from ``first_id`` on, a random walk of price."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    rng = random.Random(seed)
    start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    step_ms = 86_400_000 // max(count, 1)
    trades = []
    for n in range(count):
        price = round(price + rng.choice((-0.01, 0.0, 0.01)) * rng.randint(1, 50), 2)
        trades.append(SpotTrade(first_id + n, price, round(rng.uniform(0.0001, 0.5), 5), start_ms + n * step_ms,
                                rng.random() < 0.5))
    return trades


def spot_trades_csv(trades: Iterable[SpotTrade]) -> str:
    """The CSV of a spot trades file: no header; times in milliseconds up to 2024-12-31 and in
    microseconds from 2025-01-01 (Binance's public-data README, SPOT note)."""
    micro_from = 1_735_689_600_000  # 2025-01-01T00:00:00Z in ms
    lines = []
    for t in trades:
        time = t.time_ms * 1000 if t.time_ms >= micro_from else t.time_ms
        lines.append(f"{t.id},{t.price:.8f},{t.qty:.8f},{t.price * t.qty:.8f},{time},{t.is_buyer_maker},True\n")
    return "".join(lines)


class BinanceDataServer(ServerThread):
    """Serves ``root/data/...`` as data.binance.vision does. ``requests`` counts the GETs of
    each path under ``data/``; ``bytes_per_second`` (None: at once) paces zip bodies, and
    may be changed while serving; ``unavailable[path] = n``: the next n GETs of ``path``
    answer 503."""

    def __init__(self, root: str | Path, *, bytes_per_second: float | None = None, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.root = Path(root)
        self.bytes_per_second = bytes_per_second
        self.requests: Counter[str] = Counter()
        self.unavailable: Counter[str] = Counter()
        self.port: int | None = None
        self._host = host

    @property
    def url(self) -> str:
        """The base URL, as ``https://data.binance.vision`` is for the real site."""
        return f"http://{self._host}:{self.port}"

    # -- the files ---------------------------------------------------------------------
    def publish(self, path: str, payload: bytes, *, checksum: str | None = None) -> Path:
        """Put ``payload`` at ``data/<path>`` (a ``.zip``) with its ``.CHECKSUM``: the true
        SHA-256 unless ``checksum`` (another hex digest: a corrupt file) is given."""
        target = self.root / "data" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        digest = checksum or hashlib.sha256(payload).hexdigest()
        target.with_name(target.name + ".CHECKSUM").write_text(f"{digest}  {target.name}\n")
        return target

    def publish_trades(self, symbol: str, period: str, trades: Sequence[SpotTrade], *,
                       checksum: str | None = None) -> Path:
        """A spot trades zip of ``symbol`` ('BTCUSDT') for ``period``: a day 'YYYY-MM-DD'
        (daily file) or a month 'YYYY-MM' (monthly file)."""
        kind = "daily" if len(period) == 10 else "monthly"
        name = f"{symbol}-trades-{period}"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", spot_trades_csv(trades))
        return self.publish(f"spot/{kind}/trades/{symbol}/{name}.zip", buffer.getvalue(), checksum=checksum)

    # -- serving (ServerThread's start/stop/with) ------------------------------------------
    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get("/data/{path:.+}", self._file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self._host, 0)
        await site.start()
        self.port = runner.addresses[0][1]
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests[path] += 1
        if self.unavailable[path] > 0:
            self.unavailable[path] -= 1
            return web.Response(status=503, reason="Slow Down", text="<Error><Code>SlowDown</Code></Error>",
                                content_type="application/xml")
        target = (self.root / "data" / path).resolve()
        if not target.is_relative_to((self.root / "data").resolve()) or not target.is_file():
            return web.Response(status=404, text=_NO_SUCH_KEY, content_type="application/xml")
        payload = target.read_bytes()
        rate = self.bytes_per_second
        if rate is None or not path.endswith(".zip"):
            return web.Response(body=payload, content_type="application/zip" if path.endswith(".zip") else "text/plain")
        response = web.StreamResponse(headers={"Content-Type": "application/zip"})
        response.content_length = len(payload)
        await response.prepare(request)
        step = max(1024, int(rate / 20))  # 20 writes a second
        try:
            for offset in range(0, len(payload), step):
                await response.write(payload[offset:offset + step])
                await asyncio.sleep(step / rate)
        except ConnectionError:  # the client went away mid-file (a killed download)
            return response
        await response.write_eof()
        return response
