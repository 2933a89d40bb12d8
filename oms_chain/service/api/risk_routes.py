"""API routes of the risk engine: portfolio Greeks, VaR / ES, portfolio margin, liquidation
prices, and the hedger (status, start, stop).

The server prices what a :class:`RiskContext` gives it: the engine's positions (of one account,
or all) plus holdings held elsewhere (options at a venue, wallet balances), against a market
snapshot it fetches per request. Install one with :func:`install_risk` after
:func:`~oms_chain.service.api.create_app`; without one the risk routes answer 404
``not_configured``. The hedger routes need a :class:`HedgerControl` the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.risk import (
    AlertRule,
    AlertState,
    Holding,
    MarketSnapshot,
    RiskReading,
    VarResult,
    evaluate_alerts,
    liquidation_prices,
    parametric_var,
    portfolio_margin,
    portfolio_risk,
)
from oms_chain.service.api._http import (
    _SESSION,
    Route,
    _json,
    _Query,
    _query,
    _Refusal,
    _session,
)
from oms_chain.service.api.tokens import Scope
from oms_chain.service.hedger import Hedger, HedgeStatus, engine_holdings

__all__ = ["HedgerControl", "RiskContext", "install_hedger", "install_risk"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskContext:
    """What the risk routes price.

    Args:
        market: coroutine function giving the current :class:`MarketSnapshot` (spots, option
            vols or surfaces); called once per request.
        holdings: holdings outside the engine's positions (options at a venue, wallets).
        account: whose engine positions count (``None``: every account's).
        daily_vols: daily log-return vol per underlying, for VaR (independent underlyings);
            an underlying without one makes ``/risk/var`` answer 409 ``not_configured``.
        alerts: the alert rules ``/risk/alerts`` evaluates (unique names; ``VAR`` rules read
            the 99 % 1-day parametric VaR of ``daily_vols``).
        with_engine: add the engine's positions to ``holdings`` (``False``: ``holdings``
            already hold what the engine traded, e.g. balances read from the venues).
    """

    market: Callable[[], Awaitable[MarketSnapshot]]
    holdings: Callable[[], Sequence[Holding]] = tuple
    account: str | None = None
    daily_vols: Mapping[str, Decimal] = field(default_factory=dict)
    alerts: Sequence[AlertRule] = ()
    with_engine: bool = True

    def __post_init__(self) -> None:
        if not callable(self.market) or not callable(self.holdings):
            raise InvalidInput("RiskContext.market and .holdings must be callables")
        if isinstance(self.alerts, str) or not isinstance(self.alerts, Sequence):
            raise InvalidInput("RiskContext.alerts must be a sequence of AlertRule")
        object.__setattr__(self, "alerts", tuple(self.alerts))
        evaluate_alerts(self.alerts, RiskReading(ts_ns=0), AlertState())  # checks the rules
        if not isinstance(self.with_engine, bool):
            raise InvalidInput(
                f"RiskContext.with_engine must be True or False, got {self.with_engine!r}"
            )
        for name, v in self.daily_vols.items():
            if not isinstance(v, Decimal) or not v.is_finite() or not 0 < v < 10:
                raise InvalidInput(f"daily vol of {name!r} must be a Decimal in (0, 10), got {v!r}")


class HedgerControl:
    """A :class:`~oms_chain.service.hedger.Hedger` the API can start and stop.

    Started, it evaluates at once (the start request answers that first evaluation), then
    every ``interval_s`` through ``sleep`` (injected; default :func:`asyncio.sleep`) until
    stopped. A failed evaluation is kept in :attr:`error` and the loop goes on; a hedge in
    flight when it stops keeps working in the engine and is found again at the next start.
    """

    def __init__(
        self,
        hedger: Hedger,
        market: Callable[[], Awaitable[MarketSnapshot]],
        *,
        interval_s: float = 5.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if not isinstance(hedger, Hedger):
            raise InvalidInput(f"hedger must be a Hedger, got {type(hedger).__name__}")
        if not callable(market) or not callable(sleep):
            raise InvalidInput("market and sleep must be callables")
        if isinstance(interval_s, bool) or not isinstance(interval_s, int | float):
            raise InvalidInput(f"interval_s must be a number of seconds, got {interval_s!r:.40}")
        if not 0 < interval_s <= 86_400:
            raise InvalidInput(f"interval_s must be in (0, 86400], got {interval_s!r}")
        self.hedger = hedger
        self._market = market
        self._interval = float(interval_s)
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._started_once = False
        self.last: HedgeStatus | None = None
        self.error: str | None = None
        self.evaluations = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def evaluate(self) -> HedgeStatus | None:
        """One evaluation (market, then :meth:`Hedger.step`); a failure is kept in ``error``."""
        try:
            status = await self.hedger.step(await self._market())
        except (OmsError, ValueError, ArithmeticError) as exc:
            self.error = str(exc) or type(exc).__name__
            _log.warning("hedger %s evaluation failed: %s", self.hedger.policy.name, self.error)
            return None
        self.evaluations += 1
        self.last, self.error = status, None
        return status

    async def start(self) -> None:
        """Start the loop (no-op when running): read the hedger's stream the first time,
        evaluate once now, then every ``interval_s``."""
        if self.running:
            return
        if not self._started_once:
            self.hedger.start()
            self._started_once = True
        await self.evaluate()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await self._sleep(self._interval)
            await self.evaluate()

    async def stop(self) -> None:
        """Stop the loop (no-op when stopped)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


