"""The risk monitor fed by a Chainlink-style oracle on Anvil: the devnet's DevOracle is moved
by real transactions, its AnswerUpdated logs arrive over a websocket log subscription, and the
monitor re-evaluates on each new round (rate-bounded) and raises an alert recorded in the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from oms_chain.chain.oracle import OracleAnswer, oracle_answers, read_latest_answer
from oms_chain.chain.ws import WsRpcClient
from oms_chain.devnet.options_market import set_feed_price
from oms_chain.devnet.solidity import load_artifact
from oms_chain.devnet.world import DevnetChain
from oms_chain.model import Asset, ManualClock
from oms_chain.model.errors import InvalidInput
from oms_chain.model.events import PortfolioAlertRaised, event_from_payload
from oms_chain.risk import AlertRule, Holding, MarketSnapshot, Metric
from oms_chain.service.risk_monitor import MONITOR_STREAM, RiskMonitor, oracle_prices, push_feed
from oms_chain.store import open_store

NS = 1_000_000_000
WAIT_S = 60.0  # generous: the machine is shared; nothing here waits on a timer
HELD = [Holding(instrument=Asset.native(1), quantity=D(7), venue="wallet:1")]


async def _next(feed: AsyncIterator[MarketSnapshot]) -> MarketSnapshot:
    async with asyncio.timeout(WAIT_S):
        return await anext(feed)


async def _post(chain: DevnetChain, price: str) -> int:
    """A new round of the ETH / USD feed at ``price``, mined; returns its round id."""
    feed, owner = chain.book.address("OracleETHUSD"), chain.accounts[0].address
    return await asyncio.to_thread(set_feed_price, chain.w3, feed, D(price), sender=owner)


async def _post_raw(chain: DevnetChain, answer: int) -> None:
    """A round with a raw ``answer`` (DevOracle does not range-check: 0 is a broken feed)."""
    oracle = chain.w3.eth.contract(
        address=chain.book.address("OracleETHUSD"), abi=load_artifact("DevOracle")["abi"]
    )

    def send() -> None:
        tx = oracle.functions.setAnswer(answer).transact({"from": chain.accounts[0].address})
        assert chain.w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.05)["status"] == 1

    await asyncio.to_thread(send)


async def test_monitor_re_evaluates_on_oracle_rounds_and_raises_an_alert(l1, tmp_path):
    client = WsRpcClient([l1.ws_url])
    feed_address = l1.book.address("OracleETHUSD")
    try:
        start = await read_latest_answer(client, feed_address)
        assert start.decimals == 8 and start.price > 0
        # 7 ETH: alert once delta is worth 10 % more than at the feed's first price
        threshold = 7 * start.price * D("1.1")
        rule = AlertRule(
            name="eth-delta",
            metric=Metric.ABS_DELTA_USD,
            threshold=threshold,
            clear_at=threshold - 500,
        )
        clock = ManualClock(NS)
        store = open_store(f"sqlite:///{tmp_path}/monitor.db")
        monitor = RiskMonitor(
            rules=[rule], holdings=lambda: HELD, clock=clock, min_interval_s=1.0, store=store
        )
        feed = push_feed({"ETH": oracle_prices(client, feed_address)}, clock=clock)

        first = await _next(feed)  # the latest round, read when the subscription is open
        assert first.spots == {"ETH": start.price}
        assert await monitor.on_market(first) == ()
        assert monitor.evaluations == 1

        # a round at +5 %: evaluated (the interval has passed), below the threshold
        clock.advance(2 * NS)
        await _post(l1, str(start.price * D("1.05")))
        snap = await _next(feed)
        assert snap.spots == {"ETH": start.price * D("1.05")}
        assert await monitor.on_market(snap) == ()
        assert monitor.evaluations == 2

        # a broken round (answer 0) is skipped by the feed; the next round, +20 %, comes
        # inside the rate interval: held back, then evaluated by flush and the alert fires
        await _post_raw(l1, 0)
        jump = start.price * D("1.2")
        await _post(l1, str(jump))
        clock.advance(NS // 2)
        snap = await _next(feed)
        assert snap.spots == {"ETH": jump}
        assert await monitor.on_market(snap) is None  # rate-bounded
        assert monitor.evaluations == 2
        (alert,) = await monitor.flush() or ()
        assert alert.raised and alert.rule.name == "eth-delta"
        assert alert.value == 7 * jump
        assert monitor.evaluations == 3

        records = [r for r in store.read_all(0) if r.stream_id == MONITOR_STREAM]
        (event,) = [event_from_payload(r.event_type, r.version, r.payload) for r in records]
        assert isinstance(event, PortfolioAlertRaised)
        assert (event.rule, event.value, event.threshold) == ("eth-delta", 7 * jump, threshold)
        await feed.aclose()
    finally:
        await client.close()


async def test_oracle_answers_follow_rounds_in_order_with_exact_values(l1):
    client = WsRpcClient([l1.ws_url])
    feed_address = l1.book.address("OracleETHUSD")
    try:
        answers = oracle_answers(client, feed_address)
        async with asyncio.timeout(WAIT_S):
            first: OracleAnswer = await anext(answers)
            rounds = [await _post(l1, p) for p in ("3100.5", "3099.12345678")]
            got = [await anext(answers), await anext(answers)]
        assert [a.round_id for a in got] == rounds == [first.round_id + 1, first.round_id + 2]
        assert [a.answer for a in got] == [310_050_000_000, 309_912_345_678]
        assert [a.price for a in got] == [D("3100.5"), D("3099.12345678")]
        assert all(a.block_number is not None and a.updated_at > 0 for a in got)
        assert got[0].feed == feed_address
        await answers.aclose()
        with pytest.raises(InvalidInput, match="feed must be a 0x-prefixed contract address"):
            await anext(oracle_answers(client, "ETH / USD"))
        with pytest.raises(InvalidInput, match="not an AggregatorV3 feed"):
            await read_latest_answer(client, "0x000000000000000000000000000000000000bEEF")
    finally:
        await client.close()
