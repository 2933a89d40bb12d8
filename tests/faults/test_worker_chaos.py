"""Issue 16's fault test: three OMS workers on one real PostgreSQL store, 200 intents across the
exchange simulator and a Uniswap pool on Anvil, and 20 SIGKILLs at seeded random moments.

The exchange simulator runs in this process (its own thread, loopback port, market maker
live); the chain is the suite's Anvil devnet. Three worker slots run ``_scale_worker.py``
children on the same PostgreSQL store (a server started by the suite); each child is a worker
with a CcxtVenue on the simulator and stands by for the trader's chain account lease: the one
holding it opens the Uniswap V3 venue and works the swaps (enqueued with ``needs`` = that
account), the others wait. A worker that finds its leases taken (a stall past its ttl on a
loaded machine) stops; the test restarts it, as a supervisor would. The test enqueues the
intents in 20 waves; after each wave it waits a seeded random while, SIGKILLs one running
worker (every third kill the account's holder, so the account moves) and starts a new
incarnation in its slot. Leases last 3 s. Afterwards:

- every intent is finished and its parent ended, never overfilled (a fill or a clean end);
- the simulator's own orders: no client order id twice, each one a send recorded under its
  parent's lease; its executed quantity per order equals our fills;
- the chain's own transactions from the trader: nonces contiguous (none used twice, none
  skipped), each one a swap of exactly one of our children (no duplicate swap);
- the store's positions equal the venues' balances: the exchange account's ETH and USDC, the
  chain account's WBTC and USDC to the base unit;
- the account lease moved between workers, and swaps were sent by several of them;
- the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import json
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
from _cex_worker import ACCOUNT, SYMBOL, VENUE, _touch, venue_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "amm"))

from amm_chain_helpers import erc20, transact

from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.exchange import SimulatorConfig, run_in_thread
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model import Intent, Side, SystemClock, event_from_payload
from oms_chain.model.instruments import Instrument
from oms_chain.service.worker import account_resource
from oms_chain.store import Leases, open_store, verify_audit
from oms_chain.store.projections import Projections
from oms_chain.venues.amm import uniswap_venues
from oms_chain.venues.amm.approvals import MAX_UINT256
from oms_chain.venues.cex import CcxtVenue

WORKER = Path(__file__).with_name("_scale_worker.py")
API_KEY, SECRET = "chaos-key", "chaos-secret"
OURS = f"acct-{API_KEY}"
START = {"USDC": Decimal(1_000_000), "ETH": Decimal(300)}
WAVES, CEX_PER_WAVE, AMM_PER_WAVE = 20, 7, 3  # 200 intents: 140 on the exchange, 60 swaps
KILLS = 20
TTL_S = 3.0
SEED = 20261216
SLOTS = ("w1", "w2", "w3")


async def _cex_instrument(cfg: dict[str, object]) -> tuple[Instrument, Decimal]:
    venue = CcxtVenue(venue_config(cfg), clock=SystemClock())
    await venue.start()
    try:
        instrument = venue.market(SYMBOL).instrument
        _, ask = await _touch(venue, instrument)
    finally:
        await venue.close()
    return instrument, (ask * Decimal("1.03")).quantize(Decimal("0.01"))


def _amm_instrument(l1: DevnetChain, key: str, vid: str, tmp_path: Path) -> Instrument:
    store = open_store(f"sqlite:///{tmp_path / 'lookup.db'}")
    try:
        uni = uniswap_venues(l1.chain_id, l1.rpc_url, LocalSigner(key), store, book=l1.book)
        inst = next(i for i in uni.venue(vid).instruments() if i.symbol == "WBTC/USDC")
        asyncio.run(uni.close())
        return inst
    finally:
        store.close()


class Slots:
    """The three worker slots: each runs one incarnation (``w1``, ``w1g2``, ...) at a time."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.gen: Counter[str] = Counter()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.names: dict[str, str] = {}

    def start(self, slot: str) -> None:
        self.gen[slot] += 1
        name = slot if self.gen[slot] == 1 else f"{slot}g{self.gen[slot]}"
        self.names[slot] = name
        self.procs[slot] = subprocess.Popen(
            [sys.executable, str(WORKER), str(self.workdir), name],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / f"err-{name}.txt").open("wb"),
        )

    def revive(self) -> int:
        """Start a new incarnation in every slot whose worker exited on its own."""
        gone = [s for s, p in self.procs.items() if p.poll() is not None]
        for slot in gone:
            self.start(slot)
        return len(gone)

    def ready(self, slot: str) -> bool:
        return (self.workdir / f"ready-{self.names[slot]}").exists()

    def kill(self, slot: str) -> None:
        self.procs[slot].send_signal(signal.SIGKILL)
        self.procs[slot].wait()

    def stop_all(self) -> dict[str, int]:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        return {s: p.wait(timeout=60) for s, p in self.procs.items()}

    def kill_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