_RISK = web.AppKey("risk_context", RiskContext)
_HEDGER = web.AppKey("hedger_control", HedgerControl)


def install_risk(app: web.Application, context: RiskContext) -> None:
    """Serve the risk routes of ``app`` from ``context`` (before the app starts)."""
    if not isinstance(context, RiskContext):
        raise InvalidInput(f"context must be a RiskContext, got {type(context).__name__}")
    app[_RISK] = context


def install_hedger(app: web.Application, control: HedgerControl) -> None:
    """Serve the hedger routes of ``app`` from ``control``; it is stopped with the app."""
    if not isinstance(control, HedgerControl):
        raise InvalidInput(f"control must be a HedgerControl, got {type(control).__name__}")
    app[_HEDGER] = control

    async def _stop(_: web.Application) -> None:
        await control.stop()

    app.on_cleanup.append(_stop)


# --- response bodies ----------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)  # built from the risk results


class UnderlyingGreeksOut(_Out):
    """Greeks of everything that moves with one underlying: delta in units and USD, gamma per
    1 % move (units and USD), vega per vol point, theta per day (USD), mark value (USD)."""

    underlying: str
    spot: Decimal
    delta: Decimal
    delta_usd: Decimal
    gamma_1pct: Decimal
    gamma_1pct_usd: Decimal
    vega_1pt: Decimal
    theta_day: Decimal
    value: Decimal


class GreeksOut(_Out):
    """Portfolio Greeks by underlying and in USD totals; ``equity`` = cash + mark value."""

    underlyings: list[UnderlyingGreeksOut]
    delta_usd: Decimal
    gamma_1pct_usd: Decimal
    vega_1pt: Decimal
    theta_day: Decimal
    value: Decimal
    cash: Decimal
    equity: Decimal


class VarOut(_Out):
    """VaR and expected shortfall (positive losses, USD) over ``horizon_days``."""

    method: str
    confidence: float
    horizon_days: int
    var: Decimal
    es: Decimal


class ScenarioOut(_Out):
    """A margin scenario: the underlying's move (fraction), vol state and the book's PnL."""

    underlying: str
    move: Decimal
    vol: str
    extended: bool
    pnl: Decimal


class MarginOut(_Out):
    """Portfolio margin (scenario style): equity, requirements, excess over initial and over
    maintenance, and the worst scenario."""

    equity: Decimal
    initial: Decimal
    maintenance: Decimal
    excess: Decimal
    maintenance_excess: Decimal
    worst: ScenarioOut | None


