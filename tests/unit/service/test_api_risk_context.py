"""Bad input to the API's risk context and hedger control is refused up front, naming it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_chain.model.errors import InvalidInput
from oms_chain.risk import MarketSnapshot
from oms_chain.service.api.risk_routes import (
    HedgerControl,
    RiskContext,
    install_hedger,
    install_risk,
)


async def _market() -> MarketSnapshot:
    return MarketSnapshot(now_ns=1, spots={"ETH": Decimal(2000)})


@pytest.mark.parametrize("vol", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal(10), 0.04])
def test_a_daily_vol_outside_zero_to_ten_is_refused_naming_the_underlying(vol: object) -> None:
    with pytest.raises(InvalidInput, match="daily vol of 'ETH'"):
        RiskContext(market=_market, daily_vols={"ETH": vol})  # type: ignore[dict-item]


def test_a_context_needs_callables() -> None:
    with pytest.raises(InvalidInput, match="must be callables"):
        RiskContext(market="not a function")  # type: ignore[arg-type]


def test_a_hedger_control_needs_a_hedger() -> None:
    with pytest.raises(InvalidInput, match="hedger must be a Hedger"):
        HedgerControl(object(), _market)  # type: ignore[arg-type]


def test_install_refuses_the_wrong_object() -> None:
    from aiohttp import web

    app = web.Application()
    with pytest.raises(InvalidInput, match="context must be a RiskContext"):
        install_risk(app, object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="control must be a HedgerControl"):
        install_hedger(app, object())  # type: ignore[arg-type]


def test_alert_rules_are_checked_when_the_context_is_made() -> None:
    from oms_chain.risk import AlertRule, Metric

    rule = AlertRule(name="cap", metric=Metric.VAR, threshold=Decimal(10))
    assert RiskContext(market=_market, alerts=[rule]).alerts == (rule,)
    with pytest.raises(InvalidInput, match="'cap' is used twice"):
        RiskContext(market=_market, alerts=[rule, rule])
    with pytest.raises(InvalidInput, match=r"rules\[0\]"):
        RiskContext(market=_market, alerts=["cap"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="alerts must be a sequence"):
        RiskContext(market=_market, alerts="cap")  # type: ignore[arg-type]


def test_with_engine_must_be_a_bool() -> None:
    with pytest.raises(InvalidInput, match="with_engine must be True or False"):
        RiskContext(market=_market, with_engine=1)  # type: ignore[arg-type]
