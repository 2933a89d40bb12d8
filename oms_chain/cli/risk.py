"""``oms risk`` (Greeks, VaR / ES, portfolio margin, liquidation prices of a portfolio file),
``oms risk surface`` (a fitted SVI smile per expiry with its arbitrage checks) and ``oms hedge``
(a hedge policy run against the live portfolio through the engine).

A portfolio file is TOML; every key is checked and unknown keys are refused::

    [market]
    spots = { ETH = 2000 }          # USD per underlying
    vols = { ETH = 0.7 }            # implied vol of the underlying's options (per year)
    daily_vols = { ETH = 0.04 }     # for VaR: daily log-return vol (independent underlyings)

    [[holdings]]
    kind = "spot"                   # spot | cash | perpetual | option
    underlying = "ETH"
    quantity = 1.5
    venue = "wallet:1"

    [[holdings]]
    kind = "option"
    underlying = "ETH"
    option = "call"                 # call | put
    strike = 2400
    expiry_days = 30
    quantity = -5
    venue = "deribit"
"""

from __future__ import annotations

import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._app import app
from oms_chain.cli._args import (
    ChainOption,
    ConfigOption,
    JsonOption,
    KeyEnvOption,
    TradeStoreOption,
    _bounded_int,
    _decimal_text,
    _parser,
    _seconds,
    _shown,
    _symbol,
)
from oms_chain.cli._output import console, print_json, table
from oms_chain.cli._session import _precheck, _trading_session
from oms_chain.model.errors import InvalidInput

risk_app = typer.Typer(
    help="Portfolio risk: Greeks, VaR / ES, margin, liquidation prices, vol surfaces.",
    rich_markup_mode=None,
)
app.add_typer(risk_app, name="risk")

