"""``oms strategy KIND``: an option structure before trading, and its execution.

``--dry-run`` builds the structure (:mod:`oms_chain.strategies`), quotes every leg, and shows
the legs, net premium, max profit / loss, breakevens, the payoff table at expiry, Greeks now and
the portfolio margin it needs. Quotes come from the running devnet's Deribit-protocol exchange
through unmodified ``ccxt.deribit`` with ``--venue deribit``, else from a small synthetic
surface around ``--spot`` and ``--vol``.

``--venue onchain`` (with ``--maker URL``) executes it on the on-chain options market: every leg
in ONE BatchExecutor transaction with the net-premium guard, after the risk gate judged the
structure as a whole (``--max-loss``, ``--max-premium``, ``--max-margin``) and after
confirmation (or ``--yes``), with progress; every step is an event in the store
(:mod:`._strategy_run`). ``oms strategy list`` and ``oms strategy show ID`` read them back.
``--policy all-or-unwind|hedge-residual`` with ``--venue`` per leg (or one for all) works the
legs one by one across the session's options venues through the leg-risk coordinator
(:mod:`._strategy_legs`); ``--dry-run`` shows the legs per venue and the policy.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._app import app
from oms_chain.cli._args import (
    ConfigOption,
    DryRunOption,
    JsonOption,
    KeyEnvOption,
    RpcUrlOption,
    TradeStoreOption,
    YesOption,
    _bounded_int,
    _decimal_text,
    _positive_decimal,
    _shown,
    _symbol,
)
from oms_chain.cli._output import print_json
from oms_chain.cli._strategy_legs import (
    HEDGE_BAND_USD,
    HEDGE_TIME_LIMIT_S,
    LEG_TIME_LIMIT_S,
    UNWIND_SLIPPAGE_BPS,
)
from oms_chain.cli._strategy_preview import _preview, _print, _write_chart
from oms_chain.cli._strategy_quotes import _deribit_quotes, _synthetic_quotes
from oms_chain.cli._strategy_run import _signed_decimal
from oms_chain.model.errors import InvalidInput

_KINDS = {
    # CLI name: (number of strikes, takes --type, takes --direction, needs --far-expiry)
    "straddle": (1, False, True, False),
    "strangle": (2, False, True, False),
    "bull-call-spread": (2, False, False, False),
    "bear-call-spread": (2, False, False, False),
    "bull-put-spread": (2, False, False, False),
    "bear-put-spread": (2, False, False, False),
    "butterfly": (3, True, True, False),
    "condor": (4, True, True, False),
    "iron-condor": (4, False, True, False),
    "iron-butterfly": (3, False, True, False),
    "collar": (2, False, False, False),
    "risk-reversal": (2, False, True, False),
    "calendar": (1, True, True, True),
    "diagonal": (2, True, True, True),
    "ratio-spread": (2, True, True, False),
}

_UNDERLYINGS = ("ETH", "BTC")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_RATIO_RE = re.compile(r"([0-9]{1,3})x([0-9]{1,3})", re.ASCII)
_EXPIRY_HOUR = 8  # Deribit's options expire at 08:00 UTC


def _now_ns() -> int:
    """The clock of the preview (Greeks and time to expiry); tests replace it."""
    return time.time_ns()


_COMMANDS = ("list", "show")
_POLICIES = ("atomic", "all-or-unwind", "hedge-residual")


def _kind(value: str) -> str:
    if value not in _KINDS and value not in _COMMANDS:
        raise typer.BadParameter(
            f"must be one of {', '.join(_KINDS)} (or list, show), got {_shown(value)}",
            param_hint="'KIND'",
        )
    return value


def _expiry(value: str, option: str) -> int:
    text = value.strip(" ") if isinstance(value, str) else ""
    if not _DATE_RE.fullmatch(text):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a date YYYY-MM-DD (expiry at 08:00 UTC)"
        )
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(hour=_EXPIRY_HOUR, tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"{option} {_shown(value)} is not a calendar date") from None
    if day.year > 2200:
        raise InvalidInput(f"{option} {_shown(value)} is too far away (before 2200, please)")
    return int(day.timestamp()) * 10**9


def _strikes(value: str, n: int, kind: str) -> list[Decimal]:
    parts = value.split(",") if isinstance(value, str) else []
    if len(parts) != n:
        raise InvalidInput(
            f"--strikes: {kind} takes {n} strike{'s' if n > 1 else ''} separated by commas "
            f"(lowest first), got {_shown(str(value))}"
        )
    return [_positive_decimal(p, "--strikes") for p in parts]


def _ratio(value: str) -> tuple[int, int]:
    m = _RATIO_RE.fullmatch(value.strip(" ")) if isinstance(value, str) else None
    if m is None:
        raise InvalidInput(f"--ratio {_shown(str(value))} is not LONGxSHORT, e.g. 1x2")
    return int(m.group(1)), int(m.group(2))


@app.command("strategy")
def strategy(
    kind: Annotated[
        str,
        typer.Argument(
            metavar="KIND",
            help=f"One of: {', '.join(_KINDS)}; or list, show ID.",
            callback=_kind,
            show_default=False,
        ),
    ],
    structure_id: Annotated[
        str | None,
        typer.Argument(metavar="[ID]", help="show: the structure to show.", show_default=False),
    ] = None,
    underlying: Annotated[
        str | None, typer.Option("--underlying", metavar="SYMBOL", help="ETH or BTC.")
    ] = None,
    expiry: Annotated[
        str | None,
        typer.Option(
            "--expiry",
            metavar="DATE",
            help="Expiry YYYY-MM-DD (08:00 UTC); the near expiry of a calendar or diagonal.",
        ),
    ] = None,
    strikes: Annotated[
        str | None,
        typer.Option(
            "--strikes",
            metavar="K1,K2,...",
            help="Strikes, lowest first (diagonal: near,far; ratio-spread: long,short).",
        ),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option("--size", metavar="CONTRACTS", help="Contracts per unit of the ratio."),
    ] = None,
    far_expiry: Annotated[
        str | None,
        typer.Option("--far-expiry", metavar="DATE", help="Far expiry (calendar, diagonal)."),
    ] = None,
    option_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            metavar="call|put",
            help="Calls or puts (butterfly, condor, "
            "calendar, diagonal, ratio-spread; default call).",
        ),
    ] = None,
    direction: Annotated[
        str | None,
        typer.Option(
            "--direction",
            metavar="long|short",
            help="long or short (straddle, strangle, butterfly, condor, iron-*, risk-reversal, "
            "calendar, diagonal, ratio-spread); default: the textbook one (iron condor and iron "
            "butterfly short, the others long).",
        ),
    ] = None,
    ratio: Annotated[
        str | None, typer.Option("--ratio", metavar="NxM", help="ratio-spread: default 1x2.")
    ] = None,
    venue: Annotated[
        list[str] | None,
        typer.Option(
            "--venue",
            metavar="VENUE",
            help="deribit: quote from the running devnet's Deribit-protocol exchange; onchain: "
            "quote and execute on the on-chain options market (needs --maker). With --policy "
            "all-or-unwind|hedge-residual: once for all legs or once per leg, in leg order. "
            "Default: a synthetic surface.",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            metavar="POLICY",
            help="atomic (all legs in one on-chain transaction); all-or-unwind (legs one by "
            "one across venues, the filled ones unwound at market if one misses) or "
            "hedge-residual (the open delta hedged while a missing leg is re-sent).",
        ),
    ] = "atomic",
    leg_time_limit: Annotated[
        str | None,
        typer.Option(
            "--leg-time-limit",
            metavar="SECONDS",
            help=f"Cross-venue: a leg must fill within this (default {LEG_TIME_LIMIT_S}).",
        ),
    ] = None,
    unwind_slippage: Annotated[
        str | None,
        typer.Option(
            "--unwind-slippage",
            metavar="BPS",
            help="Cross-venue: unwinds and hedges at market no worse than this off the venue's "
            f"price (default {UNWIND_SLIPPAGE_BPS}).",
        ),
    ] = None,
    hedge_venue: Annotated[
        str | None,
        typer.Option("--hedge-venue", metavar="VENUE", help="hedge-residual: onchain or deribit."),
    ] = None,
    hedge_instrument: Annotated[
        str | None,
        typer.Option(
            "--hedge-instrument",
            metavar="NAME",
            help="hedge-residual: the option the open delta is hedged with, e.g. "
            "ETH-11DEC26-3000-P.",
        ),
    ] = None,
    hedge_band: Annotated[
        str | None,
        typer.Option(
            "--hedge-band",
            metavar="USD",
            help=f"hedge-residual: keep |open delta| within this (default {HEDGE_BAND_USD}).",
        ),
    ] = None,
    hedge_time_limit: Annotated[
        str | None,
        typer.Option(
            "--hedge-time-limit",
            metavar="SECONDS",
            help="hedge-residual: re-send a missing leg for up to this, then unwind (default "
            f"{HEDGE_TIME_LIMIT_S}).",
        ),
    ] = None,
    config: ConfigOption = None,
    maker: Annotated[
        list[str] | None,
        typer.Option("--maker", metavar="URL", help="--venue onchain: RFQ maker URL(s)."),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            metavar="ADDRESS",
            help="--venue onchain: the BatchExecutor (default: the chain's address book).",
        ),
    ] = None,
    rpc_url: RpcUrlOption = None,
    key_env: KeyEnvOption = None,
    store: TradeStoreOption = None,
    new_id: Annotated[
        str | None,
        typer.Option(
            "--id", metavar="ID", help="Structure id (default: KIND-<time>); reuse to resume."
        ),
    ] = None,
    max_loss: Annotated[
        str | None, typer.Option("--max-loss", metavar="USD", help="Limit: max loss at expiry.")
    ] = None,
    max_premium: Annotated[
        str | None,
        typer.Option(
            "--max-premium",
            metavar="USD",
            help="Limit: max net premium paid (negative: the least credit).",
        ),
    ] = None,
    max_margin: Annotated[
        str | None, typer.Option("--max-margin", metavar="USD", help="Limit: max initial margin.")
    ] = None,
    yes: YesOption = False,
    spot: Annotated[
        str | None,
        typer.Option(
            "--spot",
            metavar="USD",
            help="Synthetic quotes: the underlying's price (default: the middle strike).",
        ),
    ] = None,
    vol: Annotated[
        str, typer.Option("--vol", metavar="VOL", help="Synthetic quotes: ATM vol, e.g. 0.6.")
    ] = "0.6",
    rate: Annotated[
        str, typer.Option("--rate", metavar="RATE", help="Risk-free rate (fraction per year).")
    ] = "0",
    points: Annotated[
        str, typer.Option("--points", metavar="N", help="Rows of the payoff table (2-201).")
    ] = "21",
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            metavar="FILE",
            help="Also write a PNG payoff chart to FILE (needs the charts extra: matplotlib).",
            dir_okay=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show an option structure before trading (legs, quotes, net premium, max profit / loss,
    breakevens, payoff at expiry, Greeks and margin) with --dry-run, or execute it on the
    on-chain market (--venue onchain, all legs in one transaction); list / show ID: the
    structures of the event store."""
    if kind in _COMMANDS:
        from oms_chain.cli._strategy_run import store_command

        store_command(kind, structure_id, store, as_json)
        return
    if structure_id is not None:
        raise InvalidInput(f"unexpected argument {_shown(structure_id)} after {kind}")
    missing = [
        name
        for name, v in (
            ("--underlying", underlying),
            ("--expiry", expiry),
            ("--strikes", strikes),
            ("--size", size),
        )
        if v is None
    ]
    if missing:
        raise InvalidInput(f"{kind} needs {', '.join(missing)} (see `oms strategy --help`)")
    assert underlying is not None and expiry is not None and strikes is not None
    assert size is not None
    n_strikes, takes_type, takes_short, calendar = _KINDS[kind]
    und = _symbol(underlying, "--underlying")
    if und not in _UNDERLYINGS:
        raise InvalidInput(f"--underlying must be ETH or BTC, got {_shown(underlying)}")
    near = _expiry(expiry, "--expiry")
    far = _expiry(far_expiry, "--far-expiry") if far_expiry is not None else None
    if calendar and far is None:
        raise InvalidInput(f"{kind} needs --far-expiry (after --expiry)")
    if not calendar and far is not None:
        raise InvalidInput(f"--far-expiry is only for calendar and diagonal, not {kind}")
    ks = _strikes(strikes, n_strikes, kind)
    qty = _positive_decimal(size, "--size")
    if option_type is not None and not takes_type:
        raise InvalidInput(f"--type does not apply to {kind} (its legs are fixed)")
    if option_type is not None and option_type not in ("call", "put"):
        raise InvalidInput(f"--type must be call or put, got {_shown(option_type)}")
    if direction is not None and not takes_short:
        raise InvalidInput(f"--direction does not apply to {kind}: its name says its direction")
    if direction is not None and direction not in ("long", "short"):
        raise InvalidInput(f"--direction must be long or short, got {_shown(direction)}")
    if ratio is not None and kind != "ratio-spread":
        raise InvalidInput(f"--ratio is only for ratio-spread, not {kind}")
    ratio_t = _ratio(ratio) if ratio is not None else (1, 2)
    venues = list(venue or [])
    cross = {
        "--leg-time-limit": leg_time_limit,
        "--unwind-slippage": unwind_slippage,
        "--hedge-venue": hedge_venue,
        "--hedge-instrument": hedge_instrument,
        "--hedge-band": hedge_band,
        "--hedge-time-limit": hedge_time_limit,
        "--config": config,
    }
    if policy not in _POLICIES:
        raise InvalidInput(f"--policy must be one of {', '.join(_POLICIES)}, got {_shown(policy)}")
    if policy != "atomic":
        for name, value in (("--max-loss", max_loss), ("--max-premium", max_premium),
                            ("--max-margin", max_margin)):  # fmt: skip
            if value is not None:
                raise InvalidInput(
                    f"{name}: the structure's risk gate runs for --policy atomic only; the "
                    f"{policy} coordinator bounds a leg's time and slippage instead"
                )
        return _cross_venue(
            kind, und, near, far, ks, qty, option_type, direction, ratio_t, venues, policy,
            cross, maker, executor, spot, chart, vol_d=vol, sid=new_id, store=store,
            key_env=key_env, yes=yes, dry_run=dry_run, as_json=as_json,
        )  # fmt: skip
    given = [k for k, v in cross.items() if v is not None]
    if given:
        raise InvalidInput(f"{given[0]} is for --policy all-or-unwind or hedge-residual")
    if len(venues) > 1:
        raise InvalidInput(
            "--venue given more than once: legs on several venues need --policy "
            "all-or-unwind or hedge-residual"
        )
    venue1 = venues[0] if venues else None
    if venue1 is not None and venue1 not in ("deribit", "onchain"):
        raise InvalidInput(
            f"--venue must be deribit (the devnet's options exchange) or onchain (the on-chain "
            f"options market), got {_shown(venue1)}"
        )
    if venue1 == "onchain" and not maker:
        raise InvalidInput("--venue onchain trades by RFQ: give at least one --maker URL")
    if venue1 != "onchain" and (maker or executor):
        raise InvalidInput("--maker and --executor are for --venue onchain")
    limits = {
        "max_loss": None if max_loss is None else _positive_decimal(max_loss, "--max-loss"),
        "max_net_premium": None if max_premium is None else _signed_decimal(max_premium),
        "max_margin": None if max_margin is None else _positive_decimal(max_margin, "--max-margin"),
    }
    if venue1 is not None and spot is not None:
        raise InvalidInput("--spot is for synthetic quotes; --venue deribit quotes its index")
    spot_d = _positive_decimal(spot, "--spot") if spot is not None else None
    vol_d = _positive_decimal(vol, "--vol")
    if vol_d > 5:
        raise InvalidInput(f"--vol must be at most 5 (500 %), got {_shown(vol)}")
    rate_d = _decimal_text(rate, "--rate")
    if rate_d > Decimal("0.5"):
        raise InvalidInput(f"--rate must be between 0 and 0.5, got {_shown(rate)}")
    n_points = _bounded_int(points, "--points", 2, 201)
    if chart is not None and not chart.parent.is_dir():
        raise InvalidInput(f"--chart {chart}: folder {chart.parent} does not exist")
    okind_ = "put" if option_type == "put" else "call"
    if venue1 == "onchain":
        if dry_run:
            raise InvalidInput(
                "--venue onchain executes (after confirmation); preview with --venue deribit "
                "or synthetic quotes"
            )
        from oms_chain.cli._strategy_run import run_onchain
        from oms_chain.model.instruments import OptionKind as _OK
        from oms_chain.strategies import Direction as _Dir

        ok = _OK.PUT if okind_ == "put" else _OK.CALL
        dirn_ = None if direction is None else _Dir(direction)

        def build(series: Any) -> Any:
            return _build(kind, series, near, far, ks, qty, ok, dirn_, ratio_t)

        sid = new_id or f"{kind}-{_now_ns() // 10**6}"
        run_onchain(
            build, und, sid, vol_d, maker or [], executor, rpc_url, key_env, store, limits,
            yes, as_json,
        )  # fmt: skip
        return
    now_ns = _now_ns()
    if near <= now_ns:
        raise InvalidInput(f"--expiry {expiry} has passed; pick a future date")

    from oms_chain.model.assets import Asset
    from oms_chain.model.instruments import OptionKind
    from oms_chain.strategies import Direction, OptionSeries

    label = venue1 or "synthetic"
    series = OptionSeries(
        underlying=Asset.cex(label, und), quote=Asset.cex(label, "USD", 2), size_decimals=4
    )
    okind = OptionKind.PUT if option_type == "put" else OptionKind.CALL
    dirn = None if direction is None else Direction(direction)
    structure = _build(kind, series, near, far, ks, qty, okind, dirn, ratio_t)
    if not dry_run:
        raise InvalidInput(
            f"executing needs --venue onchain (all legs in one transaction); --venue "
            f"{venue1 or 'synthetic'} only previews: pass --dry-run"
        )
    if venue1 == "deribit":
        market = _deribit_quotes(structure, series)
    else:
        market = _synthetic_quotes(structure, spot_d or _median(ks), vol_d, rate_d, now_ns)
    doc = _preview(structure, market, rate_d, now_ns, n_points)
    if chart is not None:
        _write_chart(structure, doc, chart)
        doc["chart"] = str(chart)
    if as_json:
        print_json(doc)
        return
    _print(doc)


