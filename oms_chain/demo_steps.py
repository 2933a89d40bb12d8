"""The checked steps of ``oms demo`` after the routed sale: each shows a table and checks an
exact expectation; a failed check raises :class:`DemoCheckFailed` naming the step, what was
expected and what was seen.

Steps (in demo order): an iron condor priced before trading, then opened atomically on our
OptionsMarket (one BatchExecutor transaction via the StructureRunner); a put bought on our
OptionsMarket by an EIP-712 RFQ quote, settled and redeemed; one option bought on the
Deribit-protocol exchange through unmodified ``ccxt.deribit``; the portfolio risk of what the
demo then holds; a Safe 2-of-3 MultiSend, then one engine trade from the Safe; a FROST 2-of-3
group executing a transfer from its ThresholdAccount, then one engine trade from it. Each
returns a :class:`StepResult`; a step whose extra is not installed or whose service the devnet
did not start returns a skipped result with the reason.
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from rich.console import Console
from rich.table import Table
from web3 import Web3

from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.options_market import (
    OptionsMarketClient,
    Quote,
    set_feed_price,
    warp_to,
)
from oms_chain.devnet.world import Devnet, DevnetChain
from oms_chain.model.assets import Asset
from oms_chain.model.errors import DevnetError
from oms_chain.model.instruments import OptionContract, OptionKind

__all__ = [
    "DemoCheckFailed",
    "StepResult",
    "atomic_iron_condor",
    "deribit_option",
    "iron_condor_preview",
    "onchain_put",
    "portfolio_risk_step",
    "safe_multisend",
    "threshold_transfer",
]

_MAX_UINT = 2**256 - 1
NS = 10**9
DAY_NS = 86_400 * NS


class DemoCheckFailed(DevnetError):
    """A demo step's check did not hold: the message names the step, expected and seen."""


@dataclass
class StepResult:
    """One demo step: ``status`` is ``ok`` or ``skipped`` (``reason`` says why); ``checks``
    lists what was checked and held; ``detail`` carries the step's numbers (JSON-ready)."""

    name: str
    status: str = "ok"
    reason: str = ""
    checks: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _check(step: str, ok: bool, what: str, result: StepResult, seen: object = None) -> None:
    if not ok:
        raise DemoCheckFailed(
            f"demo step '{step}': check failed: {what}"
            + ("" if seen is None else f" (seen: {seen})")
        )
    result.checks.append(what)


def _erc20(chain: DevnetChain, symbol: str) -> Any:
    return chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)


def _eth(chain: DevnetChain) -> Any:
    return chain.w3.eth  # web3's address / hash NewTypes: the demo passes checked strings


def _send(chain: DevnetChain, fn: Any, sender: str, label: str, value: int = 0) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        fn.transact({"from": sender, "value": value}), timeout=60, poll_latency=0.01
    )
    if receipt["status"] != 1:
        raise DevnetError(f"{label} reverted")
    return receipt


def _usdc(units: int) -> str:
    return f"{Decimal(units).scaleb(-6):,.6f}"


def _d(x: Decimal, places: str = "0.01") -> str:
    return f"{x.quantize(Decimal(places)):,}"


# --- 2. iron condor, priced before trading ---------------------------------------------------

#: Fixed market for the preview, so its numbers are the same every run.
CONDOR_STRIKES = (2600, 2800, 3200, 3400)
CONDOR_SPOT = Decimal(3000)
CONDOR_VOL = Decimal("0.6")
CONDOR_EXPIRY_NS = 1_800_000_000 * NS  # 2027-01-15 08:00 UTC
CONDOR_NOW_NS = CONDOR_EXPIRY_NS - 30 * DAY_NS


def _independent_payoff(legs: Any, price: Decimal) -> Decimal:
    """The structure's payoff at expiry summed leg by leg from the textbook formulas, without
    the strategies package: call max(S-K, 0), put max(K-S, 0), signed by side, x quantity."""
    total = Decimal(0)
    for leg in legs:
        k = leg.contract.strike
        intrinsic = max(price - k, Decimal(0))
        if leg.contract.option_kind is OptionKind.PUT:
            intrinsic = max(k - price, Decimal(0))
        sign = 1 if leg.side.value == "buy" else -1
        total += sign * leg.quantity * intrinsic
    return total


def iron_condor_preview(console: Console) -> StepResult:
    """A 1-lot credit iron condor on ETH: quotes (BSM at a fixed vol, 2 % either side), net
    premium, max profit / loss, breakevens, payoff table and Greeks. Checks: the payoff table
    equals an independent leg sum at every grid price, and the summary's extremes and
    breakevens equal the closed forms of a credit iron condor."""
    from oms_chain.strategies import (
        LegQuote,
        OptionSeries,
        iron_condor,
        net_premium,
        payoff_summary,
        payoff_table,
        price_grid,
        structure_greeks,
    )

    step = "iron condor"
    result = StepResult(step)
    series = OptionSeries(
        underlying=Asset.cex("deribit", "ETH"), quote=Asset.cex("deribit", "USD", 2)
    )
    ic = iron_condor(series, CONDOR_EXPIRY_NS, CONDOR_STRIKES, 1)
    greeks = structure_greeks(ic, spot=CONDOR_SPOT, now_ns=CONDOR_NOW_NS, vol=CONDOR_VOL)
    quotes: dict[Any, LegQuote] = {}
    for leg, g in zip(ic.legs, greeks.legs, strict=True):
        fair = abs(g.value) / leg.quantity
        quotes[leg.contract.id] = LegQuote(
            bid=(fair * Decimal("0.98")).quantize(Decimal("0.01")),
            ask=(fair * Decimal("1.02")).quantize(Decimal("0.01")),
        )
    premium = net_premium(ic, quotes)
    summary = payoff_summary(ic, net_premium=premium.net)
    grid = price_grid(ic, 9)
    table_rows = payoff_table(ic, grid, net_premium=premium.net)

    legs = Table(title="Iron condor (ETH, 1 lot, 30 days to expiry): legs, quotes, Greeks")
    for col in ("leg", "bid", "ask", "premium", "delta", "gamma", "vega/pt", "theta/day"):
        legs.add_column(col, justify="left" if col == "leg" else "right")
    for leg, g, lp in zip(ic.legs, greeks.legs, premium.legs, strict=True):
        q = quotes[leg.contract.id]
        legs.add_row(
            leg.describe(),
            _d(q.bid or Decimal(0)),
            _d(q.ask or Decimal(0)),
            _d(lp.amount),
            _d(g.delta, "0.0001"),
            _d(g.gamma, "0.000001"),
            _d(g.vega_1pt, "0.0001"),
            _d(g.theta_day, "0.0001"),
        )
    t = greeks.total
    legs.add_section()
    legs.add_row(
        "total",
        "",
        "",
        _d(premium.net),
        _d(t.delta, "0.0001"),
        _d(t.gamma, "0.000001"),
        _d(t.vega_1pt, "0.0001"),
        _d(t.theta_day, "0.0001"),
    )
    console.print(legs)
    credit = -premium.net
    console.print(
        f"net premium {premium.net:,.2f} USD (a credit of {credit:,.2f}); max profit "
        f"{summary.max_profit}, max loss {summary.max_loss}, breakevens "
        + ", ".join(f"{b:,}" for b in summary.breakevens),
        highlight=False,
    )
    pay = Table(title="Payoff at expiry vs the independent leg sum")
    for col in ("ETH price", "payoff", "P&L", "leg sum", "check"):
        pay.add_column(col, justify="right")
    mismatches = []
    rows = []
    for row in table_rows:
        independent = _independent_payoff(ic.legs, row.price)
        ok = row.payoff == independent and row.pnl == independent - premium.net
        if not ok:
            mismatches.append((row.price, row.payoff, independent))
        pay.add_row(
            f"{row.price:,}",
            _d(row.payoff),
            _d(row.pnl),
            _d(independent),
            "[green]equal[/]" if ok else "[red]DIFFERS[/]",
        )
        rows.append(
            {"price": row.price, "payoff": row.payoff, "pnl": row.pnl, "leg_sum": independent}
        )
    console.print(pay)
    _check(
        step, not mismatches, f"payoff table == leg sum at {len(rows)} prices", result, mismatches
    )
    k1, k2, k3, k4 = (Decimal(k) for k in CONDOR_STRIKES)
    _check(step, premium.net < 0, "the iron condor is a credit", result, premium.net)
    _check(
        step, summary.max_profit == credit, "max profit == the credit", result, summary.max_profit
    )
    wing = max(k2 - k1, k4 - k3)
    _check(
        step,
        summary.max_loss == wing - credit,
        "max loss == wing width - credit",
        result,
        summary.max_loss,
    )
    expected_be = (k2 - credit, k3 + credit)
    _check(
        step,
        tuple(summary.breakevens) == expected_be,
        f"breakevens == (K2 - credit, K3 + credit) = {expected_be[0]}, {expected_be[1]}",
        result,
        summary.breakevens,
    )
    result.detail = {
        "legs": [leg.describe() for leg in ic.legs],
        "net_premium": premium.net,
        "max_profit": summary.max_profit,
        "max_loss": summary.max_loss,
        "breakevens": list(summary.breakevens),
        "greeks": {
            "delta": t.delta,
            "gamma": t.gamma,
            "vega_1pt": t.vega_1pt,
            "theta_day": t.theta_day,
            "value": t.value,
        },
        "payoff": rows,
    }
    return result


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