_NS_PER_DAY = 86_400 * 1_000_000_000
_HOLDING_KEYS = {
    "spot": {"kind", "underlying", "quantity", "venue"},
    "cash": {"kind", "symbol", "quantity", "venue"},
    "perpetual": {"kind", "underlying", "quantity", "venue", "entry_price"},
    "option": {"kind", "underlying", "quantity", "venue", "option", "strike", "expiry_days"},
}
_USDC = ("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "USDC", 6)


def _num(value: Any, where: str, *, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{where}: expected a number, got {_shown(repr(value))}")
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(f"{where}: {_shown(str(value))} is not a number") from None
    if not d.is_finite() or abs(d) > Decimal("1e15"):
        raise InvalidInput(f"{where}: must be a finite number of at most 1e15, got {value!r}")
    if positive and d <= 0:
        raise InvalidInput(f"{where}: must be > 0, got {value!r}")
    return d


def _table(value: Any, where: str, keys: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: expected a table")
    if keys is not None:
        for k in value:
            if k not in keys:
                raise InvalidInput(f"{where}.{k}: unknown key; expected one of {sorted(keys)}")
    return value


def _load_portfolio(path: Path, now_ns: int) -> tuple[list[Any], Any, dict[str, Decimal]]:
    """Holdings, a MarketSnapshot and the daily vols of a portfolio file."""
    from oms_chain.model import Asset
    from oms_chain.model.instruments import OptionContract, OptionKind, Perpetual
    from oms_chain.risk import Holding, MarketSnapshot

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read portfolio {str(path)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"portfolio {str(path)!r} is not valid TOML: {exc}") from None
    _table(data, "portfolio", {"market", "holdings", "alerts"})  # alerts: see `oms serve`
    market = _table(data.get("market"), "market", {"spots", "vols", "daily_vols"})
    spots = {
        _symbol(k, "market.spots key"): _num(v, f"market.spots.{k}", positive=True)
        for k, v in _table(market.get("spots", {}), "market.spots").items()
    }
    if not spots:
        raise InvalidInput("market.spots: give the USD spot of every underlying you hold")
    vols = {
        _symbol(k, "market.vols key"): _num(v, f"market.vols.{k}", positive=True)
        for k, v in _table(market.get("vols", {}), "market.vols").items()
    }
    daily = {
        _symbol(k, "market.daily_vols key"): _num(v, f"market.daily_vols.{k}", positive=True)
        for k, v in _table(market.get("daily_vols", {}), "market.daily_vols").items()
    }
    rows = data.get("holdings", [])
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("holdings: expected at least one [[holdings]] table")
    usdc = Asset.erc20(1, *_USDC)
    held: list[Any] = []
    option_vols: dict[str, Decimal] = {}
    for i, row in enumerate(rows):
        where = f"holdings[{i}]"
        kind = _table(row, where).get("kind")
        if kind not in _HOLDING_KEYS:
            raise InvalidInput(f"{where}.kind: expected one of {sorted(_HOLDING_KEYS)}")
        _table(row, where, _HOLDING_KEYS[kind])
        qty = _num(row.get("quantity"), f"{where}.quantity")
        venue = row.get("venue", "portfolio")
        if not isinstance(venue, str) or not venue or len(venue) > 64:
            raise InvalidInput(f"{where}.venue: expected a venue name")
        if kind == "cash":
            sym = _symbol(row.get("symbol", ""), f"{where}.symbol")
            asset = usdc if sym == "USDC" else Asset.cex("portfolio", sym, 6)
            held.append(Holding(instrument=asset, quantity=qty, venue=venue))
            continue
        und = _symbol(row.get("underlying", ""), f"{where}.underlying")
        if und not in spots:
            raise InvalidInput(f"{where}.underlying: no market.spots entry for {und}")
        base = Asset.cex("portfolio", und, 8)
        if kind == "spot":
            held.append(Holding(instrument=base, quantity=qty, venue=venue))
        elif kind == "perpetual":
            entry = row.get("entry_price")
            held.append(
                Holding(
                    instrument=Perpetual(base=base, quote=usdc, settle=usdc),
                    quantity=qty,
                    venue=venue,
                    entry_price=None
                    if entry is None
                    else _num(entry, f"{where}.entry_price", positive=True),
                )
            )
        else:
            if row.get("option") not in ("call", "put"):
                raise InvalidInput(f"{where}.option: expected call or put")
            days = _num(row.get("expiry_days"), f"{where}.expiry_days", positive=True)
            if days > 3650:
                raise InvalidInput(f"{where}.expiry_days: at most 3650, got {days}")
            contract = OptionContract(
                underlying=base,
                quote=usdc,
                strike=_num(row.get("strike"), f"{where}.strike", positive=True),
                expiry_ns=now_ns + int(days * _NS_PER_DAY),
                option_kind=OptionKind.CALL if row["option"] == "call" else OptionKind.PUT,
            )
            if und not in vols:
                raise InvalidInput(f"{where}: no market.vols entry for {und} (options need one)")
            option_vols[contract.id] = vols[und]
            held.append(Holding(instrument=contract, quantity=qty, venue=venue))
    snap = MarketSnapshot(now_ns=now_ns, spots=spots, vols=option_vols)
    return held, snap, daily


def _confidence(value: str, option: str) -> float:
    d = _decimal_text(value, option)
    if not Decimal("0.5") <= d <= Decimal("0.9999"):
        raise InvalidInput(f"{option} must be between 0.5 and 0.9999, got {_shown(value)}")
    return float(d)


def _s(d: Decimal | None, places: str = "0.01") -> str | None:
    return None if d is None else str(d.quantize(Decimal(places)))


@risk_app.callback(invoke_without_command=True)
def risk_cmd(
    ctx: typer.Context,
    portfolio: Annotated[
        Path | None,
        typer.Option("--portfolio", help="Portfolio TOML file (see `oms risk --help`)."),
    ] = None,
    confidence: Annotated[
        float,
        typer.Option(
            "--confidence",
            parser=_parser(_confidence, "--confidence"),
            help="VaR confidence, 0.5 to 0.9999.",
        ),
    ] = 0.99,
    horizon_days: Annotated[
        int,
        typer.Option(
            "--horizon-days",
            parser=_parser(_bounded_int, "--horizon-days", 1, 365),
            help="VaR horizon in days (1 to 365).",
        ),
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Greeks by underlying, VaR / ES (parametric delta-gamma), portfolio margin requirement
    and excess, the worst scenario and liquidation prices of a portfolio file."""
    if ctx.invoked_subcommand is not None:
        return
    if portfolio is None:
        raise InvalidInput("--portfolio FILE is required (or use `oms risk surface SYMBOL`)")
    from oms_chain.risk import liquidation_prices, parametric_var, portfolio_margin, portfolio_risk

    held, market, daily = _load_portfolio(portfolio, time.time_ns())
    risk = portfolio_risk(held, market)
    margin = portfolio_margin(held, market)
    liq = liquidation_prices(held, market)
    var_doc: dict[str, Any] | None = None
    names = sorted(risk.by_underlying)
    if names and all(n in daily for n in names):
        cov = [[float(daily[a]) ** 2 if a == b else 0.0 for b in names] for a in names]
        v = parametric_var(
            held, market, cov, names, confidence=confidence, horizon_days=horizon_days
        )
        var_doc = {"var": _s(v.var), "es": _s(v.es), "confidence": confidence}
    greeks = {
        n: {
            "delta": _s(u.delta, "0.0001"),
            "delta_usd": _s(u.delta_usd),
            "gamma_1pct": _s(u.gamma_1pct, "0.0001"),
            "vega_1pt": _s(u.vega_1pt),
            "theta_day": _s(u.theta_day),
            "value": _s(u.value),
        }
        for n, u in sorted(risk.by_underlying.items())
    }
    w = margin.worst
    doc: dict[str, Any] = {
        "greeks": greeks,
        "var": var_doc,
        "margin": {
            "equity": _s(margin.equity),
            "initial": _s(margin.initial),
            "maintenance": _s(margin.maintenance),
            "excess": _s(margin.excess),
            "worst": None
            if w is None
            else {"underlying": w.underlying, "move": str(w.move), "vol": w.vol, "pnl": _s(w.pnl)},
        },
        "liquidation": {
            n: {
                "below": _s(r.below),
                "above": _s(r.above),
                "distance_pct": _s(r.distance_pct),
                "reason": r.reason,
            }
            for n, r in sorted(liq.items())
        },
    }
    if as_json:
        print_json(doc)
        return
    t = table("Greeks by underlying", ("underlying", *next(iter(greeks.values()), {})), right=())
    for n, g in greeks.items():
        t.add_row(n, *(str(x) for x in g.values()))
    console.print(t)
    m = doc["margin"]
    console.print(
        f"margin: equity {m['equity']}  initial {m['initial']}  maintenance "
        f"{m['maintenance']}  excess {m['excess']}"
    )
    if w is not None:
        console.print(f"worst scenario: {w.underlying} {w.move:+} vol {w.vol}: pnl {_s(w.pnl)}")
    if var_doc is not None:
        console.print(
            f"VaR {confidence:g} over {horizon_days} d: {var_doc['var']}  ES {var_doc['es']}"
        )
    else:
        console.print("VaR: give market.daily_vols for every underlying to see it")
    lt = table("Liquidation prices", ("underlying", "below", "above", "distance %", "note"))
    for n, r in doc["liquidation"].items():
        lt.add_row(n, str(r["below"]), str(r["above"]), str(r["distance_pct"]), r["reason"] or "")
    console.print(lt)


def _load_quotes(path: Path) -> tuple[list[Any], float]:
    """IV quotes from a CSV file ``strike,days,kind,bid,ask`` (kind call|put, vols per year)
    with a ``# forward=F`` first line."""
    from oms_chain.risk.pricing import OptionQuote

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read quotes {str(path)!r}: {exc}") from None
    if not lines or not lines[0].startswith("# forward="):
        raise InvalidInput("quotes file: the first line must be '# forward=<forward price>'")
    fwd = float(_num(lines[0].removeprefix("# forward=").strip(), "forward", positive=True))
    out: list[Any] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith(("#", "strike")):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5 or parts[2] not in ("call", "put"):
            raise InvalidInput(f"quotes line {n}: expected strike,days,call|put,bid,ask")
        strike = float(_num(parts[0], f"quotes line {n} strike", positive=True))
        days = float(_num(parts[1], f"quotes line {n} days", positive=True))
        bid = float(_num(parts[3], f"quotes line {n} bid", positive=True))
        ask = float(_num(parts[4], f"quotes line {n} ask", positive=True))
        if ask < bid or ask > 10:
            raise InvalidInput(f"quotes line {n}: need bid <= ask <= 10 (vols per year)")
        out.append(
            OptionQuote(strike=strike, t=days / 365, is_call=parts[2] == "call", bid=bid, ask=ask)
        )
    if not out:
        raise InvalidInput("quotes file has no quotes")
    return out, fwd


def _synthetic(symbol: str) -> Any:
    """The devnet's synthetic surface: three expiries of a smile skewed to the downside."""
    from oms_chain.risk.pricing import SVIParams, VolSurface

    spot = {"ETH": 2000.0, "BTC": 60000.0}.get(symbol, 100.0)
    ts = (7 / 365, 30 / 365, 90 / 365)
    params = [
        SVIParams(a=0.36 * t * 0.5, b=0.36 * t * 1.2, rho=-0.3, m=0.0, sigma=0.25) for t in ts
    ]
    return VolSurface.from_params(ts, spot, params)


@risk_app.command("surface")
def surface_cmd(
    symbol: Annotated[str, typer.Argument(metavar="SYMBOL", help="Underlying, e.g. ETH.")],
    quotes: Annotated[
        Path | None,
        typer.Option("--quotes", help="CSV of IV quotes to fit (default: devnet synthetic)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The SVI smile per expiry (fitted to a quotes file, or the devnet's synthetic parameter
    set), with Gatheral's butterfly check and the calendar check."""
    sym = _symbol(symbol, "SYMBOL")
    if quotes is None:
        surface = _synthetic(sym)
    else:
        from oms_chain.risk.pricing import VolSurface

        qs, fwd = _load_quotes(quotes)
        surface = VolSurface.from_quotes(qs, fwd)
    report = surface.check()
    rows = []
    for t, f, sl in zip(surface.expiries, surface.forwards, surface.slices, strict=True):
        vol = surface.implied_vol([0.8 * f, f, 1.2 * f], [t, t, t])
        rows.append(
            {
                "days": round(float(t) * 365, 4),
                "forward": round(float(f), 6),
                "a": sl.a,
                "b": sl.b,
                "rho": sl.rho,
                "m": sl.m,
                "sigma": sl.sigma,
                "vol_80": round(float(vol[0]), 6),
                "vol_atm": round(float(vol[1]), 6),
                "vol_120": round(float(vol[2]), 6),
            }
        )
    checks: dict[str, Any] = {
        "ok": report.ok,
        "butterfly": [
            {"days": round(v.t * 365, 4), "strike": round(v.strike, 6), "g": v.g}
            for v in report.butterfly
        ],
        "calendar": [
            {"days_1": round(v.t1 * 365, 4), "days_2": round(v.t2 * 365, 4), "strike": v.strike}
            for v in report.calendar
        ],
    }
    if as_json:
        print_json({"symbol": sym, "slices": rows, "arbitrage": checks})
        return
    t = table(f"{sym} SVI smile per expiry", tuple(rows[0]), right=tuple(rows[0]))
    for r in rows:
        t.add_row(*(f"{v:.6g}" for v in r.values()))
    console.print(t)
    if report.ok:
        console.print("arbitrage checks: butterfly ok, calendar ok")
    for v in checks["butterfly"]:
        console.print(
            f"butterfly arbitrage at {v['days']} d, strike {v['strike']} (g {v['g']:.3g})"
        )
    for v in checks["calendar"]:
        console.print(
            f"calendar arbitrage between {v['days_1']} d and {v['days_2']} d at {v['strike']}"
        )


@app.command("hedge")
def hedge_cmd(
    policy: Annotated[
        Path, typer.Option("--policy", help="Hedge policy TOML (see docs/hedging.md).")
    ],
    portfolio: Annotated[
        Path | None,
        typer.Option(
            "--portfolio",
            help="Holdings outside the engine (options, wallets) and their vols (TOML).",
        ),
    ] = None,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            parser=_parser(_seconds, "--interval", 3600.0),
            help="Seconds between evaluations.",
        ),
    ] = 5.0,
    iterations: Annotated[
        int | None,
        typer.Option(
            "--iterations",
            parser=_parser(_bounded_int, "--iterations", 1, 10**6),
            help="Stop after this many evaluations (default: until Ctrl-C).",
        ),
    ] = None,
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also connect to the exchange.")
    ] = True,
    chain: ChainOption = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per evaluation instead of a table.")
    ] = False,
) -> None:
    """Run a hedge policy against the live portfolio: each evaluation prices delta (engine
    positions plus --portfolio holdings), and hedges through the engine when it leaves its
    band. A live table shows delta, band and hedges; Ctrl-C stops cleanly (a hedge already
    sent keeps working and is found again at the next start)."""
    import asyncio

    from oms_chain.risk import HedgePolicy

    pol = HedgePolicy.load(policy)
    held: list[Any] = []
    vols: dict[str, Decimal] = {}
    if portfolio is not None:
        held, snap, _ = _load_portfolio(portfolio, time.time_ns())
        vols = dict(snap.vols)
    base, _, quote = pol.instrument.partition("/")
    plan: dict[str, Any] = {"command": "hedge", "policy": pol.name}
    _precheck(plan, [base, quote], list(pol.venues), config=config, chain=chain, exchange=exchange)
    session, _ = _trading_session(
        chain=chain, store=store, key_env=key_env, config=config, exchange=exchange
    )
    asyncio.run(_hedge_loop(session, pol, held, vols, interval, iterations, as_json))


async def _hedge_loop(
    session: Any,
    pol: Any,
    held: list[Any],
    vols: dict[str, Decimal],
    interval: float,
    iterations: int | None,
    as_json: bool,
) -> None:
    import asyncio

    from rich.live import Live

    from oms_chain.model import SystemClock
    from oms_chain.risk import MarketSnapshot
    from oms_chain.service.hedger import Hedger

    rows: list[tuple[str, ...]] = []

    def render() -> Any:
        t = table(
            f"hedge {pol.name}: {pol.underlying} delta, band {pol.target} ± {pol.band}",
            ("time", "spot", "delta", "action", "hedges", "in flight", "scalped", "reason"),
            right=("spot", "delta", "hedges", "scalped"),
        )
        for r in rows[-20:]:
            t.add_row(*r)
        return t

    async with session:
        instrument = session.instrument(pol.instrument)
        clock = SystemClock()
        hedger = Hedger(
            engine=session.engine,
            store=session.store,
            policy=pol,
            instrument=instrument,
            account=session.account,
            clock=clock,
            holdings=lambda: held,
        )
        hedger.start()
        # a live table on a terminal; one line per evaluation when piped
        use_live = not as_json and console.is_terminal
        live = Live(render(), console=console, auto_refresh=False) if use_live else None
        n = 0
        try:
            if live is not None:
                live.start()
            while iterations is None or n < iterations:
                n += 1
                spot = await session.best_price(instrument, "sell", Decimal(1), list(pol.venues))
                market = MarketSnapshot(
                    now_ns=clock.now_ns(), spots={pol.underlying: spot}, vols=vols
                )
                st = await hedger.step(market)
                d = st.decision
                row = {
                    "time": time.strftime("%H:%M:%S", time.gmtime()),
                    "spot": _s(spot),
                    "delta": _s(st.delta, "0.0001"),
                    "action": d.action if d.action != "hedge" else f"{d.side} {d.quantity}",
                    "hedges": str(st.hedges),
                    "in_flight": st.in_flight or "",
                    "scalped_pnl": _s(st.scalped_pnl),
                    "reason": d.reason,
                }
                if as_json:
                    print_json(row, indent=None)
                elif live is not None:
                    rows.append(tuple(str(v) for v in row.values()))
                    live.update(render(), refresh=True)
                else:
                    console.print("  ".join(f"{k}={v}" for k, v in row.items()), soft_wrap=True)
                if iterations is None or n < iterations:
                    await asyncio.sleep(interval)
        finally:
            if live is not None:
                live.stop()