def _cross_venue(
    kind: str,
    und: str,
    near: int,
    far: int | None,
    ks: list[Decimal],
    qty: Decimal,
    option_type: str | None,
    direction: str | None,
    ratio_t: tuple[int, int],
    *args: Any,
    **kw: Any,
) -> None:
    """``--policy all-or-unwind|hedge-residual`` (:func:`._strategy_legs.cross_venue`) on the
    structure built from a neutral series: each venue is asked for its legs once open."""
    from oms_chain.cli._strategy_legs import cross_venue
    from oms_chain.model.assets import Asset
    from oms_chain.model.instruments import OptionKind
    from oms_chain.strategies import Direction, OptionSeries

    if near <= _now_ns():
        raise InvalidInput("--expiry has passed; pick a future date")
    series = OptionSeries(
        underlying=Asset.cex("legs", und), quote=Asset.cex("legs", "USD", 2), size_decimals=4
    )
    okind = OptionKind.PUT if option_type == "put" else OptionKind.CALL
    dirn = None if direction is None else Direction(direction)
    structure = _build(kind, series, near, far, ks, qty, okind, dirn, ratio_t)
    if kw["sid"] is None:
        kw["sid"] = f"{kind}-{_now_ns() // 10**6}"
    cross_venue(structure, und, *args, **kw)


