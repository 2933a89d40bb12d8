"""Alert rules over risk readings, with hysteresis: pure evaluators, no I/O.

A rule watches one metric of a :class:`RiskReading` and is *raised* when the metric crosses its
``threshold`` (margin excess or distance to liquidation falling below it; |delta| or VaR rising
above it). A raised rule stays active, and is not raised again, until the metric is back past
``clear_at`` (on the safe side of the threshold); then one *cleared* alert is emitted. The
caller keeps the returned :class:`AlertState` and passes it to the next evaluation, so the same
readings always give the same alerts (and a restart that restores the state re-sends nothing).

Sending (events, log lines, webhooks) is the monitor's job, one layer up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from types import MappingProxyType

from oms_chain.model.checks import check_decimal, check_instance, check_ns, check_str
from oms_chain.model.errors import InvalidInput
from oms_chain.risk.liquidation import LiquidationResult
from oms_chain.risk.margin import MarginResult
from oms_chain.risk.portfolio import PortfolioRisk
from oms_chain.risk.var import VarResult

__all__ = [
    "Alert",
    "AlertRule",
    "AlertState",
    "Metric",
    "RiskReading",
    "evaluate_alerts",
    "metric_value",
]


class Metric(Enum):
    """What a rule watches, and on which side of its threshold danger lies."""

    MARGIN_EXCESS = "margin_excess"  # USD, equity - initial margin: alert when below
    LIQUIDATION_DISTANCE_PCT = "liquidation_distance_pct"  # % of spot: alert when below
    ABS_DELTA_USD = "abs_delta_usd"  # |delta| in USD (one underlying or total): alert when above
    VAR = "var"  # USD: alert when above

    @property
    def alert_when_above(self) -> bool:
        return self in (Metric.ABS_DELTA_USD, Metric.VAR)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """``name`` is the rule's stable key; ``underlying`` selects one underlying for
    ``LIQUIDATION_DISTANCE_PCT`` (required) and ``ABS_DELTA_USD`` (``None``: the total).
    ``clear_at`` defaults to ``threshold`` (no band); it must lie on the safe side.

    Raises:
        InvalidInput: an empty name, a non-Decimal threshold, ``clear_at`` on the danger side,
            a missing / unexpected ``underlying``, or a negative threshold where the metric is
            a size (|delta|, VaR, distance).
    """

    name: str
    metric: Metric
    threshold: Decimal
    clear_at: Decimal | None = None
    underlying: str | None = None

    def __post_init__(self) -> None:
        check_str(self.name, "alert rule name")
        check_instance(self.metric, f"alert rule {self.name}: metric", Metric, "a Metric")
        t = check_decimal(self.threshold, f"alert rule {self.name}: threshold")
        if self.metric is not Metric.MARGIN_EXCESS and t < 0:
            raise InvalidInput(f"alert rule {self.name}: threshold must be >= 0, got {t}")
        object.__setattr__(self, "threshold", t)
        c = (
            t
            if self.clear_at is None
            else check_decimal(self.clear_at, f"alert rule {self.name}: clear_at")
        )
        safe = c <= t if self.metric.alert_when_above else c >= t
        if not safe:
            side = "at or below" if self.metric.alert_when_above else "at or above"
            raise InvalidInput(
                f"alert rule {self.name}: clear_at {c} must be {side} the threshold {t} "
                "(the safe side), or the alert would flap"
            )
        object.__setattr__(self, "clear_at", c)
        if self.underlying is not None:
            check_str(self.underlying, f"alert rule {self.name}: underlying")
            if self.metric in (Metric.MARGIN_EXCESS, Metric.VAR):
                raise InvalidInput(
                    f"alert rule {self.name}: {self.metric.value} is portfolio-wide; "
                    "leave underlying out"
                )
        elif self.metric is Metric.LIQUIDATION_DISTANCE_PCT:
            raise InvalidInput(f"alert rule {self.name}: name the underlying to watch")


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskReading:
    """The metrics of one evaluation; absent ones (``None`` / missing keys) are skipped.

    ``liquidation_distance_pct`` maps an underlying to its distance (``None``: no liquidation
    price in range, i.e. safe); ``delta_usd`` maps an underlying to its signed delta in USD.
    """

    ts_ns: int
    margin_excess: Decimal | None = None
    liquidation_distance_pct: Mapping[str, Decimal | None] = field(default_factory=dict)
    delta_usd: Mapping[str, Decimal] = field(default_factory=dict)
    total_delta_usd: Decimal | None = None
    var: Decimal | None = None

    def __post_init__(self) -> None:
        check_ns(self.ts_ns, "risk reading ts_ns")
        for name in ("margin_excess", "total_delta_usd", "var"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_decimal(value, f"risk reading {name}"))
        for name in ("liquidation_distance_pct", "delta_usd"):
            m = getattr(self, name)
            if not isinstance(m, Mapping):
                raise InvalidInput(
                    f"risk reading {name} must be a mapping of underlying to Decimal"
                )
            checked = {
                check_str(k, f"{name} key"): None
                if v is None and name != "delta_usd"
                else check_decimal(v, f"risk reading {name}[{k!r}]")
                for k, v in m.items()
            }
            object.__setattr__(self, name, MappingProxyType(checked))

    @classmethod
    def from_results(
        cls,
        ts_ns: int,
        *,
        risk: PortfolioRisk | None = None,
        margin: MarginResult | None = None,
        liquidation: Mapping[str, LiquidationResult] | None = None,
        var: VarResult | None = None,
    ) -> RiskReading:
        """A reading from the results of :func:`portfolio_risk`, :func:`portfolio_margin`,
        :func:`liquidation_prices` and a VaR function (each optional). An underlying that is
        liquidatable now has distance 0."""
        distances: dict[str, Decimal | None] = {}
        for name, res in (liquidation or {}).items():
            distances[name] = Decimal(0) if res.liquidatable_now else res.distance_pct
        return cls(
            ts_ns=ts_ns,
            margin_excess=None if margin is None else margin.excess,
            liquidation_distance_pct=distances,
            delta_usd={}
            if risk is None
            else {k: u.delta_usd for k, u in risk.by_underlying.items()},
            total_delta_usd=None if risk is None else risk.delta_usd,
            var=None if var is None else var.var,
        )


@dataclass(frozen=True, slots=True)
class AlertState:
    """Names of the rules currently raised. Start with ``AlertState()``."""

    active: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A rule raised or cleared at ``ts_ns`` by ``value``; ``message`` says it in words."""

    rule: AlertRule
    raised: bool
    value: Decimal
    ts_ns: int
    message: str


