"""``GET /api/v1/risk/alerts``: the alert rules of the server's risk context evaluated now, and
the alert events recorded in the store, paged by position like ``/api/v1/events``.

The rules (:class:`~oms_chain.risk.AlertRule`, in :class:`~.risk_routes.RiskContext.alerts`)
are evaluated on the same portfolio the other risk routes price: ``breached`` says whether a
rule's metric is on the danger side of its threshold now, ``active`` whether it is raised once
the hysteresis is applied from the state the risk monitor recorded (stream ``risk-monitor``).
Evaluating is read-only: nothing is recorded or sent (the monitor does that). The events are
the monitor's :class:`~oms_chain.model.events.PortfolioAlertRaised` /
:class:`~oms_chain.model.events.PortfolioAlertCleared` and the engine's
:class:`~oms_chain.model.events.RiskAlertRaised` (an overfill of a parent, for instance).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from oms_chain.model.events import (
    PortfolioAlertCleared,
    PortfolioAlertRaised,
    RiskAlertRaised,
    event_from_payload,
)
from oms_chain.risk import (
    AlertState,
    Metric,
    RiskReading,
    evaluate_alerts,
    liquidation_prices,
    metric_value,
    portfolio_margin,
    portfolio_risk,
)
from oms_chain.service.api._http import _CONFIG, _SESSION, Route, _json, _Query, _query
from oms_chain.service.api.risk_routes import (
    _NO_RISK,
    RiskContext,
    _context,
    _context_var,
    _portfolio,
)
from oms_chain.service.api.tokens import Scope
from oms_chain.service.risk_monitor import MONITOR_STREAM

__all__ = ["AlertEventOut", "AlertRuleOut", "AlertsOut", "AlertsQuery"]

#: the event types listed as alerts
ALERT_EVENTS = frozenset({"PortfolioAlertRaised", "PortfolioAlertCleared", "RiskAlertRaised"})
#: at most this many store events are looked at per request (the page then ends early, and
#: ``next_after`` says where to go on), so a long store without alerts answers quickly
SCAN = 10_000

_Num = Annotated[Decimal, Field(allow_inf_nan=True)]


class AlertsQuery(_Query):
    """Alert events with ``position > after``, at most ``limit``."""

    after: int = Field(0, ge=0, le=2**62)
    limit: int = Field(100, ge=1, le=1000)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class AlertRuleOut(_Out):
    """One rule evaluated now: its metric's ``value`` (``None``: not in this reading, or no
    liquidation price in range), ``breached`` (on the danger side of ``threshold`` now) and
    ``active`` (raised, with the hysteresis from the monitor's recorded state)."""

    name: str
    metric: str
    underlying: str | None
    threshold: Decimal
    clear_at: Decimal
    alert_when_above: bool
    value: _Num | None
    breached: bool
    active: bool
    message: str | None


class AlertEventOut(_Out):
    """A recorded alert: ``raised`` (or cleared) at ``ts_event``. Portfolio alerts name their
    ``rule``, ``metric`` and ``value``; an engine alert (``RiskAlertRaised``) its ``order_id``,
    ``metric`` (its kind, e.g. ``overfill``) and ``quantity``."""

    position: int
    event_type: str
    stream_id: str
    ts_event: int
    raised: bool
    rule: str | None = None
    metric: str
    underlying: str | None = None
    value: _Num | None = None
    threshold: Decimal | None = None
    clear_at: Decimal | None = None
    order_id: str | None = None
    quantity: Decimal | None = None
    message: str


class AlertsOut(_Out):
    """The rules evaluated at ``ts_ns`` (the market snapshot's time), the names ``active`` now,
    and the alert events with ``position > after`` (ask again with ``after=next_after``)."""

    ts_ns: int
    rules: list[AlertRuleOut]
    active: list[str]
    events: list[AlertEventOut]
    next_after: int
    last_position: int


def _recorded_state(request: web.Request) -> AlertState:
    active: set[str] = set()
    for rec in request.app[_SESSION].store.read_stream(MONITOR_STREAM):
        e = event_from_payload(rec.event_type, rec.version, rec.payload)
        if isinstance(e, PortfolioAlertRaised):
            active.add(e.rule)
        elif isinstance(e, PortfolioAlertCleared):
            active.discard(e.rule)
    return AlertState(active=frozenset(active))


async def _evaluate(
    request: web.Request, ctx: RiskContext
) -> tuple[int, list[AlertRuleOut], list[str]]:
    held, market = await _portfolio(request, ctx)
    rules = ctx.alerts
    if not rules:
        return market.now_ns, [], []
    metrics = {r.metric for r in rules}
    risk = portfolio_risk(held, market)
    margin = portfolio_margin(held, market) if Metric.MARGIN_EXCESS in metrics else None
    liq = liquidation_prices(held, market) if Metric.LIQUIDATION_DISTANCE_PCT in metrics else None
    names = sorted(risk.by_underlying)
    var = None
    if Metric.VAR in metrics and names and all(n in ctx.daily_vols for n in names):
        var = _context_var(ctx, held, market, names, 0.99, 1)
    reading = RiskReading.from_results(
        market.now_ns, risk=risk, margin=margin, liquidation=liq, var=var
    )
    fresh, _ = evaluate_alerts(rules, reading, AlertState())
    breached = {a.rule.name: a for a in fresh}
    _, state = evaluate_alerts(rules, reading, _recorded_state(request))
    out = [
        AlertRuleOut(
            name=r.name,
            metric=r.metric.value,
            underlying=r.underlying,
            threshold=r.threshold,
            clear_at=r.threshold if r.clear_at is None else r.clear_at,
            alert_when_above=r.metric.alert_when_above,
            value=metric_value(r, reading),
            breached=r.name in breached,
            active=r.name in state.active,
            message=breached[r.name].message if r.name in breached else None,
        )
        for r in rules
    ]
    return market.now_ns, out, sorted(state.active)


def _event_out(position: int, stream_id: str, e: object) -> AlertEventOut | None:
    if isinstance(e, PortfolioAlertRaised | PortfolioAlertCleared):
        raised = isinstance(e, PortfolioAlertRaised)
        return AlertEventOut(
            stream_id=stream_id,
            position=position,
            event_type=type(e).__name__,
            ts_event=e.ts_event,
            raised=raised,
            rule=e.rule,
            metric=e.metric,
            underlying=e.underlying,
            value=e.value,
            threshold=e.threshold if isinstance(e, PortfolioAlertRaised) else None,
            clear_at=e.clear_at if isinstance(e, PortfolioAlertCleared) else None,
            message=e.message,
        )
    if isinstance(e, RiskAlertRaised):
        return AlertEventOut(
            stream_id=stream_id,
            position=position,
            event_type="RiskAlertRaised",
            ts_event=e.ts_event,
            raised=True,
            metric=e.kind,
            order_id=e.order_id,
            quantity=e.quantity,
            message=e.reason,
        )
    return None


async def risk_alerts(request: web.Request) -> web.Response:
    """The context's alert rules evaluated now and the recorded alert events, paged."""
    ctx = _context(request)
    q = _query(request, AlertsQuery)
    ts_ns, rules, active = await _evaluate(request, ctx)
    limit = min(q.limit, request.app[_CONFIG].max_page)
    store = request.app[_SESSION].store
    events: list[AlertEventOut] = []
    scanned = q.after
    for rec in store.read_all(from_position=q.after, limit=SCAN):
        scanned = rec.position
        if rec.event_type not in ALERT_EVENTS:
            continue
        out = _event_out(
            rec.position,
            rec.stream_id,
            event_from_payload(rec.event_type, rec.version, rec.payload),
        )
        if out is not None:
            events.append(out)
            if len(events) == limit:
                break
    last = store.last_position()
    return _json(
        AlertsOut(
            ts_ns=ts_ns,
            rules=rules,
            active=active,
            events=events,
            next_after=min(scanned, last),
            last_position=last,
        )
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/risk/alerts",
        risk_alerts,
        Scope.READ,
        "Alert rules evaluated now, and the recorded alert events (paged by position)",
        AlertsOut,
        query=AlertsQuery,
        not_configured=_NO_RISK,
    ),
)
