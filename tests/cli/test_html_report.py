"""The HTML report, opened in a real headless Chromium (Debian's, driven by Playwright)
from file:// with every network request refused: it loads, draws its plots, lists the
run's trades, and logs no error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from backtrader_channels.cli import main
from backtrader_channels.html_report import MAX_POINTS, decimate, render_report
from backtrader_channels.result import RunResult
from backtrader_channels.run_metrics import compute_metrics
from backtrader_channels.sample import generate_sample

CHROMIUM = "/usr/bin/chromium"

STRATEGY = """
import backtrader as bt


class EveryFiveMinutes(bt.Strategy):
    def __init__(self):
        self.steps = 0

    def next(self):
        self.steps += 1
        if self.steps % 300 == 0:
            self.close() if self.position else self.buy(size=0.01)
"""


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright (no browser download): missing is a failure."""
    path = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        pytest.fail("the HTML report tests need Chromium: apt-get install chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


def open_offline(browser, path: Path):
    """The page at ``path`` with every request but file:// refused; (page, errors logged)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else (errors.append(f"network request: {route.request.url}"), route.abort()))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors


def test_the_report_of_a_backtest_opens_offline_with_plots_and_trades(browser, tmp_path, capsys):
    files = generate_sample(tmp_path / "sample", seed=7, duration=3600.0)
    strategy = tmp_path / "strategy.py"
    strategy.write_text(STRATEGY)
    report = tmp_path / "report.html"
    assert main(["backtest", str(strategy), "--ticks", str(files.trades), "--report", str(report),
                 "--json", str(tmp_path / "s.json")]) == 0
    assert f"report: {report}" in capsys.readouterr().out
    summary = json.loads((tmp_path / "s.json").read_text())
    trades = summary["closed_trades"] + summary["open_trades"]
    assert len(trades) >= 5
    size = report.stat().st_size
    assert 3_000_000 < size < 8_000_000  # plotly.js inlined (about 4.8 MB) and the run's data
    page, errors = open_offline(browser, report)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 1
    # price, equity and drawdown lines, and the entries and exits as markers, drawn in SVG
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 5
    assert page.locator(".js-plotly-plot path.js-line").count() >= 3
    assert page.locator(".js-plotly-plot .points path").count() >= len(summary["closed_trades"]) * 2
    rows = page.locator("#trades tbody tr")
    assert rows.count() == len(trades)
    first = rows.nth(0).locator("td").all_inner_texts()
    assert first[2] == "long" and float(first[5].replace(",", "")) == pytest.approx(trades[0]["entry_price"])
    metrics = dict(tuple(row.locator("td").all_inner_texts()) for row in page.locator("#metrics tbody tr").all())
    assert metrics["trades closed"].startswith(f"{len(summary['closed_trades'])} (")
    assert page.locator("#days tbody tr").all_inner_texts()[0].startswith("2025-01-01")
    assert errors == []
    page.close()


def test_a_day_of_samples_is_decimated_keeping_the_extremes():
    values = np.sin(np.arange(86_400) / 5_000.0)
    values[12_345], values[54_321] = 5.0, -5.0  # a spike and a crash of one second each
    kept = decimate(values)
    assert len(kept) <= MAX_POINTS and np.all(np.diff(kept) > 0)
    assert {12_345, 54_321} <= set(kept.tolist())
    assert values[kept].max() == 5.0 and values[kept].min() == -5.0
    assert np.array_equal(decimate(values[:100]), np.arange(100))  # few enough: all of them


def test_a_day_long_run_renders_a_bounded_page():
    times = 1_735_689_600.0 + np.arange(86_400.0)
    prices = 94_000 + np.cumsum(np.where(np.arange(86_400) % 7 < 3, -1.0, 1.0))
    run = RunResult(start_cash=1000.0, end_value=1000.0, end_cash=1000.0, events=86_400, wall_seconds=1.0, fills=[],
                    trades_closed=0, trades_won=0, equity_times=times, equity_values=1000.0 + 0 * prices,
                    prices=prices, symbol="BTC/USDT")
    small = RunResult(**{**run.__dict__, "equity_times": times[:10], "equity_values": run.equity_values[:10],
                         "prices": prices[:10]})
    # the day adds at most three decimated series to the page, whatever its length
    extra = len(render_report(run, compute_metrics(run))) - len(render_report(small, compute_metrics(small)))
    assert extra < 3 * MAX_POINTS * 40
