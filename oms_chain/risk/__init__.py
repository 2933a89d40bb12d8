"""Risk: the pre-trade gate (limits, kill switch), and portfolio risk: Greeks by underlying,
VaR / ES, portfolio margin and liquidation prices, alert rules (pure, vectorized; option pricing
in ``risk.pricing``).
"""

from oms_chain.risk.alerts import (
    Alert,
    AlertRule,
    AlertState,
    Metric,
    RiskReading,
    evaluate_alerts,
    metric_value,
)
from oms_chain.risk.hedging import (
    HedgeDecision,
    HedgePolicy,
    HedgeState,
    ScalpLedger,
    decide_hedge,
)
from oms_chain.risk.history import closes_from_klines, load_price_history, price_history_from_klines
from oms_chain.risk.holdings import Holding
from oms_chain.risk.limits import (
    CheckResult,
    RiskDecision,
    RiskGate,
    RiskLimits,
    RiskView,
    TokenBucket,
    TradingState,
)
from oms_chain.risk.liquidation import (
    LiquidationResult,
    liquidation_price,
    liquidation_prices,
    position_liquidation_price,
)
from oms_chain.risk.margin import (
    MarginResult,
    Scenario,
    SegmentMargin,
    VenueMargin,
    VenueMarginRule,
    portfolio_margin,
    venue_margin,
)
from oms_chain.risk.margin_config import PortfolioMarginConfig
from oms_chain.risk.market import NS_PER_YEAR, MarketSnapshot, VolFunction
from oms_chain.risk.portfolio import PortfolioRisk, UnderlyingRisk, portfolio_risk
from oms_chain.risk.var import (
    KupiecResult,
    VarResult,
    historical_var,
    kupiec_pof,
    monte_carlo_var,
    parametric_var,
    var_backtest,
    var_es,
)

__all__ = [
    "NS_PER_YEAR",
    "Alert",
    "AlertRule",
    "AlertState",
    "CheckResult",
    "HedgeDecision",
    "HedgePolicy",
    "HedgeState",
    "Holding",
    "KupiecResult",
    "LiquidationResult",
    "MarginResult",
    "MarketSnapshot",
    "Metric",
    "PortfolioMarginConfig",
    "PortfolioRisk",
    "RiskDecision",
    "RiskGate",
    "RiskLimits",
    "RiskReading",
    "RiskView",
    "ScalpLedger",
    "Scenario",
    "SegmentMargin",
    "TokenBucket",
    "TradingState",
    "UnderlyingRisk",
    "VarResult",
    "VenueMargin",
    "VenueMarginRule",
    "VolFunction",
    "closes_from_klines",
    "decide_hedge",
    "evaluate_alerts",
    "historical_var",
    "kupiec_pof",
    "liquidation_price",
    "liquidation_prices",
    "load_price_history",
    "metric_value",
    "monte_carlo_var",
    "parametric_var",
    "portfolio_margin",
    "portfolio_risk",
    "position_liquidation_price",
    "price_history_from_klines",
    "var_backtest",
    "var_es",
    "venue_margin",
]
