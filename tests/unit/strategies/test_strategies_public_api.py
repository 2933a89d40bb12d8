"""The public API of oms_chain.strategies is exactly what ``__all__`` lists."""

from __future__ import annotations

import oms_chain.strategies as strategies


def test_public_api() -> None:
    assert set(strategies.__all__) == {
        "Direction",
        "ExpiryValuation",
        "InvalidStructure",
        "Leg",
        "LegGreeks",
        "LegPremium",
        "LegQuote",
        "NetPremium",
        "OptionSeries",
        "PayoffRow",
        "PayoffSummary",
        "Side",
        "Structure",
        "StructureCheck",
        "StructureGreeks",
        "StructureLimitExceeded",
        "StructureLimits",
        "bear_call_spread",
        "bear_put_spread",
        "bull_call_spread",
        "bull_put_spread",
        "butterfly",
        "calendar_spread",
        "check_structure",
        "collar",
        "condor",
        "custom",
        "diagonal_spread",
        "iron_butterfly",
        "iron_condor",
        "leg_payoff",
        "net_premium",
        "payoff_chart_png",
        "payoff_summary",
        "payoff_table",
        "price_grid",
        "ratio_spread",
        "risk_reversal",
        "straddle",
        "strangle",
        "structure_greeks",
        "structure_holdings",
        "structure_margin",
    }
    for name in strategies.__all__:
        assert getattr(strategies, name) is not None