class LiquidationOut(_Out):
    """Where equity meets maintenance when ``underlying`` moves alone (``None``: not within
    the searched range, ``reason`` says why); ``distance_pct`` to the nearest one."""

    underlying: str
    spot: Decimal
    equity: Decimal
    maintenance: Decimal
    liquidatable_now: bool
    below: Decimal | None
    above: Decimal | None
    distance_pct: Decimal | None
    reason: str


class HedgerOut(_Out):
    """The hedger: policy, whether its loop runs, and what its last evaluation saw."""

    policy: str
    underlying: str
    instrument: str
    running: bool
    evaluations: int
    target: Decimal
    band: Decimal
    delta: Decimal | None
    spot: Decimal | None
    hedges: int | None
    in_flight: str | None
    scalped_pnl: Decimal | None
    last_action: str | None
    last_reason: str | None
    error: str | None


class VarQuery(_Query):
    """VaR ``confidence`` (0.5 to 0.9999) and ``horizon_days`` (1 to 365)."""

    confidence: float = Field(0.99, ge=0.5, le=0.9999)
    horizon_days: int = Field(1, ge=1, le=365)


# --- handlers -----------------------------------------------------------------------------


def _context(request: web.Request) -> RiskContext:
    _session(request, Scope.READ)
    ctx = request.app.get(_RISK)
    if ctx is None:
        raise _Refusal(
            404,
            "not_configured",
            "this server prices no portfolio: start it with a risk context "
            "(`oms serve --portfolio FILE`, or install_risk() in code)",
        )
    return ctx


async def _portfolio(
    request: web.Request, ctx: RiskContext | None = None
) -> tuple[list[Holding], MarketSnapshot]:
    """The holdings and the market of ``ctx`` (default: the checked context of the request)."""
    ctx = ctx or _context(request)
    engine = request.app[_SESSION].engine
    held = [*ctx.holdings(), *(engine_holdings(engine, ctx.account) if ctx.with_engine else ())]
    market = await ctx.market()
    if not isinstance(market, MarketSnapshot):
        raise InvalidInput(f"the risk context's market gave {type(market).__name__}")
    return held, market


async def risk_greeks(request: web.Request) -> web.Response:
    """Greeks by underlying of the engine's positions plus the context's holdings."""
    _query(request, _Query)
    held, market = await _portfolio(request)
    r = portfolio_risk(held, market)
    rows = [UnderlyingGreeksOut.model_validate(u) for _, u in sorted(r.by_underlying.items())]
    return _json(
        GreeksOut(
            underlyings=rows,
            **{name: getattr(r, name) for name in GreeksOut.model_fields if name != "underlyings"},
        )
    )


async def risk_var(request: web.Request) -> web.Response:
    """Parametric delta-gamma VaR / ES (Cornish-Fisher) from the context's daily vols."""
    q = _query(request, VarQuery)
    held, market = await _portfolio(request)
    ctx = request.app[_RISK]
    names = sorted(portfolio_risk(held, market).by_underlying)
    missing = [n for n in names if n not in ctx.daily_vols]
    if missing:
        raise _Refusal(
            409,
            "not_configured",
            f"no daily vol for {', '.join(missing)}: VaR needs one per underlying "
            "(RiskContext.daily_vols, or market.daily_vols in the portfolio file)",
        )
    v = _context_var(ctx, held, market, names, q.confidence, q.horizon_days)
    return _json(VarOut.model_validate(v))


def _context_var(
    ctx: RiskContext,
    held: Sequence[Holding],
    market: MarketSnapshot,
    names: Sequence[str],
    confidence: float,
    horizon_days: int,
) -> VarResult:
    """Parametric VaR of ``held`` with the context's daily vols (every name must have one)."""
    cov = [[float(ctx.daily_vols[a]) ** 2 if a == b else 0.0 for b in names] for a in names]
    return parametric_var(
        held, market, cov, list(names), confidence=confidence, horizon_days=horizon_days
    )


async def risk_margin(request: web.Request) -> web.Response:
    """Portfolio margin: 9 moves x 3 vol states plus the extended table."""
    _query(request, _Query)
    held, market = await _portfolio(request)
    return _json(MarginOut.model_validate(portfolio_margin(held, market)))


