"""Every public constructor and function of ``oms_chain.risk`` refuses NaN, infinities, wrong
types, huge and out-of-range values with ``InvalidInput`` naming the argument (a limit by its
config key); valid limits still build and gate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from validation_support import Case, bad_decimal, bad_int, case_tests, cases, given_, not_a

from oms_chain.model import Asset, Intent, InvalidInput, ManualClock, SpotPair
from oms_chain.model.checks import MAX_NS
from oms_chain.risk import (
    RiskGate,
    RiskLimits,
    TokenBucket,
    TradingState,
)

ETH = Asset.cex("binance", "ETH")
USDC = Asset.cex("binance", "USDC", 6)
INTENT = Intent.create(
    intent_id="i-1",
    account="acct",
    instrument=SpotPair(base=ETH, quote=USDC),
    side="buy",
    venues=["binance"],
    now_ns=0,
    quantity="1",
    limit_price="2000",
)
BAD_MAPPINGS = st.sampled_from(
    [
        "ETH",
        5,
        [("ETH", 1)],
        {"ETH": float("nan")},
        {"ETH": Decimal("NaN")},
        {"ETH": Decimal("-Infinity")},
        {"ETH": 0},
        {"ETH": -1},
        {"ETH": 1.5},
        {"ETH": "10"},
        {"ETH": None},
        {"": Decimal(1)},
        {1: Decimal(1)},
        {"E TH": Decimal(1)},
        {"ETH": Decimal("1e90")},
    ]
)
BAD_VENUE_SETS = st.sampled_from(["binance", b"binance", 5, [1], {""}, {None}, frozenset({1.5})])
BAD_CHAIN_SETS = st.sampled_from(
    ["1", 1, [0], [-1], [True], {1.5}, frozenset({"1"}), [2**64], {None}, [Decimal(1)]]
)
BAD_CURRENCIES = st.sampled_from([None, 1, "", "US DC", "usdc\n", "\u00e9", "x" * 40])


class View:
    """A risk view with nothing open and no position, unless told to answer otherwise."""

    def __init__(self, **answers: object) -> None:
        self.answers = answers

    def reference_price(self, instrument_id: str) -> Decimal | None:
        return self.answers.get("reference_price", Decimal(2000))  # type: ignore[return-value]

    def net_position(self, account: str, instrument_id: str) -> Decimal:
        return self.answers.get("net_position", Decimal(0))  # type: ignore[return-value]

    def asset_exposure(self, account: str, symbol: str) -> Decimal:
        return self.answers.get("asset_exposure", Decimal(0))  # type: ignore[return-value]

    def open_order_count(self) -> int:
        return self.answers.get("open_order_count", 0)  # type: ignore[return-value]

    def daily_realized_pnl(self, currency: str) -> Decimal:
        return self.answers.get("daily_realized_pnl", Decimal(0))  # type: ignore[return-value]


def _gated(**answers: object) -> object:
    limits = RiskLimits(
        max_position={"ETH": Decimal(10)}, max_daily_loss=Decimal(100), max_open_orders=5
    )
    return RiskGate(limits, clock=ManualClock(0)).check(INTENT, View(**answers))


def _gate(**kw: Any) -> RiskGate:
    return RiskGate(RiskLimits(), clock=ManualClock(0), **kw)


CASES: list[Case] = [
    *cases(
        "RiskLimits",
        RiskLimits,
        {},
        {
            "currency": BAD_CURRENCIES,
            "max_order_notional": given_(bad_decimal(gt=0)),
            "max_daily_loss": given_(bad_decimal(gt=0)),
            "max_slippage_bps": given_(bad_decimal(gt=0, le=10_000)),
            "price_collar_bps": given_(bad_decimal(gt=0)),
            "max_submits_per_second": given_(bad_decimal(gt=0, le=10**9)),
            "max_position": BAD_MAPPINGS,
            "max_open_orders": given_(bad_int(1)),
            "submit_burst": bad_int(1, 10**6),
            "allowed_venues": BAD_VENUE_SETS,
            "allowed_chains": BAD_CHAIN_SETS,
        },
    ),
    *cases(
        "TokenBucket",
        TokenBucket,
        {"rate_per_s": Decimal(10), "burst": 3, "now_ns": 0},
        {
            "rate_per_s": bad_decimal(gt=0, le=10**9),
            "burst": bad_int(1, 10**6),
            "now_ns": bad_int(0, MAX_NS),
        },
    ),
    *cases(
        "TokenBucket.take",
        lambda now_ns: TokenBucket(Decimal(10), 3, 0).take(now_ns),
        {},
        {"now_ns": bad_int(0, MAX_NS)},
    ),
    *cases(
        "TokenBucket.available",
        lambda now_ns: TokenBucket(Decimal(10), 3, 0).available(now_ns),
        {},
        {"now_ns": bad_int(0, MAX_NS)},
    ),
    *cases(
        "RiskGate",
        RiskGate,
        {"limits": RiskLimits(), "clock": ManualClock(0)},
        {
            "limits": not_a({"max_order_notional": 5}),
            "clock": not_a(0, ManualClock),
            "state": not_a("active", "halted"),
        },
    ),
    *cases(
        "RiskGate.set_trading_state",
        lambda state, reason: _gate().set_trading_state(state, reason),
        {"state": TradingState.HALTED, "reason": "kill switch"},
        {"state": not_a("halted"), "reason": st.sampled_from([None, 1, b"x", ["x"]])},
    ),
    *cases(
        "RiskGate.check",
        lambda intent: _gate().check(intent, View()),
        {},
        {"intent": not_a(INTENT.to_payload())},
    ),
    *cases(
        "RiskGate.check view",
        _gated,
        {},
        {
            "reference_price": given_(bad_decimal(gt=0)),
            "net_position": bad_decimal(),
            "asset_exposure": bad_decimal(),
            "open_order_count": bad_int(0),
            "daily_realized_pnl": bad_decimal(),
        },
    ),
    *cases(
        "RiskGate.check",
        lambda view: _gate().check(INTENT, view),
        {},
        {"view": not_a(View, INTENT)},
    ),
]


(
    test_a_bad_argument_is_refused_with_the_exact_error_naming_it,
    test_any_value_gives_a_result_or_an_oms_error_never_a_builtin_one,
) = case_tests(CASES)


@given(
    notional=st.integers(1, 10**12),
    slippage=st.decimals(min_value=Decimal("0.01"), max_value=10_000, places=2),
    chains=st.frozensets(st.integers(1, 2**63 - 1), max_size=3),
    burst=st.integers(1, 10**6),
)
def test_valid_limits_build_with_ints_taken_as_exact_decimals(
    notional: int, slippage: Decimal, chains: frozenset[int], burst: int
) -> None:
    limits = RiskLimits(
        max_order_notional=notional,  # type: ignore[arg-type]
        max_slippage_bps=slippage,
        allowed_chains=chains,
        allowed_venues=["binance"],  # type: ignore[arg-type]
        max_position={"ETH": 5},  # type: ignore[dict-item]
        submit_burst=burst,
    )
    assert limits.max_order_notional == Decimal(notional)
    assert isinstance(limits.max_order_notional, Decimal)
    assert limits.allowed_venues == frozenset({"binance"})
    assert limits.max_position == {"ETH": Decimal(5)}


def test_a_limit_given_as_a_plain_string_of_venues_is_refused_not_read_as_letters() -> None:
    # ``"b" in "binance"`` is True: a str where a set belongs would allow venue "b".
    with pytest.raises(InvalidInput, match="'allowed_venues' must be a set") as info:
        RiskLimits(allowed_venues="binance")  # type: ignore[arg-type]
    assert type(info.value) is InvalidInput


def test_valid_gate_still_accepts_an_intent_within_its_limits() -> None:
    gate = RiskGate(
        RiskLimits(max_order_notional=Decimal(5000), allowed_venues=frozenset({"binance"})),
        clock=ManualClock(0),
    )
    decision = gate.check(INTENT, View())
    assert decision.accepted and decision.notional == Decimal(2000)
