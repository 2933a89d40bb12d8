"""Smart order routing: split one order across CEX books and AMM pools for the best net output.

Every venue becomes a :class:`LiquiditySource` (exact output for an input, fixed cost, minimum
size, inventory); :func:`route` returns a :class:`RoutePlan` that maximizes net output, with the
best single source and the 5 %-step greedy split (:func:`greedy_split`) for comparison.
"""

from oms_chain.routing.baselines import best_single, greedy_split
from oms_chain.routing.optimizer import route
from oms_chain.routing.plan import Baseline, RouteLeg, RoutePlan
from oms_chain.routing.sources import LiquiditySource, OutputFunction

__all__ = [
    "Baseline",
    "LiquiditySource",
    "OutputFunction",
    "RouteLeg",
    "RoutePlan",
    "best_single",
    "greedy_split",
    "route",
]
