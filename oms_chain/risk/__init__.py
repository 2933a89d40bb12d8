"""Risk: the pre-trade gate (limits, kill switch) and, in later modules, pricing and Greeks."""

from oms_chain.risk.limits import (
    CheckResult,
    RiskDecision,
    RiskGate,
    RiskLimits,
    RiskView,
    TokenBucket,
    TradingState,
)

__all__ = [
    "CheckResult",
    "RiskDecision",
    "RiskGate",
    "RiskLimits",
    "RiskView",
    "TokenBucket",
    "TradingState",
]
