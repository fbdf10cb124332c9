"""Binance public data dumps (data.binance.vision): spot and USD-M futures trades and aggTrades.

Spot files have no header; futures files have one. Without a header the layout is told by
the column count and the kinds of values in the first row (the four layouts all differ),
checked against the file name ('aggTrades' or 'trades'). Timestamps are ms, or us in spot files from 2025 on:
each value's unit is told by its magnitude (see timestamps.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .columns import TradeFields
from .csvtext import FALSE, INTEGER, NUMBER, TRUE, CsvLayout
from .errors import SourceError

__all__ = ["BINANCE_FORMATS", "BinanceFormat", "binance_by_header", "binance_by_values"]

TYPES = {"i": pa.int64(), "n": pa.float64(), "b": pa.bool_()}


@dataclass(frozen=True)
class BinanceFormat:
    """One Binance file layout: its column names and kinds ('i'nteger, 'n'umber, 'b'oolean)."""

    name: str
    columns: tuple[str, ...]
    kinds: str
    fields: TradeFields

    @property
    def aggregated(self) -> bool:
        return "aggtrades" in self.name

    def layout(self) -> CsvLayout:
        fields = self.fields
        named = (fields.trade_id, fields.price, fields.volume, fields.timestamp, fields.side)
        used = [name for name in named if name is not None]  # Binance's files all have ids
        kinds = dict(zip(self.columns, self.kinds, strict=True))
        return CsvLayout(self.columns, {name: TYPES[kinds[name]] for name in used})

    def matches(self, values: list[str]) -> bool:
        """Whether a row of values has this layout's count and kinds."""
        return len(values) == len(self.kinds) and all(
            _is_kind(value.strip(), kind) for value, kind in zip(values, self.kinds, strict=True)
        )


def _is_kind(value: str, kind: str) -> bool:
    if kind == "b":
        return value in TRUE[:3] or value in FALSE[:3]
    return bool((INTEGER if kind == "i" else NUMBER).fullmatch(value))


TRADES = TradeFields("time", "price", "qty", "is_buyer_maker", "id", buyer_maker=True)
AGG_TRADES = TradeFields(
    "transact_time", "price", "quantity", "is_buyer_maker", "agg_trade_id", buyer_maker=True
)
TRADE_COLUMNS = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker")
AGG_COLUMNS: tuple[str, ...] = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id")
AGG_COLUMNS += ("transact_time", "is_buyer_maker")

BINANCE_FORMATS = {
    fmt.name: fmt
    for fmt in (
        BinanceFormat("binance-spot-trades", (*TRADE_COLUMNS, "is_best_match"), "innnibb", TRADES),
        BinanceFormat(
            "binance-spot-aggtrades", (*AGG_COLUMNS, "is_best_match"), "innniibb", AGG_TRADES
        ),
        BinanceFormat("binance-futures-trades", TRADE_COLUMNS, "innnib", TRADES),
        BinanceFormat("binance-futures-aggtrades", AGG_COLUMNS, "innniib", AGG_TRADES),
    )
}


def binance_by_header(names: list[str]) -> BinanceFormat | None:
    """The layout whose header is exactly ``names`` (lower-cased), if any."""
    found = [fmt for fmt in BINANCE_FORMATS.values() if list(fmt.columns) == names]
    return found[0] if found else None


def binance_by_values(rows: list[list[str]], path: Path) -> BinanceFormat:
    """The one layout (of those the file name allows: 'trades' or 'aggTrades') that the first
    fitting of header-less ``rows`` fits: a bad value in the first row, counted when read,
    does not hide the layout."""
    name = path.name.lower()
    said = "aggtrades" if "aggtrades" in name else "trades" if "trades" in name else None
    allowed = [fmt for fmt in BINANCE_FORMATS.values() if said is None or (said == "aggtrades") == fmt.aggregated]
    for row in rows:
        found = [fmt for fmt in allowed if fmt.matches(row)]
        if len(found) == 1:
            return found[0]
    values = rows[0]
    found = [fmt for fmt in BINANCE_FORMATS.values() if fmt.matches(values)]
    if len(found) == 1:
        raise SourceError(path, f"the name says {said} but the first row has the {found[0].name} layout; pass format=")
    raise SourceError(
        path,
        f"the first row {values} fits no known trades layout (a project CSV starts "
        "with a header line: timestamp,price,volume,direction)",
    )
