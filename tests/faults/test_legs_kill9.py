"""SIGKILL the leg-risk coordinator at each step of a cross-venue straddle and restart it.

The put is on the devnet's on-chain OptionsMarket (real Anvil, through the BatchExecutor), the
call on the Deribit-protocol exchange simulator (unmodified ccxt, simulator in a thread of this
process). A child process (``_legs_kill9_worker.py``) works the structure on the SQLite store
and stops dead at one point — right after an event is recorded, or right after a venue
accepted an order and before the coordinator recorded it — where it is SIGKILLed; the test then
restarts the coordinator on the same store and lets it finish. Checked against the venues' own
records: the chain's fills of the put, the exchange's orders by label and its positions — no
order sent twice, no leg forgotten, and the structure ends per its policy:

- ``all-or-unwind``, both venues answer: ``open``, one put fill, one call order;
- ``all-or-unwind``, the exchange refuses every buy: ``unwound``, the put bought and sold back
  (two fills), no option position anywhere;
- ``hedge-residual``, the exchange refuses two buys: the put's delta hedged by selling a put on
  the exchange, the call re-sent until it fills, the hedge bought back: ``open``.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "options"))

from _legs_world import CALL, CALL_ID, HEDGE_ID, PUT_ID, SID, VirtualClock, run, world
from kill9_harness import kill_when_ready
from onchain_helpers import erc20, market, store_at

from oms_chain.devnet.deribit import DeribitConfig, DeribitThread, run_deribit_in_thread
from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker, OptionsMakerThread
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.clock import ManualClock
from oms_chain.service.structures import read_structure

WORKER = Path(__file__).with_name("_legs_kill9_worker.py")
D = Decimal
KEY, SECRET = "k9-legs", "k9-legs-secret"
START_NS = 1_796_288_400 * 10**9  # 2026-12-03T09:00:00Z: the exchange lists ETH-11DEC26
WETH_ABI = [
    {"name": "deposit", "type": "function", "inputs": [], "outputs": [],
     "stateMutability": "payable"}
]  # fmt: skip

# (policy, buys the exchange refuses (None: all), where the child stops, the end)
CASES = {
    "put-started": ("all-or-unwind", 0, ["step", "StructureSendStarted", 1], "open"),
    "put-sent": ("all-or-unwind", 0, ["sent", PUT_ID], "open"),
    "put-filled": ("all-or-unwind", 0, ["step", "StructureLegFilled", 1], "open"),
    "call-started": ("all-or-unwind", 0, ["step", "StructureSendStarted", 2], "open"),
    "call-sent": ("all-or-unwind", 0, ["sent", CALL_ID], "open"),
    "call-filled": ("all-or-unwind", 0, ["step", "StructureLegFilled", 2], "open"),
    "call-missed": ("all-or-unwind", None, ["step", "StructureLegMissed", 1], "unwound"),
    "unwind-started": ("all-or-unwind", None, ["step", "StructureSendStarted", 3], "unwound"),
    "unwind-sent": ("all-or-unwind", None, ["sent", f"{PUT_ID}-u"], "unwound"),
    "hedge-started": ("hedge-residual", 2, ["step", "StructureSendStarted", 3], "open"),
    "hedge-sent": ("hedge-residual", 2, ["sent", f"{HEDGE_ID}-h1"], "open"),
    "hedge-recorded": ("hedge-residual", 2, ["step", "StructureHedged", 1], "open"),
}


def _fund(l1: DevnetChain, owner: str, maker: str, executor: str) -> None:
    w3 = l1.w3
    for who, eth in ((owner, 20), (maker, 50)):
        tx = (
            w3.eth.contract(address=l1.book.address("WETH"), abi=WETH_ABI)
            .functions.deposit()
            .transact({"from": who, "value": eth * 10**18})
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    for sym, amount in (("USDC", 20_000 * 10**6), ("WETH", 10 * 10**18)):
        tx = erc20(l1, sym).functions.transfer(executor, amount).transact({"from": owner})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@pytest.fixture
def exchange() -> Iterator[DeribitThread]:
    sim = run_deribit_in_thread(
        DeribitConfig(seed=3, agents_running=False, clock=ManualClock(START_NS))
    )
    sim.create_account(KEY, SECRET, {"ETH": D(100)})
    try:
        yield sim
    finally:
        sim.stop()


def _fills_of(l1: DevnetChain, holder: str) -> int:
    m = market(l1)
    logs = l1.w3.eth.get_logs(
        {"address": m.address, "fromBlock": 0, "toBlock": "latest",
         "topics": [m.contract.events.QuoteFilled().topic]}
    )  # fmt: skip
    args = [m.contract.events.QuoteFilled().process_log(x)["args"] for x in logs]
    return sum(1 for a in args if holder in (a.get("taker"), a.get("maker")))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", list(CASES))
def test_a_sigkill_at_any_step_sends_no_leg_twice_forgets_none_and_ends_per_policy(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], exchange: DeribitThread,
    tmp_path: Path, case: str,
) -> None:  # fmt: skip
    policy, refused, point, outcome = CASES[case]
    owner, maker_account = devnet_accounts[0], devnet_accounts[3]
    executor = l1.book.address("BatchExecutor")
    _fund(l1, owner.address, maker_account.address, executor)
    m = market(l1)
    agent = OptionsMaker(m, maker_account.private_key, config=MakerConfig(max_size=1_000_000))
    agent.prepare()
    maker = OptionsMakerThread(agent).start()
    put = min(
        (s for s in m.all_series() if not s.is_call and s.strike == 3000 * 10**6),
        key=lambda s: s.expiry,
    )
    sim = exchange.simulator
    if refused != 0:
        exchange.call(lambda: sim.inject_fault("fail", "private/buy", count=refused))
    cfg = {
        "rpc_url": l1.rpc_url,
        "chain_id": l1.chain_id,
        "market": m.address,
        "maker": maker.url,
        "executor": executor,
        "key": owner.private_key,
        "series_id": put.series_id,
        "api_key": KEY,
        "secret": SECRET,
        "urls": sim.deribit_urls(),
        "policy": policy,
        "start_ns": START_NS,
        "point": point,
    }
    try:
        ready = kill_when_ready(WORKER, tmp_path, cfg, seconds=240.0)
        assert ready["point"] == point, ready  # the child stopped where it was told to
        store = store_at(tmp_path)
        before = read_structure(store, SID)
        assert before is not None and not before.is_terminal

        async def restart() -> Any:
            clock = VirtualClock(before.ts_last + 10**9)  # the restarted process's clock
            async with world(cfg, store, clock) as w:
                rec = await run(w, store, clock, policy)
                positions = {p.name: p.quantity for p in await w.deribit.positions()}
                return rec, positions

        rec, positions = asyncio.run(restart())
        store.close()
    finally:
        exchange.call(lambda: sim.faults.clear())
        maker.stop()
    assert rec.status == outcome, rec.to_json()
    # the structure's own record: one write-ahead per order, one fill record per attempt
    started = [e.reference for e in rec.events if e.TYPE == "StructureSendStarted"]
    assert len(started) == len(set(started)), started
    filled = [e.reference for e in rec.events if e.TYPE == "StructureLegFilled"]
    assert len(filled) == len(set(filled)), filled
    # the exchange's own records: no label twice, and what it filled
    orders = [o for o in sim.exchange.orders.values() if o.client_id == KEY]
    labels = Counter(o.label for o in orders)
    assert all(n == 1 for n in labels.values()), labels
    done = {o.label: (o.direction, o.instrument.name, o.filled) for o in orders if o.filled}
    sid = put.series_id
    if outcome == "unwound":
        assert _fills_of(l1, executor) == 2  # the put bought once and sold back once
        assert m.position(executor, sid) == (0, 0)  # and closed against its short
        assert done == {} and positions == {}
        assert rec.filled == {}
    elif policy == "all-or-unwind":
        assert _fills_of(l1, executor) == 1  # the put filled exactly once
        assert m.position(executor, sid)[0] > 0 and m.position(executor, sid)[1] == 0
        assert done == {CALL_ID: ("buy", CALL, D(1))}
        assert positions == {CALL: D(1)}
        assert sorted(rec.filled) == [0, 1]
    else:  # hedge-residual: the call filled on its third attempt, the hedge sold and bought back
        assert _fills_of(l1, executor) == 1
        calls = [k for k, v in done.items() if v[1] == CALL]
        assert calls == [f"{CALL_ID}-r2"], done
        hedges = sorted((v[0], v[2]) for k, v in done.items() if k.startswith(HEDGE_ID))
        assert hedges == [("buy", D(1)), ("sell", D(1))], done
        assert positions == {CALL: D(1)}  # the hedge is closed
        recorded = [(e.side, e.quantity) for e in rec.events if e.TYPE == "StructureHedged"]  # type: ignore[attr-defined]
        if case == "hedge-started":  # killed before its send: the venue never saw it, so it
            assert recorded[0] == ("sell", D(0))  # is recorded as nothing and hedged afresh
            recorded = recorded[1:]
        assert recorded == [("sell", D(1)), ("buy", D(1))]
        assert rec.max_delta_usd == D(1500)