def metric_value(rule: AlertRule, r: RiskReading) -> Decimal | None:
    """The value ``rule`` watches in ``r`` (|delta| for ``ABS_DELTA_USD``), ``None`` when the
    reading lacks it (or, for a liquidation distance, when no liquidation price is in range)."""
    m = rule.metric
    if m is Metric.MARGIN_EXCESS:
        return r.margin_excess
    if m is Metric.VAR:
        return r.var
    if m is Metric.ABS_DELTA_USD:
        d = r.total_delta_usd if rule.underlying is None else r.delta_usd.get(rule.underlying)
        return None if d is None else abs(d)
    assert rule.underlying is not None
    return r.liquidation_distance_pct.get(rule.underlying)


def _message(rule: AlertRule, value: Decimal, raised: bool) -> str:
    what = rule.metric.value + (f" {rule.underlying}" if rule.underlying else "")
    if raised:
        side = "above" if rule.metric.alert_when_above else "below"
        return f"{rule.name}: {what} {value:.6g} is {side} the limit {rule.threshold}"
    shown = "no liquidation price in range" if value.is_infinite() else f"{value:.6g}"
    return f"{rule.name}: {what} {shown} is back within {rule.clear_at}; alert cleared"


def evaluate_alerts(
    rules: Sequence[AlertRule], reading: RiskReading, state: AlertState
) -> tuple[tuple[Alert, ...], AlertState]:
    """Alerts raised or cleared by ``reading`` given ``state``, and the next state.

    A rule whose metric is absent from the reading keeps its state (no news is not a recovery).
    A liquidation distance of ``None`` (no liquidation price in range) counts as safe.

    Raises:
        InvalidInput: ``rules`` not a sequence of AlertRule with unique names, or bad reading /
            state types.
    """
    check_instance(reading, "reading", RiskReading, "a RiskReading")
    check_instance(state, "state", AlertState, "an AlertState")
    if isinstance(rules, str) or not isinstance(rules, Sequence):
        raise InvalidInput("rules must be a sequence of AlertRule")
    names: set[str] = set()
    for i, rule in enumerate(rules):
        check_instance(rule, f"rules[{i}]", AlertRule, "an AlertRule")
        if rule.name in names:
            raise InvalidInput(f"alert rule name {rule.name!r} is used twice; names are keys")
        names.add(rule.name)
    active = set(state.active)
    alerts: list[Alert] = []
    for rule in rules:
        value = metric_value(rule, reading)
        safe_none = (
            value is None
            and rule.metric is Metric.LIQUIDATION_DISTANCE_PCT
            and (rule.underlying in reading.liquidation_distance_pct)
        )
        if value is None and not safe_none:
            continue
        is_active = rule.name in active
        if value is None:  # no liquidation price in range: as safe as it gets
            breached, recovered = False, True
            value = Decimal("Infinity")
        elif rule.metric.alert_when_above:
            breached, recovered = value > rule.threshold, value <= rule.clear_at  # type: ignore[operator]
        else:
            breached, recovered = value < rule.threshold, value >= rule.clear_at  # type: ignore[operator]
        if not is_active and breached:
            active.add(rule.name)
            alerts.append(
                Alert(
                    rule=rule,
                    raised=True,
                    value=value,
                    ts_ns=reading.ts_ns,
                    message=_message(rule, value, True),
                )
            )
        elif is_active and recovered:
            active.discard(rule.name)
            alerts.append(
                Alert(
                    rule=rule,
                    raised=False,
                    value=value,
                    ts_ns=reading.ts_ns,
                    message=_message(rule, value, False),
                )
            )
    # rules that no longer exist cannot stay active
    return tuple(alerts), AlertState(active=frozenset(active & names))