# --- 3. a put on our OptionsMarket --------------------------------------------------------

PUT_STRIKE_USD = 3000
PUT_CONTRACTS = 2
PUT_PREMIUM = 42_500_000  # 42.5 USDC per contract (0.1 WETH)
SETTLE_PRICE = Decimal("2750.5")


def onchain_put(world: Devnet, console: Console) -> StepResult:
    """Buy ``PUT_CONTRACTS`` WETH puts at 3,000 on the devnet's OptionsMarket from a maker's
    EIP-712 quote, post 2,750.5 to the feed after warping past expiry, settle, redeem and
    withdraw. Checks every USDC movement to the base unit."""
    step = "on-chain put"
    result = StepResult(step)
    l1 = world.l1
    deployer, maker, taker = l1.accounts[0], l1.accounts[2], l1.accounts[3]
    market = OptionsMarketClient.from_book(l1.w3, l1.book)
    usdc = _erc20(l1, "USDC")
    weth = l1.book.token("WETH").address
    sid = next(
        s.series_id
        for s in market.all_series()
        if s.underlying == weth and s.strike == PUT_STRIKE_USD * 10**6 and not s.is_call
    )
    info = market.series(sid)
    for who in (maker.address, taker.address):
        _send(l1, usdc.functions.approve(market.address, _MAX_UINT), who, "approve USDC")
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    quote = Quote(
        maker=maker.address,
        series_id=sid,
        maker_sells=True,
        size=PUT_CONTRACTS,
        premium=PUT_PREMIUM,
        deadline=now + 600,
        nonce=market.nonce(maker.address),
        taker=taker.address,
        salt=1,
    )
    signature = market.sign(quote, maker.private_key)

    def bal(who: str) -> int:
        return int(usdc.functions.balanceOf(who).call())

    t0, m0 = bal(taker.address), bal(maker.address)
    fill = market.fill(quote, signature, PUT_CONTRACTS, taker=taker.address)
    t1, m1 = bal(taker.address), bal(maker.address)
    collateral = PUT_STRIKE_USD * 10**6 * info.contract_size // 10**18
    warp_to(l1.w3, info.expiry + 30)
    round_id = set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), SETTLE_PRICE, sender=deployer.address
    )
    market.settle(sid, sender=taker.address, round_id=round_id)
    settled = market.series(sid)
    market.redeem(sid, PUT_CONTRACTS, holder=taker.address)
    t2 = bal(taker.address)
    market.withdraw(sid, PUT_CONTRACTS, writer=maker.address)
    m2 = bal(maker.address)
    s_units = int(SETTLE_PRICE.scaleb(6))
    payoff = (PUT_STRIKE_USD * 10**6 - s_units) * info.contract_size // 10**18

    table = Table(title=f"OptionsMarket: buy {PUT_CONTRACTS} WETH {PUT_STRIKE_USD} puts by RFQ")
    for col in ("event", "taker USDC", "maker USDC", "expected"):
        table.add_column(col, justify="left" if col == "event" else "right")
    table.add_row(
        f"fill (premium {_usdc(PUT_PREMIUM)} x {PUT_CONTRACTS}, gas {fill['gasUsed']:,})",
        f"{_usdc(t1 - t0)}",
        f"{_usdc(m1 - m0)}",
        f"-{_usdc(PUT_CONTRACTS * PUT_PREMIUM)} / premium - collateral",
    )
    table.add_row(
        f"settle at {SETTLE_PRICE} (round {round_id}), redeem",
        _usdc(t2 - t1),
        "",
        f"{_usdc(PUT_CONTRACTS * payoff)}",
    )
    table.add_row(
        "writer withdraws", "", _usdc(m2 - m1), _usdc(PUT_CONTRACTS * (collateral - payoff))
    )
    console.print(table)
    _check(
        step,
        t1 - t0 == -PUT_CONTRACTS * PUT_PREMIUM,
        "taker paid exactly the premium",
        result,
        t1 - t0,
    )
    _check(
        step,
        m1 - m0 == PUT_CONTRACTS * (PUT_PREMIUM - collateral),
        "maker got the premium and posted the collateral exactly",
        result,
        m1 - m0,
    )
    _check(
        step,
        settled.settlement_price == s_units,
        f"settled at {SETTLE_PRICE}",
        result,
        settled.settlement_price,
    )
    _check(
        step,
        settled.payoff_per_contract == payoff,
        f"payoff per contract (K - S) x 0.1 = {_usdc(payoff)} USDC",
        result,
        settled.payoff_per_contract,
    )
    _check(
        step,
        t2 - t1 == PUT_CONTRACTS * payoff,
        "redeem paid the payoff to the base unit",
        result,
        t2 - t1,
    )
    _check(
        step,
        m2 - m1 == PUT_CONTRACTS * (collateral - payoff),
        "the writer withdrew collateral - payoff to the base unit",
        result,
        m2 - m1,
    )
    result.detail = {
        "series_id": sid,
        "contracts": PUT_CONTRACTS,
        "premium": PUT_PREMIUM,
        "settlement_price": settled.settlement_price,
        "payoff_per_contract": payoff,
        "redeemed": t2 - t1,
        "withdrawn": m2 - m1,
        "fill_gas": int(fill["gasUsed"]),
    }
    return result


# --- 4. Deribit-protocol exchange through ccxt ----------------------------------------------


