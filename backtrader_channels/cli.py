"""The ``btchannels`` command: sample data, the demo, backtests of a strategy file, tools."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import backtrader as bt

from .backtest import export_file, run_backtest, utc_date
from .channels import OrderBookChannel
from .cli_errors import (
    UserError,
    existing_file,
    json_object_file,
    non_negative_float,
    non_negative_int,
    output_dir,
    output_file,
    port,
    positive_float,
    positive_int,
    redis_url,
    report_errors,
    rest_url,
    ws_url,
)
from .result import RunResult
from .sources.books import BOOK_FORMATS
from .sources.trades import TRADE_FORMATS
from .strategy_file import load_strategy

__all__ = ["main"]

DEFAULT_OUT = Path("btchannels-output")


def _report(result: RunResult, chart: Path | None, *, optional_chart: bool = False) -> None:
    """The run's summary, then its chart (see ``_chart``)."""
    print(result.summary())
    _chart(result, chart, optional_chart=optional_chart)


def _chart(result: RunResult, chart: Path | None, *, optional_chart: bool = False) -> None:
    """The run's PNG chart at ``chart`` (none when None); skipped with a note when
    ``optional_chart`` and matplotlib is missing, else that is an error."""
    if chart is None:
        return
    from .report import plot_run

    try:
        path = plot_run(result, chart)
    except ImportError as error:
        if not optional_chart:
            raise
        print(f"chart skipped: {error}", file=sys.stderr)
        return
    print(f"chart: {path}")


