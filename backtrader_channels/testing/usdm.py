"""A USD-M futures account for FakeExchange: wallet, one-way positions, leverage and margin.

Binance's bookkeeping in its own terms: the wallet balance (USDT) moves only by realized
profit and commission; a position has a signed size (one-way mode, ``positionSide``
BOTH) and an average entry price; initial margin is notional / leverage; an order needs
the initial margin of the part that opens or adds to a position, checked against the
available balance (wallet - unrealized loss - position and open-order margin), else
Binance refuses it with -2019 "Margin is insufficient.". The JSON shapes are those of
``/fapi/v3/account``, ``/fapi/v3/positionRisk``, ``/fapi/v1/userTrades`` and the user-data
stream's ``ACCOUNT_UPDATE`` and ``ORDER_TRADE_UPDATE``, as ccxt 4.5.90 reads them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["UsdmAccount", "UsdmPosition"]

MAINTENANCE_RATE = 0.004  # Binance's first BTCUSDT bracket


def _fmt(value: float) -> str:
    return f"{value:.8f}"


@dataclass
class UsdmPosition:
    """One symbol's position: ``size`` > 0 long, < 0 short; ``entry`` its average price."""

    size: float = 0.0
    entry: float = 0.0

    def fill(self, signed: float, price: float) -> float:
        """Apply a fill of ``signed`` quantity at ``price``; returns the realized profit."""
        size = self.size
        if size == 0 or (size > 0) == (signed > 0):  # opens or adds: a new average entry
            self.entry = (abs(size) * self.entry + abs(signed) * price) / (abs(size) + abs(signed))
            self.size = round(size + signed, 8)
            return 0.0
        closed = min(abs(signed), abs(size))
        realized = closed * (price - self.entry) * (1 if size > 0 else -1)
        self.size = round(size + signed, 8)
        if self.size == 0:
            self.entry = 0.0
        elif (self.size > 0) != (size > 0):  # reversed: the rest opened at this price
            self.entry = price
        return round(realized, 8)


