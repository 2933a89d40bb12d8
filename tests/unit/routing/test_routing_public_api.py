"""The public API of oms_chain.routing is exactly what ``__all__`` lists."""

from __future__ import annotations

import oms_chain.routing as routing


def test_public_api() -> None:
    assert set(routing.__all__) == {
        "Baseline",
        "LiquiditySource",
        "OutputFunction",
        "RouteLeg",
        "RoutePlan",
        "best_single",
        "greedy_split",
        "route",
    }
    for name in routing.__all__:
        assert getattr(routing, name) is not None
