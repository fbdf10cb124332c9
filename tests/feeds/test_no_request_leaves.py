"""A feed with an API key set talks to 127.0.0.1 only, and no log line or error shows a
credential or a request signature (real ccxt.pro client, local FakeBinance)."""

from __future__ import annotations

import asyncio
import logging

import ccxt
import ccxt.pro
import pytest

from backtrader_channels.feeds import Backoff, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from tests.phase4.test_ccxt_feed import SYMBOL, server  # noqa: F401

KEY, SECRET = "K3yOfTheTestUser0123456789", "S3cretOfTheTestUser0123456789"


def all_urls(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from all_urls(item)
    else:
        yield value


@pytest.mark.parametrize("sandbox", [False, True])
def test_every_url_of_the_exchange_points_at_the_local_server(server, sandbox):  # noqa: F811
    exchange = ccxt.pro.binance(server.ccxt_config())
    if sandbox:
        exchange.set_sandbox_mode(True)
    urls = list(all_urls(exchange.urls["api"]))
    assert len(urls) >= 19
    local = (f"http://127.0.0.1:{server.port}/", f"ws://127.0.0.1:{server.port}/ws")
    assert [url for url in urls if not url.startswith(local)] == []
    asyncio.run(exchange.close())


def test_a_keyed_feed_sends_its_signed_requests_to_127_0_0_1_and_logs_no_secret(server, caplog):  # noqa: F811
    config = {**server.ccxt_config(), "apiKey": KEY, "secret": SECRET}
    feed = CCXTLiveTickFeed("binance", SYMBOL, LiveEventQueue(), config=config,
                            backoff=Backoff(0.05, 0.1), max_retries=1)
    with caplog.at_level(logging.WARNING, logger="backtrader_channels.feeds"), pytest.raises(ccxt.NetworkError):
        asyncio.run(feed.start())  # load_markets makes signed sapi calls: the server answers 503
    signed = [url for _, url, headers in server.requests if "signature=" in url]
    assert signed and all(headers["X-MBX-APIKEY"] == KEY for _, url, headers in server.requests)
    assert server.rest_calls["/sapi/v1/capital/config/getall"] == 2  # the first try and the retry
    texts = [record.getMessage() for record in caplog.records] + [str(feed.error)]
    assert len(texts) >= 2 and any("/sapi/v1/capital/config/getall" in text for text in texts)
    for text in texts:
        assert KEY not in text and SECRET not in text
        assert "signature=***" in text or "signature=" not in text
