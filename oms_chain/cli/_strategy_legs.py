"""``oms strategy KIND --policy all-or-unwind|hedge-residual``: a structure whose legs are on
different venues (``--venue`` per leg, or one for all), worked leg by leg by the
:class:`~oms_chain.service.leg_coordinator.LegCoordinator` on the options venues of the trading
session (the devnet's on-chain market and Deribit-protocol exchange, or ``--config``'s
``kind = "options"`` venues).

Everything that can be checked without opening anything is checked first
(:func:`check_plan`): the policy, the venue count and names, the bounds, the hedge. Once the
venues are open, a leg whose series a venue does not list is refused before any order is sent.
Each leg's delta (for the exposure and the hedge) is Black-Scholes at the on-chain market's
index (else the exchange's underlying price) and ``--vol``. The on-chain legs go first (an RFQ
quote is the likelier one to move), then the exchange's, in leg order.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_chain.cli._args import _positive_decimal, _shown
from oms_chain.cli._errors import _Refused
from oms_chain.cli._output import err_console, print_json, table
from oms_chain.model.errors import InvalidInput

VENUE_KINDS = ("onchain", "deribit")
#: defaults of the policy's bounds (documented in docs/strategies.md)
LEG_TIME_LIMIT_S = "30"
UNWIND_SLIPPAGE_BPS = "500"
HEDGE_BAND_USD = "500"
HEDGE_TIME_LIMIT_S = "120"
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LegsPlan:
    """The cross-venue arguments, checked: one venue kind per leg, the policy and its bounds."""

    policy: str
    venues: tuple[str, ...]
    time_limit_s: Decimal
    slippage_bps: Decimal
    hedge_venue: str | None
    hedge_instrument: str | None
    hedge_band_usd: Decimal
    hedge_time_limit_s: Decimal

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready values (the bounds as strings)."""
        return {
            "policy": self.policy,
            "leg_time_limit_s": str(self.time_limit_s),
            "unwind_slippage_bps": str(self.slippage_bps),
            "hedge": None
            if self.policy != "hedge-residual"
            else {
                "venue": self.hedge_venue,
                "instrument": self.hedge_instrument,
                "band_usd": str(self.hedge_band_usd),
                "time_limit_s": str(self.hedge_time_limit_s),
            },
        }


def _bounded(value: str, option: str, high: Decimal) -> Decimal:
    d: Decimal = _positive_decimal(value, option)
    if d > high:
        raise InvalidInput(f"{option} must be at most {high}, got {_shown(value)}")
    return d


def check_plan(
    *,
    policy: str,
    venues: list[str],
    n_legs: int,
    time_limit: str,
    slippage: str,
    hedge_venue: str | None,
    hedge_instrument: str | None,
    hedge_band: str,
    hedge_time_limit: str,
) -> LegsPlan:
    """The cross-venue plan from the command line, before anything is opened.

    Raises:
        InvalidInput: an unknown venue, a count of ``--venue`` that is neither 1 nor the legs,
            every leg on chain (that goes atomically: ``--policy atomic``), a bound out of
            range, ``hedge-residual`` without ``--hedge-venue`` and ``--hedge-instrument``, or
            hedge options under ``all-or-unwind``.
    """
    for v in venues:
        if v not in VENUE_KINDS:
            raise InvalidInput(
                f"--venue must be onchain (the on-chain options market) or deribit (the "
                f"Deribit-protocol exchange), got {_shown(v)}"
            )
    if not venues:
        raise InvalidInput(
            f"--policy {policy} needs --venue: one for every leg ({n_legs}, in leg order) or "
            "one for all"
        )
    if len(venues) not in (1, n_legs):
        raise InvalidInput(
            f"--venue given {len(venues)} times: give it once (one venue for all legs) or "
            f"{n_legs} times (one per leg, in leg order)"
        )
    per_leg = tuple(venues) if len(venues) == n_legs else tuple(venues) * n_legs
    if all(v == "onchain" for v in per_leg):
        raise InvalidInput(
            f"--policy {policy}: every leg is on the on-chain market, where the structure "
            "goes atomically in one transaction; use --policy atomic (the default) with --maker"
        )
    hedged = policy == "hedge-residual"
    if not hedged and (hedge_venue is not None or hedge_instrument is not None):
        raise InvalidInput("--hedge-venue and --hedge-instrument are for --policy hedge-residual")
    if hedged and (hedge_venue is None or hedge_instrument is None):
        raise InvalidInput(
            "--policy hedge-residual needs --hedge-venue (onchain or deribit) and "
            "--hedge-instrument (e.g. ETH-11DEC26-3000-P) to hedge the open delta on"
        )
    if hedge_venue is not None and hedge_venue not in VENUE_KINDS:
        raise InvalidInput(f"--hedge-venue must be onchain or deribit, got {_shown(hedge_venue)}")
    if hedge_instrument is not None and _name_key(hedge_instrument) is None:
        raise InvalidInput(
            f"--hedge-instrument {_shown(hedge_instrument)} is not a name like ETH-11DEC26-3000-P"
        )
    slip = _decimal_bps(slippage)
    return LegsPlan(
        policy=policy,
        venues=per_leg,
        time_limit_s=_bounded(time_limit, "--leg-time-limit", Decimal(86_400)),
        slippage_bps=slip,
        hedge_venue=hedge_venue,
        hedge_instrument=None if hedge_instrument is None else hedge_instrument.strip().upper(),
        hedge_band_usd=_bounded(hedge_band, "--hedge-band", Decimal(10) ** 12),
        hedge_time_limit_s=_bounded(hedge_time_limit, "--hedge-time-limit", Decimal(86_400)),
    )


