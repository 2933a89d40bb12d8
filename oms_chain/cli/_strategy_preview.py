"""The preview of ``oms strategy KIND --dry-run``: the document (legs, quotes, net premium,
payoff, Greeks, margin), its tables and the PNG chart."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from oms_chain.cli._output import console, say, table
from oms_chain.model.errors import InvalidInput


def _cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _preview(
    structure: Any, market: Any, rate: Decimal, now_ns: int, n_points: int
) -> dict[str, Any]:
    from oms_chain.risk import MarketSnapshot
    from oms_chain.strategies import (
        ExpiryValuation,
        net_premium,
        payoff_summary,
        payoff_table,
        price_grid,
        structure_greeks,
        structure_margin,
    )

    premium = net_premium(structure, market.quotes)
    valuation = ExpiryValuation(vol=market.vols, rate=rate) if len(structure.expiries) > 1 else None
    summary = payoff_summary(structure, net_premium=premium.net, valuation=valuation)
    rows = payoff_table(
        structure, price_grid(structure, n_points), net_premium=premium.net, valuation=valuation
    )
    greeks = structure_greeks(
        structure, spot=market.spot, now_ns=now_ns, vol=market.vols, rate=rate
    )
    snap = MarketSnapshot(
        now_ns=now_ns,
        spots={structure.underlying_symbol: market.spot},
        vols=market.vols,
        rate=rate,
    )
    margin = structure_margin(structure, snap)

    def g(x: Any) -> dict[str, str]:
        return {
            f: str(_cents_or(getattr(x, f)))
            for f in ("value", "delta", "gamma", "vega_1pt", "theta_day", "rho_1pct")
        }

    return {
        "dry_run": True,
        "kind": structure.kind,
        "quotes": market.source,
        "spot": str(market.spot),
        "legs": [
            {
                "leg": i,
                "side": leg.side.value,
                "quantity": str(leg.quantity),
                "contract": leg.contract.symbol,
                "instrument_id": leg.contract.id,
                "bid": _s(market.quotes[leg.contract.id].bid),
                "ask": _s(market.quotes[leg.contract.id].ask),
                "price": str(p.price),
                "premium": str(p.amount),
                "vol": str(market.vols[leg.contract.id]),
            }
            for i, (leg, p) in enumerate(zip(structure.legs, premium.legs, strict=True))
        ],
        "net_premium": str(premium.net),
        "premium_kind": "debit" if premium.net > 0 else "credit" if premium.net < 0 else "zero",
        "max_profit": "unbounded" if summary.max_profit is None else str(summary.max_profit),
        "max_loss": "unbounded" if summary.max_loss is None else str(summary.max_loss),
        "breakevens": [str(b) for b in summary.breakevens],
        "exact": summary.exact,
        "payoff": [
            {"price": str(r.price), "payoff": str(r.payoff), "pnl": str(r.pnl)} for r in rows
        ],
        "greeks": {"legs": [g(x) for x in greeks.legs], "total": g(greeks.total)},
        "margin": {
            "initial": str(_cents(margin.initial)),
            "maintenance": str(_cents(margin.maintenance)),
        },
    }


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _cents_or(x: Decimal) -> Decimal:
    return x.quantize(Decimal("1e-6"), rounding=ROUND_HALF_EVEN)


def _write_chart(structure: Any, doc: dict[str, Any], path: Path) -> None:
    from oms_chain.strategies import PayoffRow, payoff_chart_png

    rows = [
        PayoffRow(price=Decimal(r["price"]), payoff=Decimal(r["payoff"]), pnl=Decimal(r["pnl"]))
        for r in doc["payoff"]
    ]
    png = payoff_chart_png(
        rows, [Decimal(b) for b in doc["breakevens"]], title=f"{structure.kind} ({doc['quotes']})"
    )
    try:
        path.write_bytes(png)
    except OSError as exc:
        raise InvalidInput(f"--chart {path}: cannot write there ({exc.strerror})") from None


def _print(doc: dict[str, Any]) -> None:
    legs = table(
        f"{doc['kind']} (dry run: nothing sent; quotes: {doc['quotes']}, spot {doc['spot']})",
        ("leg", "side", "qty", "contract", "bid", "ask", "vol", "premium"),
        right=("qty", "bid", "ask", "vol", "premium"),
    )
    for leg in doc["legs"]:
        legs.add_row(
            str(leg["leg"]),
            leg["side"],
            leg["quantity"],
            leg["contract"],
            leg["bid"] or "-",
            leg["ask"] or "-",
            leg["vol"],
            leg["premium"],
        )
    console.print(legs)
    say(
        f"net premium {doc['net_premium']} USD ({doc['premium_kind']}); max profit "
        f"{doc['max_profit']}, max loss {doc['max_loss']}; breakevens "
        f"{', '.join(doc['breakevens']) or 'none'}"
        + ("" if doc["exact"] else " (at the first expiry, later legs by BSM)")
    )
    say(
        f"margin: initial {doc['margin']['initial']} USD, maintenance "
        f"{doc['margin']['maintenance']} USD (portfolio margin of the legs)"
    )
    pay = table("payoff at expiry", ("price", "payoff", "P&L"), right=("price", "payoff", "P&L"))
    for r in doc["payoff"]:
        pay.add_row(r["price"], r["payoff"], r["pnl"])
    console.print(pay)
    cols = ("value", "delta", "gamma", "vega_1pt", "theta_day", "rho_1pct")
    gt = table("Greeks now (BSM)", ("leg", *cols), right=cols)
    for i, x in enumerate(doc["greeks"]["legs"]):
        gt.add_row(str(i), *(x[c] for c in cols))
    gt.add_row("total", *(doc["greeks"]["total"][c] for c in cols))
    console.print(gt)
    if "chart" in doc:
        say(f"chart written to {doc['chart']}")
