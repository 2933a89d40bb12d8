"""The public API of oms_chain.routing is exactly what ``__all__`` lists."""

from __future__ import annotations

import oms_chain.routing as routing


def test_public_api() -> None:
    assert set(routing.__all__) == {
        "ALLOW_WARNINGS_PARAM",
        "DEFAULT_MAX_PRICE_IMPACT_BPS",
        "EXACT_INPUT",
        "EXACT_OUTPUT",
        "WARNING_CODES",
        "Baseline",
        "InputFunction",
        "LiquiditySource",
        "NegativeNetOutput",
        "OutputFunction",
        "OutputUnavailable",
        "PlanRefused",
        "PlanWarning",
        "PriceImpactAboveBound",
        "RouteLeg",
        "RoutePlan",
        "allowed_warnings",
        "best_single",
        "greedy_split",
        "route",
        "route_exact_output",
        "sources_for_pair",
        "source_from_exchange_book",
    }
    for name in routing.__all__:
        assert getattr(routing, name) is not None
