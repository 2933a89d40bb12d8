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
The cross-venue policies (``--policy all-or-unwind|hedge-residual``) are not on the command line
yet (both are in :mod:`oms_chain.service.leg_coordinator`).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._app import _runtime_file, app
from oms_chain.cli._args import (
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
from oms_chain.cli._strategy_preview import _cents, _preview, _print, _write_chart
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
_HALF_SPREAD = Decimal("0.02")  # synthetic quotes: mid -/+ 2 %


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
        str | None,
        typer.Option(
            "--venue",
            metavar="VENUE",
            help="deribit: quote from the running devnet's Deribit-protocol exchange; onchain: "
            "quote and execute on the on-chain options market (needs --maker). Default: a "
            "synthetic surface.",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            metavar="POLICY",
            help="atomic (all legs in one on-chain transaction); all-or-unwind and "
            "hedge-residual (across venues) are not on the command line yet.",
        ),
    ] = "atomic",
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
    if venue is not None and venue not in ("deribit", "onchain"):
        raise InvalidInput(
            f"--venue must be deribit (the devnet's options exchange) or onchain (the on-chain "
            f"options market), got {_shown(venue)}"
        )
    if policy not in _POLICIES:
        raise InvalidInput(f"--policy must be one of {', '.join(_POLICIES)}, got {_shown(policy)}")
    if policy != "atomic":
        raise InvalidInput(
            f"--policy {policy}: the leg-risk coordinator across venues is not on the command "
            "line yet (Python: oms_chain.service.leg_coordinator); use --venue onchain "
            "--policy atomic (all legs in one transaction)"
        )
    if venue == "onchain" and not maker:
        raise InvalidInput("--venue onchain trades by RFQ: give at least one --maker URL")
    if venue != "onchain" and (maker or executor):
        raise InvalidInput("--maker and --executor are for --venue onchain")
    limits = {
        "max_loss": None if max_loss is None else _positive_decimal(max_loss, "--max-loss"),
        "max_net_premium": None if max_premium is None else _signed_decimal(max_premium),
        "max_margin": None if max_margin is None else _positive_decimal(max_margin, "--max-margin"),
    }
    if venue is not None and spot is not None:
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
    if venue == "onchain":
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

    label = venue or "synthetic"
    series = OptionSeries(
        underlying=Asset.cex(label, und), quote=Asset.cex(label, "USD", 2), size_decimals=4
    )
    okind = OptionKind.PUT if option_type == "put" else OptionKind.CALL
    dirn = None if direction is None else Direction(direction)
    structure = _build(kind, series, near, far, ks, qty, okind, dirn, ratio_t)
    if not dry_run:
        raise InvalidInput(
            f"executing needs --venue onchain (all legs in one transaction); --venue "
            f"{venue or 'synthetic'} only previews: pass --dry-run"
        )
    if venue == "deribit":
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


class _Market:
    """Quotes (USD per contract), vols per leg, the spot and the source of one preview."""

    def __init__(
        self, source: str, spot: Decimal, quotes: dict[str, Any], vols: dict[str, Decimal]
    ):
        self.source, self.spot, self.quotes, self.vols = source, spot, quotes, vols


def _synthetic_quotes(
    structure: Any, spot: Decimal, vol: Decimal, rate: Decimal, now_ns: int
) -> _Market:
    """Mid from BSM off a small SVI surface (ATM vol ``vol``, a mild put skew) at ``spot``;
    bid / ask 2 % either side."""
    from oms_chain.risk.pricing import NS_PER_YEAR, SVIParams, VolSurface, bsm_price
    from oms_chain.strategies import LegQuote

    ts = [(e - now_ns) / NS_PER_YEAR for e in structure.expiries]
    v = float(vol)
    params = [SVIParams(v * v * t * 0.9, 0.5 * v * v * t, -0.3, 0.0, 0.2) for t in ts]
    surf = VolSurface.from_params(ts, float(spot), params)
    quotes: dict[str, Any] = {}
    vols: dict[str, Decimal] = {}
    for leg in structure.legs:
        c = leg.contract
        t = (c.expiry_ns - now_ns) / NS_PER_YEAR
        iv = float(surf.implied_vol(float(c.strike), t))
        mid = Decimal(
            repr(
                float(
                    bsm_price(
                        c.option_kind.value == "call",
                        float(spot),
                        float(c.strike),
                        t,
                        float(rate),
                        0.0,
                        iv,
                    )
                )
            )
        )
        quotes[c.id] = LegQuote(
            bid=_cents(max(mid * (1 - _HALF_SPREAD), Decimal(0))),
            ask=max(_cents(mid * (1 + _HALF_SPREAD)), Decimal("0.01")),
        )
        vols[c.id] = Decimal(repr(iv)).quantize(Decimal("1e-6"))
    return _Market("synthetic surface", spot, quotes, vols)


def _deribit_quotes(structure: Any, series: Any) -> _Market:
    """Every leg's ticker from the running devnet's Deribit-protocol exchange (ccxt.deribit,
    only ``urls['api']`` changed); premiums in the underlying become USD at the index."""
    runtime = _runtime_file()
    try:
        dx = json.loads(runtime.read_text())["chains"]["deribit"]
        urls = {"rest": str(dx["rest_url"]), "ws": str(dx["ws_url"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInput(
            "--venue deribit: no devnet with the Deribit-protocol exchange is running (start "
            "one with `oms devnet up`)"
        ) from None
    import ccxt

    from oms_chain.model.instruments import OptionKind
    from oms_chain.strategies import LegQuote

    ex = ccxt.deribit({"timeout": 10_000})
    ex.urls["api"] = urls
    try:
        markets = ex.load_markets()
        listed: dict[str, str] = {}
        und = structure.underlying_symbol
        for sym, m in markets.items():
            if m.get("option") and m.get("base") == und and m.get("expiry"):
                k = OptionKind.CALL if m.get("optionType") == "call" else OptionKind.PUT
                c = series.contract(k, Decimal(repr(m["strike"])), int(m["expiry"]) * 10**6)
                listed[c.id] = sym
        structure.check_listed(set(listed))
        quotes: dict[str, Any] = {}
        vols: dict[str, Decimal] = {}
        spot = Decimal(0)
        for leg in structure.legs:
            tk = ex.fetch_ticker(listed[leg.contract.id])
            info = tk.get("info") or {}
            index = Decimal(str(info.get("index_price") or info.get("underlying_price")))
            spot = index

            def usd(x: Any, index: Decimal = index) -> Decimal | None:
                return None if x is None else _cents(Decimal(str(x)) * index)

            quotes[leg.contract.id] = LegQuote(bid=usd(tk.get("bid")), ask=usd(tk.get("ask")))
            vols[leg.contract.id] = Decimal(str(info["mark_iv"])) / 100
    except ccxt.BaseError as exc:
        raise InvalidInput(f"--venue deribit: the exchange did not answer ({exc})") from None
    return _Market(f"deribit devnet {urls['rest']}", spot, quotes, vols)