def _decimal_bps(value: str) -> Decimal:
    d: Decimal = _positive_decimal(value, "--unwind-slippage")
    if d > 10_000:
        raise InvalidInput(f"--unwind-slippage must be at most 10000 bps, got {_shown(value)}")
    return d


def _name_key(name: str) -> str | None:
    import re

    text = name.strip().upper() if isinstance(name, str) else ""
    ok = re.fullmatch(r"[A-Z]{2,10}-[0-9]{1,2}[A-Z]{3}[0-9]{2}-[0-9]+(\.[0-9]+)?-[CP]", text)
    return text if ok else None


def leg_name(underlying: str, contract: Any) -> str:
    """A leg's Deribit-style name (``ETH-11DEC26-3000-C``), how both venues are asked for it."""
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(contract.expiry_ns / 1e9, UTC)
    strike = f"{contract.strike.normalize():f}"
    kind = "C" if contract.option_kind.value == "call" else "P"
    return f"{underlying}-{day.day}{_MONTHS[day.month - 1]}{day:%y}-{strike}-{kind}"


def dry_run_doc(structure: Any, underlying: str, plan: LegsPlan, sid: str) -> dict[str, Any]:
    """What ``--dry-run`` shows: every leg with its venue, the order they go in, the policy."""
    legs = [
        {
            "leg": i,
            "side": leg.side.value,
            "quantity": str(leg.quantity),
            "contract": leg_name(underlying, leg.contract),
            "venue": plan.venues[i],
        }
        for i, leg in enumerate(structure.legs)
    ]
    order = [i for i, v in enumerate(plan.venues) if v == "onchain"]
    order += [i for i, v in enumerate(plan.venues) if v != "onchain"]
    return {
        "dry_run": True,
        "structure_id": sid,
        "kind": structure.kind,
        **plan.to_json(),
        "legs": legs,
        "send_order": order,
    }


def print_plan(doc: dict[str, Any], *, to_stderr: bool) -> None:
    """The legs per venue and the policy as a table (stderr before a confirmation)."""
    from oms_chain.cli._output import console

    out = err_console if to_stderr else console
    t = table(
        f"{doc['kind']} {doc['structure_id']}: --policy {doc['policy']} (legs sent in the "
        f"order {', '.join(map(str, doc['send_order']))})",
        ("leg", "side", "qty", "contract", "venue"),
        right=("qty",),
    )
    for leg in doc["legs"]:
        t.add_row(str(leg["leg"]), leg["side"], leg["quantity"], leg["contract"], leg["venue"])
    out.print(t)
    bounds = (
        f"leg time limit {doc['leg_time_limit_s']} s, unwind within "
        f"{doc['unwind_slippage_bps']} bps"
    )
    if doc["hedge"]:
        h = doc["hedge"]
        bounds += (
            f"; hedge on {h['venue']} {h['instrument']}, |delta| within {h['band_usd']} USD "
            f"for up to {h['time_limit_s']} s"
        )
    out.print(bounds)


