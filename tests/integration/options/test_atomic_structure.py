"""A 4-leg iron condor on the devnet's OptionsMarket as ONE BatchExecutor transaction: it opens
in one transaction, a leg whose quote became invalid (cancelled, expired, priced beyond the
guard) means nothing at all happens, and at expiry it settles to the builder's payoff, to the
wei."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from onchain_helpers import balance, erc20, market, onchain_venue, put_of, store_at

from oms_chain.devnet.options_maker import OptionsMaker
from oms_chain.devnet.options_market import set_feed_price, warp_to
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import VenueRejected
from oms_chain.model.ids import client_order_id
from oms_chain.model.intent import Side
from oms_chain.strategies import OptionSeries, Structure, iron_condor, payoff_table
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options import OnchainOptionsVenue
from oms_chain.venues.options.batch import AtomicOptionsBatch, NetPremiumExceeded

D = Decimal
STRIKES = (2000, 2500, 3500, 4000)
WETH_ABI = [
    {
        "name": "deposit",
        "type": "function",
        "inputs": [],
        "outputs": [],
        "stateMutability": "payable",
    }
]


def _fund(l1: DevnetChain, owner: str, maker: str, executor: str) -> None:
    weth = l1.book.address("WETH")
    w3 = l1.w3
    for who, eth in ((owner, 20), (maker, 50)):
        tx = (
            w3.eth.contract(address=weth, abi=WETH_ABI)
            .functions.deposit()
            .transact({"from": who, "value": eth * 10**18})
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    for sym, amount in (("USDC", 20_000 * 10**6), ("WETH", 10 * 10**18)):
        tx = erc20(l1, sym).functions.transfer(executor, amount).transact({"from": owner})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def _list_wings(l1: DevnetChain, owner: str, expiry_s: int) -> None:
    """The devnet lists 2500 / 3000 / 3500; an iron condor needs two more strikes."""
    mk = market(l1).contract
    usdc, weth = l1.book.address("USDC"), l1.book.address("WETH")
    for strike in (2000, 4000):
        for is_call in (True, False):
            tx = mk.functions.listSeries(
                weth, usdc, strike * 10**6, expiry_s, is_call, 10**17
            ).transact({"from": owner})
            assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@pytest.fixture
async def world(
    l1: DevnetChain,
    maker: OptionsMaker,
    maker_account: DevAccount,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> AsyncIterator[tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure]]:
    owner = devnet_accounts[0]  # the world's BatchExecutor belongs to the deployer
    executor = l1.book.address("BatchExecutor")
    _fund(l1, owner.address, maker_account.address, executor)
    async with onchain_venue(
        l1, owner.private_key, store_at(tmp_path), (maker.url,), executor=executor
    ) as venue:
        expiry_ns = put_of(venue, 2500).expiry_ns
        _list_wings(l1, owner.address, expiry_ns // 10**9)
        await venue.discover()
        c = put_of(venue, 2500)
        series = OptionSeries(
            underlying=c.underlying,
            quote=c.quote,
            settlement=c.settlement,
            size_decimals=c.size_decimals,
        )
        structure = iron_condor(series, expiry_ns, STRIKES, "1", listed=venue.instruments())
        yield venue, AtomicOptionsBatch(venue), structure


def _orders(structure: Structure, tag: str) -> list[PlaceOrder]:
    return [
        PlaceOrder(
            client_order_id=client_order_id(f"{tag}-leg{i}", 0),
            instrument=leg.contract,
            side=Side(leg.side.value),
            quantity=leg.quantity,
            limit_price=None,
        )
        for i, leg in enumerate(structure.legs)
    ]


def _snapshot(l1: DevnetChain, venue: OnchainOptionsVenue, structure: Structure) -> Any:
    ex = venue.holder
    sids = [venue.series_id(leg.contract) for leg in structure.legs]
    return (
        balance(l1, "USDC", ex),
        balance(l1, "WETH", ex),
        tuple(market(l1).position(ex, s) for s in sids),
        l1.w3.eth.get_transaction_count(l1.accounts[0].address),
    )


async def test_iron_condor_opens_in_one_transaction_and_settles_to_the_builders_payoff(
    l1: DevnetChain, world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure]
) -> None:
    venue, batch, structure = world
    usdc0, weth0, _, nonce0 = _snapshot(l1, venue, structure)
    prepared = await batch.prepare(
        client_order_id("ic-open", 0), _orders(structure, "ic"), max_net_premium=D(0)
    )
    assert prepared.net_premium < 0  # the short iron condor is a credit
    sent = await batch.send(prepared)
    done = await batch.wait(sent.batch_id)
    assert done.all_filled and done.filled == (10, 10, 10, 10)
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0 + 1  # ONE tx
    # sending the same batch again sends nothing
    assert (await batch.send(prepared)).tx_hash == done.tx_hash
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0 + 1
    usdc1, weth1, positions, _ = _snapshot(l1, venue, structure)
    assert positions == ((10, 0), (0, 10), (0, 10), (10, 0))
    put_collateral = 10 * 2500 * 10**5  # 10 contracts x 0.1 ETH x 2,500 USDC
    call_collateral = 10 * 10**17
    assert usdc1 - usdc0 == -prepared.net_premium - put_collateral
    assert weth1 - weth0 == -call_collateral

    expiry_s = structure.expiries[0] // 10**9
    warp_to(l1.w3, expiry_s + 60)
    owner = l1.accounts[0].address
    settle_at = D(1800)
    set_feed_price(l1.w3, l1.book.address("OracleETHUSD"), settle_at, sender=owner)
    long_put, short_put, short_call, long_call = (leg.contract for leg in structure.legs)
    await venue.redeem(long_put)
    await venue.withdraw(short_put)
    await venue.withdraw(short_call)
    assert (await venue.redeem(long_call)).payoff == 0  # out of the money
    usdc2, weth2, _, _ = _snapshot(l1, venue, structure)
    (row,) = payoff_table(structure, [settle_at], net_premium=D(0))
    # what the structure received at expiry, net of the collateral it had posted
    assert (usdc2 - usdc1) - put_collateral == int(row.payoff.scaleb(6))
    assert weth2 - weth1 == call_collateral  # the calls expired worthless: collateral back
    assert row.payoff == D(-500)


async def test_a_cancelled_leg_quote_means_nothing_at_all_happens(
    l1: DevnetChain,
    world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure],
    maker_account: DevAccount,
) -> None:
    venue, batch, structure = world
    before = _snapshot(l1, venue, structure)
    prepared = await batch.prepare(
        client_order_id("ic-cxl", 0), _orders(structure, "cxl"), max_net_premium=D(0)
    )
    tx = market(l1).contract.functions.bumpNonce().transact({"from": maker_account.address})
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    with pytest.raises(VenueRejected, match="no leg was sent"):
        await batch.send(prepared)
    assert _snapshot(l1, venue, structure) == before
    assert await batch.status(prepared.batch_id) is None


async def test_an_expired_leg_quote_means_nothing_at_all_happens(
    l1: DevnetChain, world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure]
) -> None:
    venue, batch, structure = world
    prepared = await batch.prepare(
        client_order_id("ic-exp", 0), _orders(structure, "exp"), max_net_premium=D(0)
    )
    assert prepared.package is not None  # the maker signs all four legs as one package
    warp_to(l1.w3, prepared.deadline + 1)
    before = _snapshot(l1, venue, structure)
    with pytest.raises(VenueRejected, match="no leg was sent"):
        await batch.send(prepared)
    assert _snapshot(l1, venue, structure) == before


async def test_a_net_premium_beyond_the_guard_is_refused_before_and_on_chain(
    l1: DevnetChain, world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure]
) -> None:
    venue, batch, structure = world
    before = _snapshot(l1, venue, structure)
    with pytest.raises(NetPremiumExceeded, match="max_net_premium -100000"):
        await batch.prepare(
            client_order_id("ic-g", 0), _orders(structure, "g"), max_net_premium=D(-100_000)
        )
    assert _snapshot(l1, venue, structure) == before
    # the guard holds on chain too: the same fills with a guard the credit cannot meet,
    # forced past the simulation, revert as a whole
    prepared = await batch.prepare(
        client_order_id("ic-g2", 0), _orders(structure, "g2"), max_net_premium=D(0)
    )
    too_tight = prepared.net_premium - 1  # demand 1 base unit more credit than the quotes give
    data = batch._calldata(
        list(prepared.legs),
        prepared.legs[0].listing.quote,
        too_tight,
        dict(prepared.pulls),
        package=prepared.package,
    )
    owner = l1.accounts[0].address
    tx = l1.w3.eth.send_transaction(
        {"from": owner, "to": batch.executor, "data": "0x" + data.hex(), "gas": 3_000_000}
    )
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    usdc, weth, positions, _ = _snapshot(l1, venue, structure)
    assert (usdc, weth, positions) == before[:3]


# --- the structure runner: one parent, one child per leg, every step an event ---------------


class _Crash(Exception):
    """Stands for the process dying at a step."""


def _request(structure: Structure, sid: str, **limits: Any) -> Any:
    from oms_chain.risk import MarketSnapshot
    from oms_chain.service.structures import StructureRequest
    from oms_chain.strategies import StructureLimits

    market_now = structure.expiries[0] - 3 * 86_400 * 10**9
    snap = MarketSnapshot(
        now_ns=market_now,
        spots={structure.underlying_symbol: D(3000)},
        vols={leg.contract.id: D("0.65") for leg in structure.legs},
    )
    return StructureRequest(
        structure_id=sid,
        structure=structure,
        account="main",
        limits=StructureLimits(**limits),
        market=snap,
    )


def _runner(store: Any, batch: AtomicOptionsBatch, on_step: Any = None) -> Any:
    from oms_chain.model.clock import ManualClock
    from oms_chain.service.structures import StructureRunner

    return StructureRunner(store=store, clock=ManualClock(1), batch=batch, on_step=on_step)


async def test_the_runner_records_every_step_and_opens_in_one_transaction(
    l1: DevnetChain,
    world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure],
    tmp_path: Path,
) -> None:
    from oms_chain.service.structures import list_structures, read_structure

    _venue, batch, structure = world
    store = store_at(tmp_path, "structures.db")
    nonce0 = l1.w3.eth.get_transaction_count(l1.accounts[0].address)
    steps: list[str] = []
    rec = await _runner(store, batch, steps.append).run(
        _request(structure, "ic-1", max_loss=D(600), max_net_premium=D(0))
    )
    assert rec.status == "open" and rec.tx_hash is not None
    assert steps == ["submitted", "accepted", "sending", "sent"] + [
        f"leg {i} filled" for i in range(4)
    ] + ["completed"]
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0 + 1
    assert rec.net_premium is not None and rec.net_premium < 0
    assert rec.max_loss == 500 + rec.net_premium  # wing width x size, less the credit
    assert rec.margin is not None and rec.margin > 0
    assert sorted(rec.filled) == [0, 1, 2, 3]
    assert [r.structure_id for r in list_structures(store)] == ["ic-1"]
    assert read_structure(store, "ic-1") is not None
    # the same request again: nothing more is sent, nothing more recorded
    again = await _runner(store, batch).run(
        _request(structure, "ic-1", max_loss=D(600), max_net_premium=D(0))
    )
    assert again.version == rec.version
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0 + 1


async def test_the_gate_judges_the_structure_as_a_whole_and_nothing_is_sent(
    l1: DevnetChain,
    world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure],
    tmp_path: Path,
) -> None:
    _venue, batch, structure = world
    store = store_at(tmp_path, "structures.db")
    nonce0 = l1.w3.eth.get_transaction_count(l1.accounts[0].address)
    rec = await _runner(store, batch).run(_request(structure, "ic-loss", max_loss=D(100)))
    assert rec.status == "rejected" and "max_loss" in (rec.reason or "")
    rec = await _runner(store, batch).run(_request(structure, "ic-m", max_margin=D(1)))
    assert rec.status == "rejected" and "max_margin" in (rec.reason or "")
    rec = await _runner(store, batch).run(_request(structure, "ic-p", max_net_premium=D(-1000)))
    assert rec.status == "rejected" and "max_net_premium" in (rec.reason or "")
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0


@pytest.mark.parametrize("crash_at", ["submitted", "accepted", "sending", "after-send", "sent"])
async def test_a_restart_at_any_step_sends_the_batch_exactly_once(
    l1: DevnetChain,
    world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure],
    tmp_path: Path,
    crash_at: str,
) -> None:
    _venue, batch, structure = world
    store = store_at(tmp_path, "structures.db")
    nonce0 = l1.w3.eth.get_transaction_count(l1.accounts[0].address)

    def die(step: str) -> None:
        if step == crash_at:
            raise _Crash(step)

    runner = _runner(store, batch, die)
    if crash_at == "after-send":  # signed and broadcast, the process dies before recording it

        def sent_then_die(rec: Any, status: Any) -> None:
            raise _Crash("after-send")

        runner._sent = sent_then_die
    req = _request(structure, f"ic-{crash_at}")
    with pytest.raises(_Crash):
        await runner.run(req)
    rec = await _runner(store, batch).resume(req)
    assert rec.status == "open", rec.to_json()
    assert l1.w3.eth.get_transaction_count(l1.accounts[0].address) == nonce0 + 1


async def test_a_reorg_that_replaces_the_batch_reverses_every_leg_together(
    l1: DevnetChain,
    world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure],
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    from eth_account import Account

    from oms_chain.model.orders import SettlementStatus

    venue, batch, structure = world
    store = store_at(tmp_path, "structures.db")
    owner = devnet_accounts[0]
    before = _snapshot(l1, venue, structure)
    l1.process.mine(4)  # blocks with state in memory to branch from (the dump has no history)
    runner = _runner(store, batch)
    rec = await runner.run(_request(structure, "ic-reorg"))
    assert rec.status == "open" and rec.tx_hash is not None
    tx = l1.w3.eth.get_transaction(rec.tx_hash)
    included_at = int(tx["blockNumber"])
    # the branch that wins carries another transaction of ours at the batch's nonce
    other = Account.sign_transaction(
        {
            "to": owner.address,
            "value": 0,
            "gas": 21_000,
            "nonce": int(tx["nonce"]),
            "chainId": l1.chain_id,
            "maxFeePerGas": int(tx["maxFeePerGas"]) * 2,
            "maxPriorityFeePerGas": int(tx["maxPriorityFeePerGas"]) * 2,
            "type": 2,
        },
        owner.private_key,
    )
    depth = l1.process.block_number() - included_at + 1
    l1.process.rpc("anvil_reorg", [depth, [["0x" + other.raw_transaction.hex(), 0]]])
    gone = (SettlementStatus.DROPPED, SettlementStatus.REPLACED)
    for _ in range(200):
        await venue.account.poll()
        status = await batch.status(rec.reference)  # type: ignore[arg-type]
        if status is not None and status.settlement in gone:
            break
        await asyncio.sleep(0.05)
    assert status is not None and status.rolled_back and status.filled == (0, 0, 0, 0)
    rec = await runner.reconcile("ic-reorg")
    assert rec.status == "rolled_back" and rec.filled == {}
    assert "every leg" in (rec.reason or "")
    usdc, weth, positions, _ = _snapshot(l1, venue, structure)
    assert (usdc, weth, positions) == before[:3]  # no leg, no premium moved


def test_the_cli_executes_an_iron_condor_in_one_transaction_then_lists_and_shows_it(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    from datetime import UTC, datetime

    from oms_chain.cli import main
    from oms_chain.devnet.options_maker import MakerConfig, run_maker_in_thread

    owner, maker_key = devnet_accounts[0], devnet_accounts[3]
    _fund(l1, owner.address, maker_key.address, l1.book.address("BatchExecutor"))
    expiry_s = market(l1).series(1).expiry
    _list_wings(l1, owner.address, expiry_s)
    day = datetime.fromtimestamp(expiry_s, UTC).strftime("%Y-%m-%d")
    maker = run_maker_in_thread(
        market(l1), maker_key.private_key, config=MakerConfig(max_size=1_000_000)
    )
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    nonce0 = l1.w3.eth.get_transaction_count(owner.address)
    try:
        argv = ["strategy", "iron-condor", "--underlying", "ETH", "--expiry", day,
                "--strikes", "2000,2500,3500,4000", "--size", "1", "--venue", "onchain",
                "--maker", maker.url, "--rpc-url", l1.rpc_url, "--store", store,
                "--id", "ic-cli", "--max-loss", "600", "--max-premium", "0"]  # fmt: skip
        assert main(argv) == 4  # stdin is no terminal: refused, nothing sent without --yes
        assert "confirm with --yes" in capsys.readouterr().err
        assert l1.w3.eth.get_transaction_count(owner.address) == nonce0
        assert main([*argv, "--yes", "--json"]) == 0
    finally:
        maker.stop()
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "open" and doc["kind"] == "iron_condor" and doc["tx_hash"]
    assert [leg["side"] for leg in doc["legs"]] == ["buy", "sell", "sell", "buy"]
    assert all(leg["filled"] == "1" for leg in doc["legs"])
    assert l1.w3.eth.get_transaction_count(owner.address) == nonce0 + 1
    assert main(["strategy", "list", "--store", store, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["structure_id"] == "ic-cli" and row["status"] == "open"
    assert main(["--wide", "strategy", "show", "ic-cli", "--store", store]) == 0
    out = capsys.readouterr().out
    for text in ("iron_condor ic-cli (atomic): open", "StructureAccepted", "StructureLegFilled"):
        assert text in out, text
    assert main(["strategy", "show", "nope", "--store", store]) == 2


async def test_a_straddle_on_chain_and_on_the_exchange_is_unwound_when_the_exchange_refuses(
    l1: DevnetChain,
    world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure],
    sim: Any,
    sim_clock: Any,
    deribit_venue: Any,
) -> None:
    from oms_chain.engine import InMemoryEventLog
    from oms_chain.model.ids import ClientOrderId
    from oms_chain.service.leg_coordinator import LegCoordinator, LegRoute

    venue, batch, _structure = world
    put = put_of(venue, 3000)
    call = deribit_venue.contract("ETH-11DEC26-3000-C")
    sid = venue.series_id(put)

    async def close_put() -> object:
        return await batch.close_pairs(put)

    routes = [
        LegRoute(
            venue=venue,
            order=PlaceOrder(
                client_order_id=ClientOrderId("xv-put"),
                instrument=put,
                side=Side.BUY,
                quantity=D(1),
            ),
            liquidity_risk=D(1),  # the on-chain leg first
            delta_usd=D("-0.5") * 3000,
            after_unwind=close_put,
        ),
        LegRoute(
            venue=deribit_venue,
            order=PlaceOrder(
                client_order_id=ClientOrderId("xv-call"),
                instrument=call,
                side=Side.BUY,
                quantity=D(1),
            ),
            delta_usd=D("0.5") * 3000,
        ),
    ]
    sim.inject_fault("fail", "private/buy", count=None, status=502, code=10040)

    async def sleep(seconds: float) -> None:
        sim_clock.advance(int(seconds * 1e9))
        await asyncio.sleep(0.01)  # the chain mines meanwhile

    coordinator = LegCoordinator(store=InMemoryEventLog(), clock=sim_clock, sleep=sleep)
    rec = await coordinator.run(
        "xv-straddle", kind="straddle", account="main", routes=routes,
        time_limit_ns=10 * 10**9, slippage_bps=D(2000),
    )  # fmt: skip
    sim.faults.clear()
    assert rec.status == "unwound", rec.to_json()
    assert market(l1).position(venue.holder, sid) == (0, 0)  # bought, sold back, closed
    assert await deribit_venue.positions() == []
    assert rec.max_delta_usd == D(1500) and rec.legged_ns > 0
    assert rec.exposure_usd_s == D(1500) * D(rec.legged_ns) / D(10**9)


async def test_two_legs_on_one_series_report_their_own_fills(
    l1: DevnetChain, world: tuple[OnchainOptionsVenue, AtomicOptionsBatch, Structure]
) -> None:
    venue, batch, structure = world
    put = structure.legs[0].contract  # the long wing
    orders = [
        PlaceOrder(
            client_order_id=client_order_id(f"same-leg{i}", 0),
            instrument=put,
            side=Side.BUY,
            quantity=D(q),
            limit_price=None,
        )
        for i, q in enumerate(("1", "2"))
    ]
    prepared = await batch.prepare(client_order_id("same", 0), orders, max_net_premium=D(10**6))
    done = await batch.wait((await batch.send(prepared)).batch_id)
    assert done.succeeded and done.filled == (10, 20)  # not 30 each: one log per leg's fill
    assert market(l1).position(venue.holder, venue.series_id(put)) == (30, 0)
