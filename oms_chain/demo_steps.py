"""The checked steps of ``oms demo`` after the routed sale: each shows a table and checks an
exact expectation; a failed check raises :class:`DemoCheckFailed` naming the step, what was
expected and what was seen.

Steps (in demo order): an iron condor priced before trading; a put bought on our
OptionsMarket by an EIP-712 RFQ quote, settled and redeemed; one option bought on the
Deribit-protocol exchange through unmodified ``ccxt.deribit``; the portfolio risk of what the
demo then holds; a Safe 2-of-3 MultiSend; a FROST 2-of-3 group executing a transfer from its
ThresholdAccount. Each returns a :class:`StepResult`; a step whose extra is not installed or
whose service the devnet did not start returns a skipped result with the reason.
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
    result.detail = {
        "safe": safe.address,
        "owners": [o.address for o in owners],
        "threshold": 2,
        "transfers": [{"to": to, "amount": a} for to, a in SAFE_RECIPIENTS],
        "left": left,
        "tx_hash": sent2.tx_hash,
        "nonce": state.nonce,
    }
    return result


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
    }
    return result


def timed(fn: Callable[[], StepResult]) -> StepResult:
    """Run a step and record its wall time."""
    started = time.perf_counter()
    out = fn()
    out.seconds = round(time.perf_counter() - started, 2)
    return out