def deribit_option(world: Devnet, console: Console) -> StepResult:
    """Unmodified ``ccxt.deribit`` (only ``urls['api']`` points at the devnet): load markets,
    market-buy one ETH put (nearest expiry at least two days out, the listed strike just under
    the index), and check the position shows it."""
    step = "deribit option"
    if world.deribit is None:
        return StepResult(
            step, status="skipped", reason="the devnet did not start the Deribit-protocol exchange"
        )
    import ccxt

    result = StepResult(step)
    key, secret = world.deribit_credentials[0]
    ex = ccxt.deribit({"apiKey": key, "secret": secret, "timeout": 10_000})
    ex.urls["api"] = {"rest": world.deribit.url, "ws": world.deribit.ws_url}
    markets = ex.load_markets()
    index = Decimal(
        str(ex.public_get_get_index_price({"index_name": "eth_usd"})["result"]["index_price"])
    )
    soon = (time.time() + 2 * 86_400) * 1000
    puts = [
        m
        for m in markets.values()
        if m.get("option")
        and m.get("base") == "ETH"
        and m.get("optionType") == "put"
        and m.get("expiry")
        and m["expiry"] > soon
        and Decimal(repr(m["strike"])) <= index
    ]
    _check(step, bool(puts), "the exchange lists an ETH put under the index", result, len(markets))
    expiry = min(m["expiry"] for m in puts)
    chosen = max((m for m in puts if m["expiry"] == expiry), key=lambda m: m["strike"])
    symbol = str(chosen["symbol"])
    order = ex.create_order(symbol, "market", "buy", 1)
    positions = ex.fetch_positions()
    held = [(p["symbol"], p["side"], p["contracts"]) for p in positions]
    ticker = ex.fetch_ticker(symbol)
    info = ticker.get("info") or {}

    table = Table(title=f"Deribit-protocol exchange via ccxt.deribit ({len(markets)} markets)")
    for col in ("instrument", "order", "filled", "avg price (ETH)", "position", "mark IV"):
        table.add_column(col, justify="left" if col in ("instrument", "order") else "right")
    table.add_row(
        str(chosen["id"]),
        f"{order['status']} {order['id']}",
        f"{order['filled']}",
        f"{order['average']}",
        ", ".join(f"{s} {c}" for _sym, s, c in held if _sym == symbol),
        f"{info.get('mark_iv')} %",
    )
    console.print(table)
    _check(step, len(markets) > 0, "markets loaded", result)
    _check(
        step,
        (order["status"], order["filled"]) == ("closed", 1.0),
        "the market buy filled 1",
        result,
        order,
    )
    _check(step, (symbol, "long", 1.0) in held, "the position shows 1 long", result, held)
    result.detail = {
        "markets": len(markets),
        "instrument": chosen["id"],
        "symbol": symbol,
        "strike": Decimal(repr(chosen["strike"])),
        "expiry_ms": int(chosen["expiry"]),
        "average_eth": order["average"],
        "index": index,
        "mark_iv": Decimal(str(info.get("mark_iv", 0))) / 100,
        "exchange_eth": Decimal(str(ex.fetch_balance({"code": "ETH"})["ETH"]["free"])),
    }
    return result


# --- 5. portfolio risk --------------------------------------------------------------------


def portfolio_risk_step(
    console: Console,
    balances: dict[str, Decimal],
    deribit: StepResult | None,
    spot: Decimal,
) -> StepResult:
    """Greeks by underlying, VaR / ES (parametric delta-gamma and seeded Monte Carlo, 4 %
    daily ETH vol assumed), portfolio margin and liquidation prices of what the demo holds:
    the trader's WETH and USDC (wallet and the exchange simulator account; the devnet
    account's gas ETH is left out) and, when step 4 ran, the Deribit put (valued by its USD
    payoff) and that account's ETH. Checks: initial >= maintenance >= 0, and at every
    reported liquidation price equity == maintenance within 1e-6 x max(1, maintenance)."""
    import numpy as np

    from oms_chain.risk import (
        Holding,
        MarketSnapshot,
        liquidation_prices,
        monte_carlo_var,
        parametric_var,
        portfolio_margin,
        portfolio_risk,
    )

    step = "portfolio risk"
    result = StepResult(step)
    usd = Asset.cex("deribit", "USD", 2)
    holdings: list[Holding] = []
    for label, qty in balances.items():
        where, sym = label.split(" ", 1)
        if (sym == "ETH" and where == "wallet") or qty == 0:
            continue
        asset = Asset.cex(where, sym)
        holdings.append(Holding(instrument=asset, quantity=qty, venue=where))
    vols: dict[str, Decimal] = {}
    now_ns = time.time_ns()
    if deribit is not None and deribit.status == "ok":
        d = deribit.detail
        put = OptionContract(
            underlying=Asset.cex("deribit", "ETH"),
            quote=usd,
            strike=d["strike"],
            expiry_ns=d["expiry_ms"] * 10**6,
            option_kind=OptionKind.PUT,
        )
        holdings.append(Holding(instrument=put, quantity=Decimal(1), venue="deribit"))
        holdings.append(
            Holding(
                instrument=Asset.cex("deribit", "ETH"), quantity=d["exchange_eth"], venue="deribit"
            )
        )
        vols[put.id] = d["mark_iv"] or Decimal("0.6")
    spots = {"ETH": spot, "WETH": spot}
    market = MarketSnapshot(now_ns=now_ns, spots=spots, vols=vols)
    risk = portfolio_risk(holdings, market)
    names = sorted(risk.by_underlying)
    daily = 0.04
    cov = np.full((len(names), len(names)), daily**2)  # ETH and WETH: one price
    pvar = parametric_var(holdings, market, cov, names, confidence=0.99)
    mvar = monte_carlo_var(
        holdings, market, cov, names, rng=np.random.default_rng(7), paths=20_000, confidence=0.99
    )
    margin = portfolio_margin(holdings, market)
    liq = liquidation_prices(holdings, market)

    g = Table(title="Portfolio Greeks by underlying (USD)")
    for col in (
        "underlying",
        "delta",
        "delta USD",
        "gamma 1% USD",
        "vega/pt",
        "theta/day",
        "value",
    ):
        g.add_column(col, justify="left" if col == "underlying" else "right")
    for name in names:
        u = risk.by_underlying[name]
        g.add_row(
            name,
            _d(u.delta, "0.0001"),
            _d(u.delta_usd),
            _d(u.gamma_1pct_usd),
            _d(u.vega_1pt),
            _d(u.theta_day),
            _d(u.value),
        )
    console.print(g)
    v = Table(title="1-day VaR / ES at 99 % (4 % daily vol assumed)")
    for col in ("method", "VaR USD", "ES USD", "scenarios"):
        v.add_column(col, justify="left" if col == "method" else "right")
    for r in (pvar, mvar):
        v.add_row(r.method, _d(r.var), _d(r.es), f"{r.scenarios:,}" if r.scenarios else "-")
    console.print(v)
    m = Table(title="Portfolio margin and liquidation prices")
    for col in ("equity", "initial", "maintenance", "excess", "liquidation (ETH)", "check"):
        m.add_column(col, justify="right")
    tol_checks: list[tuple[str, Decimal, Decimal, Decimal]] = []
    for name, lr in liq.items():
        for side, price in (("below", lr.below), ("above", lr.above)):
            if price is None:
                continue
            at = portfolio_margin(holdings, market.with_spots({name: price}))
            tol_checks.append((f"{name} {side} {price:.2f}", at.equity, at.maintenance, price))
    liq_text = "; ".join(
        f"{n}: "
        + (
            ", ".join(
                f"{s} {p:,.2f}"
                for s, p in (("below", r.below), ("above", r.above))
                if p is not None
            )
            or f"none ({r.reason})"
        )
        for n, r in liq.items()
    )
    m.add_row(
        _d(margin.equity),
        _d(margin.initial),
        _d(margin.maintenance),
        _d(margin.excess),
        "; ".join(
            f"{n} " + ("/".join(f"{p:,.2f}" for p in (r.below, r.above) if p is not None) or "none")
            for n, r in liq.items()
        ),
        "[green]initial >= maintenance >= 0[/]"
        if margin.initial >= margin.maintenance >= 0
        else "[red]INCONSISTENT[/]",
    )
    console.print(m)
    _check(step, margin.maintenance >= 0, "maintenance >= 0", result, margin.maintenance)
    _check(
        step, margin.initial >= margin.maintenance, "initial >= maintenance", result, margin.initial
    )
    _check(step, pvar.es >= pvar.var and mvar.es >= mvar.var, "ES >= VaR (both methods)", result)
    for label, eq, mt, _p in tol_checks:
        tol = Decimal("1e-6") * max(Decimal(1), mt)
        _check(
            step,
            abs(eq - mt) <= tol,
            f"at {label}: equity == maintenance within {tol:.2e}",
            result,
            f"{eq} vs {mt}",
        )
    if not tol_checks:
        reasons = [r.reason for r in liq.values()]
        _check(
            step, all(reasons), "no liquidation price: each underlying says why", result, reasons
        )
        console.print(f"no liquidation price in 0.01x..10x spot: {liq_text}", highlight=False)
    else:
        console.print(f"[green]equity == maintenance at {len(tol_checks)} liquidation price(s)[/]")
    result.detail = {
        "holdings": [
            {"instrument": str(h.instrument), "quantity": h.quantity, "venue": h.venue}
            for h in holdings
        ],
        "greeks": {
            n: {
                "delta": u.delta,
                "delta_usd": u.delta_usd,
                "gamma_1pct_usd": u.gamma_1pct_usd,
                "vega_1pt": u.vega_1pt,
                "theta_day": u.theta_day,
                "value": u.value,
            }
            for n, u in risk.by_underlying.items()
        },
        "var": {
            "parametric": {"var": pvar.var, "es": pvar.es},
            "monte_carlo": {"var": mvar.var, "es": mvar.es},
        },
        "margin": {
            "equity": margin.equity,
            "initial": margin.initial,
            "maintenance": margin.maintenance,
            "excess": margin.excess,
        },
        "liquidation": {
            n: {"below": r.below, "above": r.above, "reason": r.reason} for n, r in liq.items()
        },
    }
    return result