def _median(ks: list[Decimal]) -> Decimal:
    s = sorted(ks)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def _build(
    kind: str,
    series: Any,
    near: int,
    far: int | None,
    ks: list[Decimal],
    qty: Decimal,
    okind: Any,
    direction: Any,
    ratio: tuple[int, int],
) -> Any:
    from oms_chain import strategies as st

    d = {} if direction is None else {"direction": direction}
    t = {"option_kind": okind}
    k3: Any = tuple(ks)
    far_ns: Any = far
    builders: dict[str, Any] = {
        "straddle": lambda: st.straddle(series, near, ks[0], qty, **d),
        "strangle": lambda: st.strangle(series, near, ks[0], ks[1], qty, **d),
        "bull-call-spread": lambda: st.bull_call_spread(series, near, ks[0], ks[1], qty),
        "bear-call-spread": lambda: st.bear_call_spread(series, near, ks[0], ks[1], qty),
        "bull-put-spread": lambda: st.bull_put_spread(series, near, ks[0], ks[1], qty),
        "bear-put-spread": lambda: st.bear_put_spread(series, near, ks[0], ks[1], qty),
        "butterfly": lambda: st.butterfly(series, near, k3, qty, **t, **d),
        "condor": lambda: st.condor(series, near, k3, qty, **t, **d),
        "iron-condor": lambda: st.iron_condor(series, near, k3, qty, **d),
        "iron-butterfly": lambda: st.iron_butterfly(series, near, k3, qty, **d),
        "collar": lambda: st.collar(series, near, ks[0], ks[1], qty),
        "risk-reversal": lambda: st.risk_reversal(series, near, ks[0], ks[1], qty, **d),
        "calendar": lambda: st.calendar_spread(series, near, far_ns, ks[0], qty, **t, **d),
        "diagonal": lambda: st.diagonal_spread(series, near, far_ns, ks[0], ks[1], qty, **t, **d),
        "ratio-spread": lambda: st.ratio_spread(
            series, near, ks[0], ks[1], qty, ratio=ratio, **t, **d
        ),
    }
    return builders[kind]()
