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
quote asset. Faults (``fail_next``): a timeout after the order was accepted, a rate-limit
answer (429), and the user-data stream dropped just before a fill is reported.

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
from .usdm import MAINTENANCE_RATE, UsdmAccount, UsdmPosition, order_trade_update

__all__ = ["FakeExchange"]

FAULTS = ("timeout_after_accept", "rate_limit", "drop_user_stream_on_fill", "reject")


def _fmt(value: float) -> str:
    return f"{value:.8f}"


class _Refusal(Exception):
    """A Binance error answer: HTTP ``status`` with ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


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
        **options: Any,
    ) -> None:
        super().__init__(symbols, **options)
        self.api_key, self.secret = api_key, secret
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
        self.stall_seconds = 3.0  # how long a 'timeout_after_accept' answer is held back

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
        """Inject ``fault`` into the next ``times`` order requests (or fill, for the stream drop):
        'timeout_after_accept', 'rate_limit', 'reject' or 'drop_user_stream_on_fill'."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        self._call(self._run(lambda: self._faults.extend([fault] * times)))

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
        timestamp = int(params.get("timestamp", 0))
        window = int(params.get("recvWindow", 5000))
        if abs(time.time() * 1000 - timestamp) > window:
            raise _Refusal(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    async def _answer(self, request: web.Request, handler: Any) -> web.Response:
        try:
            params = await self._signed(request)
            return web.json_response(await handler(params))
        except _Refusal as refusal:
            self.refused.append((request.path, refusal.code, refusal.msg))
            return web.json_response({"code": refusal.code, "msg": refusal.msg}, status=refusal.status)

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
        response = await self._answer(request, self._place)
        if fault == "timeout_after_accept":
            await asyncio.sleep(self.stall_seconds)  # the client gave up waiting meanwhile
        return response

    async def _place(self, params: dict[str, str]) -> dict[str, Any]:
        market = self._market_of(params)
        usdm = params["_venue"] == "usdm"
        client_id = params.get("newClientOrderId") or f"fake-{next(self._order_ids)}"
        if any(o["clientOrderId"] == client_id for o in self.orders.values()):
            raise _Refusal(400, -2010, "Duplicate order sent.")
        kind, side = params.get("type", ""), params.get("side", "")
        if usdm and kind not in USDM_ORDER_TYPES:  # conditional orders went to the algo-order API
            raise _Refusal(400, -4120, "Order type not supported for this endpoint. "
                                       "Please use the Algo Order API endpoints instead.")
        if kind not in ORDER_TYPES:
            raise _Refusal(400, -1116, f"Invalid orderType {kind}.")
        quantity = float(params.get("quantity", "0"))
        step = 0.001 if usdm else 0.00001
        if quantity < step or abs(round(quantity / step) * step - quantity) > 1e-9:
            raise _Refusal(400, -1013, "Filter failure: LOT_SIZE")
        price = float(params["price"]) if kind in LIMITS else 0.0
        if usdm:
            return await self._place_usdm(params, market, client_id, kind, side, quantity, price)
        stop = float(params.get("stopPrice", 0.0)) if kind in STOPS else 0.0
        if kind in STOPS and not stop:
            raise _Refusal(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        reserve = self._reserve(market, side, quantity, price or stop)
        now = int(time.time() * 1000)
        order_id = next(self._order_ids)
        order: dict[str, Any] = {
            "symbol": market.id, "orderId": order_id, "orderListId": -1, "clientOrderId": client_id,
            "price": _fmt(price), "origQty": _fmt(quantity), "executedQty": _fmt(0), "cummulativeQuoteQty": _fmt(0),
            "status": "NEW", "timeInForce": params.get("timeInForce", "GTC") if kind in LIMITS else "GTC",
            "type": kind, "side": side, "stopPrice": _fmt(stop), "icebergQty": _fmt(0), "time": now,
            "updateTime": now, "isWorking": True, "workingTime": now, "origQuoteOrderQty": _fmt(0),
            "selfTradePreventionMode": "NONE", "_reserved": reserve,
            "_marketable": self._arrives_marketable(side, self._last_print.get(market.symbol), price),
            "_triggered": kind not in STOPS, "_market": market.symbol,
        }
        self.orders[order_id] = order
        self.accepted_at[client_id] = time.time()
        await self._report(order, "NEW")
        return {**self._public(order), "transactTime": now, "fills": []}

    async def _place_usdm(self, params: dict[str, str], market: _Market, client_id: str, kind: str, side: str,
                          quantity: float, price: float) -> dict[str, Any]:
        """A USD-M futures order: reduce-only checked, margin for what it opens checked."""
        if side not in ("BUY", "SELL"):
            raise _Refusal(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        account, reduce_only = self.futures, params.get("reduceOnly", "false").lower() == "true"
        if reduce_only and account.opening(market.id, side, quantity) > 0:
            raise _Refusal(400, -2022, "ReduceOnly Order is rejected.")
        opening = account.opening(market.id, side, quantity)
        needed = account.margin(market.id, opening, price or self._last_print.get(market.symbol, market.price))
        if needed > account.available(market.quote, self._order_margin(), self._marks()) + 1e-9:
            raise _Refusal(400, -2019, "Margin is insufficient.")
        now = int(time.time() * 1000)
        order: dict[str, Any] = {
            "orderId": next(self._order_ids), "symbol": market.id, "status": "NEW", "clientOrderId": client_id,
            "price": _fmt(price), "avgPrice": _fmt(0), "origQty": _fmt(quantity), "executedQty": _fmt(0),
            "cumQty": _fmt(0), "cumQuote": _fmt(0), "timeInForce": params.get("timeInForce", "GTC"), "type": kind,
            "reduceOnly": reduce_only, "closePosition": False, "side": side, "positionSide": "BOTH",
            "stopPrice": _fmt(0), "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": kind,
            "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0, "time": now,
            "updateTime": now, "_reserved": None, "_market": market.symbol, "_triggered": True,
            "_marketable": self._arrives_marketable(side, self._last_print.get(market.symbol), price),
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
            self._release(order)
            order["status"] = "CANCELED"
            order["updateTime"] = int(time.time() * 1000)
            await self._report(order, "CANCELED")
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
            market = self._market_of(params)
            from_id = int(params.get("fromId", 0))
            since = int(params.get("startTime", 0))
            limit = int(params.get("limit", 500))
            ledger = self.futures_trades if params["_venue"] == "usdm" else self.my_trades
            trades = [t for t in ledger if t["symbol"] == market.id and t["id"] >= from_id and t["time"] >= since]
            return trades[:limit]

        return await self._answer(request, my_trades)

    async def _account(self, request: web.Request) -> web.Response:
        async def account(params: dict[str, str]) -> dict[str, Any]:
            assets = sorted(set(self.balances) | set(self.locked))
            return {
                "makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True,
                "canDeposit": True, "updateTime": int(time.time() * 1000), "accountType": "SPOT",
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
        market = self._market_of(params)
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        for order in self.orders.values():
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
        if marketable and self._better(side, price, limit):
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
        now = int(time.time() * 1000)
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
        now = int(time.time() * 1000)
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
        now = int(time.time() * 1000)
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
        for connection in [c for c in self._connections if c.user == venue and not c.ws.closed]:
            await connection.ws.send_json(message)


_OPEN = ("NEW", "PARTIALLY_FILLED")
LIMITS = ("LIMIT", "STOP_LOSS_LIMIT")
USDM_ORDER_TYPES = ("LIMIT", "MARKET")
STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT")
ORDER_TYPES = ("MARKET", *LIMITS, "STOP_LOSS")
