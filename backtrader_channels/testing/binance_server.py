"""A local fake of Binance's spot market-data API (REST + WebSocket) on 127.0.0.1.

It speaks the subset that ccxt.pro's ``binance`` client uses for public market data, in
Binance's exact message formats, so live feeds can be tested with the real ccxt client and
no mocks: ``GET /api/v3/exchangeInfo``, ``GET /api/v3/depth``, and raw streams under
``/ws/...`` (SUBSCRIBE/UNSUBSCRIBE, ``<symbol>@trade`` and ``<symbol>@depth[@100ms]``).
USD-M perpetuals (``perpetuals=['BTC/USDT:USDT']``, see futures.py) add
``GET /fapi/v1/exchangeInfo``, the futures streams under ``/market/ws`` and ``/public/ws``,
and ``<symbol>@markPrice@1s``. A perpetual trades like a spot symbol (``send_trades``) on its
own connections: the server names a stream subscribed there ``usdm:<stream>`` (in
``subscriptions`` and ``trade_stream('BTC/USDT:USDT')``), so spot and perpetual trades of one
pair never cross.

The server runs its own asyncio loop in a daemon thread on an ephemeral port; every control
method is called from any other thread and returns once the server has done it::

    with FakeBinance(["BTC/USDT"]) as server:
        exchange = ccxt.pro.binance(server.ccxt_config())
        ...
        server.send_trades("BTC/USDT", 100, rate=1000)    # waits for a subscriber
        server.drop_connections()                          # a socket drop mid-stream
        server.send_depth_updates("BTC/USDT", 5, gap_at=2)  # update 2 never sent: a gap
        server.send_raw(server.trade_stream("BTC/USDT"), '{"e": "trade",')  # malformed
        server.send_bad_trade("BTC/USDT")                  # a trade priced "abc", taking an id
        server.mute()                                      # connections go silent
        server.send_mark_prices("BTC/USDT:USDT", [MarkPriceUpdate(...)])  # perpetuals only

Observations for assertions: ``trades`` (payloads sent, per symbol), ``sent_at`` (send time
of each trade id, for latency), ``rest_calls`` and ``subscriptions`` (counts per path and
stream), ``connections``, and ``book(symbol)``, the server's current order book.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from .futures import MarkPriceUpdate, mark_price_message, market_id, perpetual_info
from .server_thread import ServerThread

__all__ = ["FakeBinance", "binance_ccxt_config"]

_TICK = 0.5  # price step between book levels
_LEVELS = 20  # each side keeps its levels within this many steps of the mid


def binance_ccxt_config(http_url: str, ws_url: str, market_types: Iterable[str] = ("spot",)) -> dict[str, Any]:
    """ccxt.pro ``binance`` constructor config pointing REST at ``http_url`` and streams at ``ws_url``.

    *Every* URL of ccxt's binance (``api``, ``test``, ``demo``: sapi, dapi, fapi, eapi, papi,
    the WebSocket APIs... about 34) is rewritten, keeping its path: ccxt merges a partial
    ``urls`` with its defaults, and one left at the exchange would carry an API key off the
    machine (``load_markets`` with a key set makes signed ``sapi`` calls). Only
    ``market_types`` are loaded (ccxt's ``'spot'``, ``'linear'``...), and rate limiting is
    off: a local server has no limits to respect. With ``'linear'``, USD-M error codes
    (-2019 "Margin is insufficient." -> ``InsufficientFunds``...) are mapped as at
    ``fapi.binance.com``: ccxt chooses its table by the request's host.
    """
    urls = {name: _localised(value, http_url, ws_url) for name, value in _binance_urls().items()
            if name in ("api", "test", "demo")}
    config: dict[str, Any] = {"enableRateLimit": False, "urls": urls,
                              "options": {"fetchMarkets": {"types": list(market_types)}}}
    if "linear" in market_types:  # ccxt picks USD-M error codes by the host fapi.binance.com; a local URL has none
        config["exceptions"] = {"exact": dict(_binance_exceptions()["linear"]["exact"])}
    return config


@cache
def _binance_urls() -> dict[str, Any]:
    return _binance().urls


@cache
def _binance_exceptions() -> dict[str, Any]:
    return _binance().exceptions


@cache
def _binance() -> Any:
    import ccxt.pro

    return ccxt.pro.binance()


def _localised(value: Any, http_url: str, ws_url: str, websocket: bool = False) -> Any:
    """``value`` (a URL or a dict of them) with every URL on the local server.

    A spot stream URL gets ``/stream`` appended: ccxt tells spot streams from futures ones by
    ``/stream`` in the URL (Binance's host ``stream.binance.com``), which matters once a spot
    symbol and a perpetual share an id (``BTCUSDT``).
    """
    if isinstance(value, dict):
        return {key: _localised(item, http_url, ws_url, websocket or key == "ws") for key, item in value.items()}
    if not websocket:
        return http_url + urlsplit(value).path
    spot_stream = (urlsplit(value).hostname or "").startswith(("stream.", "demo-stream."))
    return ws_url + "/stream" if spot_stream else ws_url


_USDM = "usdm:"  # the server's prefix for streams of USD-M perpetuals


def _stream(symbol: str, channel: str) -> str:
    """The server's name of ``symbol``'s ``channel`` stream: Binance's, prefixed for a perpetual."""
    return ("" if ":" not in symbol else _USDM) + market_id(symbol).lower() + "@" + channel


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Market:
    """One symbol's state: its order book and its next trade id and price."""

    def __init__(self, symbol: str, price: float, rng: random.Random) -> None:
        self.symbol = symbol
        self.base, self.quote = symbol.split(":")[0].split("/")
        self.id = market_id(symbol)
        self.mid = price
        self.price = price
        self.next_trade_id = 1
        self.last_update_id = 1000
        self.bids = {price - _TICK * i: round(rng.uniform(0.1, 5.0), 4) for i in range(1, 11)}
        self.asks = {price + _TICK * i: round(rng.uniform(0.1, 5.0), 4) for i in range(1, 11)}

    def snapshot(self, limit: int | None = None) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return self.last_update_id, bids, asks


class _Connection:
    __slots__ = ("ws", "transport", "venue", "streams", "muted", "user")

    def __init__(self, ws: web.WebSocketResponse, transport: Any, venue: str = "") -> None:
        self.ws = ws
        self.transport = transport
        self.venue = venue  # the prefix of the server's names of this connection's streams
        self.streams: set[str] = set()
        self.muted = False
        self.user = ""  # the account's user-data stream it carries: 'spot' or 'usdm' (see exchange.py)

    def wants(self, stream: str) -> bool:
        """Subscribed to ``stream`` itself or to a variant of it (``btcusdt@depth@100ms``)."""
        return not self.muted and any(s == stream or s.startswith(stream + "@") for s in self.streams)


def _levels(levels: Iterable[tuple[float, float]]) -> list[list[str]]:
    return [[f"{price:.2f}", f"{size:.8f}"] for price, size in levels]


class FakeBinance(ServerThread):
    """A fake Binance market-data server for spot ``symbols`` (unified, e.g. ``'BTC/USDT'``)
    and USD-M ``perpetuals`` (e.g. ``'BTC/USDT:USDT'``).

    ``stop()`` closes every connection and the listening socket and joins the server thread.
    A send still running then (``send_trades`` from another thread) ends early, returning
    what it sent; any other call still waiting fails at once with a RuntimeError. The loop
    ends the way ``asyncio.run`` ends one, with no task left pending.
    """

    def __init__(
        self,
        symbols: Iterable[str] = ("BTC/USDT",),
        *,
        perpetuals: Iterable[str] = (),
        price: float = 50_000.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        clock_skew_ms: int = 0,
    ) -> None:
        super().__init__()
        self._rng = random.Random(seed)
        self.clock_skew_ms = clock_skew_ms  # the server's clock runs this far ahead of the machine's (< 0: behind)
        self._perpetuals = {symbol: perpetual_info(symbol) for symbol in perpetuals}
        self._markets = {symbol: _Market(symbol, price, self._rng) for symbol in (*symbols, *self._perpetuals)}
        self._by_id = {market.id: market for market in self._markets.values()  # spot: /api/v3/depth
                       if market.symbol not in self._perpetuals}
        self._host = host
        self._requested_port = port
        self.port: int | None = None
        self.trades: dict[str, list[dict[str, Any]]] = {symbol: [] for symbol in self._markets}
        self.sent_at: dict[int, float] = {}
        self.bad_trades: dict[str, list[dict[str, Any]]] = {}  # send_bad_trade's payloads, per symbol
        self.rest_calls: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, url, headers) of calls not served
        self.subscriptions: Counter[str] = Counter()
        self._connections: list[_Connection] = []
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None
        self._sends: set[asyncio.Task[Any]] = set()  # send_* calls under way


    @property
    def http_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self.port}/ws"

    def ccxt_config(self) -> dict[str, Any]:
        """Config for ``ccxt.pro.binance(...)`` (or a feed's ``config=``) pointing at this server."""
        market_types = ("spot", "linear") if self._perpetuals else ("spot",)
        return binance_ccxt_config(self.http_url, self.ws_url, market_types)

    # -- scenario controls (call from any thread) ----------------------------------------
    @staticmethod
    def trade_stream(symbol: str) -> str:
        return _stream(symbol, "trade")

    @staticmethod
    def depth_stream(symbol: str) -> str:
        return _stream(symbol, "depth")

    @staticmethod
    def mark_price_stream(symbol: str) -> str:
        return _stream(symbol, "markPrice")

    def send_mark_prices(self, symbol: str, updates: Iterable[MarkPriceUpdate], timeout: float = 10.0) -> None:
        """Send a ``markPriceUpdate`` per update of the perpetual ``symbol``, each waiting for a subscriber."""
        if symbol not in self._perpetuals:
            raise ValueError(f"FakeBinance serves the perpetuals {sorted(self._perpetuals)}, not {symbol!r}")
        for update in updates:
            self.send_raw(self.mark_price_stream(symbol), json.dumps(mark_price_message(symbol, update)), timeout)

    def send_trades(
        self,
        symbol: str,
        count: int,
        *,
        rate: float | None = None,
        drop_after: int | None = None,
        replay: int = 0,
        first_id: int | None = None,
        time_offset: float = 0.0,
        timeout: float = 10.0,
        wait: bool = True,
    ) -> list[int]:
        """Send ``count`` new trades (``rate`` per second, else at once); returns their ids.

        Each trade waits for a live subscriber (up to ``timeout``), unless ``wait`` is False:
        then it prints whether anybody listens (an account's orders fill on it all the same); if
        the server stops meanwhile, the trades sent so far are all there is. With ``drop_after=k``
        every connection is dropped after the k-th trade; once a client subscribes again,
        the last ``replay`` trades are sent again (an overlap a feed must de-duplicate),
        then the rest. ``first_id`` makes the ids start there (a jump, or a restart at 1);
        ``time_offset`` seconds are added to the trades' times (a clock far off).
        """
        market = self._market(symbol)
        if first_id is not None:
            self._call(self._run(lambda: setattr(market, "next_trade_id", first_id)))
        coro = self._send_trades(market, count, rate, drop_after, replay, time_offset, timeout if wait else None)
        return self._call(self._sending(coro), timeout * (count + replay + 1))

    def skip_trades(self, symbol: str, count: int) -> None:
        """Trades that happen but reach nobody: the next trade id jumps by ``count``."""
        market = self._market(symbol)
        self._call(self._run(lambda: setattr(market, "next_trade_id", market.next_trade_id + count)))

    def send_depth_updates(
        self,
        symbol: str,
        count: int,
        *,
        rate: float | None = None,
        gap_at: int | None = None,
        bad_price_at: int | None = None,
        cross_at: int | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Apply ``count`` diff-depth updates to the book and send them; returns the last ``u``.

        With ``gap_at=i`` the i-th update changes the book but is never sent: the next one
        a client sees has ``U`` beyond its last ``u + 1``. With ``bad_price_at=i`` it is sent
        with the price ``"abc"`` in its first level. With ``cross_at=i`` it is sent with an
        extra bid above the best ask that the server's book never holds (a crossing diff).
        """
        faults = {gap_at: "gap", bad_price_at: "bad_price", cross_at: "cross"}
        coro = self._send_depth(self._market(symbol), count, rate, faults, timeout)
        return self._call(self._sending(coro), timeout * (count + 1))

    def send_raw(self, stream: str, text: str, timeout: float = 10.0) -> None:
        """Send ``text`` as-is (malformed JSON, a message missing fields) to ``stream``'s subscribers."""
        self._call(self._sending(self._broadcast(stream, text, timeout)), timeout + 1)

    def drop_connections(self, *, abrupt: bool = False) -> int:
        """Close every WebSocket (with a close frame, or ``abrupt``: reset the TCP connection)."""
        return self._call(self._drop(abrupt))

    def mute(self) -> int:
        """Current connections stay open (pings answered) but receive nothing more."""

        def mute_all() -> int:
            for connection in self._connections:
                connection.muted = True
            return len(self._connections)

        return self._call(self._run(mute_all))

    def wait_subscriptions(self, stream: str, count: int, timeout: float = 10.0) -> None:
        """Wait until ``stream`` has received ``count`` SUBSCRIBE requests in total."""
        prefix = stream + "@"

        def seen() -> bool:
            total = sum(n for s, n in self.subscriptions.items() if s == stream or s.startswith(prefix))
            return total >= count

        self._call(self._wait_until(seen, timeout), timeout + 1)

    def wait_connections(self, count: int, timeout: float = 10.0) -> None:
        """Wait until exactly ``count`` WebSocket connections are open."""
        self._call(self._wait_until(lambda: len(self._connections) == count, timeout), timeout + 1)

    def book(self, symbol: str) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
        """``(lastUpdateId, bids best first, asks best first)`` of the server's book now."""
        market = self._market(symbol)
        return self._call(self._run(market.snapshot))

    @property
    def connections(self) -> int:
        """WebSocket connections open now."""
        return len(self._connections)

    # -- internals: server side (run on the server loop) ---------------------------------
    def _market(self, symbol: str) -> _Market:
        try:
            return self._markets[symbol]
        except KeyError:
            raise ValueError(f"FakeBinance serves {sorted(self._markets)}, not {symbol!r}") from None

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError("FakeBinance is not running")
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed meanwhile
            coro.close()
            raise RuntimeError("FakeBinance is not running") from None
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise RuntimeError("FakeBinance stopped before the call was done") from None
        except concurrent.futures.TimeoutError:
            future.cancel()  # the call goes no further on the server
            raise

    @staticmethod
    async def _run(function: Callable[[], Any]) -> Any:
        return function()

    async def _sending(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """``coro``, a send: stop() lets it end (sending nothing more) rather than cancel it."""
        task = asyncio.current_task()
        assert task is not None
        self._sends.add(task)
        try:
            return await coro
        finally:
            self._sends.discard(task)

    async def _serve(self, ready: threading.Event) -> None:
        """Bind, then serve until stop() sets ``_stopping``; shut down, and let sends end."""
        self._loop = asyncio.get_running_loop()
        await self._bind()
        ready.set()
        await self._stopping.wait()
        await self._shutdown()
        await self._changed_notify()  # a send waiting for a subscriber ends now
        if self._sends:  # or after its pause between two trades (1 / rate); asyncio.run cancels the rest
            await asyncio.wait(set(self._sends), timeout=1.0)

    async def _bind(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/fapi/v1/time", self._time)  # USD-M: "Check Server Time", {"serverTime": ms}
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/fapi/v1/exchangeInfo", self._futures_exchange_info)
        app.router.add_get("/ws{tail:.*}", self._websocket)
        app.router.add_get("/{category:market|public|private}/ws{tail:.*}", self._websocket)  # USD-M streams
        self._add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_served)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _add_routes(self, app: web.Application) -> None:
        """More REST routes (a subclass's), served before anything is refused."""

    def _opened(self, connection: _Connection, request: web.Request) -> None:
        """A WebSocket connection was opened (a subclass reads its URL: a listenKey...)."""

    async def _ws_method(self, connection: _Connection, request: dict[str, Any]) -> bool:
        """Answer a WebSocket API request other than (UN)SUBSCRIBE; False: not known here."""
        return False

    async def _traded(self, market: _Market, payload: dict[str, Any]) -> None:
        """After each trade went out (a subclass matches its orders against it)."""

    def _symbol_filters(self, market: _Market) -> list[dict[str, Any]]:
        """The ``filters`` of a spot symbol in ``exchangeInfo`` (a subclass serves those it enforces)."""
        return [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        ]

    def _next_print(self, market: _Market) -> tuple[float, float]:
        """The next trade's price and quantity: a random walk of the last price."""
        rng = self._rng
        market.price = round(market.price + rng.choice((-0.01, 0.0, 0.01)), 2)
        return market.price, round(rng.uniform(0.0001, 0.5), 5)

    async def _shutdown(self) -> None:
        await self._drop(abrupt=False)
        if self._runner is not None:
            await self._runner.cleanup()

    def _server_ms(self) -> int:
        """The server's clock (ms): the machine's plus ``clock_skew_ms``."""
        return _now_ms() + self.clock_skew_ms

    async def _changed_notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    # REST
    async def _ping(self, request: web.Request) -> web.Response:
        self.rest_calls[request.path] += 1
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        self.rest_calls[request.path] += 1
        return web.json_response({"serverTime": self._server_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        self.rest_calls[request.path] += 1
        symbols = [
            {
                "symbol": market.id,
                "status": "TRADING",
                "baseAsset": market.base,
                "baseAssetPrecision": 8,
                "quoteAsset": market.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                               "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "quoteOrderQtyMarketAllowed": True,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": self._symbol_filters(market),
                "permissions": [],
                "permissionSets": [["SPOT"]],
            }
            for market in self._markets.values() if market.symbol not in self._perpetuals
        ]
        return web.json_response(
            {"timezone": "UTC", "serverTime": self._server_ms(), "rateLimits": [], "exchangeFilters": [],
             "symbols": symbols}
        )

    async def _futures_exchange_info(self, request: web.Request) -> web.Response:
        self.rest_calls[request.path] += 1
        return web.json_response({"timezone": "UTC", "serverTime": self._server_ms(), "rateLimits": [],
                                  "exchangeFilters": [], "assets": [], "symbols": list(self._perpetuals.values())})

    async def _not_served(self, request: web.Request) -> web.Response:
        """Any other REST call: recorded (with its headers, to check what a client sent) and refused."""
        self.rest_calls[request.path] += 1
        self.requests.append((request.method, str(request.rel_url), dict(request.headers)))
        return web.Response(text="not served by FakeBinance", status=503)

    async def _depth(self, request: web.Request) -> web.Response:
        self.rest_calls[request.path] += 1
        market = self._by_id.get(request.query.get("symbol", ""))
        if market is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = int(request.query.get("limit", "100"))
        last_update_id, bids, asks = market.snapshot(limit)
        return web.json_response({"lastUpdateId": last_update_id, "bids": _levels(bids), "asks": _levels(asks)})

    # WebSocket
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = _Connection(ws, request.transport, "" if request.path.startswith("/ws") else _USDM)
        self._connections.append(connection)
        self._opened(connection, request)
        await self._changed_notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_request(connection, message.data)
        finally:
            self._connections.remove(connection)
            await self._changed_notify()
        return ws

    async def _on_request(self, connection: _Connection, text: str) -> None:
        try:
            request = json.loads(text)
            method, params, request_id = request["method"], request.get("params", []), request["id"]
        except (ValueError, KeyError, TypeError):
            await connection.ws.send_json({"error": {"code": 2, "msg": "Invalid request"}, "id": None})
            return
        if method == "SUBSCRIBE":
            streams = [connection.venue + str(param) for param in params]
            connection.streams.update(streams)
            self.subscriptions.update(streams)
            result = None
        elif method == "UNSUBSCRIBE":
            connection.streams.difference_update(connection.venue + str(param) for param in params)
            result = None
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(stream.removeprefix(connection.venue) for stream in connection.streams)
        elif await self._ws_method(connection, request):
            return
        else:
            await connection.ws.send_json({"error": {"code": 2, "msg": f"Unknown method {method}"}, "id": request_id})
            return
        await connection.ws.send_json({"result": result, "id": request_id})
        await self._changed_notify()

    async def _broadcast(self, stream: str, text: str, timeout: float | None) -> None:
        """Send ``text`` to every live subscriber of ``stream``, waiting for one if none (up to
        ``timeout``; None: not waiting); nothing once the server stops."""
        if timeout is None or await self._await_subscriber(stream, timeout):
            await self._send_text(stream, text)

    async def _await_subscriber(self, stream: str, timeout: float) -> bool:
        """Wait for a live subscriber of ``stream``; False: the server stops, nothing more is sent."""

        def subscribed() -> bool:
            return self._stopping.is_set() or any(connection.wants(stream) for connection in self._connections)

        try:
            await self._wait_until(subscribed, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"FakeBinance: nobody subscribed to {stream} within {timeout} s") from None
        return not self._stopping.is_set()

    async def _send_text(self, stream: str, text: str) -> None:
        for connection in list(self._connections):
            if connection.wants(stream) and not connection.ws.closed:
                with contextlib.suppress(ConnectionError):  # the client left meanwhile
                    await connection.ws.send_str(text)

    async def _drop(self, abrupt: bool) -> int:
        connections = list(self._connections)
        for connection in connections:
            if abrupt and connection.transport is not None:
                connection.transport.abort()
            else:
                await connection.ws.close(code=1001, message=b"server going away")
        return len(connections)

    async def _send_trades(
        self, market: _Market, count: int, rate: float | None, drop_after: int | None, replay: int,
        time_offset: float, timeout: float | None,
    ) -> list[int]:
        stream = self.trade_stream(market.symbol)
        sent: list[str] = []
        ids: list[int] = []
        for index in range(count):
            if index == drop_after:
                await self._drop(abrupt=False)
                for text in sent[max(0, len(sent) - replay) :]:
                    await self._broadcast(stream, text, timeout)
            if not await self._broadcast_trade(market, stream, sent, ids, time_offset, timeout):
                break
            if rate:
                await asyncio.sleep(1.0 / rate)
        return ids

    async def _broadcast_trade(
        self, market: _Market, stream: str, sent: list[str], ids: list[int], time_offset: float,
        timeout: float | None,
    ) -> bool:
        """Send the next trade once someone subscribed (``timeout`` None: at once, whoever listens);
        False: the server stops, it is not sent."""
        if self._stopping.is_set() or timeout is not None and not await self._await_subscriber(stream, timeout):
            return False
        price, quantity = self._next_print(market)
        payload = self._trade_payload(market, f"{price:.8f}", f"{quantity:.8f}", time_offset)
        trade_id = payload["t"]
        text = json.dumps(payload, separators=(",", ":"))
        self.sent_at[trade_id] = time.time()
        self.trades[market.symbol].append(payload)
        await self._send_text(stream, text)
        await self._traded(market, payload)
        sent.append(text)
        ids.append(trade_id)
        return True

    async def _send_depth(
        self, market: _Market, count: int, rate: float | None, faults: dict[int | None, str], timeout: float
    ) -> int:
        stream = self.depth_stream(market.symbol)
        for index in range(count):
            first = market.last_update_id + 1
            bids, asks = self._change_book(market)
            market.last_update_id += self._rng.randint(1, 3)
            fault = faults.get(index)
            if fault != "gap":
                payload: dict[str, Any] = {
                    "e": "depthUpdate",
                    "E": _now_ms(),
                    "s": market.id,
                    "U": first,
                    "u": market.last_update_id,
                    "b": _levels(bids),
                    "a": _levels(asks),
                }
                if fault == "bad_price":
                    side = payload["b"] or payload["a"]
                    side[0][0] = "abc"
                elif fault == "cross":
                    payload["b"].append(_levels([(min(market.asks) + _TICK, 1.0)])[0])
                await self._broadcast(stream, json.dumps(payload, separators=(",", ":")), timeout)
            if rate:
                await asyncio.sleep(1.0 / rate)
        return market.last_update_id

    def _change_book(self, market: _Market) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """One to three level changes (new size, or 0 to remove), never crossing the mid."""
        rng = self._rng
        changes: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
        for _ in range(rng.randint(1, 3)):
            is_bid = rng.random() < 0.5
            side = market.bids if is_bid else market.asks
            price = market.mid + (-_TICK if is_bid else _TICK) * rng.randint(1, _LEVELS)
            size = 0.0 if price in side and rng.random() < 0.3 else round(rng.uniform(0.1, 5.0), 4)
            if size:
                side[price] = size
            else:
                side.pop(price, None)
            changes[0 if is_bid else 1].append((price, size))
        return changes

    # -- soak faults (bench/soak.py) ---------------------------------------------------------
    def send_bad_trade(self, symbol: str, price: str = "abc") -> int:
        """Send one trade whose price is ``price`` (not a number) to whoever listens; returns its id.

        It takes the next trade id, as a real print would, so the ids after it go on from
        there: a feed must count it once, as a bad message, not also as a missed id. Not in
        ``trades`` (the valid prints); in ``bad_trades``.
        """
        market = self._market(symbol)

        async def send() -> int:
            payload = self._trade_payload(market, price, "0.10000000", 0.0)
            self.bad_trades.setdefault(symbol, []).append(payload)
            await self._send_text(self.trade_stream(symbol), json.dumps(payload, separators=(",", ":")))
            return payload["t"]

        return self._call(self._sending(send()))

    def _trade_payload(self, market: _Market, price: str, quantity: str, time_offset: float) -> dict[str, Any]:
        """The next trade of ``market`` in Binance's ``<symbol>@trade`` format; takes its id."""
        trade_id = market.next_trade_id
        market.next_trade_id += 1
        now = _now_ms() + int(time_offset * 1000)  # the send time, so recv - T is the client's latency
        return {"e": "trade", "E": now, "s": market.id, "t": trade_id, "p": price, "q": quantity, "T": now,
                "m": self._rng.random() < 0.5, "M": True}

    # -- fault hooks of the feed-faults tests ------------------------------------------------
    def send_depth_levels(self, symbol: str, bids: list[Any], asks: list[Any], timeout: float = 10.0) -> int:
        """Send one diff-depth update carrying ``bids``/``asks`` as given (e.g. ``[["1000", "NaN"]]``),
        next in the update-id sequence, that the server's book never applies (a bad update the
        exchange's own book never held); returns its ``u``. Binance sends levels as
        ``[price, quantity]`` strings and a ``U``/``u`` continuing the previous update's ``u``."""
        market = self._market(symbol)

        def next_update() -> dict[str, Any]:
            market.last_update_id += 1
            return {"e": "depthUpdate", "E": _now_ms(), "s": market.id, "U": market.last_update_id,
                    "u": market.last_update_id, "b": bids, "a": asks}

        payload = self._call(self._run(next_update))
        self.send_raw(self.depth_stream(symbol), json.dumps(payload, separators=(",", ":")), timeout)
        return int(payload["u"])
