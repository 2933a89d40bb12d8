"""Plans carry typed warnings (gas taking the whole output, price impact over a bound), exact
to the base unit; a caller refuses them unless it allows them, and the split runner does so
before anything is sent."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import scenario

from oms_chain.algos.base import ParamReader
from oms_chain.engine.split import RoutingSplitter
from oms_chain.model import (
    Asset,
    Instrument,
    Intent,
    InvalidInput,
    ManualClock,
    Side,
    SpotPair,
    VenueId,
)
from oms_chain.model.errors import InvalidIntent
from oms_chain.routing import (
    ALLOW_WARNINGS_PARAM,
    DEFAULT_MAX_PRICE_IMPACT_BPS,
    WARNING_CODES,
    LiquiditySource,
    NegativeNetOutput,
    PlanRefused,
    PriceImpactAboveBound,
    route,
    route_exact_output,
)
from oms_chain.venues import LiquidityCurve, LiquidityLevel, PaperVenue

USDC, WETH = 10**6, 10**18
R_IN, R_OUT = 10**6 * USDC, 400 * WETH  # 1M USDC / 400 WETH: 2,500 USDC per WETH


def v2_out(amount_in: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountOut, written out."""
    kept = amount_in * (10_000 - fee_bps)
    return kept * R_OUT // (R_IN * 10_000 + kept)


def test_a_plan_whose_gas_takes_the_whole_output_warns_with_the_exact_amounts() -> None:
    gas = 10**16  # 0.01 WETH of gas to buy with 1 USDC
    pool = LiquiditySource.from_v2_reserves("v2", R_IN, R_OUT, fixed_cost=gas)
    plan = route([pool], USDC)
    out = v2_out(USDC)
    assert out == 398_799_602_396_796  # 0.000398... WETH
    assert plan.net_output == out - gas < 0
    assert plan.warnings == (
        NegativeNetOutput(expected_output=out, gas_cost=gas, net_output=out - gas),
    )
    with pytest.raises(PlanRefused, match="net output -9601200397603204 is not positive") as info:
        plan.refuse_warnings()
    assert info.value.warnings == plan.warnings
    assert isinstance(info.value, InvalidInput)
    plan.refuse_warnings(allow={"negative-net-output"})  # allowed: no error


def test_a_plan_above_the_price_impact_bound_warns_and_is_refused_unless_allowed() -> None:
    pool = LiquiditySource.from_v2_reserves("v2", R_IN, R_OUT)
    plan = route([pool], 10**5 * USDC)  # a tenth of the pool: about 9 % impact
    assert plan.price_impact_bps > DEFAULT_MAX_PRICE_IMPACT_BPS
    assert plan.warnings == (
        PriceImpactAboveBound(price_impact_bps=plan.price_impact_bps, bound_bps=Decimal(500)),
    )
    assert plan.to_dict()["warnings"] == [
        {"code": "price-impact", "message": plan.warnings[0].message}
    ]
    assert "warning (price-impact): price impact" in plan.explain()
    with pytest.raises(PlanRefused, match="to accept, allow price-impact"):
        plan.refuse_warnings(allow=["negative-net-output"])
    plan.refuse_warnings(allow=WARNING_CODES)
    assert route([pool], 10**5 * USDC, max_price_impact_bps=None).warnings == ()
    assert route([pool], 10**5 * USDC, max_price_impact_bps=2_000).warnings == ()


def test_a_small_order_on_deep_liquidity_carries_no_warning() -> None:
    plan = route([LiquiditySource.from_v2_reserves("v2", R_IN, R_OUT)], 1_000 * USDC)
    assert plan.warnings == () and plan.to_dict()["warnings"] == []
    plan.refuse_warnings()


def test_an_exact_output_plan_warns_about_price_impact_too() -> None:
    pool = LiquiditySource.from_v2_reserves("v2", R_IN, R_OUT)
    plan = route_exact_output([pool], 40 * WETH, max_price_impact_bps=100)
    assert [w.code for w in plan.warnings] == ["price-impact"]
    assert plan.warnings[0].bound_bps == Decimal(100)  # type: ignore[union-attr]


def test_refuse_warnings_names_unknown_codes_instead_of_ignoring_them() -> None:
    plan = route([LiquiditySource.from_v2_reserves("v2", R_IN, R_OUT)], USDC)
    with pytest.raises(InvalidInput, match="unknown warning codes \\['price_impact'\\]"):
        plan.refuse_warnings(allow=["price_impact"])


ETH_C, USDC_C = Asset.cex("paper", "ETH"), Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH_C, quote=USDC_C)


class ThinBook(PaperVenue):
    """A paper venue whose asks get 10 % worse every level of 1 ETH."""

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        return LiquidityCurve(
            venue=self.venue_id,
            instrument_id=instrument.id,
            side=side,
            levels=tuple(
                LiquidityLevel(Decimal(2000) * (Decimal("1.1") ** i), Decimal(1)) for i in range(5)
            ),
            taker_fee_bps=Decimal(0),
            fixed_cost=Decimal(0),
            ts_event=0,
        )


