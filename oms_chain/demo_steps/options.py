"""Options steps of ``oms demo``: the iron condor priced before trading, a put bought on our
OptionsMarket by an EIP-712 RFQ quote (settled and redeemed), one option on the
Deribit-protocol exchange through unmodified ``ccxt.deribit``."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from oms_chain.demo_steps._base import (
    _MAX_UINT,
    DAY_NS,
    NS,
    StepResult,
    _check,
    _d,
    _erc20,
    _send,
    _usdc,
)
from oms_chain.devnet.options_market import (
    OptionsMarketClient,
    Quote,
    set_feed_price,
    warp_to,
)
from oms_chain.devnet.world import Devnet
from oms_chain.model.assets import Asset
from oms_chain.model.instruments import OptionKind

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
