"""RunStore: a live run's state in its run directory (SQLite, stdlib ``sqlite3``).

``<run_dir>/run.sqlite`` holds, for one run name:

- ``counter``: the last client-id number handed out, so ids are never reused, restarts
  included (a restarted run goes on from the next number);
- ``orders``: every order with its client id, exchange id, request and state (written
  before a create is sent, and at every change);
- ``fills``: every own trade booked, once per (symbol, trade id): the run's trades database;
- ``watermarks``: per symbol, the last own-trade id up to which a reconciliation has seen
  *every* trade (the next one pages from there);
- ``positions`` and the ``cash`` in ``meta``: the run's own books (position, price and
  backtrader's adjustment base per symbol, and cash) as of its last fill: a resumed run
  starts from them, so the fills it then books are not also in its starting balance.

Writes commit at once (WAL journal, ``synchronous=NORMAL``): a ``kill -9`` loses at most the
write in progress, and what was committed is read back whole.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .states import FINAL, LiveOrder, OrderState

__all__ = ["BookedFill", "RunStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, side TEXT NOT NULL, kind TEXT NOT NULL,
    amount REAL NOT NULL, price REAL, state TEXT NOT NULL, exchange_id TEXT, filled REAL NOT NULL,
    booked REAL NOT NULL, reason TEXT NOT NULL, params TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    symbol TEXT NOT NULL, trade_id TEXT NOT NULL, client_id TEXT, order_id TEXT, side TEXT NOT NULL,
    price REAL NOT NULL, amount REAL NOT NULL, fee REAL NOT NULL, fee_currency TEXT, timestamp REAL NOT NULL,
    source TEXT NOT NULL, realized_pnl REAL, PRIMARY KEY (symbol, trade_id));
CREATE TABLE IF NOT EXISTS watermarks (symbol TEXT PRIMARY KEY, trade_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY, size REAL NOT NULL, price REAL NOT NULL, adjbase REAL NOT NULL);
"""
VERSION = "1"


class BookedFill(NamedTuple):
    """One own trade as the run booked it."""

    symbol: str
    trade_id: str
    client_id: str | None
    order_id: str | None
    side: str
    price: float
    amount: float
    fee: float
    fee_currency: str | None
    timestamp: float
    source: str
    realized_pnl: float | None


class RunStore:
    """The persisted state of the run ``run_name`` in ``run_dir`` (created if missing)."""

    def __init__(self, run_dir: str | Path, run_name: str) -> None:
        self.path = Path(run_dir) / "run.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        found = dict(self._db.execute("SELECT key, value FROM meta"))
        if found and found.get("run_name") != run_name:
            raise ValueError(f"{self.path} holds run {found.get('run_name')!r}, not {run_name!r}: "
                             "choose another run directory or the same run name")
        if found.get("version", VERSION) != VERSION:
            raise ValueError(f"{self.path}: run state version {found['version']}, this release reads {VERSION}")
        self._set("run_name", run_name)
        self._set("version", VERSION)
        self.run_name = run_name
        self.resumed = bool(found)  # an earlier process of this run left state here

    def close(self) -> None:
        self._db.close()

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- client ids ---------------------------------------------------------------------------
    def next_number(self) -> int:
        """The next client-id number of the run, persisted before it is handed out."""
        with self._db:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
            number = int(row[0]) + 1 if row else 1
            self._set("counter", str(number))
        return number

    def raise_counter(self, number: int) -> None:
        """Go on above ``number`` (a client id of this run found at the exchange)."""
        with self._db:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
            if row is None or int(row[0]) < number:
                self._set("counter", str(number))

    # -- orders -------------------------------------------------------------------------------
    def save_order(self, order: LiveOrder) -> None:
        """Insert or update ``order`` (its place in the run's order is kept)."""
        self._db.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "(SELECT COUNT(*) FROM orders)) ON CONFLICT(client_id) DO UPDATE SET state = excluded.state, "
            "exchange_id = excluded.exchange_id, filled = excluded.filled, booked = excluded.booked, "
            "reason = excluded.reason",
            (order.client_id, order.symbol, order.side, order.kind, order.amount, order.price, order.state.value,
             order.exchange_id, order.filled, order.booked, order.reason, json.dumps(order.params, sort_keys=True)))

    def orders(self, *, live_only: bool = False) -> list[LiveOrder]:
        """The run's orders in the order they were made (``live_only``: not in a final state)."""
        rows = self._db.execute("SELECT client_id, symbol, side, kind, amount, price, state, exchange_id, filled, "
                                "booked, reason, params FROM orders ORDER BY seq").fetchall()
        orders = [LiveOrder(cid, symbol, side, kind, amount, price, OrderState(state), exchange_id, filled, booked,
                            reason, json.loads(params))
                  for cid, symbol, side, kind, amount, price, state, exchange_id, filled, booked, reason, params in rows]
        return [o for o in orders if o.state not in FINAL] if live_only else orders

    # -- fills --------------------------------------------------------------------------------
    def add_fill(self, fill: BookedFill) -> bool:
        """Record one own trade; False (nothing written) if its trade id is booked already."""
        cursor = self._db.execute("INSERT OR IGNORE INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fill)
        return cursor.rowcount == 1

    def has_fill(self, symbol: str, trade_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM fills WHERE symbol = ? AND trade_id = ?",
                                (symbol, trade_id)).fetchone() is not None

    def fills(self, symbol: str | None = None) -> list[BookedFill]:
        """Booked fills in booking order (of ``symbol``, or all)."""
        query = "SELECT * FROM fills" + (" WHERE symbol = ?" if symbol else "") + " ORDER BY rowid"
        return [BookedFill(*row) for row in self._db.execute(query, (symbol,) if symbol else ())]

    def trade_ids(self) -> Iterator[tuple[str, str]]:
        """(symbol, trade id) of every booked fill."""
        yield from self._db.execute("SELECT symbol, trade_id FROM fills")

    # -- reconciliation and positions -----------------------------------------------------------
    def watermark(self, symbol: str) -> int | None:
        """The own-trade id up to which every trade of ``symbol`` was seen, None before the first."""
        row = self._db.execute("SELECT trade_id FROM watermarks WHERE symbol = ?", (symbol,)).fetchone()
        return None if row is None else int(row[0])

    def set_watermark(self, symbol: str, trade_id: int) -> None:
        self._db.execute("INSERT INTO watermarks VALUES (?, ?) ON CONFLICT(symbol) DO UPDATE SET "
                         "trade_id = MAX(trade_id, excluded.trade_id)", (symbol, trade_id))

    def save_books(self, cash: float, positions: dict[str, tuple[float, float, float]]) -> None:
        """The run's cash and, per symbol, (size, price, adjustment base), in one transaction."""
        with self._db:
            self._set("cash", repr(cash))
            self._db.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)",
                                 [(symbol, *books) for symbol, books in positions.items()])

    def books(self) -> tuple[float, dict[str, tuple[float, float, float]]] | None:
        """(cash, symbol -> (size, price, adjustment base)) as last saved; None before the first save."""
        cash = self.meta("cash")
        if cash is None:
            return None
        rows = self._db.execute("SELECT symbol, size, price, adjbase FROM positions")
        return float(cash), {symbol: (size, price, adjbase) for symbol, size, price, adjbase in rows}

    def meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._set(key, value)
