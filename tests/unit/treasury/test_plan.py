"""The planner on fixed prices (no node): inside the band nothing happens; outside, a spot sale
is sized to the target and checked against the slippage limit; refusals name the rule."""

from __future__ import annotations

import asyncio
import tomllib
from decimal import Decimal

import pytest
from test_policy import GOOD

from oms_chain.treasury import PolicyViolation, TreasuryPolicy, make_plan, value

NOW = 1_796_288_400 * 1_000_000_000


def _policy(**instruments: object) -> TreasuryPolicy:
    data = tomllib.loads(GOOD)
    data["instruments"].update(instruments)
    return TreasuryPolicy.from_mapping(data)


def _pool(haircut_bps: int) -> object:
    async def quote(units: Decimal) -> Decimal:
        return units * Decimal(3000) * (10_000 - haircut_bps) / 10_000

    return quote


def _plan(
    policy: TreasuryPolicy, eth: str, usdc: str, haircut_bps: int = 10, **kw: object
) -> object:
    m = value(policy, {"ETH": Decimal(eth), "USDC": Decimal(usdc)}, [], {"ETH": Decimal(3000)}, NOW)
    return asyncio.run(make_plan(policy, m, book=None, spot_quote=_pool(haircut_bps), **kw))  # type: ignore[arg-type]


def test_inside_the_band_the_plan_has_nothing_to_do() -> None:
    plan = _plan(_policy(allowed=["twap_sale"]), "100", "450000")
    assert plan.chosen is None and "inside the band" in plan.explanation  # type: ignore[attr-defined]


def test_above_the_band_a_sale_is_sized_back_to_the_target() -> None:
    plan = _plan(_policy(allowed=["twap_sale"]), "100", "300000")  # 50 % in ETH
    chosen = plan.chosen  # type: ignore[attr-defined]
    assert chosen.instrument == "twap_sale" and chosen.refused is None
    # target 40 % of 600k = 240k = 80 ETH: sell 20
    assert chosen.legs[0].quantity == Decimal("20.0000")
    assert chosen.cost_usd == Decimal("60.00")  # 10 bps of 60,000
    assert Decimal("0.39") < chosen.after.delta_share < Decimal("0.41")


def test_a_sale_beyond_the_slippage_limit_is_refused_naming_the_rule() -> None:
    with pytest.raises(PolicyViolation) as err:
        _plan(_policy(allowed=["twap_sale"]), "100", "300000", haircut_bps=150)
    assert err.value.rules == ("limits.max_slippage_bps",)
    assert "150 bps under the index" in str(err.value)


def test_an_instrument_the_policy_does_not_allow_is_refused() -> None:
    with pytest.raises(PolicyViolation, match=r"instruments\.allowed") as err:
        _plan(_policy(allowed=["twap_sale"]), "100", "300000", instruments=["puts"])
    assert err.value.rules == ("instruments.allowed",)


def test_below_the_band_the_planner_refuses_to_add_exposure() -> None:
    with pytest.raises(PolicyViolation, match="below the band") as err:
        _plan(_policy(allowed=["twap_sale"]), "10", "570000")
    assert err.value.rules == ("exposure.band",)
