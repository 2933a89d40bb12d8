"""kill -9 the engine trading through ccxt against the exchange simulator; restart; lose nothing.

The simulator runs in this process (its own thread, loopback port) with its market maker and taker
agents live. A child process (``_cex_worker.py``) runs the engine with a CcxtVenue pointed at
it and the SQLite store, submitting limit orders (marketable ones, and resting ones that the
taker agent or this test's crossing orders from a second account fill). The test SIGKILLs the
child at random moments over several seeded runs, then freezes the market and lets a last run
finish. Checked against the simulator's own records:

- every fill the simulator made for our account is in the store exactly once (by trade id);
- no client order id was placed twice, and every order the simulator holds is in our log;
- open orders at the simulator equal the open child orders of our projections;
- positions equal the sum of fills, and the simulator's ETH balance moved by exactly that.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import ccxt.pro as ccxt_pro
import pytest

from oms_chain.devnet.exchange import SimulatorConfig, SimulatorThread, run_in_thread
from oms_chain.model import ClientOrderId, FillRecorded, event_from_payload
from oms_chain.store import open_store, verify_audit
from oms_chain.store.projections import Projections

WORKER = Path(__file__).with_name("_cex_worker.py")
SYMBOL = "ETHUSDC"
API_KEY, SECRET = "crash-key", "crash-secret"
OURS = f"acct-{API_KEY}"
CROSSER = "crash-crosser"
START = {"USDC": Decimal(1_000_000), "ETH": Decimal(300)}
N_INTENTS = 120
KILLED_RUNS = 6


def _spawn(workdir: Path, seed: int, *, final: bool = False) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(WORKER), str(workdir), str(seed)] + (["final"] if final else [])
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _cross_one(sim: SimulatorThread, rng: random.Random) -> None:
    """Hit one of our resting orders with an IOC from the second account (maybe partially)."""

    def hit() -> None:
        engine = sim.simulator.engine
        resting = engine.open_orders(OURS, SYMBOL)
        if not resting:
            return
        target = rng.choice(resting)
        qty = min(target.remaining, Decimal(rng.randint(1, 4)) / 100)
        if qty * target.price < engine.market(SYMBOL).min_notional:
            return  # a remainder too small to cross: the exchange refuses the IOC (NOTIONAL)
        engine.place(
            CROSSER,
            SYMBOL,
            "SELL" if target.side == "BUY" else "BUY",
            "LIMIT",
            quantity=qty,
            price=target.price,
            time_in_force="IOC",
        )

    sim.call(hit)


def _run_until_killed(
    sim: SimulatorThread, workdir: Path, seed: int, rng: random.Random
) -> tuple[bool, subprocess.Popen[bytes]]:
    proc = _spawn(workdir, seed)
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0.3, 1.5))  # during import, replay or reconciliation
    else:
        ready = workdir / f"ready-{proc.pid}"
        deadline = time.monotonic() + 15
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        end = time.monotonic() + rng.uniform(0.1, 1.2)  # while trading
        while time.monotonic() < end and proc.poll() is None:
            if rng.random() < 0.5:
                _cross_one(sim, rng)
            time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed, proc


@pytest.mark.slow
@pytest.mark.timeout(300)  # a hang guard only: a busy machine slows every child's start
def test_sigkill_while_trading_on_the_simulator_recovers_every_fill_exactly_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(int(os.environ.get("OMS_CRASH_SEED", "20261123")))
    config = SimulatorConfig(
        seed=rng.randrange(2**31),
        agent_interval_s=0.03,
        taker_prob=0.7,
        fast_depth_interval_s=0.05,
        weight_limit=10_000_000,
        order_limit_10s=100_000,
    )
    with run_in_thread(config) as sim:
        sim.call(lambda: sim.simulator.create_account(API_KEY, SECRET, START))
        sim.call(
            lambda: sim.simulator.create_account(
                "crosser-key", "crosser-secret", START, account_id=CROSSER
            )
        )
        urls = sim.simulator.binance_urls(ccxt_pro.binance().urls["api"])
        (tmp_path / "cfg.json").write_text(
            json.dumps({"api_key": API_KEY, "secret": SECRET, "urls": urls, "n_intents": N_INTENTS})
        )
        kills = 0
        for _ in range(KILLED_RUNS):
            killed, proc = _run_until_killed(sim, tmp_path, rng.randrange(2**31), rng)
            assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()  # type: ignore[union-attr]
            kills += killed
        sim.call(sim.simulator.pause_agents)  # a still market from here on: nothing moves
        final = _spawn(tmp_path, rng.randrange(2**31), final=True)
        _, err = final.communicate(timeout=180)
        assert final.returncode == 0, err.decode()
        assert kills >= KILLED_RUNS // 2, "the child finished before being killed; kill earlier"

        engine = sim.simulator.engine
        sim_orders = sim.call(lambda: engine.all_orders(OURS, SYMBOL))
        sim_open = sim.call(lambda: engine.open_orders(OURS, SYMBOL))
        sim_trades = sim.call(lambda: engine.account_trades(OURS, SYMBOL))
        sim_eth = sim.call(lambda: engine._account(OURS).total("ETH"))

    store = open_store(f"sqlite:///{tmp_path}/oms.db")
    records = list(store.read_all())
    assert verify_audit(store).ok
    replay = Projections()
    fill_events: list[FillRecorded] = []
    for r in records:
        event = event_from_payload(r.event_type, r.version, r.payload)
        replay.apply(event)
        if isinstance(event, FillRecorded):
            fill_events.append(event)
    store.close()
    assert json.loads((tmp_path / "done.json").read_text()) == json.loads(
        json.dumps(replay.summary())
    )
    assert {f"c{i}" for i in range(N_INTENTS)} <= set(replay.intents)

    # the test's design keeps our buys below our sells: no self-trade (see _cex_worker.py)
    assert not [t for t in sim_trades if t.buyer_account == t.seller_account]
    assert len(sim_trades) >= 10, "too few fills to test anything; tune prices or agents"
    # 1. every fill the simulator made for us, recorded exactly once
    recorded = Counter(e.fill.trade_id for e in fill_events)
    assert max(recorded.values()) == 1, [t for t, n in recorded.items() if n > 1]
    assert set(recorded) == {str(t.trade_id) for t in sim_trades}
    # 2. no client order id placed twice; every order at the simulator is ours and known
    placed = Counter(o.client_order_id for o in sim_orders)
    assert max(placed.values()) == 1, [c for c, n in placed.items() if n > 1]
    assert set(placed) <= set(replay.by_client_order_id)
    # 3. open at the simulator == open children in our projections (and equally filled)
    ours_open = {
        o.client_order_id: o
        for o in replay.orders.values()
        if o.parent_id is not None and not o.is_terminal
    }
    assert {o.client_order_id for o in sim_open} == set(ours_open)
    for o in sim_open:
        assert ours_open[ClientOrderId(o.client_order_id)].filled_quantity == o.executed_qty
    for o in sim_orders:
        mine = replay.orders[replay.by_client_order_id[ClientOrderId(o.client_order_id)]]
        assert mine.filled_quantity == o.executed_qty, o.client_order_id
    # 4. positions equal the sum of fills; the simulator's ETH moved by fills less ETH fees
    fills = [e.fill for e in fill_events]
    net = sum((f.quantity * f.side.sign for f in fills), Decimal(0))
    assert sum(replay.net_positions.values(), Decimal(0)) == net
    eth_fees = sum((f.fee for f in fills if f.fee_currency == "ETH"), Decimal(0))
    assert sim_eth == START["ETH"] + net - eth_fees


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