def cmd_sample(args: argparse.Namespace) -> int:
    from .sample import generate_sample

    files = generate_sample(args.out, seed=args.seed, duration=args.minutes * 60.0)
    print(f"trades: {files.trades}\nbook:   {files.book}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import BookImbalanceStrategy
    from .sample import ensure_sample

    started = time.perf_counter()
    files = ensure_sample(args.out / "sample")
    result = run_backtest(BookImbalanceStrategy, files.trades, book=files.book, cash=args.cash,
                          commission=args.commission).result
    _report(result, None if args.no_chart else args.out / "demo.png", optional_chart=True)
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _strategy(args: argparse.Namespace) -> type[bt.Strategy]:
    """The strategy class of ``args.strategy_file`` (``--strategy`` picks one)."""
    return load_strategy(args.strategy_file, args.strategy)


def cmd_backtest(args: argparse.Namespace) -> int:
    from .backtest import export_trades, parse_params, print_report, write_json

    strategy = _strategy(args)
    run = run_backtest(strategy, args.ticks, book=args.book, symbol=args.symbol, cash=args.cash,
                       commission=args.commission, params=parse_params(strategy, args.param or []),
                       fromdate=args.start, todate=args.end, analyzers=args.analyzer or [], bars=args.bars)
    print_report(run)
    if args.export is not None:
        print(f"trades: {export_trades(run, args.export)}")
    if args.json is not None:
        print(f"json: {write_json(run, args.json)}")
    if args.report is not None:
        print(f"report: {run.result.report_html(args.report)}")
    _chart(run.result, args.chart)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .sources import convert

    started = time.perf_counter()
    rows = convert(args.source, args.destination, format=args.format)
    elapsed = time.perf_counter() - started
    print(f"{rows:,} rows -> {args.destination} in {elapsed:.2f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s)")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from .download import DownloadError, default_cache_dir, download_report

    out = args.out or default_cache_dir()
    try:
        report = download_report(args.symbol, args.data, start=args.start, end=args.end, market=args.market,
                                 interval=args.interval, out=out, base_url=args.base_url, jobs=args.jobs,
                                 skip_missing=args.skip_missing, progress=False if args.no_progress else None)
        print(report.summary(out))
        report.check()
    except DownloadError as error:  # a request the site cannot answer, or files that failed (named)
        raise UserError(str(error)) from error
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main_bench

    return main_bench(args.extra)


def cmd_validate(args: argparse.Namespace) -> int:
    from .live.validator import LiveDataValidator
    from .source_events import replay_events
    from .sources import open_book, open_trades

    is_book = args.kind == "book" or (args.kind is None and ".jsonl" in args.file.name)
    source = (open_book if is_book else open_trades)(args.file, format=args.format, on_error="skip")
    validator = LiveDataValidator()
    book = OrderBookChannel(args.symbol, on_error="skip")  # books are checked as a run applies them
    total = rejected = 0
    for event in replay_events(source, args.symbol):
        total += 1
        accepted = validator.validate(event)
        if accepted and event.channel_type == "orderbook":
            accepted = book.push(event)
        rejected += not accepted
    print(f"{args.file}: {total:,} events, {rejected:,} rejected, {source.skipped_rows:,} unreadable rows skipped")
    if source.skipped_rows:
        print(f"  first unreadable row: {_first_problem(args, is_book)}")
        for reason, count in sorted(source.skipped_reasons.items()):
            print(f"  unreadable {reason} {count:,}")
    report = validator.get_anomaly_report()
    if book.rejected:
        report.setdefault(("orderbook", args.symbol), {}).update(book.rejected)
    for (channel_type, name), kinds in sorted(report.items()):
        for kind, count in sorted(kinds.items()):
            print(f"  {channel_type} {name}: {kind} {count:,}")
    return 1 if rejected or source.skipped_rows else 0


def _first_problem(args: argparse.Namespace, is_book: bool) -> str:
    """The first bad row of ``args.file`` in the words a backtest stops with (file, line or
    row, field): read again up to it, this time raising its ``SourceError``."""
    from .sources import SourceError, open_book, open_trades

    try:
        for _ in (open_book if is_book else open_trades)(args.file, format=args.format).chunks():
            pass
    except SourceError as error:
        return str(error)
    raise AssertionError(f"{args.file}: rows skipped, yet none refused when read again")


class StatusLine:
    """A status line refreshed in place once a second while a live run lasts."""

    def __init__(self, cerebro: bt.Cerebro, feeds: list, stream: Any = sys.stderr) -> None:
        import threading

        self._cerebro, self._feeds, self._stream = cerebro, feeds, stream
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="btchannels-status", daemon=True)

    def __enter__(self) -> StatusLine:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(2.0)
        self._stream.write("\n")

    def line(self, events: int, rate: float) -> str:
        stats = [feed.stats for feed in self._feeds]
        p50 = [s.latency_p50 for s in stats if s.latency_p50 is not None]
        p99 = [s.latency_p99 for s in stats if s.latency_p99 is not None]
        latency = f"p50 {1e3 * max(p50):.1f} ms p99 {1e3 * max(p99):.1f} ms" if p50 else "p50 - p99 -"
        engine = getattr(self._cerebro, "_bc_engine", None)
        session = engine.live if engine is not None else None
        anomalies = session.anomalies() if session else 0
        dead = [f"{feed.channel_type} {feed.symbol}" for feed in self._feeds if feed.error is not None]
        failures = sum(s.failures for s in stats)
        return (f"{events:,} events  {rate:,.0f}/s  latency {latency}  "
                f"reconnects {sum(s.reconnects for s in stats)}  anomalies {anomalies}"
                + (f"  feed failures {failures}" if failures else "")
                + (f"  FEED FAILED: {', '.join(dead)}" if dead else ""))

    def _loop(self) -> None:
        last_events, last_time = 0, time.monotonic()
        while not self._done.wait(1.0):
            engine = getattr(self._cerebro, "_bc_engine", None)
            events = engine.events if engine is not None else 0
            now = time.monotonic()
            rate = (events - last_events) / (now - last_time)
            last_events, last_time = events, now
            self._stream.write("\r" + self.line(events, rate).ljust(100))
            self._stream.flush()


