"""Smart order routing: split one order across CEX books and AMM pools for the best net output.

Every venue becomes a :class:`LiquiditySource` (exact output for an input and its inverse, fixed
cost, minimum size, inventory and shared inventory group); :func:`route` returns a
:class:`RoutePlan` that maximizes net output for an exact input, :func:`route_exact_output` one
that minimizes net input for an exact output, each with the best single source and the 5 %-step
greedy split (:func:`greedy_split`) for comparison, and typed warnings (negative net output,
price impact over a bound) that a caller refuses unless allowed
(:meth:`RoutePlan.refuse_warnings`; an intent allows some with the algo parameter
:data:`ALLOW_WARNINGS_PARAM`). :func:`sources_for_pair` (a coroutine on an
:class:`~oms_chain.chain.rpc.RpcClient`) builds the sources of a chain's pools and two-hop
paths, :func:`source_from_exchange_book` one of a CEX book.
"""

from oms_chain.routing.baselines import best_single, greedy_split
from oms_chain.routing.live import source_from_exchange_book, sources_for_pair
from oms_chain.routing.optimizer import route, route_exact_output
from oms_chain.routing.plan import (
    ALLOW_WARNINGS_PARAM,
    DEFAULT_MAX_PRICE_IMPACT_BPS,
    EXACT_INPUT,
    EXACT_OUTPUT,
    WARNING_CODES,
    Baseline,
    NegativeNetOutput,
    PlanRefused,
    PlanWarning,
    PriceImpactAboveBound,
    RouteLeg,
    RoutePlan,
    allowed_warnings,
)
from oms_chain.routing.sources import (
    InputFunction,
    LiquiditySource,
    OutputFunction,
    OutputUnavailable,
)

__all__ = [
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
    "source_from_exchange_book",
    "sources_for_pair",
]
