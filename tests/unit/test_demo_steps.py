"""The pure steps of ``oms demo`` (no devnet): the iron condor preview and the portfolio risk
step, their checks, and the message a failed check gives."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from oms_chain.demo_steps import (
    DemoCheckFailed,
    StepResult,
    _check,
    _independent_payoff,
    iron_condor_preview,
    portfolio_risk_step,
)
from oms_chain.model.errors import DevnetError, OmsError

D = Decimal


def _console() -> Console:
    return Console(file=io.StringIO(), width=160)


def test_iron_condor_preview_has_the_closed_form_numbers() -> None:
    console = _console()
    step = iron_condor_preview(console)
    assert step.status == "ok"
    d = step.detail
    assert (d["net_premium"], d["max_profit"], d["max_loss"]) == (
        D("-105.11"),
        D("105.11"),
        D("94.89"),
    )
    assert d["breakevens"] == [D("2694.89"), D("3305.11")]
    assert [r["price"] for r in d["payoff"]][:3] == [D(1000), D(1500), D(2000)]
    assert all(r["payoff"] == r["leg_sum"] for r in d["payoff"])
    assert len(step.checks) == 5
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "buy 1 ETH-15JAN27-2600-P" in text and "breakevens 2,694.89, 3,305.11" in text


@settings(max_examples=50, deadline=None)
@given(st.decimals(min_value=0, max_value=20_000, places=2))
def test_the_independent_leg_sum_is_the_iron_condor_shape(price: Decimal) -> None:
    from oms_chain.demo_steps import CONDOR_EXPIRY_NS, CONDOR_STRIKES
    from oms_chain.model.assets import Asset
    from oms_chain.strategies import OptionSeries, iron_condor

    series = OptionSeries(
        underlying=Asset.cex("deribit", "ETH"), quote=Asset.cex("deribit", "USD", 2)
    )
    ic = iron_condor(series, CONDOR_EXPIRY_NS, CONDOR_STRIKES, 1)
    k1, k2, k3, k4 = (D(k) for k in CONDOR_STRIKES)
    expected = -max(D(0), min(k2 - price, k2 - k1)) - max(D(0), min(price - k3, k4 - k3))
    assert _independent_payoff(ic.legs, price) == expected


def test_portfolio_risk_finds_a_liquidation_price_where_equity_meets_maintenance() -> None:
    # 2,000 ETH bought with 5M USDC borrowed at 3,000: liquidated a little under spot
    balances = {"exchange ETH": D(2000), "exchange USDC": D(-5_000_000)}
    step = portfolio_risk_step(_console(), balances, None, D(3000))
    below = step.detail["liquidation"]["ETH"]["below"]
    assert below is not None and D(2900) < below < D(3000)
    assert any(c.startswith("at ETH below") and "equity == maintenance" in c for c in step.checks)
    assert step.detail["var"]["parametric"]["var"] > 0


def test_portfolio_risk_without_a_liquidation_price_says_why() -> None:
    step = portfolio_risk_step(
        _console(),
        {"wallet ETH": D(5), "exchange ETH": D(3), "exchange USDC": D(1000)},
        None,
        D(3000),
    )
    assert step.detail["liquidation"]["ETH"]["below"] is None
    assert "no liquidation price: each underlying says why" in step.checks
    # the wallet's gas ETH is left out: 3 ETH of delta, not 8
    assert step.detail["greeks"]["ETH"]["delta"] == 3


def test_a_failed_check_names_the_step_what_and_what_was_seen() -> None:
    result = StepResult("on-chain put")
    with pytest.raises(DemoCheckFailed) as info:
        _check("on-chain put", False, "redeem paid the payoff to the base unit", result, 49_899_999)
    assert str(info.value) == (
        "demo step 'on-chain put': check failed: redeem paid the payoff to the base unit "
        "(seen: 49899999)"
    )
    assert isinstance(info.value, DevnetError) and isinstance(info.value, OmsError)
    assert result.checks == []


def test_steps_without_their_extra_or_service_are_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    from types import SimpleNamespace

    from oms_chain import demo_steps

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("safe_eth", "frost_rs") else real(name, *a),
    )
    world: Any = SimpleNamespace(deribit=None)  # nothing is touched when a step is skipped
    safe = demo_steps.safe_multisend(world, _console())
    frost = demo_steps.threshold_transfer(world, _console())
    deribit = demo_steps.deribit_option(world, _console())
    assert (safe.status, safe.reason) == (
        "skipped",
        "the 'safe' extra is not installed (pip install 'oms-chain[safe]')",
    )
    assert (frost.status, frost.reason) == (
        "skipped",
        "the 'threshold' extra is not installed (pip install 'oms-chain[threshold]')",
    )
    assert (deribit.status, deribit.reason) == (
        "skipped",
        "the devnet did not start the Deribit-protocol exchange",
    )
