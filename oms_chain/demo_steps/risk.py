"""The portfolio-risk step of ``oms demo``: the risk of what the demo then holds."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from oms_chain.demo_steps._base import (
    StepResult,
    _check,
    _d,
)
from oms_chain.model.assets import Asset
from oms_chain.model.instruments import OptionContract, OptionKind

# --- 5. portfolio risk --------------------------------------------------------------------

DAILY_VOL = Decimal("0.04")  # the daily ETH vol the step assumes


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
        liquidation_prices,
        monte_carlo_var,
        parametric_var,
        portfolio_margin,
        portfolio_risk,
    )

    step = "portfolio risk"
    result = StepResult(step)
    holdings, market = demo_portfolio(balances, deribit, spot)
    risk = portfolio_risk(holdings, market)
    names = sorted(risk.by_underlying)
    daily = float(DAILY_VOL)
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
        "spot": spot,
        "now_ns": market.now_ns,
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


def demo_portfolio(
    balances: dict[str, Decimal],
    deribit: StepResult | None,
    spot: Decimal,
    now_ns: int | None = None,
) -> tuple[list[Any], Any]:
    """The holdings and the market snapshot (at ``now_ns``, default now) the portfolio-risk
    step prices (and the served dashboard's risk context with it): see
    :func:`portfolio_risk_step`."""
    from oms_chain.risk import Holding, MarketSnapshot

    usd = Asset.cex("deribit", "USD", 2)
    holdings: list[Holding] = []
    for label, qty in balances.items():
        where, sym = label.split(" ", 1)
        if (sym == "ETH" and where == "wallet") or qty == 0:
            continue
        asset = Asset.cex(where, sym)
        holdings.append(Holding(instrument=asset, quantity=qty, venue=where))
    vols: dict[str, Decimal] = {}
    now_ns = time.time_ns() if now_ns is None else now_ns
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
    return holdings, market