class UsdmAccount:
    """The futures wallet (asset -> balance), positions and leverage per market id."""

    def __init__(self, wallet: Mapping[str, float], leverage: int = 20) -> None:
        self.wallet = dict(wallet)
        self.default_leverage = leverage
        self.leverage: dict[str, int] = {}
        self.positions: dict[str, UsdmPosition] = {}

    def position(self, market_id: str) -> UsdmPosition:
        return self.positions.setdefault(market_id, UsdmPosition())

    def leverage_of(self, market_id: str) -> int:
        return self.leverage.get(market_id, self.default_leverage)

    def opening(self, market_id: str, side: str, quantity: float) -> float:
        """The part of an order of ``quantity`` on ``side`` that opens or adds to a position."""
        size = self.position(market_id).size
        against = -size if side == "BUY" else size  # a buy reduces a short
        return max(0.0, quantity - max(0.0, against))

    def margin(self, market_id: str, quantity: float, price: float) -> float:
        return quantity * price / self.leverage_of(market_id)

    def unrealized(self, market_id: str, mark: float | None) -> float:
        position = self.position(market_id)
        return 0.0 if mark is None or not position.size else position.size * (mark - position.entry)

    def position_margin(self) -> float:
        return sum(abs(p.size) * p.entry / self.leverage_of(i) for i, p in self.positions.items())

    def available(self, asset: str, order_margin: float, marks: Mapping[str, float]) -> float:
        """What new orders may use: wallet + unrealized loss - position and open-order margin."""
        loss = sum(min(0.0, self.unrealized(i, marks.get(i))) for i in self.positions)
        return self.wallet.get(asset, 0.0) + loss - self.position_margin() - order_margin

    # -- Binance's JSON ----------------------------------------------------------------------
    def account(self, asset: str, order_margin: float, marks: Mapping[str, float]) -> dict[str, Any]:
        """``GET /fapi/v3/account``."""
        now = int(time.time() * 1000)
        wallet = self.wallet.get(asset, 0.0)
        unrealized = sum(self.unrealized(i, marks.get(i)) for i in self.positions)
        position_margin = self.position_margin()
        available = self.available(asset, order_margin, marks)
        entry = {
            "asset": asset, "walletBalance": _fmt(wallet), "unrealizedProfit": _fmt(unrealized),
            "marginBalance": _fmt(wallet + unrealized), "maintMargin": _fmt(self._maintenance(marks)),
            "initialMargin": _fmt(position_margin + order_margin), "positionInitialMargin": _fmt(position_margin),
            "openOrderInitialMargin": _fmt(order_margin), "crossWalletBalance": _fmt(wallet),
            "crossUnPnl": _fmt(unrealized), "availableBalance": _fmt(available),
            "maxWithdrawAmount": _fmt(available), "updateTime": now,
        }
        return {
            "totalInitialMargin": entry["initialMargin"], "totalMaintMargin": entry["maintMargin"],
            "totalWalletBalance": entry["walletBalance"], "totalUnrealizedProfit": entry["unrealizedProfit"],
            "totalMarginBalance": entry["marginBalance"], "totalPositionInitialMargin": entry["positionInitialMargin"],
            "totalOpenOrderInitialMargin": entry["openOrderInitialMargin"],
            "totalCrossWalletBalance": entry["crossWalletBalance"], "totalCrossUnPnl": entry["crossUnPnl"],
            "availableBalance": entry["availableBalance"], "maxWithdrawAmount": entry["maxWithdrawAmount"],
            "assets": [entry],
            "positions": [self._position_risk(i, marks.get(i)) for i, p in self.positions.items() if p.size],
        }

    def position_risk(self, market_ids: Iterable[str], marks: Mapping[str, float]) -> list[dict[str, Any]]:
        """``GET /fapi/v3/positionRisk``: one entry per market (size 0 when flat, as Binance)."""
        return [self._position_risk(i, marks.get(i)) for i in market_ids]

    def _position_risk(self, market_id: str, mark: float | None) -> dict[str, Any]:
        position = self.position(market_id)
        mark = position.entry if mark is None else mark
        notional = position.size * mark
        return {
            "symbol": market_id, "positionSide": "BOTH", "positionAmt": _fmt(position.size),
            "entryPrice": _fmt(position.entry), "breakEvenPrice": _fmt(position.entry), "markPrice": _fmt(mark),
            "unRealizedProfit": _fmt(self.unrealized(market_id, mark)), "liquidationPrice": "0",
            "isolatedMargin": "0", "notional": _fmt(notional), "marginAsset": "USDT", "isolatedWallet": "0",
            "initialMargin": _fmt(abs(notional) / self.leverage_of(market_id)),
            "maintMargin": _fmt(abs(notional) * MAINTENANCE_RATE),
            "positionInitialMargin": _fmt(abs(notional) / self.leverage_of(market_id)),
            "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
            "updateTime": int(time.time() * 1000),
        }

    def _maintenance(self, marks: Mapping[str, float]) -> float:
        return sum(abs(p.size) * marks.get(i, p.entry) * MAINTENANCE_RATE for i, p in self.positions.items())

    def account_update(self, market_id: str, asset: str, reason: str = "ORDER") -> dict[str, Any]:
        """The user-data stream's ``ACCOUNT_UPDATE`` after a change of ``market_id``'s position."""
        now = int(time.time() * 1000)
        position = self.position(market_id)
        wallet = _fmt(self.wallet.get(asset, 0.0))
        return {
            "e": "ACCOUNT_UPDATE", "E": now, "T": now,
            "a": {"m": reason, "B": [{"a": asset, "wb": wallet, "cw": wallet, "bc": "0"}],
                  "P": [{"s": market_id, "pa": _fmt(position.size), "ep": _fmt(position.entry), "bep": _fmt(position.entry),
                         "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH", "ma": asset}]},
        }


def order_trade_update(order: Mapping[str, Any], execution: str, trade: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The user-data stream's ``ORDER_TRADE_UPDATE`` of a futures ``order`` (fields as
    ``/fapi/v1/order`` answers them) and, for a fill, its ``trade`` (``userTrades`` fields)."""
    now = int(time.time() * 1000)
    return {
        "e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
        "o": {
            "s": order["symbol"], "c": order["clientOrderId"], "S": order["side"], "o": order["type"],
            "f": order["timeInForce"], "q": order["origQty"], "p": order["price"], "ap": order["avgPrice"],
            "sp": order["stopPrice"], "x": execution, "X": order["status"], "i": order["orderId"],
            "l": trade["qty"] if trade else _fmt(0), "z": order["executedQty"],
            "L": trade["price"] if trade else _fmt(0), "N": trade["commissionAsset"] if trade else "USDT",
            "n": trade["commission"] if trade else "0", "T": order["updateTime"], "t": trade["id"] if trade else 0,
            "b": "0", "a": "0", "m": trade["maker"] if trade else False, "R": order["reduceOnly"],
            "wt": "CONTRACT_PRICE", "ot": order["origType"], "ps": "BOTH", "cp": False,
            "rp": trade["realizedPnl"] if trade else "0", "pP": False, "si": 0, "ss": 0, "V": "NONE",
            "pm": "NONE", "gtd": 0,
        },
    }
