"""Child process of tests/faults/test_cex_crash_restart.py: the engine trading through CcxtVenue.

Run as ``python _cex_worker.py WORKDIR SEED [final]``. Reads ``WORKDIR/cfg.json`` (simulator
URLs, credentials, number of intents), opens the SQLite store ``WORKDIR/oms.db``, starts the
engine (replay + reconciliation), touches ``WORKDIR/ready-<pid>`` and submits intents ``c0`` ..
``c<N-1>`` that it has not submitted yet: limit orders around the touch of ETH/USDC (some
marketable, most resting), cancelling now and then. A ``final`` run then reconciles once more
and writes the projections' summary to ``WORKDIR/done.json``.

A buy is never priced at or above one of our own open sells (and vice versa): the simulator
allows self-trades, and one self-trade is one trade id carrying two of our fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
from decimal import Decimal
from pathlib import Path

from oms_chain.engine import Engine, EngineConfig
from oms_chain.model import Intent, OmsError, Side, SystemClock
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import open_store
from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig

SYMBOL = "ETH/USDC"
VENUE = "binance"
ACCOUNT = "cexacct"


def venue_config(cfg: dict[str, object]) -> CcxtVenueConfig:
    """The venue as the test's child builds it: binance through ccxt, URLs on the simulator."""
    return CcxtVenueConfig(
        exchange=VENUE,
        api_key=str(cfg["api_key"]),
        secret=str(cfg["secret"]),
        options={
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchMarkets": {"types": ["spot"]},
        },
        urls=cfg["urls"],  # type: ignore[arg-type]
        symbols=(SYMBOL,),
        enable_rate_limit=False,
        rate_per_s=1000.0,
        burst=200,
        poll_interval_s=0.2,
        timeout_s=2.0,
        book_timeout_s=3.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.3,
    )


def _price(
    engine: Engine, side: Side, touch_bid: Decimal, touch_ask: Decimal, rng: random.Random
) -> Decimal:
    tick = Decimal("0.01")
    roll = rng.random()
    if side is Side.BUY:
        if roll < 0.2:  # marketable: crosses the asks
            price = touch_ask + tick * rng.randint(0, 3)
        else:  # resting at or below the bid (the taker agent or the test fills it)
            price = touch_bid - tick * rng.randint(0, 4)
        own_sells = [
            o.limit_price
            for o in engine.open_orders()
            if o.parent_id is not None and o.side is Side.SELL and o.limit_price is not None
        ]
        if own_sells:
            price = min(price, min(own_sells) - tick)
    else:
        if roll < 0.2:
            price = touch_bid - tick * rng.randint(0, 3)
        else:
            price = touch_ask + tick * rng.randint(0, 4)
        own_buys = [
            o.limit_price
            for o in engine.open_orders()
            if o.parent_id is not None and o.side is Side.BUY and o.limit_price is not None
        ]
        if own_buys:
            price = max(price, max(own_buys) + tick)
    return price


async def _touch(venue: CcxtVenue, instrument: object) -> tuple[Decimal, Decimal]:
    bids = await venue.liquidity(instrument, Side.SELL)  # type: ignore[arg-type]
    asks = await venue.liquidity(instrument, Side.BUY)  # type: ignore[arg-type]
    return bids.levels[0].price, asks.levels[0].price


async def main(workdir: Path, seed: int, final: bool) -> None:
    cfg = json.loads((workdir / "cfg.json").read_text())
    rng = random.Random(seed)
    clock = SystemClock()
    venue = CcxtVenue(venue_config(cfg), clock=clock)
    await venue.start()
    instrument = venue.market(SYMBOL).instrument
    store = open_store(f"sqlite:///{workdir}/oms.db")
    engine = Engine(
        store=store,
        venues=[venue],
        risk=RiskGate(RiskLimits(), clock=clock),
        clock=clock,
        config=EngineConfig(send_timeout_s=5.0, snapshot_every=rng.choice([0, 40, 200])),
    )
    bid, ask = await _touch(venue, instrument)
    engine.set_reference_price(instrument.id, (bid + ask) / 2)
    await engine.start()
    (workdir / f"ready-{os.getpid()}").touch()
    for i in range(int(cfg["n_intents"])):
        intent_id = f"c{i}"
        if intent_id in engine.projections.intents:
            continue
        side = rng.choice([Side.BUY, Side.SELL])
        bid, ask = await _touch(venue, instrument)
        intent = Intent.create(
            intent_id=intent_id,
            account=ACCOUNT,
            instrument=instrument,
            side=side,
            quantity=str(Decimal(rng.randint(100, 600)) / 10_000),
            venues=[VENUE],
            now_ns=clock.now_ns(),
            limit_price=str(_price(engine, side, bid, ask, rng)),
        )
        with contextlib.suppress(OmsError):  # resubmitting after a restart is idempotent
            await engine.submit(intent)
        if rng.random() < 0.15:
            open_parents = [o for o in engine.open_orders() if o.parent_id is None]
            if open_parents:
                with contextlib.suppress(OmsError):
                    await engine.cancel(rng.choice(open_parents).order_id)
    if final:
        await asyncio.sleep(0.5)  # let the user stream deliver what the last orders did
        await engine.reconcile(venue.venue_id)
        # a send killed before its answer stays "not yet" until the exchange can no longer
        # accept it (its receive window + the clock-skew margin): wait that out, then reconcile
        # again so that every child's outcome is proven before the summary is written
        await asyncio.sleep(venue.acceptance_window_ns / 1e9)
        await engine.reconcile(venue.venue_id)
        (workdir / "done.json").write_text(json.dumps(engine.projections.summary()))
    await engine.stop()
    await venue.close()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3))