def cross_venue(
    structure: Any,
    und: str,
    venues: list[str],
    policy: str,
    cross: dict[str, Any],
    maker: list[str] | None,
    executor: str | None,
    spot: str | None,
    chart: Path | None,
    *,
    vol_d: str,
    sid: str,
    store: str | None,
    key_env: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """``--policy all-or-unwind|hedge-residual``: checked (:func:`check_plan`), then shown
    (``--dry-run``) or worked by the leg coordinator (:func:`run_legs`)."""
    import re

    import typer

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", sid, re.ASCII):
        raise InvalidInput(
            f"--id {_shown(sid)}: across venues an id is 1-40 ASCII letters, digits, '_', '.' "
            "or '-' (it labels every order at the venues)"
        )
    for name, value in (("--maker", maker), ("--executor", executor)):
        if value:
            raise InvalidInput(
                f"{name} is for --policy atomic; across venues the session's options venues "
                "are used (the devnet's, or --config's)"
            )
    for name, given in (("--spot", spot is not None), ("--chart", chart is not None)):
        if given:
            raise InvalidInput(f"{name} is for the preview of --policy atomic, not {policy}")
    if policy != "hedge-residual":
        for name in ("--hedge-band", "--hedge-time-limit"):
            if cross[name] is not None:
                raise InvalidInput(f"{name} is for --policy hedge-residual")
    plan = check_plan(
        policy=policy,
        venues=venues,
        n_legs=len(structure.legs),
        time_limit=cross["--leg-time-limit"] or LEG_TIME_LIMIT_S,
        slippage=cross["--unwind-slippage"] or UNWIND_SLIPPAGE_BPS,
        hedge_venue=cross["--hedge-venue"],
        hedge_instrument=cross["--hedge-instrument"],
        hedge_band=cross["--hedge-band"] or HEDGE_BAND_USD,
        hedge_time_limit=cross["--hedge-time-limit"] or HEDGE_TIME_LIMIT_S,
    )
    vol: Decimal = _positive_decimal(vol_d, "--vol")
    if vol > 5:
        raise InvalidInput(f"--vol must be at most 5 (500 %), got {_shown(vol_d)}")
    if dry_run:
        doc = dry_run_doc(structure, und, plan, sid)
        if as_json:
            print_json(doc)
        else:
            print_plan(doc, to_stderr=False)
        return
    code = run_legs(
        structure, und, plan, sid, vol, store=store, key_env=key_env,
        config=cross["--config"], yes=yes, as_json=as_json,
    )  # fmt: skip
    if code:
        raise typer.Exit(code)


def run_legs(
    structure: Any,
    underlying: str,
    plan: LegsPlan,
    sid: str,
    vol: Decimal,
    *,
    store: str | None,
    key_env: str | None,
    config: Path | None,
    yes: bool,
    as_json: bool,
) -> int:
    """Confirm (or ``--yes``), then work ``structure`` across the session's venues under
    ``plan``; prints the structure as recorded; returns the exit code (0: every leg filled)."""
    from oms_chain.cli._session import _trading_session

    session, _url = _trading_session(  # checks the devnet answers; opens nothing yet
        chain=None, store=store, key_env=key_env, config=config, exchange=False, options=True
    )
    doc = dry_run_doc(structure, underlying, plan, sid)
    del doc["dry_run"]
    if not as_json:
        print_plan(doc, to_stderr=True)
    if not yes:
        import typer

        if not sys.stdin.isatty():
            raise _Refused("nothing sent; confirm with --yes (stdin is not a terminal)")
        if not typer.confirm("work these legs under the policy?", default=False, err=True):
            raise _Refused("not confirmed; nothing was sent")
    rec = asyncio.run(_work(session, structure, underlying, plan, sid, vol, as_json))
    out = rec.to_json()
    if as_json:
        print_json(out)
    else:
        from oms_chain.cli._strategy_run import _print_record

        _print_record(out)
    return 0 if rec.status == "open" else 1


def _venue_of(session: Any, kind: str) -> Any:
    from oms_chain.venues.options import DeribitOptionsVenue, OnchainOptionsVenue

    cls = OnchainOptionsVenue if kind == "onchain" else DeribitOptionsVenue
    for v in session.venues().values():
        if isinstance(v, cls):
            return v
    raise InvalidInput(f"--venue {kind}: the session has no such options venue")


async def _work(
    session: Any,
    structure: Any,
    underlying: str,
    plan: LegsPlan,
    sid: str,
    vol: Decimal,
    as_json: bool,
) -> Any:
    from oms_chain.model.clock import SystemClock
    from oms_chain.model.ids import ClientOrderId
    from oms_chain.model.intent import Side
    from oms_chain.service.leg_coordinator import HedgeRoute, LegCoordinator, LegRoute
    from oms_chain.venues.base import PlaceOrder

    async with session:
        venues = {k: _venue_of(session, k) for k in set(plan.venues)}
        if plan.hedge_venue is not None:
            venues.setdefault(plan.hedge_venue, _venue_of(session, plan.hedge_venue))
        contracts = []
        for i, leg in enumerate(structure.legs):
            v = venues[plan.venues[i]]
            name = leg_name(underlying, leg.contract)
            try:
                c, _vid = session.option(name, venue=str(v.venue_id))
            except InvalidInput:
                raise InvalidInput(
                    f"leg {i} ({leg.side.value} {name}): {plan.venues[i]} ({v.venue_id}) does "
                    "not list that series; nothing was sent"
                ) from None
            contracts.append(c)
        hedge_contract = None
        if plan.hedge_venue is not None and plan.hedge_instrument is not None:
            hv = venues[plan.hedge_venue]
            try:
                hedge_contract, _vid = session.option(plan.hedge_instrument, venue=str(hv.venue_id))
            except InvalidInput:
                raise InvalidInput(
                    f"--hedge-instrument {plan.hedge_instrument}: {plan.hedge_venue} does not "
                    "list it; nothing was sent"
                ) from None
        spot = await _spot(venues, contracts)
        routes = []
        for i, leg in enumerate(structure.legs):
            v = venues[plan.venues[i]]
            routes.append(
                LegRoute(
                    venue=v,
                    order=PlaceOrder(
                        client_order_id=ClientOrderId(f"{sid}-l{i}"),
                        instrument=contracts[i],
                        side=Side(leg.side.value),
                        quantity=leg.quantity,
                    ),
                    liquidity_risk=Decimal(1 if plan.venues[i] == "onchain" else 0),
                    delta_usd=_delta_usd(contracts[i], spot, vol),
                    after_unwind=_closer(v, contracts[i]),
                )
            )
        hedge = None
        if hedge_contract is not None:
            assert plan.hedge_venue is not None
            hedge = HedgeRoute(
                venue=venues[plan.hedge_venue],
                instrument=hedge_contract,
                delta_usd=_delta_usd(hedge_contract, spot, vol),
                band_usd=plan.hedge_band_usd,
                work_limit_ns=int(plan.hedge_time_limit_s * 10**9),
                client_order_id=f"{sid}-hedge",
                size_decimals=hedge_contract.size_decimals,
                slippage_bps=plan.slippage_bps,
            )

        def progress(step: str) -> None:
            if not as_json:
                err_console.print(f"[dim]structure {sid}: {step}[/dim]")

        coordinator = LegCoordinator(store=session.store, clock=SystemClock(), on_step=progress)
        return await coordinator.run(
            sid,
            kind=structure.kind,
            account=session.account,
            routes=routes,
            policy=plan.policy,
            time_limit_ns=int(plan.time_limit_s * 10**9),
            slippage_bps=plan.slippage_bps,
            hedge=hedge,
        )


def _closer(venue: Any, contract: Any) -> Any:
    """On the on-chain market (with a BatchExecutor) an unwound long leaves a long and a short
    of the series: closed against each other for the collateral."""
    from oms_chain.venues.options import OnchainOptionsVenue

    if not isinstance(venue, OnchainOptionsVenue):
        return None
    try:
        from oms_chain.venues.options.batch import AtomicOptionsBatch

        batch = AtomicOptionsBatch(venue)
    except InvalidInput:
        return None  # no executor: the venue's EOA holds the long and the short

    async def close() -> object:
        return await batch.close_pairs(contract)

    return close


async def _spot(venues: dict[str, Any], contracts: list[Any]) -> Decimal:
    from oms_chain.venues.options import OnchainOptionsVenue

    onchain = venues.get("onchain")
    if isinstance(onchain, OnchainOptionsVenue):
        for c in contracts:
            if c in onchain.instruments():
                return Decimal(await onchain.index_price(c))
    deribit = venues["deribit"]
    c = next(c for c in contracts if c in deribit.instruments())
    tk = await deribit.greeks(c)
    if tk.underlying_price is None:
        raise InvalidInput(f"{deribit.venue_id} reports no underlying price for {c.symbol}")
    return Decimal(tk.underlying_price)


def _delta_usd(contract: Any, spot: Decimal, vol: Decimal) -> Decimal:
    """Black-Scholes delta x spot, per unit of the contract (USD)."""
    import time

    from oms_chain.risk.pricing import NS_PER_YEAR, bsm

    t = max((contract.expiry_ns - time.time_ns()) / NS_PER_YEAR, 1 / 365 / 24)
    g = bsm(
        contract.option_kind.value == "call",
        float(spot),
        float(contract.strike),
        t,
        0.0,
        0.0,
        float(vol),
    )
    return (Decimal(repr(float(g.delta))) * spot).quantize(Decimal("0.01"))