# --- 6. Safe 2-of-3 MultiSend -------------------------------------------------------------

SAFE_RECIPIENTS = (
    ("0x000000000000000000000000000000000000dEaD", 1_250_000),
    ("0x000000000000000000000000000000000000bEEF", 750_000),
)
SAFE_FUNDING = 5_000_000


def _transfer_data(to: str, amount: int) -> bytes:
    return keccak(text="transfer(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], [to, amount]
    )


def _hex(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _missing(module: str, extra: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"the '{extra}' extra is not installed (pip install 'oms-chain[{extra}]')"
    return None


def safe_multisend(world: Devnet, console: Console) -> StepResult:
    """A Safe 2-of-3 (owners: devnet accounts 5-7, relayer: account 9) created by the toolkit
    and funded with USDC executes one MultiSendCallOnly of two USDC transfers, signed by two
    owners. Checks: both recipients and the Safe hold exactly what they should."""
    step = "safe multisend"
    why = _missing("safe_eth", "safe")
    if why:
        return StepResult(step, status="skipped", reason=why)
    return asyncio.run(_safe(world, console))


async def _safe(world: Devnet, console: Console) -> StepResult:
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.sender import TxSender
    from oms_chain.custody.local import LocalSigner
    from oms_chain.custody.safe import Call, SafeAddresses, SafeFactory

    step = "safe multisend"
    result = StepResult(step)
    l1 = world.l1
    book = l1.book
    owners = sorted(
        (LocalSigner(a.private_key) for a in l1.accounts[5:8]), key=lambda s: int(s.address, 16)
    )
    usdc = _erc20(l1, "USDC")
    addresses = SafeAddresses(
        singleton=book.address("SafeL2"),
        proxy_factory=book.address("SafeProxyFactory"),
        fallback_handler=book.address("CompatibilityFallbackHandler"),
        multisend_call_only=book.address("MultiSendCallOnly"),
    )

    async def mined(rpc: RpcClient, tx_hash: str) -> dict[str, Any]:
        for _ in range(3000):
            receipt = await rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            await asyncio.sleep(0.01)
        raise DevnetError(f"{tx_hash} was not mined in 30 s")

    async with RpcClient([l1.rpc_url]) as rpc:
        relayer = TxSender(rpc, chain_info(l1.chain_id), LocalSigner(l1.accounts[9].private_key))
        factory = SafeFactory(rpc, addresses, l1.chain_id)
        salt = 2026  # a fresh devnet each run: the same Safe address every time
        predicted = await factory.predict([o.address for o in owners], 2, salt)
        safe, sent = await factory.create(relayer, [o.address for o in owners], 2, salt)
        created = await mined(rpc, sent.tx_hash)
        _check(
            step,
            created["status"] == "0x1" and safe.address == predicted,
            "Safe created at its predicted address",
            result,
        )
        _send(
            l1,
            usdc.functions.transfer(safe.address, SAFE_FUNDING),
            l1.accounts[0].address,
            "fund the Safe",
        )
        before = {to: int(usdc.functions.balanceOf(to).call()) for to, _ in SAFE_RECIPIENTS}
        calls = [Call(usdc.address, _transfer_data(to, amount)) for to, amount in SAFE_RECIPIENTS]
        tx, sent2 = await safe.execute_calls(calls, owners[:2], relayer, what="demo MultiSend")
        receipt = await mined(rpc, sent2.tx_hash)
        state = await safe.state()
    after = {to: int(usdc.functions.balanceOf(to).call()) for to, _ in SAFE_RECIPIENTS}
    left = int(usdc.functions.balanceOf(safe.address).call())

    table = Table(title=f"Safe 2-of-3 at {safe.address}: one MultiSend, two USDC transfers")
    for col in ("recipient", "received", "expected"):
        table.add_column(col, justify="left" if col == "recipient" else "right")
    for to, amount in SAFE_RECIPIENTS:
        table.add_row(to, _usdc(after[to] - before[to]), _usdc(amount))
    sent_total = sum(a for _, a in SAFE_RECIPIENTS)
    table.add_row("(left in the Safe)", _usdc(left), _usdc(SAFE_FUNDING - sent_total))
    console.print(table)
    console.print(
        f"safeTxHash {_hex(tx.safe_tx_hash)}, "
        f"operation {'DELEGATECALL to MultiSendCallOnly' if tx.operation == 1 else 'CALL'}, "
        f"gas {int(receipt['gasUsed'], 16):,}, Safe nonce now {state.nonce}",
        highlight=False,
    )
    _check(
        step,
        receipt["status"] == "0x1",
        "the Safe transaction succeeded",
        result,
        receipt["status"],
    )
    _check(
        step,
        tx.operation == 1 and tx.to == addresses.multisend_call_only,
        "one MultiSend (DELEGATECALL)",
        result,
    )
    for to, amount in SAFE_RECIPIENTS:
        _check(
            step,
            after[to] - before[to] == amount,
            f"{to} received exactly {_usdc(amount)} USDC",
            result,
            after[to] - before[to],
        )
    _check(step, left == SAFE_FUNDING - sent_total, "the Safe kept exactly the rest", result, left)
    trade = await _safe_trade(world, console, safe.address, owners[:2], result)
    result.detail = {
        "safe": safe.address,
        "owners": [o.address for o in owners],
        "threshold": 2,
        "transfers": [{"to": to, "amount": a} for to, a in SAFE_RECIPIENTS],
        "left": left,
        "tx_hash": sent2.tx_hash,
        "nonce": state.nonce,
        "trade": trade,
    }
    return result


SAFE_TRADE_ETH = Decimal("0.05")


async def _engine_trade(
    world: Devnet, session: Any, account: str, step: str, result: StepResult
) -> dict[str, Any]:
    """Sell ``SAFE_TRADE_ETH`` on the L1's V3 pool through ``session``'s engine, trading as
    ``account`` (a Safe or a ThresholdAccount); checks that the engine's position and fill
    are exactly what the account's balances moved."""
    l1 = world.l1
    usdc = _erc20(l1, "USDC")
    eth0 = _eth(l1).get_balance(account)
    usdc0 = int(usdc.functions.balanceOf(account).call())
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    async with session as s:
        parent = await s.submit(
            s.intent("ETH/USDC", "sell", str(SAFE_TRADE_ETH), venues=[vid], max_slippage_bps=100)
        )
        parent = await s.wait(parent.order_id, timeout=120)  # a hang guard, not a timing check
        (child,) = s.children(parent.order_id)
        settled = lambda: s.engine.order(child.order_id).settlement is not None  # noqa: E731
        await _until("'safe multisend': the trade's settlement", settled, timeout=120)
        child = s.engine.order(child.order_id)
        positions = s.engine.positions()  # a store of its own: this trade only
        fills = [f for f in s.engine.projections.fills.values() if f.order_id == child.order_id]
        venue_account = s.chain_venues(l1.chain_id).account.address
    _check(step, venue_account.lower() == account.lower(),
           "the venue traded as the account itself", result, venue_account)  # fmt: skip
    return _checked_trade(world, step, result, (account, eth0, usdc0), parent, child,
                          positions, fills)  # fmt: skip


def _checked_trade(
    world: Devnet,
    step: str,
    result: StepResult,
    before: tuple[str, int, int],
    parent: Any,
    child: Any,
    positions: list[Any],
    fills: list[Any],
) -> dict[str, Any]:
    """The checks of a trade from a custody account: filled, the account paid exactly the
    quantity, the engine's position and fill proceeds equal its balances' moves."""
    account, eth0, usdc0 = before
    l1 = world.l1
    eth_paid = eth0 - _eth(l1).get_balance(account)
    usdc_got = int(_erc20(l1, "USDC").functions.balanceOf(account).call()) - usdc0
    _check(step, parent.status.value == "filled", f"the engine filled the {SAFE_TRADE_ETH} ETH "
           "sale", result, parent.status.value)  # fmt: skip
    _check(step, eth_paid == int(SAFE_TRADE_ETH.scaleb(18)), "the account paid exactly "
           f"{SAFE_TRADE_ETH} ETH (the relayer paid the gas)", result, eth_paid)  # fmt: skip
    quantity = sum((p.quantity for p in positions), Decimal(0))
    _check(step, -quantity == SAFE_TRADE_ETH, "the engine's position == the account's ETH moved",
           result, quantity)  # fmt: skip
    proceeds = sum((f.quantity * f.price for f in fills), Decimal(0)).quantize(Decimal("0.000001"))
    _check(step, usdc_got > 0 and proceeds == Decimal(usdc_got).scaleb(-6),
           "the fill's proceeds == the USDC the account received", result,
           (proceeds, usdc_got))  # fmt: skip
    tx_hash = child.settlement.tx_hash if child.settlement else None
    return {
        "order_id": parent.order_id,
        "status": parent.status.value,
        "eth_paid_wei": eth_paid,
        "usdc_received": usdc_got,
        "position": quantity,
        "tx_hash": tx_hash,
        "gas": int(_eth(l1).get_transaction_receipt(tx_hash)["gasUsed"]) if tx_hash else None,
    }


def _trade_table(console: Console, title: str, account: str, trade: dict[str, Any]) -> None:
    table = Table(title=title)
    for col in ("account", "status", "gas", "ETH paid", "USDC received", "engine position"):
        table.add_column(col, justify="left" if col == "account" else "right")
    table.add_row(
        account,
        trade["status"],
        f"{trade['gas'] or 0:,}",
        f"{Decimal(trade['eth_paid_wei']).scaleb(-18).normalize():f}",
        _usdc(trade["usdc_received"]),
        f"{trade['position'].normalize():f} ETH",
    )
    console.print(table)


async def _safe_trade(
    world: Devnet, console: Console, safe: str, owners: list[Any], result: StepResult
) -> dict[str, Any]:
    from oms_chain.custody.local import LocalSigner
    from oms_chain.service import ChainEndpoint, SafeOwners, TradingSession

    l1 = world.l1
    l1.w3.eth.wait_for_transaction_receipt(
        l1.w3.eth.send_transaction(
            {"from": l1.accounts[0].address, "to": safe, "value": Web3.to_wei(1, "ether")}
        )
    )
    with tempfile.TemporaryDirectory(prefix="oms-demo-safe-") as tmp:
        session = TradingSession(
            store_url=f"sqlite:///{Path(tmp) / 'oms.db'}",
            chains=[ChainEndpoint(chain_id=l1.chain_id, rpc_url=l1.rpc_url, book=l1.book)],
            signer=LocalSigner(l1.accounts[9].private_key),  # the relayer pays the gas
            safe=SafeOwners(address=safe, owners=tuple(owners)),
            account="demo-dao",
            poll_interval=0.05,
        )
        trade = await _engine_trade(world, session, safe, "safe multisend", result)
    _trade_table(console, "One trade from the Safe through the engine (2 of 3 owners sign)",
                 safe, trade)  # fmt: skip
    return trade


# --- 7. FROST 2-of-3 ThresholdAccount -----------------------------------------------------

THRESHOLD_RECIPIENT = to_checksum_address("0x000000000000000000000000000000000000c0de")
THRESHOLD_AMOUNT = 25 * 10**16  # 0.25 ETH


def threshold_transfer(world: Devnet, console: Console) -> StepResult:
    """A 2-of-3 FROST group (DKG through frost-rs; the three participants are in-process
    servers on loopback here, not separate processes) owns a ThresholdAccount; one
    participant is left offline, the other two sign an ``execute`` of a 0.25 ETH transfer that
    a relayer sends. Checks: the recipient got exactly 0.25 ETH and the account's nonce is 1."""
    step = "threshold transfer"
    why = _missing("frost_rs", "threshold")
    if why:
        return StepResult(step, status="skipped", reason=why)
    with tempfile.TemporaryDirectory(prefix="oms-demo-frost-") as tmp:
        return asyncio.run(_threshold(world, console, Path(tmp)))


async def _threshold(world: Devnet, console: Console, directory: Path) -> StepResult:
    from oms_chain.custody.threshold import (
        AccountCall,
        Coordinator,
        ParticipantServer,
        ThresholdSigner,
        key_coordinates,
        run_keygen,
    )
    from oms_chain.custody.threshold import auth as _auth
    from oms_chain.devnet.solidity import load_artifact

    step = "threshold transfer"
    result = StepResult(step)
    key = _auth.new_signing_key()
    servers = [  # devnet demo only: the shares (each with its own passphrase) live in a temp dir
        ParticipantServer(
            directory, f"p{i}", f"oms-demo-p{i}".encode(), coordinator_key=_auth.public_hex(key)
        )
        for i in (1, 2, 3)
    ]
    try:
        for s in servers:
            await s.start()
        roster = await run_keygen(directory, 2, 3, [s.identity() for s in servers], key)
        endpoints = {s.name: s.url for s in servers if s.name != "p3"}  # p3 offline
        coordinator = Coordinator(roster, key, endpoints, timeout_s=5)  # type: ignore[arg-type]
        l1, w3 = world.l1, world.l1.w3
        relayer = l1.accounts[0].address
        art = load_artifact("ThresholdAccount")
        x, parity = key_coordinates(roster.group_key)
        contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = _send(l1, contract.constructor(x, parity), relayer, "deploy ThresholdAccount")
        account = w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction(
                {"from": relayer, "to": account.address, "value": Web3.to_wei(1, "ether")}
            )
        )
        deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
        signer = ThresholdSigner(coordinator, account.address, l1.chain_id)
        started = time.perf_counter()
        sig = await signer.sign_execute(
            [AccountCall(THRESHOLD_RECIPIENT, THRESHOLD_AMOUNT, b"")], 0, deadline
        )
        signing_ms = (time.perf_counter() - started) * 1000
        before = w3.eth.get_balance(THRESHOLD_RECIPIENT)
        exec_receipt = _send(
            l1,
            account.functions.execute(THRESHOLD_RECIPIENT, THRESHOLD_AMOUNT, b"", deadline, sig),
            relayer,
            "ThresholdAccount.execute",
        )
        got = w3.eth.get_balance(THRESHOLD_RECIPIENT) - before
        nonce = int(account.functions.nonce().call())
        trade = await _threshold_trade(world, signer, roster.group_key, account.address, result)
    finally:
        for s in servers:
            await s.stop()
    table = Table(
        title="FROST 2-of-3 group (in-process participants, p3 offline): ThresholdAccount.execute"
    )
    for col in ("account", "group key", "signers", "sign ms", "gas", "sent", "received"):
        table.add_column(
            col, justify="left" if col in ("account", "group key", "signers") else "right"
        )
    table.add_row(
        account.address,
        "0x" + roster.group_key.hex()[:16] + "…",
        "p1, p2",
        f"{signing_ms:.0f}",
        f"{exec_receipt['gasUsed']:,}",
        f"{Decimal(THRESHOLD_AMOUNT).scaleb(-18)} ETH",
        f"{Decimal(got).scaleb(-18)} ETH",
    )
    console.print(table)
    _check(step, got == THRESHOLD_AMOUNT, "the recipient received exactly 0.25 ETH", result, got)
    _check(
        step, nonce == 1, "the account's nonce is 1 (the signature executed once)", result, nonce
    )
    result.detail = {
        "account": account.address,
        "group_key": "0x" + roster.group_key.hex(),
        "t": 2,
        "n": 3,
        "signers": ["p1", "p2"],
        "received_wei": got,
        "gas": int(exec_receipt["gasUsed"]),
        "in_process_participants": True,
        "trade": trade,
    }
    _trade_table(console, "One trade from the threshold group through the engine (p1 + p2 sign)",
                 account.address, trade)  # fmt: skip
    return result


async def _threshold_trade(
    world: Devnet, group: Any, group_key: bytes, account: str, result: StepResult
) -> dict[str, Any]:
    """The engine sells on the L1's V3 pool from the ThresholdAccount: the venue's wrap,
    approval and swap go out as one ``executeBatch`` the group signs, sent by a relayer."""
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.threshold_executor import ThresholdExecutor
    from oms_chain.custody.local import LocalSigner
    from oms_chain.engine import Engine, EngineConfig
    from oms_chain.model import Intent, SystemClock
    from oms_chain.risk import RiskGate, RiskLimits
    from oms_chain.store import open_store
    from oms_chain.venues.amm import uniswap_venues

    l1 = world.l1
    step = "threshold transfer"
    usdc = _erc20(l1, "USDC")
    eth0 = _eth(l1).get_balance(account)
    usdc0 = int(usdc.functions.balanceOf(account).call())
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    # the signed execution's deadline counts from the chain's time (the put step warped it
    # past the options' expiry, days ahead of the wall clock)
    with tempfile.TemporaryDirectory(prefix="oms-demo-threshold-store-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'oms.db'}")
        rpc = RpcClient([l1.rpc_url])
        venues = uniswap_venues(
            l1.chain_id, l1.rpc_url, LocalSigner(l1.accounts[9].private_key), store,
            book=l1.book, poll_interval=0.05,
            executor=lambda sender: ThresholdExecutor(group, group_key, sender, rpc=rpc),
        )  # fmt: skip
        clock = SystemClock()
        engine = Engine(
            store=store,
            venues=venues.venues,
            risk=RiskGate(RiskLimits(), clock=clock),
            clock=clock,
            config=EngineConfig(split_poll_s=0.05, send_timeout_s=60),
        )
        try:
            inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
            venues.account.start()
            await engine.start()
            parent = await engine.submit(
                Intent.create(
                    intent_id="demo-threshold-sell-eth",
                    account=account,
                    instrument=inst,
                    side="sell",
                    quantity=str(SAFE_TRADE_ETH),
                    venues=[vid],
                    now_ns=clock.now_ns(),
                    max_slippage_bps=100,
                )
            )
            done = lambda: engine.order(parent.order_id).is_terminal  # noqa: E731
            await _until("'threshold transfer': the trade's fill", done, timeout=120)
            parent = engine.order(parent.order_id)
            if parent.status.value != "filled":  # fail here, naming the status
                _check(step, False, "the engine filled the sale", result, parent.status.value)
            (child_id,) = parent.children
            settled = lambda: engine.order(child_id).settlement is not None  # noqa: E731
            await _until("'threshold transfer': the trade's settlement", settled, timeout=120)
            child = engine.order(child_id)
            positions = engine.positions()
            fills = [f for f in engine.projections.fills.values() if f.order_id == child_id]
        finally:
            await engine.stop()
            await venues.close()
            await rpc.close()
            store.close()
    tx = _eth(l1).get_transaction(child.settlement.tx_hash) if child.settlement else {}
    _check(step, tx.get("to") == account and tx.get("from") == l1.accounts[9].address,
           "one executeBatch to the account, sent by the relayer", result, tx)  # fmt: skip
    return _checked_trade(world, step, result, (account, eth0, usdc0), parent, child,
                          positions, fills)  # fmt: skip


def timed(fn: Callable[[], StepResult]) -> StepResult:
    """Run a step and record its wall time."""
    started = time.perf_counter()
    out = fn()
    out.seconds = round(time.perf_counter() - started, 2)
    return out


# --- 8-11. the story on one session: TWAP on the L2, the hedger, the dashboard; the report ---

TWAP_ETH = Decimal("0.3")
TWAP_SLICES = 3
HEDGE_CALLS = Decimal(-20)  # short 2-day ATM calls held outside the engine: gamma to hedge
HEDGE_VOL = Decimal("0.6")
HEDGE_BAND = Decimal(1)
JUMP_ETH = Decimal(60)  # sold into the L1 pools by the trader: the price jump


async def twap_l2(world: Devnet, console: Console, session: Any) -> StepResult:
    """Sell a little ETH on the L2's pools by TWAP: every slice a child there, all filled."""
    name = "twap on the L2"
    result = StepResult(name)
    l2 = world.l2
    inst = session.instrument("ETH/USDC", chain_id=l2.chain_id)
    venues = session.venues_for(inst, exchange=False)
    intent = session.intent(
        inst,
        "sell",
        TWAP_ETH,
        venues=venues,
        algo="twap",
        algo_params={"duration": f"{TWAP_SLICES}s", "slices": TWAP_SLICES},
        max_slippage_bps=100,
    )
    parent = await session.submit(intent)
    parent = await session.wait(parent.order_id, timeout=120)
    kids = [k for k in session.children(parent.order_id) if k.filled_quantity > 0]
    _check(
        name,
        parent.status.value == "filled" and parent.filled_quantity == TWAP_ETH,
        f"the TWAP parent filled {TWAP_ETH} ETH",
        result,
        (parent.status.value, parent.filled_quantity),
    )
    _check(name, len(kids) == TWAP_SLICES, f"{TWAP_SLICES} slices, each a filled child", result,
           len(kids))  # fmt: skip
    on_l2 = all(str(k.venue).endswith(f"-{l2.chain_id}") for k in kids)
    _check(name, on_l2, f"every child traded on an L2 pool (chain {l2.chain_id})", result,
           [k.venue for k in kids])  # fmt: skip
    times = [k.ts_init for k in kids]
    _check(name, times == sorted(times) and len(set(times)) == len(times),
           "the slices were sent one after the other", result, times)  # fmt: skip
    table = Table(title=f"TWAP: sell {TWAP_ETH} ETH on the L2 in {TWAP_SLICES} slices")
    for col in ("child", "venue", "filled", "avg price", "tx"):
        table.add_column(col)
    for k in kids:
        tx = k.settlement.tx_hash[:12] + "…" if k.settlement is not None else ""
        price = "" if k.avg_fill_price is None else _d(k.avg_fill_price)
        table.add_row(
            k.order_id[-10:], str(k.venue), f"{k.filled_quantity.normalize():f}", price, tx
        )
    console.print(table)
    result.detail = {
        "order_id": parent.order_id,
        "filled": parent.filled_quantity,
        "children": len(kids),
        "venues": sorted({str(k.venue) for k in kids}),
    }
    return result


async def hedger_jump(world: Devnet, console: Console, session: Any) -> StepResult:
    """Short gamma held outside the engine, a delta band, a price jump on the L1 pools: the
    hedger fires once, through the engine, and delta is back inside its band."""
    from oms_chain.model.clock import SystemClock
    from oms_chain.model.events import HedgeDecided, event_from_payload
    from oms_chain.model.ids import IntentId
    from oms_chain.risk import HedgePolicy, Holding, MarketSnapshot
    from oms_chain.service.hedger import Hedger

    name = "hedger on a price jump"
    result = StepResult(name)
    l1 = world.l1
    inst = session.instrument("ETH/USDC", chain_id=l1.chain_id)
    venues = session.venues_for(inst, exchange=False)
    clock = SystemClock()

    async def spot() -> Decimal:
        return Decimal(await session.best_price(inst, "sell", Decimal(1), venues))

    spot0 = await spot()
    call = OptionContract(
        underlying=inst.base,
        quote=inst.quote,
        strike=spot0.quantize(Decimal(1)),
        expiry_ns=clock.now_ns() + 2 * DAY_NS,
        option_kind=OptionKind.CALL,
    )
    held = [Holding(instrument=call, quantity=HEDGE_CALLS, venue="demo-book")]
    underlying = held[0].underlying

    def market(price: Decimal) -> MarketSnapshot:
        return MarketSnapshot(
            now_ns=clock.now_ns(), spots={underlying: price}, vols={call.id: HEDGE_VOL}
        )

    probe = Hedger(
        engine=session.engine,
        store=session.store,
        policy=HedgePolicy(
            name="demo-probe", underlying=underlying, instrument="ETH/USDC",
            venues=tuple(venues), band=HEDGE_BAND, max_hedge=Decimal(1),
        ),
        instrument=inst, account="demo-hedger", clock=clock, holdings=lambda: held,
    )  # fmt: skip
    target = probe.delta(market(spot0)).quantize(Decimal("0.01"))
    policy = HedgePolicy(
        name="demo-jump",
        underlying=underlying,
        instrument="ETH/USDC",
        venues=tuple(venues),
        target=target,
        band=HEDGE_BAND,
        max_hedge=Decimal(20),
        max_slippage_bps=Decimal(300),
    )
    hedger = Hedger(
        engine=session.engine,
        store=session.store,
        policy=policy,
        instrument=inst,
        account="demo-hedger",
        clock=clock,
        holdings=lambda: held,
    )
    hedger.start()
    before = await hedger.step(market(spot0))
    _check(name, before.decision.action != "hedge", f"delta {before.delta:.2f} starts inside "
           f"{target} ± {HEDGE_BAND}: no hedge", result, before.decision.reason)  # fmt: skip
    jump = session.intent(inst, "sell", JUMP_ETH, venues=venues, max_slippage_bps=2000)
    jumped = await session.wait((await session.submit(jump)).order_id, timeout=120)
    _check(name, jumped.status.value == "filled", f"a {JUMP_ETH} ETH sale moved the pools",
           result, jumped.status.value)  # fmt: skip
    spot1 = await spot()
    move = (spot1 / spot0 - 1) * 100
    st = await hedger.step(market(spot1))
    d = st.decision
    _check(name, d.action == "hedge", f"after a {move:.1f} % jump delta {st.delta:.2f} left "
           "its band: the hedger decided a hedge", result, d.reason)  # fmt: skip
    oid = session.engine.projections.intents.get(IntentId(f"hedge-{policy.name}-1"))
    _check(name, oid is not None, "the hedge is an intent of the engine (risk gate, router)",
           result)  # fmt: skip
    hedge = await session.wait(oid, timeout=120)
    _check(name, hedge.status.value == "filled", f"the hedge ({d.side} {d.quantity} ETH) filled",
           result, hedge.status.value)  # fmt: skip
    after = hedger.delta(market(spot1))
    _check(name, abs(after - target) <= HEDGE_BAND, f"delta {after:.2f} is back inside "
           f"{target} ± {HEDGE_BAND}", result, after)  # fmt: skip
    decided = [
        event_from_payload(r.event_type, r.version, r.payload)
        for r in session.store.read_all(0)
        if r.stream_id == hedger.stream and r.event_type == "HedgeDecided"
    ]
    _check(name, len(decided) == 1 and isinstance(decided[0], HedgeDecided)
           and bool(decided[0].reason), "one HedgeDecided event, with its reason", result,
           len(decided))  # fmt: skip
    table = Table(title=f"hedger {policy.name}: {HEDGE_CALLS} calls K={call.strike}, 2 days")
    for col in ("", "spot", "delta", "band", "action"):
        table.add_column(col)
    table.add_row("before", _d(spot0), f"{before.delta:.2f}", f"{target} ± {HEDGE_BAND}", "none")
    table.add_row("jump", _d(spot1), f"{st.delta:.2f}", "", f"{d.side} {d.quantity}")
    table.add_row("after", _d(spot1), f"{after:.2f}", "", "in band")
    console.print(table)
    result.detail = {
        "spot_before": spot0,
        "spot_after": spot1,
        "move_pct": move.quantize(Decimal("0.01")),
        "delta_before": before.delta,
        "delta_jump": st.delta,
        "delta_after": after,
        "target": target,
        "band": HEDGE_BAND,
        "hedge": {"side": d.side, "quantity": d.quantity, "order_id": oid},
        "reason": d.reason,
    }
    return result


REORG_ETH = Decimal("0.1")


async def _until(what: str, ok: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``ok`` (the engine works in the background) until it holds, or fail the step."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        if loop.time() > deadline:
            raise DemoCheckFailed(f"demo step {what} did not happen in {timeout} s")
        await asyncio.sleep(0.1)


async def reorg_step(world: Devnet, console: Console, session: Any) -> StepResult:
    """A swap's block is reorged out (``anvil_reorg``): the engine reverses its fill, then
    records it again from the block the swap is mined in anew; the position ends as before."""
    name = "injected reorg"
    result = StepResult(name)
    l1 = world.l1
    inst = session.instrument("ETH/USDC", chain_id=l1.chain_id)
    venue = session.venues_for(inst, exchange=False)[0]
    intent = session.intent(inst, "sell", REORG_ETH, venues=[venue], max_slippage_bps=200)
    parent = await session.wait((await session.submit(intent)).order_id, timeout=60)
    (child,) = session.children(parent.order_id)
    _check(name, child.settlement is not None and child.settlement.block_number is not None,
           f"the swap sold {REORG_ETH} ETH on {venue} and was included", result,
           child.settlement)  # fmt: skip
    included = child.settlement.block_number
    first_fills = {
        k for k, f in session.engine.projections.fills.items() if f.order_id == child.order_id
    }
    mark = session.store.last_position()
    depth = l1.process.block_number() - included + 1
    await asyncio.to_thread(l1.process.rpc, "anvil_reorg", [depth, []])

    def types() -> list[str]:
        return [r.event_type for r in session.store.read_all(from_position=mark)]

    reversed_ = lambda: "FillReversed" in types()  # noqa: E731
    await _until("'injected reorg': the reversal of the reorged fill", reversed_)
    _check(name, True, f"a reorg of {depth} block(s) from block {included}: the fill was "
           "reversed (FillReversed)", result)  # fmt: skip

    def again() -> bool:
        fills = {
            k for k, f in session.engine.projections.fills.items() if f.order_id == child.order_id
        }
        return bool(fills) and fills != first_fills

    await _until("'injected reorg': the swap's fill from its new block", again)
    now = session.engine.order(child.order_id)
    _check(name, now.status.value == "filled" and now.filled_quantity == REORG_ETH,
           "the swap was mined again and its fill recorded again from the new block", result,
           (now.status.value, now.filled_quantity))  # fmt: skip
    new_block = now.settlement.block_number if now.settlement is not None else None
    _check(name, session.engine.order(parent.order_id).status.value == "filled",
           "the parent is filled again", result)  # fmt: skip
    seen = types()
    _check(name, seen.count("FillReversed") == 1 and seen.count("FillRecorded") == 1,
           "exactly one reversal and one new fill were recorded", result, seen)  # fmt: skip
    console.print(
        f"child {child.order_id[-10:]}: included at block {included}, reorged out "
        f"(depth {depth}), fill reversed, mined again at block {new_block}, fill recorded again",
        highlight=False,
    )
    result.detail = {
        "order_id": parent.order_id,
        "included": included,
        "depth": depth,
        "included_again": new_block,
        "events": seen,
    }
    return result


async def dashboard_up(world: Devnet, console: Console, session: Any) -> StepResult:
    """Serve the API and the dashboard over the session on a free loopback port, then ask it
    what a person or a script would: the page, the health, the orders, the OpenAPI, the docs."""
    import aiohttp
    from aiohttp import web

    from oms_chain.service.api import TokenStore, create_app

    name = "dashboard"
    result = StepResult(name)
    tokens = TokenStore(session.store_url)
    token, _ = tokens.create("demo", "read")
    app = create_app(session, tokens)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/") as r:
                page = await r.text()
                _check(name, r.status == 200 and "<html" in page.lower(),
                       f"{url}/ serves the dashboard", result, r.status)  # fmt: skip
            async with http.get(f"{url}/api/v1/health", headers=auth) as r:
                health = await r.json()
                ready = r.status == 200 and health.get("phase") == "ready"
                _check(name, ready, "/api/v1/health answers the token: ready", result, health)
            async with http.get(f"{url}/api/v1/orders") as r:
                _check(name, r.status == 401, "no token: 401", result, r.status)
            async with http.get(f"{url}/api/v1/orders", headers=auth) as r:
                orders = await r.json()
                _check(name, r.status == 200 and len(orders) >= 3,
                       f"/api/v1/orders lists the story's {len(orders)} parents", result,
                       r.status)  # fmt: skip
            async with http.get(f"{url}/openapi.json") as r:
                doc = await r.json()
                _check(name, doc.get("openapi") == "3.1.0", "/openapi.json is OpenAPI 3.1",
                       result)  # fmt: skip
            async with http.get(f"{url}/docs") as r:
                docs_status = r.status
        if docs_status == 200:
            result.checks.append("/docs serves Swagger UI from this server")
        console.print(
            f"dashboard [bold]{url}/[/] (API {url}/api/v1, docs {url}/docs): up for this step; "
            "`oms serve` keeps one up",
            highlight=False,
        )
        result.detail = {"url": url, "parents": len(orders), "docs": docs_status}
    finally:
        await runner.cleanup()
        tokens.close()
    return result


def html_report(console: Console, store_url: str, out: Path) -> StepResult:
    """Write the execution and risk report of the demo's store as one offline HTML page (and
    CSV); check it holds the sale against its arrival price, the TWAP and the hedge."""
    import re

    from oms_chain.service.report import render_html, report_from_store, write_csv
    from oms_chain.store import open_store

    name = "html report"
    result = StepResult(name)
    with open_store(store_url) as es:
        rep = report_from_store(es)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "report.html"
    page.write_text(render_html(rep, title="oms demo: execution and risk"), encoding="utf-8")
    csvs = write_csv(rep, out)
    text = page.read_text(encoding="utf-8")
    algos = {p.algo for p in rep.parents}
    arrival = [p for p in rep.parents if p.arrival_source == "arrival"]
    _check(name, len(rep.parents) >= 3, f"{len(rep.parents)} parents reported", result,
           len(rep.parents))  # fmt: skip
    _check(name, bool(arrival), f"slippage of {len(arrival)} parents is against the arrival "
           "price recorded at submit", result, [p.arrival_source for p in rep.parents])  # fmt: skip
    _check(name, "twap" in algos, "the TWAP parent is in it", result, sorted(algos))
    _check(name, any(r.kind == "hedge" for r in rep.risk), "the hedge is on the risk timeline",
           result, [r.kind for r in rep.risk])  # fmt: skip
    external = re.findall(r'(?:src|href)\s*=\s*"(?:https?:)?//[^"]*"', text)
    _check(name, not external, "the page loads nothing from the network", result, external)
    sale = max(rep.parents, key=lambda p: p.filled_quantity)
    console.print(
        f"report [bold]{page}[/] ({page.stat().st_size:,} bytes, {len(csvs)} CSV): the largest "
        f"parent, {sale.filled_quantity.normalize():f} ETH, {sale.slippage_bps} bps vs arrival "
        f"{sale.arrival_price:.2f} ({sale.arrival_source})",
        highlight=False,
    )
    result.detail = {
        "path": str(page),
        "bytes": page.stat().st_size,
        "parents": len(rep.parents),
        "sale_slippage_bps": sale.slippage_bps,
        "sale_arrival": sale.arrival_price,
        "sale_arrival_source": sale.arrival_source,
    }
    return result


async def timed_async(fn: Callable[[], Any]) -> StepResult:
    """Await a step and record its wall time."""
    started = time.perf_counter()
    out: StepResult = await fn()
    out.seconds = round(time.perf_counter() - started, 2)
    return out