def cmd_live(args: argparse.Namespace) -> int:
    from .feeds import CCXTLiveOrderBookFeed, CCXTLiveTickFeed
    from .live import LiveEventQueue

    if args.bus is not None and args.run_name is None:
        raise UserError("--bus", "needs --run, the run's name for control commands")
    strategy = _strategy(args)
    config = _exchange_config(args)
    if args.sandbox:
        config["sandbox"] = True
    queue = LiveEventQueue()
    options = {"config": config, "keep_going": args.keep_going}
    feeds: list[CCXTLiveTickFeed | CCXTLiveOrderBookFeed] = [
        CCXTLiveTickFeed(args.exchange, args.symbol, queue, **options)
    ]
    if args.orderbook:
        feeds.append(CCXTLiveOrderBookFeed(args.exchange, args.symbol, queue, **options))
    cerebro = bt.Cerebro(stdstats=False)
    if args.broker == "ccxt":
        from .broker.ccxt_broker import CCXTBroker

        broker_config = {key: value for key, value in config.items() if key != "sandbox"}
        cerebro.setbroker(CCXTBroker(args.exchange, broker_config, sandbox=not args.real_money,
                                     config_file=args.keys, flatten_on_stop=args.flatten_on_stop,
                                     leverage=args.leverage, run_id=args.run_name, run_dir=args.run_dir))
    else:
        cerebro.broker.setcash(args.cash)
        cerebro.broker.setcommission(commission=args.commission)
    for feed in feeds:
        cerebro.add_live_feed(feed)
    if args.bus or args.control_socket:
        from .bus import add_control

        add_control(cerebro, args.run_name or "live", bus=args.bus, socket_path=args.control_socket)
    log = None
    if args.event_log:
        from .record.eventlog import attach_event_log

        log = attach_event_log(cerebro, args.event_log)
    cerebro.addstrategy(strategy)
    try:
        with StatusLine(cerebro, feeds):
            cerebro.run(mode=bt.RunMode.TICK, duration=args.duration)
    finally:
        if log is not None:
            log.close()
    _report(cerebro.tick_result, args.chart)
    failure = cerebro._bc_engine.live.failure
    if failure is not None:
        print(f"btchannels: live run failed: {failure}", file=sys.stderr)
        return 1
    return 0


def _exchange_config(args: argparse.Namespace) -> dict[str, Any]:
    """ccxt config for a local or test Binance server (--rest-url/--ws-url), else none; USD-M
    markets are loaded too when a symbol is a perpetual (``BTC/USDT:USDT``)."""
    from .testing import binance_ccxt_config

    if not (args.rest_url or args.ws_url):
        return {}
    if args.exchange != "binance" or not (args.rest_url and args.ws_url):
        raise UserError("--rest-url and --ws-url", "go together, for --exchange binance")
    symbols = args.symbol if isinstance(args.symbol, list) else [args.symbol]
    market_types = ("spot", "linear") if any(":" in symbol for symbol in symbols) else ("spot",)
    return binance_ccxt_config(args.rest_url, args.ws_url, market_types)


