"""Multi-leg option strategies: builders of validated structures and their analytics before
trading (net premium, payoff at expiry, max profit / loss, breakevens, Greeks, margin).

Pure values and math, no I/O, plus the pre-trade gate of a structure as a whole
(:func:`check_structure`). Structures are executed by :mod:`oms_chain.service.structures`
(all legs on the on-chain market in one transaction, :mod:`oms_chain.venues.options.batch`).
"""

from oms_chain.strategies.analytics import (
    LegGreeks,
    LegPremium,
    LegQuote,
    NetPremium,
    StructureGreeks,
    net_premium,
    structure_greeks,
    structure_holdings,
    structure_margin,
)
from oms_chain.strategies.builders import (
    Direction,
    OptionSeries,
    bear_call_spread,
    bear_put_spread,
    bull_call_spread,
    bull_put_spread,
    butterfly,
    calendar_spread,
    collar,
    condor,
    custom,
    diagonal_spread,
    iron_butterfly,
    iron_condor,
    ratio_spread,
    risk_reversal,
    straddle,
    strangle,
)
from oms_chain.strategies.chart import payoff_chart_png
from oms_chain.strategies.gate import (
    StructureCheck,
    StructureLimitExceeded,
    StructureLimits,
    check_structure,
)
from oms_chain.strategies.payoff import (
    ExpiryValuation,
    PayoffRow,
    PayoffSummary,
    leg_payoff,
    payoff_summary,
    payoff_table,
    price_grid,
)
from oms_chain.strategies.structure import InvalidStructure, Leg, Side, Structure

__all__ = [
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
]