def test_the_split_runner_refuses_a_plan_with_a_warning_unless_it_is_allowed() -> None:
    clock = ManualClock()
    venues = {VenueId(n): ThinBook(n, clock=clock) for n in ("book-a", "book-b")}
    intent = Intent.create(
        intent_id="i-1",
        account="acct",
        instrument=PAIR,
        side="buy",
        venues=list(venues),
        now_ns=clock.now_ns(),
        quantity="6",
    )
    with pytest.raises(PlanRefused, match="price-impact"):
        asyncio.run(RoutingSplitter().split(intent, Decimal(6), venues))
    legs = asyncio.run(
        RoutingSplitter(allow_warnings={"price-impact"}).split(intent, Decimal(6), venues)
    )
    assert sum(leg.quantity for leg in legs) == Decimal(6)
    small = asyncio.run(RoutingSplitter().split(intent, Decimal(1), venues))
    assert sum(leg.quantity for leg in small) == Decimal(1)


def thin_intent(clock: ManualClock, venues: list[str], **kw: object) -> Intent:
    return Intent.create(
        intent_id="i-2",
        account="acct",
        instrument=PAIR,
        side="buy",
        venues=venues,
        now_ns=clock.now_ns(),
        quantity="6",
        **kw,  # type: ignore[arg-type]
    )


def test_an_intent_allows_plan_warnings_with_its_algo_parameter() -> None:
    clock = ManualClock()
    venues = {VenueId(n): ThinBook(n, clock=clock) for n in ("book-a", "book-b")}
    allowing = thin_intent(clock, list(venues), algo_params={ALLOW_WARNINGS_PARAM: "price-impact"})
    legs = asyncio.run(RoutingSplitter().split(allowing, Decimal(6), venues))
    assert sum(leg.quantity for leg in legs) == Decimal(6)
    # allowing the other warning only does not let this plan through
    other = thin_intent(
        clock, list(venues), algo_params={ALLOW_WARNINGS_PARAM: " negative-net-output "}
    )
    with pytest.raises(PlanRefused, match="price-impact"):
        asyncio.run(RoutingSplitter().split(other, Decimal(6), venues))
    # every algo's parameter reader accepts the parameter and checks it
    twap = thin_intent(
        clock,
        list(venues),
        algo="twap",
        algo_params={ALLOW_WARNINGS_PARAM: "price-impact,negative-net-output"},
    )
    ParamReader(twap).finish()


@pytest.mark.parametrize(
    "value, message",
    [
        ("price_impact", "unknown warning codes \\['price_impact'\\]"),
        (" , ", "names no warning code"),
        (7, "must be a string of comma-separated warning codes"),
    ],
)
def test_a_bad_allowance_is_refused_before_anything_is_quoted(value: object, message: str) -> None:
    clock = ManualClock()

    class Untouchable(ThinBook):
        async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
            raise AssertionError("quoted before the intent was checked")

    venues = {VenueId(n): Untouchable(n, clock=clock) for n in ("book-a", "book-b")}
    intent = thin_intent(clock, list(venues), algo_params={ALLOW_WARNINGS_PARAM: value})
    with pytest.raises(InvalidInput, match=message):
        asyncio.run(RoutingSplitter().split(intent, Decimal(6), venues))
    twap = thin_intent(clock, list(venues), algo="twap", algo_params={ALLOW_WARNINGS_PARAM: value})
    with pytest.raises(InvalidIntent, match=message):
        ParamReader(twap)
    with pytest.raises(InvalidInput, match="allow_warnings must be a collection of codes"):
        RoutingSplitter(allow_warnings="price-impact")
    with pytest.raises(InvalidInput, match="allow_warnings must be a collection of codes"):
        RoutingSplitter(allow_warnings={"price_impact"})


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 6),
    bound=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(5), Decimal(50), None]),
    scale=st.sampled_from([10**-4, 10**-2, 1.0]),
)
def test_every_plan_warns_exactly_when_its_totals_say_so(
    seed: int, n: int, bound: Decimal | None, scale: float
) -> None:
    # tiny orders make gas exceed the output; tight bounds make any impact a warning
    sc = scenario(seed, n)
    amount = max(1, int(sc.amount_in * scale))
    try:
        plan = route(sc.sources, amount, max_price_impact_bps=bound)
    except InvalidInput:
        return  # minimum sizes above a tiny amount: refused, nothing to warn about
    codes = {w.code for w in plan.warnings}
    assert (NegativeNetOutput.code in codes) == (plan.net_output <= 0)
    over = bound is not None and plan.price_impact_bps > bound
    assert (PriceImpactAboveBound.code in codes) == over
    if plan.warnings:
        with pytest.raises(PlanRefused):
            plan.refuse_warnings()
    plan.refuse_warnings(allow=codes)