def _market_feed_options(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """What ``collect`` and ``record`` both take from the command line: which market feeds,
    from which exchange, for how long."""
    if not (args.trades or args.book):
        raise UserError(command, "choose --trades and/or --book")
    return {"trades": args.trades, "book": args.book, "exchange_id": args.exchange,
            "config": _exchange_config(args), "depth": args.depth, "duration": args.duration}


def cmd_collect(args: argparse.Namespace) -> int:
    from .bus import BusUnreachable, collect
    from .record.pump import stop_on_signals

    options = _market_feed_options(args, "collect")
    try:
        with stop_on_signals() as stop:
            publisher = collect(args.bus, args.symbol, maxlen=args.maxlen, buffer=args.buffer, stop=stop, **options)
    except BusUnreachable as error:  # nothing published: a user error (the URL, or Redis not running)
        raise UserError("collect", str(error)) from error
    print(publisher.summary())
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from .record.pump import stop_on_signals
    from .record.recorder import record

    options = _market_feed_options(args, "record")
    with stop_on_signals() as stop:
        recorder = record(args.out, args.symbol, flush_interval=args.flush_interval,
                          max_segment_bytes=args.max_segment_bytes, stop=stop, **options)
    stats = recorder.stats
    print(f"recorded {stats.trades:,} trades, {stats.book_updates:,} book updates ({stats.snapshots:,} snapshots), "
          f"{stats.gaps:,} gaps -> {args.out}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    _check_event_log(args.log)  # first: without msgpack, the event log's import names the [record] extra
    from .record.replay import replay

    result = replay(args.log, _strategy(args))
    print(result.summary())
    return 0 if result.identical else 1


def _check_event_log(path: Path) -> None:
    """Refuse a file that does not start with an event log's header record."""
    from .record.eventlog import read_log  # noqa: I001 - first: it names the extra that brings msgpack
    import msgpack

    with open(path, "rb") as file:
        try:
            first = next(read_log(file), None)
        except (ValueError, msgpack.UnpackException):  # not msgpack, or text that is not UTF-8
            first = None
    if not (isinstance(first, list) and first and first[0] == "H"):
        raise UserError(str(path), "not an event log of a live run (it does not start with the log's header)")


def cmd_ctl(args: argparse.Namespace) -> int:
    if (args.bus is None) == (args.socket is None):
        raise UserError("ctl", "give --bus URL --run NAME, or --socket PATH")
    from .bus import send_command, send_local

    if args.bus is not None:
        if args.run_name is None:
            raise UserError("--bus", "needs --run NAME")
        send_command(args.bus, args.run_name, args.command)
        return 0
    try:
        send_local(args.socket, args.command)
    except OSError as error:  # no run listening there
        raise UserError(str(args.socket), f"no run answers on this control socket ({error.strerror or error})") from None
    return 0


def _add_exchange_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exchange", default="binance", help="a ccxt.pro exchange id")
    parser.add_argument("--rest-url", type=rest_url,
                        help="REST base for Binance, e.g. http://127.0.0.1:8080 (a local or test server)")
    parser.add_argument("--ws-url", type=ws_url, help="WebSocket base for Binance, e.g. ws://127.0.0.1:8080/ws")
    parser.add_argument("--duration", type=positive_float,
                        help="stop after this many seconds (default: until Ctrl-C/SIGTERM)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep.command import run_command

    return run_command(args)


def cmd_fake_exchange(args: argparse.Namespace) -> int:
    from .fake_exchange import serve_fake_exchange

    balances = {}
    for entry in args.balance or ():
        asset, _, amount = entry.partition("=")
        try:
            balances[asset.upper()] = float(amount)
        except ValueError:
            raise UserError("--balance", f"takes ASSET=AMOUNT (e.g. USDT=10000), not {entry!r}") from None
    if (balances or args.keys) and not args.trading:
        raise UserError("--balance and --keys", "go with --trading")
    serve_fake_exchange(args.symbol, port=args.port, trade_rate=args.trade_rate, book_rate=args.book_rate,
                        price=args.price, seed=args.seed, trading=args.trading, balances=balances or None,
                        keys=args.keys, out=sys.stdout)
    return 0


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default, unless it has none (None, False) or says it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and "%(default)" not in text and "default:" not in text):
            text += " (default: %(default)s)"
        return text


DESCRIPTION = """Tick-level and order-book backtests for backtrader, and live runs on Binance.

Start with `btchannels demo`; `btchannels COMMAND --help` describes each command."""

FORMATS = (*TRADE_FORMATS, *(name for name in BOOK_FORMATS if name not in TRADE_FORMATS))
FORMATS_HELP = f"{', '.join(TRADE_FORMATS)} for trades; {', '.join(BOOK_FORMATS)} for books"


def _money(parser: argparse.ArgumentParser, commission: float, note: str = "") -> None:
    parser.add_argument("--cash", type=positive_float, default=10_000.0, help="starting cash, in the quote currency")
    parser.add_argument("--commission", type=non_negative_float, default=commission,
                        help=f"fee per fill as a fraction of its value, 0.001 = 0.1%%{note}")


def _strategy_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("strategy_file", type=existing_file, help="a Python file defining a bt.Strategy subclass")
    parser.add_argument("--strategy", help="the class to run, when the file defines several")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="btchannels", description=DESCRIPTION, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, **kw: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                                   formatter_class=HelpFormatter, **kw)

    sample = command("sample", "write the synthetic BTC/USDT sample hour (trades and order book)")
    sample.add_argument("--out", type=output_dir, default=DEFAULT_OUT / "sample",
                        help="directory to write the files to")
    sample.add_argument("--seed", type=non_negative_int, default=7,
                        help="random seed; the same seed writes the same files")
    sample.add_argument("--minutes", type=positive_float, default=60.0, help="length of the sample, in minutes")
    sample.set_defaults(run=cmd_sample)

    demo = command("demo", "run the demo strategy on the sample: summary and chart")
    demo.add_argument("--out", type=output_dir, default=DEFAULT_OUT,
                      help="directory for the sample (made once, then reused) and demo.png")
    _money(demo, 0.0002, "; the default is a maker-level fee")
    demo.add_argument("--no-chart", action="store_true", help="skip writing demo.png")
    demo.set_defaults(run=cmd_demo)

    backtest = command("backtest", "tick backtest of the strategy in a Python file")
    _strategy_file(backtest)
    backtest.add_argument("--ticks", type=Path, required=True, action="append",
                          help="trades: project CSV(.gz), Parquet, or Binance trades/aggTrades zip or CSV; a file, a "
                               "directory or a quoted glob; repeat for more (all are read, in time order)")
    backtest.add_argument("--book", type=Path, action="append",
                          help="order book: JSON lines(.gz) or Parquet; a file, a directory or a quoted glob; repeat "
                               "for more (default: none)")
    backtest.add_argument("--symbol", default="BTC/USDT", help="the market the files hold")
    _money(backtest, 0.001)
    backtest.add_argument("--param", action="append", metavar="NAME=VALUE",
                          help="a strategy parameter (int, float, true/false or text); repeat for several")
    backtest.add_argument("--from", dest="start", type=utc_date,
                          help="first day (YYYY-MM-DD, from its start) or time (ISO 8601, UTC) to run")
    backtest.add_argument("--to", dest="end", type=utc_date,
                          help="last day (YYYY-MM-DD, to its end) or time (ISO 8601, UTC) to run")
    backtest.add_argument("--analyzer", action="append", metavar="NAME",
                          help="a backtrader analyzer by name (SharpeRatio, DrawDown, TradeAnalyzer, SQN...): "
                               "its result is printed and in --json; repeat for several")
    backtest.add_argument("--bars", help="give the strategy self.data as bars made from the trades: 1s, 1m, 15m, 1h")
    backtest.add_argument("--export", type=export_file,
                          help="write every trade (entry/exit, PnL, fees, duration) here: a .csv or .parquet file")
    backtest.add_argument("--json", type=output_file, help="write the summary as JSON here, for scripts")
    backtest.add_argument("--report", type=output_file,
                          help="write the HTML report (charts, metrics, trades; one file, works offline) here")
    backtest.add_argument("--chart", type=output_file,
                          help="write a PNG chart (price with fills, position, equity) here")
    backtest.set_defaults(run=cmd_backtest)

    convert = command("convert", "convert a trades or order-book file to Parquet, CSV or JSON lines")
    convert.add_argument("source", type=Path, help="the file to read")
    convert.add_argument("destination", type=Path,
                         help="the file to write; its extension picks the format (.parquet, .csv(.gz), .jsonl(.gz))")
    convert.add_argument("--format", choices=FORMATS, metavar="FORMAT",
                         help=f"the source's format, when detection cannot tell: {FORMATS_HELP}")
    convert.set_defaults(run=cmd_convert)

    live = command("live", "run a strategy file live on an exchange's streams, with paper fills")
    _strategy_file(live)
    live.add_argument("--exchange", default="binance", help="a ccxt.pro exchange id")
    live.add_argument("--symbol", default="BTC/USDT", help="the market to stream")
    live.add_argument("--orderbook", action="store_true", help="also stream the order book")
    live.add_argument("--duration", type=positive_float,
                      help="stop after this many seconds (default: until Ctrl-C or SIGTERM)")
    _money(live, 0.001)
    live.add_argument("--sandbox", action="store_true", help="use the exchange's testnet (ccxt sandbox mode)")
    live.add_argument("--rest-url", type=rest_url, help="REST base URL for Binance, e.g. http://127.0.0.1:8080 from "
                                         "btchannels fake-exchange (goes with --ws-url)")
    live.add_argument("--ws-url", type=ws_url, help="WebSocket base URL for Binance, e.g. ws://127.0.0.1:8080/ws")
    live.add_argument("--broker", choices=("paper", "ccxt"), default="paper",
                      help="paper: simulated fills; ccxt: real orders at the exchange (its testnet unless "
                           "--real-money), keys from BTCHANNELS_API_KEY/BTCHANNELS_API_SECRET or --keys")
    live.add_argument("--keys", type=json_object_file, help="with --broker ccxt: a JSON file with apiKey and secret")
    live.add_argument("--real-money", action="store_true",
                      help="with --broker ccxt: trade on the real exchange, not its testnet")
    live.add_argument("--flatten-on-stop", action="store_true",
                      help="with --broker ccxt: close positions with market orders when the run stops")
    live.add_argument("--leverage", type=positive_int, default=1,
                      help="with --broker ccxt on USD-M futures (--symbol BTC/USDT:USDT): the leverage set on start")
    live.add_argument("--chart", type=output_file, help="write a PNG chart here at the end")
    live.add_argument("--keep-going", action="store_true",
                      help="retry a feed's fatal errors (unknown symbol, credentials) with backoff instead of "
                           "stopping the run; they show in the status line and the summary")
    live.add_argument("--event-log", type=output_file,
                      help="write the run's event log here, for btchannels replay")
    live.add_argument("--bus", type=redis_url, help="take control commands (btchannels ctl) from this Redis server, redis://HOST:PORT")
    live.add_argument("--run", dest="run_name",
                      help="the run's name: for control commands over --bus, and with --broker ccxt the run whose "
                           "state (orders, fills, client ids) is kept and resumed (default: a new run each start)")
    live.add_argument("--run-dir", type=output_dir,
                      help="with --broker ccxt: where the run's state database is kept (default btchannels-runs/RUN)")
    live.add_argument("--control-socket", type=output_file, help="take control commands (btchannels ctl) on this Unix socket")
    live.set_defaults(run=cmd_live)

    fake = command("fake-exchange", "serve a local fake Binance to try btchannels live on, until Ctrl-C")
    fake.add_argument("--port", type=port, default=8080, help="TCP port on 127.0.0.1 (0: any free port)")
    fake.add_argument("--symbol", default="BTC/USDT", help="the market it streams")
    fake.add_argument("--trade-rate", type=positive_float, default=20.0, help="trades per second")
    fake.add_argument("--book-rate", type=non_negative_float, default=10.0,
                      help="order-book updates per second (0: none)")
    fake.add_argument("--price", type=positive_float, default=50_000.0, help="starting price")
    fake.add_argument("--seed", type=non_negative_int, default=1, help="random seed of the generated trades and book")
    fake.add_argument("--trading", action="store_true",
                      help="also serve an account that trades (orders, fills, user-data stream) for "
                           "btchannels live --broker ccxt; prints the command and writes the API keys to --keys")
    fake.add_argument("--balance", action="append", metavar="ASSET=AMOUNT",
                      help="with --trading: a starting balance, repeat for several (USDT is 100000 unless given)")
    fake.add_argument("--keys", type=output_file,
                      help="with --trading: write the account's API keys here, mode 0600 (default: a temporary "
                           "file, removed on stop)")
    fake.set_defaults(run=cmd_fake_exchange)

    download = command("download", "download Binance public data (data.binance.vision), each file verified "
                                   "against its checksum")
    download.add_argument("--symbol", required=True, help="BTC/USDT; futures: BTC/USDT:USDT (um), BTC/USD:BTC (cm)")
    download.add_argument("--data", default="trades",
                          help="trades, aggTrades or klines (with --interval); futures also bookTicker, bookDepth, "
                               "fundingRate, metrics, markPriceKlines, indexPriceKlines, premiumIndexKlines")
    download.add_argument("--market", choices=("spot", "um", "cm"), default="spot",
                          help="spot, um (USD-M futures) or cm (COIN-M futures)")
    download.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    download.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (included)")
    download.add_argument("--interval", help="the bar interval of klines: 1s (spot), 1m, 5m, 1h, 1d...")
    download.add_argument("--out", type=Path, help="the cache directory, laid out as the site "
                                                   "(default: $BTCHANNELS_DATA or ~/.cache/backtrader-channels/binance)")
    download.add_argument("--base-url", default="https://data.binance.vision", help="the site to download from")
    download.add_argument("--jobs", type=int, default=4, help="files downloaded at once")
    download.add_argument("--skip-missing", action="store_true",
                          help="days the site does not publish are reported and skipped, not an error")
    download.add_argument("--no-progress", action="store_true", help="no progress bar (shown on a terminal)")
    download.set_defaults(run=cmd_download)

    bench = commands.add_parser("bench", add_help=False,
                                help="measure speed and memory (see btchannels bench --help)")
    bench.set_defaults(run=cmd_bench)  # its options are bench.main_bench's

    validate = command("validate", "run the live-data validator over a historical trades or book file")
    validate.add_argument("file", type=Path, help="the file to check")
    validate.add_argument("--kind", choices=("trades", "book"),
                          help="what the file holds (default: book for .jsonl files, else trades)")
    validate.add_argument("--format", choices=FORMATS, metavar="FORMAT",
                          help=f"the file's format, when detection cannot tell: {FORMATS_HELP}")
    validate.add_argument("--symbol", default="BTC/USDT", help="the market the events are stamped with")
    validate.set_defaults(run=cmd_validate)

    sweep = command("sweep", "a parameter grid over days and symbols, on all cores or a Dask cluster")
    from .sweep.command import add_arguments

    add_arguments(sweep)
    sweep.set_defaults(run=cmd_sweep)

    collect = command("collect", "publish live trades and books to the Redis Streams bus")
    collect.add_argument("--bus", type=redis_url, required=True, help="the Redis server to publish to, redis://HOST:PORT")
    collect.add_argument("--symbol", action="append", required=True, help="repeat for several symbols")
    collect.add_argument("--trades", action="store_true", help="publish trades")
    collect.add_argument("--book", action="store_true", help="publish order-book updates")
    collect.add_argument("--depth", type=positive_int, default=20, help="book levels per side")
    collect.add_argument("--maxlen", type=positive_int, default=1_000_000, help="entries each stream keeps (about)")
    collect.add_argument("--buffer", type=positive_int, default=100_000, help="events kept while Redis is away (more: dropped)")
    _add_exchange_options(collect)
    collect.set_defaults(run=cmd_collect)

    record = command("record", "record live trades and books to Parquet (crash-safe, rotated hourly)")
    record.add_argument("--symbol", action="append", required=True, help="repeat for several symbols")
    record.add_argument("--trades", action="store_true", help="record trades")
    record.add_argument("--book", action="store_true", help="record order-book updates")
    record.add_argument("--out", type=output_dir, required=True, help="the recording directory")
    record.add_argument("--depth", type=positive_int, default=20, help="book levels per side")
    record.add_argument("--flush-interval", type=positive_float, default=1.0,
                        help="seconds; a kill loses at most this")
    record.add_argument("--max-segment-bytes", type=positive_int, help="also rotate a segment once this big")
    _add_exchange_options(record)
    record.set_defaults(run=cmd_record)

    replay = command("replay", "re-run a strategy on a live run's event log and compare bit for bit")
    replay.add_argument("log", type=existing_file, help="the event log a live run wrote")
    replay.add_argument("strategy_file", type=existing_file, help="a Python file defining the bt.Strategy subclass")
    replay.add_argument("--strategy", help="class name, when the file defines several")
    replay.set_defaults(run=cmd_replay)

    ctl = command("ctl", "send stop, pause, resume or flatten to a running strategy")
    ctl.add_argument("command", choices=("stop", "pause", "resume", "flatten"), help="what to tell the run")
    ctl.add_argument("--bus", type=redis_url, help="the Redis server the run listens on, redis://HOST:PORT")
    ctl.add_argument("--run", dest="run_name", help="the run's name (with --bus)")
    ctl.add_argument("--socket", type=Path, help="the run's local control socket")
    ctl.set_defaults(run=cmd_ctl)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a ``btchannels`` command; its exit status (see ``cli_errors`` for the errors')."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    args.extra = extra
    if args.extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(args.extra)}")
    return report_errors(lambda: args.run(args), getattr(args, "strategy_file", None))


if __name__ == "__main__":
    sys.exit(main())
