"""FakeBinance.send_bad_trade: a trade priced "abc" that takes its place in the id sequence."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"


def test_a_bad_trade_takes_the_next_id_between_two_good_ones_and_is_kept_apart():
    with FakeBinance([SYMBOL]) as server:
        stream = server.trade_stream(SYMBOL)

        async def listen() -> list[dict]:
            async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/0") as ws:
                await ws.send_json({"method": "SUBSCRIBE", "params": [stream], "id": 1})
                assert (await ws.receive_json()) == {"result": None, "id": 1}
                await asyncio.to_thread(lambda: (server.send_trades(SYMBOL, 1), server.send_bad_trade(SYMBOL),
                                                 server.send_trades(SYMBOL, 1)))
                return [json.loads((await ws.receive()).data) for _ in range(3)]

        frames = asyncio.run(listen())
    assert [frame["t"] for frame in frames] == [1, 2, 3]
    assert frames[1]["p"] == "abc" and float(frames[0]["p"]) > 0 and float(frames[2]["p"]) > 0
    assert [trade["t"] for trade in server.trades[SYMBOL]] == [1, 3]  # the valid prints only
    assert [trade["t"] for trade in server.bad_trades[SYMBOL]] == [2]
