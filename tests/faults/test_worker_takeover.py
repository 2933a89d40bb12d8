"""Three OMS workers on one real PostgreSQL store; one is SIGKILLed mid-TWAP; nothing is lost
and nothing is sent twice.

The exchange simulator runs in this process (its own thread, loopback port, market maker live);
three child processes (``_scale_worker.py``) each run a :class:`~oms_chain.service.Worker` with
a CcxtVenue on the simulator and the same PostgreSQL store (a server started by the suite). The
test enqueues TWAP and direct buy intents, waits until worker ``w1`` has sent a child of a TWAP
that is still running, SIGKILLs it, and lets the two others take its parents over once its
leases expire. Then it SIGSTOPs ``w2`` mid-TWAP until ``w3`` has taken its TWAPs over, and
resumes it. Checked against the simulator's and the store's own records:

- every intent is finished in the queue and its parent ended, never overfilled: a direct buy
  filled, a TWAP filled or (its 10 s schedule run out while it waited to be taken over) ended;
- no client order id reached the simulator twice, each is a send recorded under its parent's
  lease (with the fencing token it was made under), and the simulator's executed quantity per
  order equals our fills;
- a parent of ``w1`` was taken over (a lease at epoch 2) and finished by another worker;
- ``w2``, resumed, was told by the store that ``w3`` holds its parents now (fencing);
- the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import ccxt.pro as ccxt_pro
import pytest
from _cex_worker import ACCOUNT, SYMBOL, VENUE, _touch, venue_config

from oms_chain.devnet.exchange import SimulatorConfig, run_in_thread
from oms_chain.model import Intent, Side, SystemClock, event_from_payload
from oms_chain.store import Leases, open_store, verify_audit
from oms_chain.store.projections import Projections
from oms_chain.venues.cex import CcxtVenue

WORKER = Path(__file__).with_name("_scale_worker.py")
API_KEY, SECRET = "scale-key", "scale-secret"
OURS = f"acct-{API_KEY}"
START = {"USDC": Decimal(1_000_000), "ETH": Decimal(300)}
N_TWAP, N_DIRECT = 9, 9
TTL_S = 2.0


async def _intents(cfg: dict[str, object]) -> list[Intent]:
    """TWAP and direct buys, marketable (limit 1% over the ask): they fill as the book allows."""
    clock = SystemClock()
    venue = CcxtVenue(venue_config(cfg), clock=clock)
    await venue.start()
    try:
        instrument = venue.market(SYMBOL).instrument
        _, ask = await _touch(venue, instrument)
    finally:
        await venue.close()
    limit = (ask * Decimal("1.01")).quantize(Decimal("0.01"))
    out = []
    for i in range(N_TWAP + N_DIRECT):
        twap = i % 2 == 0
        out.append(
            Intent.create(
                intent_id=f"s{i}",
                account=ACCOUNT,
                instrument=instrument,
                side=Side.BUY,
                quantity="0.04" if twap else "0.01",
                venues=[VENUE],
                now_ns=clock.now_ns(),
                limit_price=str(limit),
                algo="twap" if twap else "direct",
                algo_params={"duration": "10s", "slices": 4} if twap else None,
            )
        )
    return out


def _spawn(workdir: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(workdir), name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(what: str, done: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_sigkill_of_a_worker_mid_twap_another_takes_over_and_nothing_is_sent_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    config = SimulatorConfig(
        seed=20261203,
        agent_interval_s=0.03,
        taker_prob=0.0,
        fast_depth_interval_s=0.05,
        weight_limit=10_000_000,
        order_limit_10s=100_000,
    )
    with run_in_thread(config) as sim:
        sim.call(lambda: sim.simulator.create_account(API_KEY, SECRET, START))
        urls = sim.simulator.binance_urls(ccxt_pro.binance().urls["api"])
        cfg = {"api_key": API_KEY, "secret": SECRET, "urls": urls}
        cfg |= {"store": postgres_url, "ttl_s": TTL_S}
        (tmp_path / "cfg.json").write_text(json.dumps(cfg))
        store = open_store(postgres_url)
        leases = Leases(store)
        procs = {name: _spawn(tmp_path, name) for name in ("w1", "w2", "w3")}
        try:
            ready = [tmp_path / f"ready-{n}" for n in procs]
            _wait("workers ready", lambda: all(r.exists() for r in ready), 60)
            # made now: a TWAP's horizon starts at its intent's creation
            intents = asyncio.run(_intents(cfg))
            for intent in intents:
                assert leases.enqueue(intent.intent_id, intent.to_payload())

            twaps = {f"parent:{i.intent_id}" for i in intents if i.algo == "twap"}

            def mid_twap(owner: str) -> set[str]:
                held = {
                    info.resource
                    for info in leases.leases()
                    if info.owner == owner and info.live and info.resource in twaps
                }
                return {r for r in held if leases.sends(r)}

            _wait("w1 to send a TWAP child", lambda: mid_twap("w1"), 60)
            victims = {
                i.resource for i in leases.leases() if i.owner == "w1" and i.released_at_ns is None
            }
            procs["w1"].send_signal(signal.SIGKILL)
            procs["w1"].wait()
            # w2 paused mid-TWAP past its leases (SIGSTOP), resumed once w3 took them over
            _wait("w2 to send a TWAP child", lambda: mid_twap("w2"), 60)
            paused = mid_twap("w2")
            procs["w2"].send_signal(signal.SIGSTOP)
            try:
                taken = lambda: all(  # noqa: E731
                    i.owner == "w3" or i.released_at_ns is not None
                    for i in leases.leases()
                    if i.resource in paused
                )
                _wait("w3 to take w2's TWAPs over", taken, 60)
            finally:
                procs["w2"].send_signal(signal.SIGCONT)
            _wait("every intent to finish", lambda: leases.open_intents() == 0, 90)
            for name in ("w2", "w3"):
                procs[name].send_signal(signal.SIGTERM)
            for name in ("w2", "w3"):
                _, err = procs[name].communicate(timeout=30)
                assert procs[name].returncode == 0, err.decode()
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        engine = sim.simulator.engine
        sim_orders = sim.call(lambda: engine.all_orders(OURS, "ETHUSDC"))

        lease_rows = {i.resource: i for i in leases.leases()}
        sends = {r: leases.sends(r) for r in lease_rows}
        records = list(store.read_all())
        assert verify_audit(store).ok
        store.close()

    replay = Projections()
    for r in records:
        replay.apply(event_from_payload(r.event_type, r.version, r.payload))
    # every intent ended, none forgotten, none overfilled: a direct buy filled; a TWAP filled,
    # or its schedule ran out while its parent waited for a take-over (it ends, cleanly)
    ended_short = []
    for intent in intents:
        parent = replay.order(replay.intents[intent.intent_id])
        assert parent.is_terminal, parent
        assert parent.filled_quantity <= intent.quantity, parent
        if parent.filled_quantity < intent.quantity:
            assert intent.algo == "twap", parent
            ended_short.append(intent.intent_id)
    assert len(ended_short) <= N_TWAP // 2, ended_short
    # no client order id reached the simulator twice; each was a fenced, recorded send
    placed = Counter(o.client_order_id for o in sim_orders)
    assert placed and max(placed.values()) == 1, [c for c, n in placed.items() if n > 1]
    recorded = {s.send_id: s for rs in sends.values() for s in rs}
    assert set(placed) <= set(recorded)
    for o in sim_orders:
        mine = replay.orders[replay.by_client_order_id[o.client_order_id]]
        assert mine.filled_quantity == o.executed_qty, o.client_order_id
        send = recorded[o.client_order_id]
        assert send.resource == f"parent:{mine.intent_id}"
    # w2, resumed, learned from the store that it lost its leases (a refused send or
    # heartbeat) and stopped working those parents
    log_w2 = (tmp_path / "log-w2.txt").read_text()
    assert "is stale" in log_w2 and "held by 'w3'" in log_w2, log_w2[-2000:]
    # w1's parents moved: taken over at epoch 2 by another worker, which sent under that epoch
    taken = [r for r in victims if lease_rows[r].token >= 2]
    assert taken, "no parent of the killed worker was taken over"
    assert all(lease_rows[r].owner in ("w2", "w3") for r in taken)
    assert any(s.token >= 2 and s.owner != "w1" for r in taken for s in sends[r]), (
        "no send after a take-over: kill earlier in the TWAP"
    )


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
