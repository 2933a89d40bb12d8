"""Textbook max profit / max loss / breakevens of every builder (size 1 unless stated).

Max loss is reported as a positive amount; ``None`` means unbounded.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from _strategies_fixtures import EXPIRY, SERIES

from oms_chain.model.instruments import OptionKind
from oms_chain.strategies import (
    Direction,
    Side,
    Structure,
    bear_call_spread,
    bear_put_spread,
    bull_call_spread,
    bull_put_spread,
    butterfly,
    collar,
    condor,
    iron_butterfly,
    iron_condor,
    payoff_summary,
    ratio_spread,
    risk_reversal,
    straddle,
    strangle,
)

E = EXPIRY

CASES: list[tuple[str, Structure, D, D | None, D | None, tuple[D, ...]]] = [
    # name, structure, net premium (debit > 0), max profit, max loss, breakevens
    ("long straddle", straddle(SERIES, E, 2000, 1), D(150), None, D(150), (D(1850), D(2150))),
    (
        "short straddle",
        straddle(SERIES, E, 2000, 1, direction=Direction.SHORT),
        D(-150),
        D(150),
        None,
        (D(1850), D(2150)),
    ),
    ("long strangle", strangle(SERIES, E, 1900, 2100, 1), D(80), None, D(80), (D(1820), D(2180))),
    ("bull call", bull_call_spread(SERIES, E, 2000, 2200, 1), D(70), D(130), D(70), (D(2070),)),
    ("bear call", bear_call_spread(SERIES, E, 2000, 2200, 1), D(-70), D(70), D(130), (D(2070),)),
    ("bull put", bull_put_spread(SERIES, E, 2000, 2200, 1), D(-120), D(120), D(80), (D(2080),)),
    ("bear put", bear_put_spread(SERIES, E, 2000, 2200, 1), D(120), D(80), D(120), (D(2080),)),
    (
        "call butterfly",
        butterfly(SERIES, E, (1900, 2000, 2100), 1),
        D(30),
        D(70),
        D(30),
        (D(1930), D(2070)),
    ),
    (
        "put butterfly",
        butterfly(SERIES, E, (1900, 2000, 2100), 1, option_kind=OptionKind.PUT),
        D(30),
        D(70),
        D(30),
        (D(1930), D(2070)),
    ),
    (
        "condor",
        condor(SERIES, E, (1800, 1900, 2100, 2200), 1),
        D(40),
        D(60),
        D(40),
        (D(1840), D(2160)),
    ),
    (
        "iron condor",
        iron_condor(SERIES, E, (1800, 1900, 2100, 2200), 1),
        D(-40),
        D(40),
        D(60),
        (D(1860), D(2140)),
    ),
    (
        "iron butterfly",
        iron_butterfly(SERIES, E, (1900, 2000, 2100), 1),
        D(-70),
        D(70),
        D(30),
        (D(1930), D(2070)),
    ),
    # the option legs alone: the put pays down to S = 0, the short call loses without bound
    ("collar legs", collar(SERIES, E, 1900, 2100, 1), D(10), D(1890), None, (D(1890),)),
    # zero-cost: P&L is 0 from 1900 to 2100, both ends reported
    (
        "risk reversal",
        risk_reversal(SERIES, E, 1900, 2100, 1),
        D(0),
        None,
        D(1900),
        (D(1900), D(2100)),
    ),
    (
        "call ratio 1x2",
        ratio_spread(SERIES, E, 2000, 2100, 1),
        D(-10),
        D(110),
        None,
        (D(2210),),
    ),
    (
        "put ratio 1x2",
        ratio_spread(SERIES, E, 2000, 1900, 1, option_kind=OptionKind.PUT),
        D(0),
        D(100),
        D(1800),
        (D(1800), D(2000)),
    ),
]


@pytest.mark.parametrize(
    ("structure", "premium", "profit", "loss", "breakevens"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_textbook_max_profit_max_loss_and_breakevens(
    structure: Structure,
    premium: D,
    profit: D | None,
    loss: D | None,
    breakevens: tuple[D, ...],
) -> None:
    s = payoff_summary(structure, net_premium=premium)
    assert s.exact
    assert s.max_profit == profit
    assert s.max_loss == loss
    assert s.breakevens == breakevens
    assert s.max_profit_unbounded is (profit is None)
    assert s.max_loss_unbounded is (loss is None)


def test_size_scales_every_figure_but_not_the_breakevens() -> None:
    s = payoff_summary(iron_condor(SERIES, E, (1800, 1900, 2100, 2200), "2.5"), net_premium=-100)
    assert (s.max_profit, s.max_loss, s.breakevens) == (D(100), D(150), (D(1860), D(2140)))


def test_iron_condor_legs_in_order() -> None:
    ic = iron_condor(SERIES, E, (1800, 1900, 2100, 2200), 1)
    assert [(leg.side, leg.contract.option_kind, leg.contract.strike) for leg in ic.legs] == [
        (Side.BUY, OptionKind.PUT, D(1800)),
        (Side.SELL, OptionKind.PUT, D(1900)),
        (Side.SELL, OptionKind.CALL, D(2100)),
        (Side.BUY, OptionKind.CALL, D(2200)),
    ]
    assert ic.legs[0].describe() == "buy 1 ETH-15JAN27-1800-P"
