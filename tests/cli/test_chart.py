"""The run chart: entries and exits marked apart, a position panel, currencies on the axes."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.markers import MarkerStyle

from backtrader_channels.report import draw_run, fill_roles, plot_run, split_symbol

T0 = 1_735_689_600.0
PRICES = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0]


def _order(side, size):
    return lambda strategy: getattr(strategy, side)(size=size)


@pytest.fixture
def result(run_ticks):
    """Market orders fill at the next trade: +1 @ 101, -1 @ 102 (a 1-second round trip),
    -2 @ 104 (short), +1 @ 105 (partly bought back), +3 @ 106 (closes and goes long 2)."""
    trades = [(T0 + i, price, 10.0, "buy") for i, price in enumerate(PRICES)]
    actions = {1: _order("buy", 1), 2: _order("sell", 1), 4: _order("sell", 2), 5: _order("buy", 1),
               6: _order("buy", 3)}
    _, cerebro = run_ticks(trades=trades, actions=actions, broker={"set_shortcash": False})  # shorts allowed
    fills = [(f.timestamp, f.size, f.price) for f in cerebro.tick_result.fills]
    assert fills == [(T0 + 1, 1, 101.0), (T0 + 2, -1, 102.0), (T0 + 4, -2, 104.0), (T0 + 5, 1, 105.0),
                     (T0 + 6, 3, 106.0)]
    return cerebro.tick_result


def _marker(collection) -> str:
    path = collection.get_paths()[0]
    for name in "^vo":
        style = MarkerStyle(name)
        expected = style.get_path().transformed(style.get_transform())
        if path.vertices.shape == expected.vertices.shape and np.allclose(path.vertices, expected.vertices):
            return name
    return "?"


def test_entries_and_exits_have_their_own_markers(result):
    figure = draw_run(result)
    price_axis = figure.axes[0]
    marks = {c.get_gid(): c for c in price_axis.collections if c.get_gid()}
    assert sorted(marks) == ["entry-buy", "entry-sell", "exit-buy", "exit-sell"]
    found = {gid: (_marker(c), [tuple(xy) for xy in c.get_offsets()], c.get_facecolor().size > 0 and
                   c.get_facecolor()[0][3] > 0) for gid, c in marks.items()}
    assert {gid: (marker, len(points), filled) for gid, (marker, points, filled) in found.items()} == {
        "entry-buy": ("^", 1, True), "entry-sell": ("v", 1, True),
        "exit-sell": ("o", 1, False), "exit-buy": ("o", 2, False),
    }
    assert sum(len(points) for _, points, _ in found.values()) == len(result.fills)
    assert [y for _, y in found["exit-buy"][1]] == [105.0, 106.0]
    assert found["exit-sell"][1][0][1] == 102.0 and found["entry-buy"][1][0][1] == 101.0
    labels = price_axis.get_legend_handles_labels()[1]
    assert "long entries (buy) (1)" in labels and "exits: buy back (2)" in labels


def test_position_panel_steps_through_the_cumulative_position(result):
    position_axis = draw_run(result).axes[1]
    (line,) = [line for line in position_axis.get_lines() if line.get_gid() == "position"]
    assert line.get_drawstyle() == "steps-post"
    assert list(line.get_ydata()) == [0.0, 1.0, 0.0, -2.0, -1.0, 2.0, 2.0]  # start, each fill, the end


def test_axes_name_the_currencies(result, tmp_path):
    figure = draw_run(result)
    assert [axis.get_ylabel() for axis in figure.axes] == ["price (USDT)", "position (BTC)", "equity (USDT)"]
    assert "USDT" in figure._suptitle.get_text()
    path = plot_run(result, tmp_path / "charts" / "run.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fill_roles_and_symbols():
    assert fill_roles([1, 1, -2, -1, 3, -2]) == ["entry", "entry", "exit", "entry", "exit", "exit"]
    assert split_symbol("BTC/USDT") == ("BTC", "USDT")
    assert split_symbol("ETHBTC") == ("ETH", "BTC")
    assert split_symbol("BTC/USDT:USDT") == ("BTC", "USDT")
    assert split_symbol("XYZ") == ("", "")


def test_a_short_live_run_has_distinct_time_labels_and_plain_prices():
    """40 s of a live run around 94,000: each time label differs (not all the same minute)
    and the price axis reads whole prices, without a "+9.4e4" offset."""
    from backtrader_channels.result import RunResult

    times = np.arange(T0 + 30, T0 + 70, 1.0)  # 00:00:30 to 00:01:09
    prices = 94_000.0 + 0.01 * np.arange(len(times))
    result = RunResult(start_cash=1000.0, end_value=1000.0, end_cash=1000.0, events=40, wall_seconds=40.0, fills=[],
                       trades_closed=0, trades_won=0, equity_times=times, equity_values=1000.0 + 0 * prices,
                       prices=prices, symbol="BTC/USDT")
    figure = draw_run(result)
    figure.canvas.draw()
    price_axis, _, equity_axis = figure.axes
    labels = [label.get_text() for label in equity_axis.get_xticklabels() if label.get_text()]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    price_labels = [label.get_text() for label in price_axis.get_yticklabels() if label.get_text()]
    assert price_labels and all(93_999 < float(label.replace(",", "")) < 94_001 for label in price_labels), price_labels
    assert price_axis.yaxis.get_offset_text().get_text() == ""
    assert equity_axis.yaxis.get_offset_text().get_text() == ""
