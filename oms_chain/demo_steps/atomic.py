"""The iron condor opened atomically on our OptionsMarket: one ``BatchExecutor`` transaction
through the StructureRunner, from an in-process RFQ maker's quotes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from oms_chain.demo_steps._base import (
    StepResult,
    _check,
    _d,
    _erc20,
    _send,
)
from oms_chain.demo_steps.options import CONDOR_VOL, _independent_payoff
from oms_chain.devnet.options_market import (
    OptionsMarketClient,
)
from oms_chain.devnet.world import Devnet

# --- 2b. the iron condor opened atomically on the OptionsMarket ---------------------------

ATOMIC_STRIKES = (2000, 2500, 3500, 4000)
ATOMIC_WINGS = (2000, 4000)  # the devnet lists 2,500 / 3,000 / 3,500: the wings are listed here
ATOMIC_MAKER = 4  # devnet account of the in-process RFQ maker (hedges only when told: never here)
_WETH_DEPOSIT_ABI = [
    {"name": "deposit", "type": "function", "inputs": [], "outputs": [],
     "stateMutability": "payable"}
]  # fmt: skip


def atomic_iron_condor(world: Devnet, console: Console, store_url: str) -> StepResult:
    """The 1-lot iron condor 2,000 / 2,500 / 3,500 / 4,000 on the devnet's OptionsMarket,
    opened through :class:`~oms_chain.service.structures.StructureRunner` as ONE
    ``BatchExecutor`` transaction (:class:`~oms_chain.venues.options.batch.AtomicOptionsBatch`)
    from an in-process RFQ maker's quotes, recorded in the demo's store. Checks: the structure
    is open, the deployer sent exactly one transaction, every leg filled, the executor's
    positions are the legs, its USDC moved by the credit minus the put collateral to the base
    unit, and the payoff table equals the independent leg sum."""
    return asyncio.run(_atomic_condor(world, console, store_url))


async def _atomic_condor(world: Devnet, console: Console, store_url: str) -> StepResult:
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.local import LocalSigner
    from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
    from oms_chain.model.clock import SystemClock
    from oms_chain.risk import MarketSnapshot
    from oms_chain.service.structures import StructureRequest, StructureRunner
    from oms_chain.store import open_store
    from oms_chain.strategies import (
        OptionSeries,
        StructureLimits,
        iron_condor,
        payoff_table,
        price_grid,
        structure_greeks,
    )
    from oms_chain.venues.amm.account import ChainAccount
    from oms_chain.venues.options import onchain_options_venue
    from oms_chain.venues.options.batch import AtomicOptionsBatch

    step = "atomic iron condor"
    result = StepResult(step)
    l1 = world.l1
    w3: Any = l1.w3
    owner, maker_acct = l1.accounts[0], l1.accounts[ATOMIC_MAKER]
    executor = l1.book.address("BatchExecutor")  # the world's executor belongs to the deployer
    market = OptionsMarketClient.from_book(w3, l1.book)
    weth = l1.book.address("WETH")
    usdc = l1.book.address("USDC")
    wrap = w3.eth.contract(address=weth, abi=_WETH_DEPOSIT_ABI)
    for who, eth in ((owner.address, 20), (maker_acct.address, 50)):
        _send(l1, wrap.functions.deposit(), who, "wrap ETH", value=eth * 10**18)
    for sym, amount in (("USDC", 20_000 * 10**6), ("WETH", 10 * 10**18)):
        _send(l1, _erc20(l1, sym).functions.transfer(executor, amount), owner.address, "fund")
    expiry_s = next(s.expiry for s in market.all_series() if s.underlying == weth)
    for strike in ATOMIC_WINGS:
        for is_call in (True, False):
            fn = market.contract.functions.listSeries(
                weth, usdc, strike * 10**6, expiry_s, is_call, 10**17
            )
            _send(l1, fn, owner.address, f"list the {strike} wing")
    maker = OptionsMaker(market, maker_acct.private_key, config=MakerConfig(max_size=1_000_000))
    await asyncio.to_thread(maker.prepare)
    store = open_store(store_url)
    rpc = RpcClient([l1.rpc_url])
    account = ChainAccount(rpc, chain_info(l1.chain_id), LocalSigner(owner.private_key), store)
    try:
        async with maker:
            venue = onchain_options_venue(account, l1.book, (maker.url,), executor=executor)
            async with venue:
                listed = venue.instruments()
                c0 = next(c for c in listed if c.underlying.symbol == "WETH")
                series = OptionSeries(
                    underlying=c0.underlying,
                    quote=c0.quote,
                    settlement=c0.settlement,
                    size_decimals=c0.size_decimals,
                )
                ic = iron_condor(series, c0.expiry_ns, ATOMIC_STRIKES, "1", listed=listed)
                spot = await venue.index_price(c0)
                now_ns = (await venue.chain_time()) * 10**9
                batch = AtomicOptionsBatch(venue)
                holder = venue.holder
                sids = [venue.series_id(leg.contract) for leg in ic.legs]
                usdc0 = int(_erc20(l1, "USDC").functions.balanceOf(holder).call())
                nonce0 = w3.eth.get_transaction_count(owner.address)
                runner = StructureRunner(store=store, clock=SystemClock(), batch=batch)
                rec = await runner.run(
                    StructureRequest(
                        structure_id="demo-iron-condor",
                        structure=ic,
                        account=owner.address,
                        limits=StructureLimits(max_loss=Decimal(1000), max_net_premium=Decimal(0)),
                        market=MarketSnapshot(
                            now_ns=now_ns,
                            spots={ic.underlying_symbol: spot},
                            vols={leg.contract.id: CONDOR_VOL for leg in ic.legs},
                        ),
                    )
                )
                positions = tuple(market.position(holder, s) for s in sids)
                usdc1 = int(_erc20(l1, "USDC").functions.balanceOf(holder).call())
                nonce1 = w3.eth.get_transaction_count(owner.address)
    finally:
        await account.close()
        await rpc.close()
        store.close()
    greeks = structure_greeks(ic, spot=spot, now_ns=now_ns, vol=CONDOR_VOL)
    doc = rec.to_json()
    table = Table(title=f"Iron condor opened atomically: ONE BatchExecutor tx {rec.tx_hash or '-'}")
    for col in ("leg", "filled", "price", "delta", "gamma", "vega/pt", "theta/day", "long/short"):
        table.add_column(col, justify="left" if col == "leg" else "right")
    for leg, g, pos, row in zip(ic.legs, greeks.legs, positions, doc["legs"], strict=True):
        table.add_row(
            leg.describe(),
            str(row["filled"]),
            _d(Decimal(row["price"])),
            _d(g.delta, "0.0001"),
            _d(g.gamma, "0.000001"),
            _d(g.vega_1pt, "0.0001"),
            _d(g.theta_day, "0.0001"),
            f"{pos[0]}/{pos[1]}",
        )
    t = greeks.total
    table.add_section()
    table.add_row(
        "total (net premium)", "", _d(rec.net_premium or Decimal(0)), _d(t.delta, "0.0001"),
        _d(t.gamma, "0.000001"),
        _d(t.vega_1pt, "0.0001"), _d(t.theta_day, "0.0001"), "",
    )  # fmt: skip
    console.print(table)
    net = rec.net_premium if rec.net_premium is not None else Decimal(0)
    gas = int(w3.eth.get_transaction_receipt(rec.tx_hash)["gasUsed"]) if rec.tx_hash else 0
    console.print(
        f"structure {rec.structure_id}: {rec.status}, net premium {net} USDC at spot {spot:f}, "
        f"max loss {_d(rec.max_loss or Decimal(0))}, margin {_d(rec.margin or Decimal(0))}; "
        f"one transaction, gas {gas:,} (deployer nonce +{nonce1 - nonce0})",
        highlight=False,
    )
    _check(step, rec.status == "open", "the structure is open", result, (rec.status, rec.reason))
    _check(step, nonce1 - nonce0 == 1, "all four legs went out in ONE transaction", result,
           nonce1 - nonce0)  # fmt: skip
    _check(step, all(r["filled"] is not None for r in doc["legs"]), "every leg filled", result,
           doc["legs"])  # fmt: skip
    expected_pos = tuple(
        (10, 0) if leg.side.value == "buy" else (0, 10) for leg in ic.legs
    )  # 1 ETH of 0.1-ETH contracts per leg
    _check(step, positions == expected_pos, "the executor's positions are the legs", result,
           positions)  # fmt: skip
    put_collateral = 10 * 2500 * 10**5  # the short 2,500 put: 10 contracts x 0.1 ETH x 2,500
    moved = usdc1 - usdc0
    _check(step, moved == int((-net).scaleb(6)) - put_collateral,
           "USDC moved by the credit minus the put collateral, to the base unit", result,
           moved)  # fmt: skip
    grid = price_grid(ic, 9)
    bad = [
        r.price for r in payoff_table(ic, grid, net_premium=net)
        if r.payoff != _independent_payoff(ic.legs, r.price)
    ]  # fmt: skip
    _check(step, not bad, f"payoff table == leg sum at {len(grid)} prices", result, bad)
    result.detail = {
        "structure_id": rec.structure_id,
        "status": rec.status,
        "tx_hash": rec.tx_hash,
        "transactions": nonce1 - nonce0,
        "gas": gas,
        "legs": [leg.describe() for leg in ic.legs],
        "positions": [list(p) for p in positions],
        "net_premium": net,
        "usdc_moved": moved,
        "greeks": {"delta": t.delta, "gamma": t.gamma, "vega_1pt": t.vega_1pt,
                   "theta_day": t.theta_day},
    }  # fmt: skip
    return result