async def risk_liquidation(request: web.Request) -> web.Response:
    """Liquidation price of the portfolio per underlying (each moving alone)."""
    _query(request, _Query)
    held, market = await _portfolio(request)
    out = [
        LiquidationOut.model_validate(r)
        for _, r in sorted(liquidation_prices(held, market).items())
    ]
    return _json(out)  # type: ignore[arg-type]


def _control(request: web.Request, needed: Scope) -> HedgerControl:
    _session(request, needed)
    control = request.app.get(_HEDGER)
    if control is None:
        raise _Refusal(
            404,
            "not_configured",
            "this server runs no hedger: start it with a hedge policy "
            "(`oms serve --hedge-policy FILE`, or install_hedger() in code)",
        )
    return control


def _hedger_out(control: HedgerControl) -> HedgerOut:
    pol = control.hedger.policy
    st = control.last
    return HedgerOut(
        policy=pol.name,
        underlying=pol.underlying,
        instrument=pol.instrument,
        running=control.running,
        evaluations=control.evaluations,
        target=pol.target,
        band=pol.band,
        delta=None if st is None else st.delta,
        spot=None if st is None else st.spot,
        hedges=None if st is None else st.hedges,
        in_flight=None if st is None else st.in_flight,
        scalped_pnl=None if st is None else st.scalped_pnl,
        last_action=None if st is None else st.decision.action,
        last_reason=None if st is None else st.decision.reason,
        error=control.error,
    )


async def _no_body(request: web.Request, what: str) -> None:
    if request.can_read_body and await request.read():
        raise _Refusal(422, "validation", f"{what} takes no body")


async def hedger_status(request: web.Request) -> web.Response:
    """The hedger's policy, whether it runs and its last evaluation."""
    control = _control(request, Scope.READ)
    _query(request, _Query)
    return _json(_hedger_out(control))


async def hedger_start(request: web.Request) -> web.Response:
    """Start the hedger's loop; answers after its first evaluation (no-op when running)."""
    control = _control(request, Scope.TRADE)
    await _no_body(request, "hedger start")
    await control.start()
    return _json(_hedger_out(control), status=202)


async def hedger_stop(request: web.Request) -> web.Response:
    """Stop the hedger's loop (a hedge in flight keeps working in the engine)."""
    control = _control(request, Scope.TRADE)
    await _no_body(request, "hedger stop")
    await control.stop()
    return _json(_hedger_out(control))


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/risk/greeks",
        risk_greeks,
        Scope.READ,
        "Portfolio Greeks by underlying and in USD",
        GreeksOut,
    ),
    Route(
        "GET",
        "/api/v1/risk/var",
        risk_var,
        Scope.READ,
        "VaR and expected shortfall (parametric delta-gamma)",
        VarOut,
        query=VarQuery,
    ),
    Route(
        "GET",
        "/api/v1/risk/margin",
        risk_margin,
        Scope.READ,
        "Portfolio margin requirement, excess and worst scenario",
        MarginOut,
    ),
    Route(
        "GET",
        "/api/v1/risk/liquidation",
        risk_liquidation,
        Scope.READ,
        "Liquidation prices per underlying",
        LiquidationOut,
        many=True,
    ),
    Route("GET", "/api/v1/hedger", hedger_status, Scope.READ, "Hedger status", HedgerOut),
    Route(
        "POST",
        "/api/v1/hedger/start",
        hedger_start,
        Scope.TRADE,
        "Start the hedger (answers its first evaluation)",
        HedgerOut,
        202,
    ),
    Route(
        "POST",
        "/api/v1/hedger/stop",
        hedger_stop,
        Scope.TRADE,
        "Stop the hedger",
        HedgerOut,
    ),
)

#: what each route answers on a server without its part (listed in the OpenAPI document)
_NO_RISK = "not_configured: the server prices no portfolio (no risk context installed)"
_NO_HEDGER = "not_configured: the server runs no hedger (no hedge policy installed)"
ROUTES = tuple(
    dataclasses.replace(r, not_configured=_NO_HEDGER if "/hedger" in r.path else _NO_RISK)
    for r in ROUTES
)