def _position(replay: Projections, inst: Instrument) -> Decimal:
    held = [p.quantity for p in replay.positions.values() if p.key.instrument_id == inst.id]
    return sum(held, Decimal(0))


def _wait(what: str, done: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling real processes, not synchronising with them


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_200_intents_on_exchange_and_pool_survive_20_sigkills_of_3_workers(
    tmp_path: Path,
    postgres_url: str,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    trader = devnet_accounts[4]
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    router = l1.book.address("SwapRouter")
    transact(l1, erc20(l1, "WBTC").functions.approve(router, MAX_UINT256), trader.address)
    w3 = l1.w3
    first_block = w3.eth.block_number + 1
    first_nonce = w3.eth.get_transaction_count(trader.address)
    chain_before = {s: int(erc20(l1, s).functions.balanceOf(trader.address).call()) for s in
                    ("WBTC", "USDC")}  # fmt: skip
    amm_inst = _amm_instrument(l1, trader.private_key, vid, tmp_path)
    account = account_resource(l1.chain_id, trader.address)
    config = SimulatorConfig(
        seed=SEED,
        agent_interval_s=0.03,
        taker_prob=0.0,
        fast_depth_interval_s=0.05,
        weight_limit=10_000_000,
        order_limit_10s=100_000,
    )
    with run_in_thread(config) as sim:
        sim.call(lambda: sim.simulator.create_account(API_KEY, SECRET, START))
        urls = sim.simulator.binance_urls(ccxt_pro.binance().urls["api"])
        cfg: dict[str, object] = {"api_key": API_KEY, "secret": SECRET, "urls": urls}
        cfg |= {"store": postgres_url, "ttl_s": TTL_S, "max_parents": 16}
        cfg["chain"] = {
            "rpc_url": l1.rpc_url,
            "chain_id": l1.chain_id,
            "book": l1.book.to_json(),
            "key": trader.private_key,
            "venue": vid,
            "symbol": "WBTC/USDC",
        }
        (tmp_path / "cfg.json").write_text(json.dumps(cfg))
        cex_inst, limit = asyncio.run(_cex_instrument(cfg))
        store = open_store(postgres_url)
        leases = Leases(store)
        slots = Slots(tmp_path)
        intents: list[Intent] = []
        kills: list[tuple[str, bool]] = []
        revived = 0
        try:
            for s in SLOTS:
                slots.start(s)
            _wait("a worker ready", lambda: any(slots.ready(s) for s in SLOTS), 90)
            now = SystemClock().now_ns
            for wave in range(WAVES):
                for k in range(CEX_PER_WAVE + AMM_PER_WAVE):
                    on_chain = k >= CEX_PER_WAVE
                    intent = Intent.create(
                        intent_id=f"x{wave}-{k}",
                        account="trader" if on_chain else ACCOUNT,
                        instrument=amm_inst if on_chain else cex_inst,
                        side=Side.SELL if on_chain else Side.BUY,
                        quantity="0.001" if on_chain else "0.01",
                        venues=[vid if on_chain else VENUE],
                        now_ns=now(),
                        limit_price=None if on_chain else str(limit),
                        max_slippage_bps=100 if on_chain else None,
                    )
                    intents.append(intent)
                    needs = [account] if on_chain else []
                    assert leases.enqueue(intent.intent_id, intent.to_payload(), needs=needs)
                time.sleep(rng.uniform(0.3, 1.5))  # the seeded moment of this wave's kill
                revived += slots.revive()
                holder = next(
                    (i.owner for i in leases.leases() if i.resource == account and i.live), None
                )
                running = [s for s in SLOTS if slots.ready(s)]
                if not running:
                    _wait("a worker to be ready", lambda: any(slots.ready(s) for s in SLOTS), 90)
                    running = [s for s in SLOTS if slots.ready(s)]
                by_holder = [s for s in running if slots.names[s] == holder]
                victim = by_holder[0] if by_holder and wave % 3 == 0 else rng.choice(running)
                kills.append((slots.names[victim], slots.names[victim] == holder))
                slots.kill(victim)
                slots.start(victim)
            _wait("every worker ready", lambda: all(slots.ready(s) for s in SLOTS), 90)

            def finished() -> bool:
                nonlocal revived
                revived += slots.revive()
                return leases.open_intents() == 0

            _wait("every intent to finish", finished, 180)
            codes = slots.stop_all()
            assert set(codes.values()) == {0}, codes
        finally:
            slots.kill_all()
        engine = sim.simulator.engine
        sim_orders = sim.call(lambda: engine.all_orders(OURS, "ETHUSDC"))
        sim_balances = sim.call(
            lambda: {a: engine.accounts[OURS].total(a) for a in ("ETH", "USDC")}
        )
        lease_rows = {i.resource: i for i in leases.leases()}
        sends = {r: leases.sends(r) for r in lease_rows}
        records = list(store.read_all())
        assert verify_audit(store).ok
        store.close()
    head = w3.eth.block_number
    chain_txs = [
        tx
        for n in range(first_block, head + 1)
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]
        if tx["from"] == trader.address
    ]
    chain_after = {s: int(erc20(l1, s).functions.balanceOf(trader.address).call()) for s in
                   ("WBTC", "USDC")}  # fmt: skip

    replay = Projections()
    for r in records:
        replay.apply(event_from_payload(r.event_type, r.version, r.payload))
    assert len(kills) == KILLS and len(intents) == WAVES * (CEX_PER_WAVE + AMM_PER_WAVE)
    # every intent ended, none forgotten, none overfilled
    outcomes: Counter[str] = Counter()
    for intent in intents:
        parent = replay.order(replay.intents[intent.intent_id])
        assert parent.is_terminal, parent
        assert parent.filled_quantity <= intent.quantity, parent
        outcomes[parent.status.value] += 1
    why = Counter(
        f"{r.event_type}: {r.payload.get('reason')}"
        for r in records
        if r.payload.get("reason") and r.event_type not in ("FillRecorded",)
    )
    assert outcomes["filled"] >= 0.95 * len(intents), (outcomes, why.most_common(8))
    recorded = {s.send_id: s for rs in sends.values() for s in rs}
    children = [o for o in replay.orders.values() if o.parent_id is not None]
    # the exchange: no client order id twice, each a recorded send of its own parent
    placed = Counter(o.client_order_id for o in sim_orders)
    assert placed and max(placed.values()) == 1, [c for c, n in placed.items() if n > 1]
    assert set(placed) <= set(recorded)
    for o in sim_orders:
        mine = replay.orders[replay.by_client_order_id[o.client_order_id]]
        assert mine.filled_quantity == o.executed_qty, o.client_order_id
        assert recorded[o.client_order_id].resource == f"parent:{mine.intent_id}"
    # the chain: contiguous nonces, every transaction a swap of one child, none twice
    nonces = [int(tx["nonce"]) for tx in chain_txs]
    assert sorted(nonces) == list(range(first_nonce, first_nonce + len(chain_txs))), nonces
    assert all(tx["to"] == router for tx in chain_txs)
    swaps = Counter("0x" + bytes(tx["hash"]).hex() for tx in chain_txs)
    amm_kids = [c for c in children if c.venue == vid]
    kid_txs = Counter(c.settlement.tx_hash for c in amm_kids if c.settlement is not None)
    assert max(kid_txs.values()) == 1 and set(kid_txs) == set(swaps), (kid_txs, swaps)
    assert all(recorded[c.client_order_id].resource == f"parent:{c.intent_id}" for c in amm_kids)
    # positions equal the venues' balances
    fills = list(replay.fills.values())
    cex_fills = [f for f in fills if f.venue == VENUE]
    amm_fills = [f for f in fills if f.venue == vid]
    eth_fees = sum((f.fee for f in cex_fills if f.fee_currency == "ETH"), Decimal(0))
    usdc_fees = sum((f.fee for f in cex_fills if f.fee_currency == "USDC"), Decimal(0))
    cex_pos = _position(replay, cex_inst)
    assert sim_balances["ETH"] - START["ETH"] == cex_pos - eth_fees
    spent = sum((f.quantity * f.price for f in cex_fills), Decimal(0))
    assert sim_balances["USDC"] - START["USDC"] == -spent - usdc_fees
    amm_pos = _position(replay, amm_inst)
    assert Decimal(chain_after["WBTC"] - chain_before["WBTC"]).scaleb(-8) == amm_pos
    got = sum(((f.quantity * f.price).quantize(Decimal("0.000001")) for f in amm_fills),
              Decimal(0))  # fmt: skip
    assert Decimal(chain_after["USDC"] - chain_before["USDC"]).scaleb(-6) == got
    # the account moved between incarnations, and several of them swapped
    assert lease_rows[account].token >= 3, lease_rows[account]
    swappers = {recorded[c.client_order_id].owner for c in amm_kids}
    assert len(swappers) >= 2, swappers
    summary = {
        "kills": len(kills),
        "account_holder_kills": sum(h for _, h in kills),
        "intents": len(intents),
        "outcomes": dict(outcomes),
        "exchange_orders": len(sim_orders),
        "swaps": len(chain_txs),
        "account_epoch": lease_rows[account].token,
        "revived_after_exit": revived,
        "seconds": round(time.monotonic() - began, 1),
        "not_filled_because": dict(why),
    }
    print(json.dumps(summary))
    (tmp_path / "summary.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
