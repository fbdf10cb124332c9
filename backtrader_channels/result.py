"""RunResult: what a tick-mode run produced, in numbers a user reads after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import seam
from .broker.tick_broker import CashFlow, FillRecord

__all__ = ["RunResult", "build_result", "max_drawdown"]


def max_drawdown(values: np.ndarray) -> tuple[float, float]:
    """Largest peak-to-trough fall of an equity curve: ``(fraction, money)``."""
    if len(values) == 0:
        return 0.0, 0.0
    peaks = np.maximum.accumulate(values)
    falls = peaks - values
    worst = int(np.argmax(falls))
    money = float(falls[worst])
    return (money / float(peaks[worst]) if peaks[worst] else 0.0), money


@dataclass
class RunResult:
    """Summary of a tick-mode run: ``cerebro.tick_result`` and ``strategy.tick_result``."""

    start_cash: float
    end_value: float
    end_cash: float
    events: int
    wall_seconds: float
    fills: list[FillRecord]
    trades_closed: int
    trades_won: int
    equity_times: np.ndarray
    equity_values: np.ndarray
    prices: np.ndarray  # the first symbol's mark price at each equity sample
    symbol: str
    skipped_rows: dict[str, int] = field(default_factory=dict)
    duplicate_trade_ids: dict[str, int] = field(default_factory=dict)  # per symbol: trades whose id repeats
    missed_trade_ids: dict[str, int] = field(default_factory=dict)  # per symbol: ids the gaps between files miss
    rejected_book_updates: dict[str, dict[str, int]] = field(default_factory=dict)
    cashflows: list[CashFlow] = field(default_factory=list)  # funding payments...
    live_rows: list[tuple[str, str]] = field(default_factory=list)  # live runs: feeds, queue, validator

    @property
    def pnl(self) -> float:
        return self.end_value - self.start_cash

    @property
    def return_pct(self) -> float:
        return 100.0 * self.pnl / self.start_cash if self.start_cash else 0.0

    @property
    def fees(self) -> float:
        return float(sum(fill.commission for fill in self.fills))

    def cashflow_total(self, kind: str) -> float:
        """Net cash booked outside fills of one kind (e.g. 'funding'): positive was received."""
        return float(sum(flow.amount for flow in self.cashflows if flow.kind == kind))

    @property
    def max_drawdown(self) -> float:
        """Largest fall of the equity curve from a peak, as a fraction of that peak."""
        return max_drawdown(self.equity_values)[0]

    @property
    def max_drawdown_money(self) -> float:
        return max_drawdown(self.equity_values)[1]

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def rows(self) -> list[tuple[str, str]]:
        """The summary as (label, value) rows, ready to print."""
        rows = [
            ("events", f"{self.events:,}"),
            ("events/s", f"{self.events_per_second:,.0f}"),
            ("start cash", f"{self.start_cash:,.2f}"),
            ("end value", f"{self.end_value:,.2f}"),
            ("PnL", f"{self.pnl:+,.2f} ({self.return_pct:+.2f}%)"),
            ("fills", f"{len(self.fills):,}"),
            ("fees", f"{self.fees:,.2f}"),
            ("trades closed", f"{self.trades_closed} ({self.trades_won} won)"),
            ("max drawdown", f"{100 * self.max_drawdown:.2f}% ({self.max_drawdown_money:,.2f})"),
        ]
        for kind in sorted({flow.kind for flow in self.cashflows}):
            count = sum(1 for flow in self.cashflows if flow.kind == kind)
            rows.append((kind, f"{self.cashflow_total(kind):+,.2f} ({count} payments)"))
        rows += [(f"skipped rows {name}", f"{count:,}") for name, count in self.skipped_rows.items() if count]
        rows += [(f"duplicate trade ids {name}", f"{count:,}") for name, count in self.duplicate_trade_ids.items()
                 if count]
        rows += [(f"missed trade ids {name}", f"{count:,} (gaps between files)")
                 for name, count in self.missed_trade_ids.items() if count]
        for name, kinds in self.rejected_book_updates.items():
            rows += [(f"rejected book updates {name} ({kind})", f"{count:,}") for kind, count in kinds.items()]
        return rows + self.live_rows

    def report_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write the run's HTML report (charts, metrics, trades; one offline file) to ``path``:
        see ``html_report``. Needs the ``report`` extra (plotly)."""
        from .html_report import write_report

        return write_report(self, path, title=title)

    def summary(self) -> str:
        rows = self.rows()
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def build_result(engine: Any, strategies: list, wall_seconds: float) -> RunResult:
    """The RunResult of one engine run (one set of strategies)."""
    broker = engine.broker
    trades = [trade for strategy in strategies for trade in seam.closed_trades(strategy)]
    equity = engine.equity
    channels = engine.channels.values()
    first = engine.first_market
    return RunResult(
        start_cash=seam.starting_cash(broker),
        end_value=broker.getvalue(),
        end_cash=broker.getcash(),
        events=engine.events,
        wall_seconds=wall_seconds,
        fills=list(broker.fills),
        trades_closed=len(trades) + engine.released_trades[0],
        trades_won=sum(1 for trade in trades if trade.pnlcomm > 0) + engine.released_trades[1],
        equity_times=np.frombuffer(equity.times, dtype=float).copy(),
        equity_values=np.frombuffer(equity.values, dtype=float).copy(),
        prices=np.frombuffer(equity.prices, dtype=float).copy(),
        symbol=first.symbol if first is not None else "",
        skipped_rows={
            f"{c.channel_type} {c.symbol}": c.source.skipped_rows for c in channels if c.source is not None
        },
        duplicate_trade_ids={c.symbol: c.source.duplicate_ids for c in channels  # a TradeSource (or its DateWindow)
                             if hasattr(c.source, "duplicate_ids")},
        missed_trade_ids={c.symbol: c.source.missed_ids for c in channels if hasattr(c.source, "missed_ids")},
        rejected_book_updates={
            c.symbol: dict(c.rejected) for c in channels if getattr(c, "rejected", None)
        },
        cashflows=list(broker.cashflows),
        live_rows=engine.live.rows() if engine.live is not None else [],
    )
