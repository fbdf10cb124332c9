"""FakeExchange: FakeBinance plus an account that trades, for live-broker tests with the real ccxt.

On top of the market data it serves Binance's signed spot REST order endpoints (``POST``/
``DELETE``/``GET /api/v3/order``, ``GET /api/v3/openOrders``, ``GET /api/v3/myTrades``,
``GET /api/v3/account``; HMAC-SHA256 signature, API key and timestamp checked) and the
user-data stream the installed ccxt.pro uses for spot: the WebSocket API's
``userDataStream.subscribe.signature`` on the ``ws-api`` URL, then
``{"subscriptionId": n, "event": {"e": "executionReport", ...}}`` per order change.

A small matching engine fills orders against the server's own trade stream, by the
paper broker's default rules with partial fills (``TickBroker(partial_fills=True)``): a
market order takes the next trade at its price, up to the trade's quantity; a limit
marketable when it arrives (the last trade at or better than its limit) takes the next
trade at or better than the limit at the trade's price; a resting limit fills at its limit
when a trade prints through it. A stop (``STOP_LOSS``, ``STOP_LOSS_LIMIT``) triggers on a
print at or beyond its ``stopPrice`` (a buy at or above) and becomes a market or limit
order on that very print. Commission is ``fee_rate`` of the traded value, in the
quote asset.

Binance's documented rules (rules.py): client order ids unique among open orders only, the
trade list's paging (``limit``, ``fromId``, time windows), the symbol filters
(``filters=SpotFilters(...)``, served in exchangeInfo and enforced), time in force (IOC and
FOK decided on the first print after arrival, ``LIMIT_MAKER`` and USD-M ``GTX`` post-only),
and the recvWindow check against the server's clock (``clock_skew_ms``).

Faults: ``fail_next`` (a timeout after or before the order was accepted, a rate-limit
answer (429), a filter refusal, the user-data stream dropped just before a fill is
reported), ``stall_requests`` (answers held past the client's timeout, the requests still
processed) and ``set_user_stream`` ('silent': no reports, pings answered; 'frozen': a dead
peer).

USD-M perpetuals (``perpetuals=['BTC/USDT:USDT']``) trade through the ``/fapi`` endpoints
ccxt 4.5.90 calls for a linear market (``/fapi/v1/order``, ``openOrders``, ``userTrades``,
``leverage``, ``leverageBracket``, ``/fapi/v3/account``, ``/fapi/v3/positionRisk``) with a
futures account (usdm.py: wallet, positions, leverage, margin; ``futures_fee_rate``), and
report on the listenKey stream (``POST``/``PUT /fapi/v1/listenKey``, then
``/private/ws?listenKey=...``): ``ORDER_TRADE_UPDATE`` and ``ACCOUNT_UPDATE``. The same
matching engine fills them; the same faults apply.

The ledger (``orders``, ``my_trades``, ``futures_trades``, ``balances``, ``futures``) is the
exchange's own truth for tests to assert against::

    with FakeExchange(["BTC/USDT"], balances={"USDT": 10_000}) as exchange:
        config = {**exchange.ccxt_config(), "apiKey": exchange.api_key, "secret": exchange.secret}
        exchange.script_trades("BTC/USDT", [(100.0, 1.0), (99.0, 0.5)])
        exchange.send_trades("BTC/USDT", 2)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .binance_server import FakeBinance, _Connection, _Market
from .spot_filters import DAY_MS, SpotFilters, trade_page
from .spot_filters import Refusal as _Refusal
from .usdm import MAINTENANCE_RATE, UsdmAccount, UsdmPosition, order_trade_update

__all__ = ["FAULTS", "USER_STREAM_MODES", "FakeExchange", "SpotFilters"]

FAULTS = ("timeout_after_accept", "timeout_before_accept", "rate_limit", "drop_user_stream_on_fill", "reject")
USER_STREAM_MODES = ("live", "silent", "frozen")


def _fmt(value: float) -> str:
    return f"{value:.8f}"


class FakeExchange(FakeBinance):
    """FakeBinance with one account: ``balances`` (asset -> free amount), orders and fills."""

    def __init__(
        self,
        symbols: Iterable[str] = ("BTC/USDT",),
        *,
        balances: Mapping[str, float] | None = None,
        fee_rate: float = 0.001,
        api_key: str = "fake-api-key-3f9a1c",
        secret: str = "fake-secret-8b2e7d",
        futures_wallet: Mapping[str, float] | None = None,
        futures_fee_rate: float = 0.0004,
        leverage: int = 20,
        filters: SpotFilters | None = None,
        **options: Any,
    ) -> None:
        super().__init__(symbols, **options)
        self.api_key, self.secret = api_key, secret
        self.filters = filters or SpotFilters()  # every spot symbol's, served and enforced
        self.fee_rate = fee_rate
        self.futures_fee_rate = futures_fee_rate
        self.futures = UsdmAccount({"USDT": 100_000.0, **(futures_wallet or {})}, leverage)
        self.futures_trades: list[dict[str, Any]] = []  # every futures fill, Binance userTrades fields
        self._usdm_by_id = {m.id: m for m in self._markets.values() if m.symbol in self._perpetuals}
        self._listen_keys: list[str] = []  # of the futures user-data stream, the newest last
        self.balances: dict[str, float] = {"USDT": 100_000.0, **(balances or {})}
        self.locked: dict[str, float] = {}
        self.orders: dict[int, dict[str, Any]] = {}  # orderId -> Binance order fields (the ledger)
        self.my_trades: list[dict[str, Any]] = []  # every fill, Binance myTrades fields
        self.refused: list[tuple[str, int, str]] = []  # (path, code, msg) of refused requests
        self.order_requests = 0  # POST /api/v3/order received, refused or not
        self.accepted_at: dict[str, float] = {}  # clientOrderId -> when the order was accepted
        self._last_print: dict[str, float] = {}
        self._scripted: dict[str, deque[tuple[float, float]]] = {}
        self._faults: deque[str] = deque()
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.stall_seconds = 3.0  # how long a held request ('timeout_*' faults, stall_requests) is held
        self._stalls: list[list[Any]] = []  # [method, path, times left] of stall_requests
        self.held: list[tuple[str, str]] = []  # (method, path) of every request held past the client's timeout
        self.user_stream = "live"  # set_user_stream's mode
        self.lost_reports = 0  # user-data reports never sent (the stream silent or frozen)
        self.user_reports: list[dict[str, Any]] = []  # every user-data event sent, in order
        self._frozen: list[_Connection] = []

    # -- scenario controls (any thread) ------------------------------------------------------
    def ccxt_config(self) -> dict[str, Any]:
        """FakeBinance's config without the private currency and margin-pair calls (no keys in it)."""
        config = super().ccxt_config()
        config["options"] = {**config["options"], "fetchCurrencies": False, "fetchMargins": False}
        return config

    def script_trades(self, symbol: str, prints: Iterable[tuple[float, float]]) -> None:
        """The next trades ``send_trades`` sends print these (price, quantity) in order."""
        self._market(symbol)
        self._call(self._run(lambda: self._scripted.setdefault(symbol, deque()).extend(prints)))

    def fail_next(self, fault: str, times: int = 1) -> None:
        """Inject ``fault`` into the next ``times`` order requests (or fill, for the stream drop).

        'timeout_after_accept': the order is placed, its answer held ``stall_seconds`` (the
        client times out); 'timeout_before_accept': the request is held ``stall_seconds`` and
        never processed (then answered -1007, Binance's "execution status unknown");
        'rate_limit': a 429; 'reject': a -1013 LOT_SIZE refusal; 'drop_user_stream_on_fill':
        the user-data streams close just before the next fill is reported.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        self._call(self._run(lambda: self._faults.extend([fault] * times)))

    def stall_requests(self, method: str, path: str, times: int = 1) -> None:
        """Hold the answers of the next ``times`` signed ``method`` ``path`` requests (e.g. "GET",
        "/api/v3/openOrders"; "DELETE", "/api/v3/order") ``stall_seconds``, so the client times
        out. Each is still processed as Binance would: a held cancel cancels, a held create places."""
        self._call(self._run(lambda: self._stalls.append([method.upper(), path, times])))

    def set_user_stream(self, mode: str) -> None:
        """How the user-data streams behave from now on.

        'live': reports flow. 'silent': sockets stay open and pings are answered, but no report
        is sent; one made meanwhile is lost for good (Binance does not replay them). 'frozen':
        no reports, and the server stops reading the user-data sockets open now, so their pings
        go unanswered (a dead peer). Back to 'live', later changes are reported again.
        """
        if mode not in USER_STREAM_MODES:
            raise ValueError(f"unknown user-stream mode {mode!r}; known: {', '.join(USER_STREAM_MODES)}")

        def switch() -> None:
            self.user_stream = mode
            if mode == "frozen":
                self._frozen = [c for c in self._connections if c.user and c.transport is not None]
                for connection in self._frozen:
                    connection.transport.pause_reading()
            else:
                for connection in self._frozen:
                    if not connection.transport.is_closing():
                        connection.transport.resume_reading()
                self._frozen = []

        self._call(self._run(switch))

    def open_orders(self) -> list[dict[str, Any]]:
        return self._call(self._run(lambda: [dict(o) for o in self.orders.values() if o["status"] in _OPEN]))

    def ledger(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Copies of every order and every fill (spot, then futures) the exchange recorded."""
        return self._call(self._run(lambda: ([self._public(o) for o in self.orders.values()],
                                             self.my_trades + self.futures_trades)))

    def set_position(self, symbol: str, size: float, entry: float) -> None:
        """Give the futures account a position in the perpetual ``symbol`` (as if traded earlier)."""
        market = self._market(symbol)
        self._call(self._run(lambda: self.futures.positions.__setitem__(market.id, UsdmPosition(size, entry))))

    @property
    def user_connections(self) -> int:
        return sum(1 for connection in self._connections if connection.user)

    def wait_user_connections(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` connections are subscribed to the user-data stream."""
        self._call(self._wait_until(lambda: self.user_connections >= count, timeout), timeout + 1)

    # -- FakeBinance hooks -------------------------------------------------------------------
    def _add_routes(self, app: web.Application) -> None:
        for prefix in ("/api/v3", "/fapi/v1"):  # the order endpoints of spot and USD-M futures
            app.router.add_post(f"{prefix}/order", self._new_order)
            app.router.add_delete(f"{prefix}/order", self._cancel_order)
            app.router.add_get(f"{prefix}/order", self._query_order)
            app.router.add_get(f"{prefix}/openOrders", self._open_orders)
        app.router.add_get("/api/v3/myTrades", self._my_trades)
        app.router.add_get("/fapi/v1/userTrades", self._my_trades)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_get("/fapi/v3/account", self._futures_account)
        app.router.add_get("/fapi/v3/positionRisk", self._position_risk)
        app.router.add_get("/fapi/v1/leverageBracket", self._leverage_bracket)
        app.router.add_post("/fapi/v1/leverage", self._set_leverage)
        for method in ("POST", "PUT", "DELETE"):
            app.router.add_route(method, "/fapi/v1/listenKey", self._listen_key)

    def _symbol_filters(self, market: _Market) -> list[dict[str, Any]]:
        return self.filters.exchange_info()

    def _opened(self, connection: _Connection, request: web.Request) -> None:
        if request.path.startswith("/private/ws") and request.query.get("listenKey") in self._listen_keys:
            connection.user = "usdm"  # the futures user-data stream: ACCOUNT_UPDATE, ORDER_TRADE_UPDATE

    def _next_print(self, market: _Market) -> tuple[float, float]:
        scripted = self._scripted.get(market.symbol)
        if scripted:
            market.price, quantity = scripted.popleft()
            return market.price, quantity
        return super()._next_print(market)

    async def _ws_method(self, connection: _Connection, request: dict[str, Any]) -> bool:
        if request["method"] != "userDataStream.subscribe.signature":
            return False
        try:
            self._check_signature(dict(request.get("params") or {}), request.get("params", {}).get("apiKey"))
        except _Refusal as refusal:
            await connection.ws.send_json({"id": request["id"], "status": refusal.status,
                                           "error": {"code": refusal.code, "msg": refusal.msg}})
            return True
        connection.user = "spot"
        await connection.ws.send_json({"id": request["id"], "status": 200, "result": {"subscriptionId": 0}})
        await self._changed_notify()
        return True

    async def _traded(self, market: _Market, payload: dict[str, Any]) -> None:
        price, quantity = float(payload["p"]), float(payload["q"])
        reference = self._last_print.get(market.symbol)
        self._last_print[market.symbol] = price
        for order in [o for o in self.orders.values() if o["_market"] == market.symbol and o["status"] in _OPEN]:
            fill = self._match(order, price, quantity, reference)
            if fill is not None:
                await self._fill(order, market, *fill)
            if order["timeInForce"] in ("IOC", "FOK") and order["_triggered"] and order["status"] in _OPEN:
                await self._close(order, "EXPIRED")  # what its first print did not fill expires

    # -- REST --------------------------------------------------------------------------------
    async def _signed(self, request: web.Request) -> dict[str, str]:
        """The request's parameters once its key and signature are checked."""
        self.rest_calls[request.path] += 1
        raw = await request.text() if request.method == "POST" else request.query_string
        payload, _, signature = raw.rpartition("&signature=")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        params["signature"] = signature
        key = request.headers.get("X-MBX-APIKEY")
        self._check_signature(params, key, payload)
        params["_venue"] = "usdm" if request.path.startswith("/fapi") else "spot"
        return params

    def _check_signature(self, params: dict[str, Any], key: str | None, payload: str | None = None) -> None:
        if key != self.api_key:
            raise _Refusal(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.pop("signature", "")
        if payload is None:  # WebSocket API: the sorted parameters, as sent
            payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _Refusal(400, -1022, "Signature for this request is not valid.")
        # Binance "Timing security": processed only if timestamp < serverTime + 1000 and
        # serverTime - timestamp <= recvWindow (5000 when not sent); the server's clock decides
        timestamp = int(params.get("timestamp", 0))
        window = int(params.get("recvWindow", 5000))
        server_time = self._server_ms()
        if timestamp >= server_time + 1000:
            raise _Refusal(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_time - timestamp > window:
            raise _Refusal(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    async def _answer(self, request: web.Request, handler: Any) -> web.Response:
        try:
            params = await self._signed(request)
            response = web.json_response(await handler(params))
        except _Refusal as refusal:
            self.refused.append((request.path, refusal.code, refusal.msg))
            response = web.json_response({"code": refusal.code, "msg": refusal.msg}, status=refusal.status)
        if self._stalled(request):
            await self._hold(request)  # processed already: only the answer is late
        return response

    def _stalled(self, request: web.Request) -> bool:
        """Whether ``stall_requests`` holds this request's answer (and one fewer from now on)."""
        for stall in self._stalls:
            if stall[0] == request.method and stall[1] == request.path and stall[2] > 0:
                stall[2] -= 1
                return True
        return False

    async def _hold(self, request: web.Request) -> None:
        self.held.append((request.method, request.path))
        await asyncio.sleep(self.stall_seconds)  # the client gave up waiting meanwhile

    async def _new_order(self, request: web.Request) -> web.Response:
        self.order_requests += 1
        fault = self._faults.popleft() if self._faults and self._faults[0] != "drop_user_stream_on_fill" else None
        if fault == "rate_limit":
            self.refused.append((request.path, -1003, "Too many requests"))
            return web.json_response({"code": -1003, "msg": "Too many requests; current limit is 50 orders per 10 SECONDS."},
                                     status=429)
        if fault == "reject":
            self.refused.append((request.path, -1013, "Filter failure: LOT_SIZE"))
            return web.json_response({"code": -1013, "msg": "Filter failure: LOT_SIZE"}, status=400)
        if fault == "timeout_before_accept":  # never reached the matching engine
            await self._hold(request)
            message = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
            self.refused.append((request.path, -1007, message))
            return web.json_response({"code": -1007, "msg": message}, status=408)
        response = await self._answer(request, self._place)
        if fault == "timeout_after_accept":
            await self._hold(request)
        return response

    async def _place(self, params: dict[str, str]) -> dict[str, Any]:
        market = self._market_of(params)
        usdm = params["_venue"] == "usdm"
        client_id = params.get("newClientOrderId") or f"fake-{next(self._order_ids)}"
        kind, side = params.get("type", ""), params.get("side", "")
        if usdm and kind not in USDM_ORDER_TYPES:  # conditional orders went to the algo-order API
            raise _Refusal(400, -4120, "Order type not supported for this endpoint. "
                                       "Please use the Algo Order API endpoints instead.")
        if kind not in ORDER_TYPES:
            raise _Refusal(400, -1116, f"Invalid orderType {kind}.")
        time_in_force = self._time_in_force(params, kind, usdm)
        last = self._last_print.get(market.symbol)
        if usdm:
            return await self._place_usdm(params, market, client_id, kind, side, time_in_force)
        open_here = [o for o in self.orders.values() if o["_market"] == market.symbol and o["status"] in _OPEN]
        self.filters.check(params, market.price if last is None else last, len(open_here))
        self._unique(client_id, "spot")
        quantity = float(params["quantity"])
        price = float(params["price"]) if kind in LIMITS else 0.0
        stop = float(params.get("stopPrice", 0.0)) if kind in STOPS else 0.0
        if kind in STOPS and not stop:
            raise _Refusal(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        marketable = self._arrives_marketable(side, last, price)
        if kind == "LIMIT_MAKER":  # Binance spot post-only: refused when it would take at once
            if marketable:
                raise _Refusal(400, -2010, "Order would immediately match and take.")
            marketable = False  # rests, and only ever fills as maker
        reserve = self._reserve(market, side, quantity, price or stop)
        now = self._server_ms()
        order_id = next(self._order_ids)
        order: dict[str, Any] = {
            "symbol": market.id, "orderId": order_id, "orderListId": -1, "clientOrderId": client_id,
            "price": _fmt(price), "origQty": _fmt(quantity), "executedQty": _fmt(0), "cummulativeQuoteQty": _fmt(0),
            "status": "NEW", "timeInForce": time_in_force, "type": kind, "side": side, "stopPrice": _fmt(stop),
            "icebergQty": _fmt(0), "time": now, "updateTime": now, "isWorking": True, "workingTime": now,
            "origQuoteOrderQty": _fmt(0), "selfTradePreventionMode": "NONE", "_reserved": reserve,
            "_marketable": marketable, "_triggered": kind not in STOPS, "_market": market.symbol, "_venue": "spot",
        }
        self.orders[order_id] = order
        self.accepted_at[client_id] = time.time()
        await self._report(order, "NEW")
        return {**self._public(order), "transactTime": now, "fills": []}

    @staticmethod
    def _time_in_force(params: dict[str, str], kind: str, usdm: bool) -> str:
        """The order's timeInForce, checked as Binance does.

        Spot ("New order"): LIMIT and STOP_LOSS_LIMIT need it, one of GTC, IOC, FOK (else
        -1115 "Invalid timeInForce."); the other types take none (-1106). USD-M ("New Order"):
        a LIMIT takes GTC, IOC, FOK or GTX (post-only), GTC when not sent.
        """
        sent = params.get("timeInForce")
        if usdm:
            if kind == "LIMIT" and sent not in (None, "GTC", "IOC", "FOK", "GTX"):
                raise _Refusal(400, -1115, "Invalid timeInForce.")
            return sent or "GTC"
        if kind in ("LIMIT", "STOP_LOSS_LIMIT"):
            if sent is None:
                raise _Refusal(400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, "
                                           "or malformed.")
            if sent not in ("GTC", "IOC", "FOK"):
                raise _Refusal(400, -1115, "Invalid timeInForce.")
            return sent
        if sent is not None:
            raise _Refusal(400, -1106, "Parameter 'timeInForce' sent when not required.")
        return "GTC"

    def _unique(self, client_id: str, venue: str) -> None:
        """Binance: newClientOrderId is "a unique id among open orders"; "orders with the same
        newClientOrderID can be accepted only when the previous one is filled" (or otherwise
        closed): a repeat while one with that id is open is refused."""
        if any(o["clientOrderId"] == client_id and o["status"] in _OPEN and o["_venue"] == venue
               for o in self.orders.values()):
            raise _Refusal(400, -2010, "Duplicate order sent.")

    async def _place_usdm(self, params: dict[str, str], market: _Market, client_id: str, kind: str, side: str,
                          time_in_force: str) -> dict[str, Any]:
        """A USD-M futures order: filters, reduce-only and the margin for what it opens checked."""
        quantity = float(params.get("quantity", "0"))
        step = USDM_STEP
        if quantity < step or abs(round(quantity / step) * step - quantity) > 1e-9:
            raise _Refusal(400, -1013, "Filter failure: LOT_SIZE")
        price = float(params["price"]) if kind in LIMITS else 0.0
        if kind in LIMITS and abs(round(price / USDM_TICK) * USDM_TICK - price) > 1e-9:
            raise _Refusal(400, -4014, "Price not increased by tick size.")  # USD-M's PRICE_FILTER answer
        self._unique(client_id, "usdm")
        if side not in ("BUY", "SELL"):
            raise _Refusal(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        marketable = self._arrives_marketable(side, self._last_print.get(market.symbol), price)
        if time_in_force == "GTX":  # post-only (USD-M "New Order", error -5022): refused when it would take
            if marketable:
                raise _Refusal(400, -5022, "Due to the order could not be executed as maker, the Post Only order "
                                           "will be rejected. The order will not be recorded in the order history")
            marketable = False
        account, reduce_only = self.futures, params.get("reduceOnly", "false").lower() == "true"
        if reduce_only and account.opening(market.id, side, quantity) > 0:
            raise _Refusal(400, -2022, "ReduceOnly Order is rejected.")
        opening = account.opening(market.id, side, quantity)
        needed = account.margin(market.id, opening, price or self._last_print.get(market.symbol, market.price))
        if needed > account.available(market.quote, self._order_margin(), self._marks()) + 1e-9:
            raise _Refusal(400, -2019, "Margin is insufficient.")
        now = self._server_ms()
        order: dict[str, Any] = {
            "orderId": next(self._order_ids), "symbol": market.id, "status": "NEW", "clientOrderId": client_id,
            "price": _fmt(price), "avgPrice": _fmt(0), "origQty": _fmt(quantity), "executedQty": _fmt(0),
            "cumQty": _fmt(0), "cumQuote": _fmt(0), "timeInForce": time_in_force, "type": kind,
            "reduceOnly": reduce_only, "closePosition": False, "side": side, "positionSide": "BOTH",
            "stopPrice": _fmt(0), "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": kind,
            "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0, "time": now,
            "updateTime": now, "_reserved": None, "_market": market.symbol, "_triggered": True,
            "_marketable": marketable, "_venue": "usdm",
        }
        self.orders[order["orderId"]] = order
        self.accepted_at[client_id] = time.time()
        await self._report(order, "NEW")
        return self._public(order)

    def _order_margin(self) -> float:
        """Initial margin of the open futures orders (the part of each that opens a position)."""
        account, total = self.futures, 0.0
        for order in self.orders.values():
            if order["_reserved"] is None and order["status"] in _OPEN and not order["reduceOnly"]:
                market = self._markets[order["_market"]]
                left = float(order["origQty"]) - float(order["executedQty"])
                price = float(order["price"]) or self._last_print.get(market.symbol, market.price)
                total += account.margin(market.id, account.opening(market.id, order["side"], left), price)
        return total

    def _marks(self) -> dict[str, float]:
        """The perpetuals' last trade prices by market id (the fake's mark price)."""
        return {m.id: self._last_print[m.symbol] for m in self._usdm_by_id.values() if m.symbol in self._last_print}

    def _reserve(self, market: _Market, side: str, quantity: float, price: float) -> tuple[str, float]:
        """Lock what the order may spend; refuse it when the balance is short."""
        if side == "BUY":
            asset = market.quote
            amount = quantity * (price or self._last_print.get(market.symbol, market.price)) * (1 + self.fee_rate)
        elif side == "SELL":
            asset, amount = market.base, quantity
        else:
            raise _Refusal(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if self.balances.get(asset, 0.0) + 1e-12 < amount:
            raise _Refusal(400, -2010, "Account has insufficient balance for requested action.")
        self.balances[asset] -= amount
        self.locked[asset] = self.locked.get(asset, 0.0) + amount
        return asset, amount

    def _release(self, order: dict[str, Any]) -> None:
        if order["_reserved"] is None:  # futures: margin is worked out, never locked
            return
        asset, amount = order["_reserved"]
        self.balances[asset] += amount
        self.locked[asset] -= amount
        order["_reserved"] = (asset, 0.0)

    async def _cancel_order(self, request: web.Request) -> web.Response:
        async def cancel(params: dict[str, str]) -> dict[str, Any]:
            order = self._find(params)
            if order["status"] not in _OPEN:
                raise _Refusal(400, -2011, "Unknown order sent.")
            await self._close(order, "CANCELED")
            return {**self._public(order), "origClientOrderId": order["clientOrderId"]}

        return await self._answer(request, cancel)

    async def _query_order(self, request: web.Request) -> web.Response:
        async def query(params: dict[str, str]) -> dict[str, Any]:
            return self._public(self._find(params))

        return await self._answer(request, query)

    async def _open_orders(self, request: web.Request) -> web.Response:
        async def open_orders(params: dict[str, str]) -> list[dict[str, Any]]:
            markets = [self._market_of(params)] if "symbol" in params else self._venue_markets(params)
            symbols = {market.symbol for market in markets}
            return [self._public(o) for o in self.orders.values() if o["status"] in _OPEN and o["_market"] in symbols]

        return await self._answer(request, open_orders)

    async def _my_trades(self, request: web.Request) -> web.Response:
        async def my_trades(params: dict[str, str]) -> list[dict[str, Any]]:
            market, usdm = self._market_of(params), params["_venue"] == "usdm"
            ledger = self.futures_trades if usdm else self.my_trades
            return trade_page([t for t in ledger if t["symbol"] == market.id], params, 7 * DAY_MS if usdm else DAY_MS)

        return await self._answer(request, my_trades)

    async def _account(self, request: web.Request) -> web.Response:
        async def account(params: dict[str, str]) -> dict[str, Any]:
            assets = sorted(set(self.balances) | set(self.locked))
            return {
                "makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True,
                "canDeposit": True, "updateTime": self._server_ms(), "accountType": "SPOT",
                "balances": [{"asset": a, "free": _fmt(self.balances.get(a, 0.0)),
                              "locked": _fmt(self.locked.get(a, 0.0))} for a in assets],
                "permissions": ["SPOT"],
            }

        return await self._answer(request, account)

    async def _futures_account(self, request: web.Request) -> web.Response:
        async def account(params: dict[str, str]) -> dict[str, Any]:
            return self.futures.account("USDT", self._order_margin(), self._marks())

        return await self._answer(request, account)

    async def _position_risk(self, request: web.Request) -> web.Response:
        async def position_risk(params: dict[str, str]) -> list[dict[str, Any]]:
            markets = [self._market_of(params)] if "symbol" in params else self._venue_markets(params)
            return self.futures.position_risk([market.id for market in markets], self._marks())

        return await self._answer(request, position_risk)

    async def _leverage_bracket(self, request: web.Request) -> web.Response:
        async def brackets(params: dict[str, str]) -> list[dict[str, Any]]:
            return [{"symbol": market_id, "brackets": [
                {"bracket": 1, "initialLeverage": 125, "notionalCap": 50_000, "notionalFloor": 0,
                 "maintMarginRatio": MAINTENANCE_RATE, "cum": 0.0}]} for market_id in self._usdm_by_id]

        return await self._answer(request, brackets)

    async def _set_leverage(self, request: web.Request) -> web.Response:
        async def set_leverage(params: dict[str, str]) -> dict[str, Any]:
            market, leverage = self._market_of(params), int(params.get("leverage", "0"))
            if not 1 <= leverage <= 125:
                raise _Refusal(400, -4028, f"Leverage {leverage} is not valid")
            self.futures.leverage[market.id] = leverage
            return {"leverage": leverage, "maxNotionalValue": "50000", "symbol": market.id}

        return await self._answer(request, set_leverage)

    async def _listen_key(self, request: web.Request) -> web.Response:
        """Create, keep alive or close the futures user-data stream's key (API key only, unsigned)."""
        self.rest_calls[request.path + " " + request.method] += 1
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return web.json_response({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                                     status=401)
        if request.method == "POST":
            self._listen_keys.append(f"fake-listen-key-{len(self._listen_keys) + 1}")
        return web.json_response({"listenKey": self._listen_keys[-1]} if request.method != "DELETE" else {})

    def _venue_markets(self, params: dict[str, str]) -> list[_Market]:
        return list((self._usdm_by_id if params["_venue"] == "usdm" else self._by_id).values())

    def _market_of(self, params: dict[str, str]) -> _Market:
        by_id = self._usdm_by_id if params.get("_venue") == "usdm" else self._by_id
        market = by_id.get(params.get("symbol", ""))
        if market is None:
            raise _Refusal(400, -1121, "Invalid symbol.")
        return market

    def _find(self, params: dict[str, str]) -> dict[str, Any]:
        """The order ``orderId`` names, else the most recent one with ``origClientOrderId`` (a
        client id can be reused once its order is closed)."""
        market = self._market_of(params)
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        for order in reversed(self.orders.values()):
            if order["_market"] == market.symbol and (
                    (order_id is not None and str(order["orderId"]) == order_id) or
                    (order_id is None and order["clientOrderId"] == client_id)):
                return order
        raise _Refusal(400, -2013, "Order does not exist.")

    @staticmethod
    def _public(order: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in order.items() if not key.startswith("_")}

    # -- matching ----------------------------------------------------------------------------
    @staticmethod
    def _better(side: str, price: float | None, limit: float) -> bool:
        """``price`` at or better than ``limit`` for a ``side`` order (False without a price)."""
        if price is None:
            return False
        return price <= limit if side == "BUY" else price >= limit

    def _arrives_marketable(self, side: str, last: float | None, limit: float) -> bool | None:
        """Whether a limit arriving now takes liquidity: the last trade at or better than its
        limit (None: no trade yet, its first trade decides)."""
        return None if last is None else self._better(side, last, limit)

    def _match(self, order: dict[str, Any], price: float, quantity: float,
               reference: float | None) -> tuple[float, float, bool] | None:
        """(quantity, price, maker) of the order's fill against one trade, or None."""
        size = min(float(order["origQty"]) - float(order["executedQty"]), quantity)
        if not order["_triggered"]:  # a stop: a buy triggers on a print at or above it, a sell at or below
            stop = float(order["stopPrice"])
            if not (price >= stop if order["side"] == "BUY" else price <= stop):
                return None
            order["_triggered"], order["_marketable"], reference = True, None, price  # active on this print
        if order["type"] not in LIMITS:
            return size, price, False
        side, limit = order["side"], float(order["price"])
        marketable, order["_marketable"] = order["_marketable"], False
        if marketable is None:
            marketable = reference is None or self._better(side, reference, limit)
        takes = marketable and self._better(side, price, limit)
        if order["timeInForce"] in ("IOC", "FOK"):
            # Binance: IOC "fills as much as it can right away and expires the rest", FOK "expires
            # if the full order cannot be filled"; here "right away" is the first print after arrival
            whole = quantity >= float(order["origQty"]) - float(order["executedQty"]) - 1e-12
            return (size, price, False) if takes and (whole or order["timeInForce"] == "IOC") else None
        if takes:
            return size, price, False
        through = price < limit if side == "BUY" else price > limit
        return (size, limit, True) if through else None

    async def _fill(self, order: dict[str, Any], market: _Market, quantity: float, price: float, maker: bool) -> None:
        quantity = round(quantity, 8)
        if order["_reserved"] is None:
            await self._fill_usdm(order, market, quantity, price, maker)
            return
        value = quantity * price
        fee = round(value * self.fee_rate, 8)
        asset, reserved = order["_reserved"]
        if order["side"] == "BUY":
            spent = value + fee
            left = float(order["origQty"]) - float(order["executedQty"]) - quantity
            keep = left * float(order["price"]) * (1 + self.fee_rate) if order["type"] in LIMITS else 0.0
            if left <= 1e-12:
                keep = 0.0
            self.locked[asset] -= reserved
            self.balances[asset] += reserved - spent - keep
            self.locked[asset] += keep
            order["_reserved"] = (asset, keep)
            self.balances[market.base] = self.balances.get(market.base, 0.0) + quantity
        else:
            self.locked[asset] -= quantity
            order["_reserved"] = (asset, reserved - quantity)
            self.balances[market.quote] = self.balances.get(market.quote, 0.0) + value - fee
        now = self._server_ms()
        executed = float(order["executedQty"]) + quantity
        order["executedQty"] = _fmt(executed)
        order["cummulativeQuoteQty"] = _fmt(float(order["cummulativeQuoteQty"]) + value)
        order["status"] = "FILLED" if executed >= float(order["origQty"]) - 1e-12 else "PARTIALLY_FILLED"
        order["updateTime"] = now
        trade = {
            "symbol": market.id, "id": next(self._trade_ids), "orderId": order["orderId"], "orderListId": -1,
            "price": _fmt(price), "qty": _fmt(quantity), "quoteQty": _fmt(value), "commission": _fmt(fee),
            "commissionAsset": market.quote, "time": now, "isBuyer": order["side"] == "BUY", "isMaker": maker,
            "isBestMatch": True,
        }
        self.my_trades.append(trade)
        if await self._dropped_on_fill():
            return
        await self._report(order, "TRADE", trade)

    async def _fill_usdm(self, order: dict[str, Any], market: _Market, quantity: float, price: float,
                         maker: bool) -> None:
        """A futures fill: position and entry price, realized profit and commission to the wallet."""
        if order["reduceOnly"]:  # never beyond the position left
            quantity = min(quantity, abs(self.futures.position(market.id).size))
            if quantity <= 0:
                return
        value = quantity * price
        fee = round(value * self.futures_fee_rate, 8)
        realized = self.futures.position(market.id).fill(quantity if order["side"] == "BUY" else -quantity, price)
        self.futures.wallet[market.quote] = self.futures.wallet.get(market.quote, 0.0) + realized - fee
        now = self._server_ms()
        executed = float(order["executedQty"]) + quantity
        quote = float(order["cumQuote"]) + value
        order.update(executedQty=_fmt(executed), cumQty=_fmt(executed), cumQuote=_fmt(quote),
                     avgPrice=_fmt(quote / executed), updateTime=now,
                     status="FILLED" if executed >= float(order["origQty"]) - 1e-12 else "PARTIALLY_FILLED")
        trade = {
            "buyer": order["side"] == "BUY", "commission": _fmt(fee), "commissionAsset": market.quote,
            "id": next(self._trade_ids), "maker": maker, "orderId": order["orderId"], "price": _fmt(price),
            "qty": _fmt(quantity), "quoteQty": _fmt(value), "realizedPnl": _fmt(realized), "side": order["side"],
            "positionSide": "BOTH", "symbol": market.id, "time": now,
        }
        self.futures_trades.append(trade)
        if await self._dropped_on_fill():
            return
        await self._send_user("usdm", self.futures.account_update(market.id, market.quote))
        await self._report(order, "TRADE", trade)

    async def _dropped_on_fill(self) -> bool:
        """The 'drop_user_stream_on_fill' fault: the user-data streams close before this fill is told."""
        if not (self._faults and self._faults[0] == "drop_user_stream_on_fill"):
            return False
        self._faults.popleft()
        await self._drop_user_streams()
        return True

    async def _close(self, order: dict[str, Any], status: str) -> None:
        """End an open order without a fill (CANCELED, EXPIRED): its reserve is released, the
        change reported."""
        self._release(order)
        order["status"] = status
        order["updateTime"] = self._server_ms()
        await self._report(order, status)

    # -- the user-data stream ----------------------------------------------------------------
    async def _drop_user_streams(self) -> None:
        for connection in [c for c in self._connections if c.user]:
            connection.user = ""
            await connection.ws.close(code=1001, message=b"server going away")

    async def _report(self, order: dict[str, Any], execution: str, trade: dict[str, Any] | None = None) -> None:
        """An ``executionReport`` (spot) or ``ORDER_TRADE_UPDATE`` (futures) of ``order``'s change
        to every subscriber of its user-data stream."""
        if order["_reserved"] is None:
            await self._send_user("usdm", order_trade_update(order, execution, trade))
            return
        now = self._server_ms()
        event = {
            "e": "executionReport", "E": now, "s": order["symbol"], "c": order["clientOrderId"], "S": order["side"],
            "o": order["type"], "f": order["timeInForce"], "q": order["origQty"], "p": order["price"],
            "P": order["stopPrice"], "F": _fmt(0), "g": -1, "C": "", "x": execution, "X": order["status"],
            "r": "NONE", "i": order["orderId"], "l": trade["qty"] if trade else _fmt(0),
            "z": order["executedQty"], "L": trade["price"] if trade else _fmt(0),
            "n": trade["commission"] if trade else "0", "N": trade["commissionAsset"] if trade else None,
            "T": order["updateTime"], "t": trade["id"] if trade else -1, "I": 0, "w": order["status"] in _OPEN,
            "m": trade["isMaker"] if trade else False, "M": False, "O": order["time"],
            "Z": order["cummulativeQuoteQty"], "Y": trade["quoteQty"] if trade else _fmt(0), "Q": _fmt(0),
            "W": order["workingTime"], "V": "NONE",
        }
        await self._send_user("spot", {"subscriptionId": 0, "event": event})

    async def _send_user(self, venue: str, message: dict[str, Any]) -> None:
        if self.user_stream != "live":  # silent or frozen: the report is lost for good
            self.lost_reports += 1
            return
        self.user_reports.append(message.get("event", message))
        for connection in [c for c in self._connections if c.user == venue and not c.ws.closed]:
            await connection.ws.send_json(message)


_OPEN = ("NEW", "PARTIALLY_FILLED")
LIMITS = ("LIMIT", "STOP_LOSS_LIMIT", "LIMIT_MAKER")
USDM_ORDER_TYPES = ("LIMIT", "MARKET")
STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT")
ORDER_TYPES = ("MARKET", *LIMITS, "STOP_LOSS")
USDM_TICK, USDM_STEP = 0.1, 0.001  # BTCUSDT perpetual's PRICE_FILTER tickSize and LOT_SIZE stepSize (futures.py)
