"""Alert rules: raised once on a breach, silent while it lasts, cleared past the hysteresis band."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from _riskbook_fixtures import NOW, PERP, USDC
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model import InvalidInput
from oms_chain.risk import (
    AlertRule,
    AlertState,
    Holding,
    MarketSnapshot,
    Metric,
    RiskReading,
    evaluate_alerts,
    liquidation_prices,
    portfolio_margin,
    portfolio_risk,
)

D = Decimal
EXCESS = AlertRule(name="excess", metric=Metric.MARGIN_EXCESS, threshold=D(1000), clear_at=D(1500))
DELTA = AlertRule(
    name="delta", metric=Metric.ABS_DELTA_USD, threshold=D(50_000), clear_at=D(40_000)
)


def _run(rules: list[AlertRule], readings: list[RiskReading]) -> list[list[tuple[str, bool]]]:
    state, out = AlertState(), []
    for r in readings:
        alerts, state = evaluate_alerts(rules, r, state)
        out.append([(a.rule.name, a.raised) for a in alerts])
    return out


def test_an_alert_that_stays_true_is_sent_once_and_cleared_past_the_band():
    excess = [2000, 900, 800, 1200, 1400, 1600, 900]
    readings = [RiskReading(ts_ns=NOW + i, margin_excess=D(x)) for i, x in enumerate(excess)]
    assert _run([EXCESS], readings) == [
        [],
        [("excess", True)],
        [],
        [],
        [],
        [("excess", False)],
        [("excess", True)],
    ]


def test_delta_rules_watch_one_underlying_or_the_total_by_absolute_value():
    eth = AlertRule(name="eth", metric=Metric.ABS_DELTA_USD, threshold=D(10_000), underlying="ETH")
    readings = [
        RiskReading(ts_ns=1, delta_usd={"ETH": D(-12_000)}, total_delta_usd=D(-60_000)),
        RiskReading(ts_ns=2, delta_usd={"ETH": D(-9_000)}, total_delta_usd=D(-45_000)),
        RiskReading(ts_ns=3, delta_usd={"ETH": D(11_000)}, total_delta_usd=D(-39_000)),
    ]
    assert _run([eth, DELTA], readings) == [
        [("eth", True), ("delta", True)],
        [("eth", False)],
        [("eth", True), ("delta", False)],
    ]


def test_missing_metrics_keep_their_state_and_no_liquidation_price_is_safe():
    liq = AlertRule(
        name="liq",
        metric=Metric.LIQUIDATION_DISTANCE_PCT,
        threshold=D(10),
        clear_at=D(15),
        underlying="ETH",
    )
    readings = [
        RiskReading(ts_ns=1, liquidation_distance_pct={"ETH": D(8)}),
        RiskReading(ts_ns=2),  # nothing about ETH: still raised, nothing sent
        RiskReading(ts_ns=3, liquidation_distance_pct={"ETH": None}),
    ]
    assert _run([liq], readings) == [[("liq", True)], [], [("liq", False)]]


def test_a_reading_built_from_real_results_raises_the_right_rules():
    market = MarketSnapshot(now_ns=NOW, spots={"ETH": D(2000)})
    holdings = [
        Holding(instrument=PERP, quantity=D(30)),
        Holding(instrument=USDC, quantity=D(15_000)),
    ]
    reading = RiskReading.from_results(
        NOW,
        risk=portfolio_risk(holdings, market),
        margin=portfolio_margin(holdings, market),
        liquidation=liquidation_prices(holdings, market),
    )
    # initial margin 1.25 x 0.16 x 60,000 = 12,000, so the excess is 3,000 (no alert); delta is
    # 60,000 USD; liquidation: 15000 + 30 (S - 2000) = 0.16 x 30 S => S = 45000 / 25.2 (-10.7 %)
    liq = AlertRule(
        name="liq", metric=Metric.LIQUIDATION_DISTANCE_PCT, threshold=D(12), underlying="ETH"
    )
    alerts, state = evaluate_alerts([EXCESS, DELTA, liq], reading, AlertState())
    assert [a.rule.name for a in alerts] == ["delta", "liq"]
    assert state.active == frozenset({"delta", "liq"})
    assert float(reading.liquidation_distance_pct["ETH"]) == pytest.approx(
        (2000 - 45000 / 25.2) / 20, rel=1e-9
    )
    assert "above the limit 50000" in alerts[0].message


def test_rules_are_checked_when_built():
    with pytest.raises(InvalidInput, match="must be at or above the threshold"):
        AlertRule(name="x", metric=Metric.MARGIN_EXCESS, threshold=D(10), clear_at=D(5))
    with pytest.raises(InvalidInput, match="name the underlying"):
        AlertRule(name="x", metric=Metric.LIQUIDATION_DISTANCE_PCT, threshold=D(5))
    with pytest.raises(InvalidInput, match="portfolio-wide"):
        AlertRule(name="x", metric=Metric.VAR, threshold=D(5), underlying="ETH")
    with pytest.raises(InvalidInput, match="used twice"):
        evaluate_alerts([EXCESS, EXCESS], RiskReading(ts_ns=1), AlertState())


@given(values=st.lists(st.integers(min_value=-5000, max_value=5000), max_size=40))
def test_raised_and_cleared_alternate_for_any_path(values: list[int]):
    readings = [RiskReading(ts_ns=i, margin_excess=D(v)) for i, v in enumerate(values)]
    sent = [flag for step in _run([EXCESS], readings) for _, flag in step]
    assert all(a != b for a, b in pairwise(sent))
    assert not sent or sent[0] is True
