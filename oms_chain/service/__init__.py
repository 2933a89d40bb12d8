"""Service surfaces over the engine: :class:`TradingSession` wires the engine to real venues
(Uniswap pools on each chain, an exchange through ccxt) for scripts and the ``oms`` command."""

from oms_chain.service.endpoints import (
    ChainEndpoint,
    ExchangeEndpoint,
    SafeOwners,
    ThresholdGroup,
    local_exchange_urls,
)
from oms_chain.service.hedger import Hedger, HedgeStatus, engine_holdings
from oms_chain.service.risk_monitor import MONITOR_STREAM, RiskMonitor, WebhookSender, quote_feed
from oms_chain.service.session import SessionTimeout, TradingSession, is_settled
from oms_chain.service.worker import LeaseFence, Worker, WorkerStats

__all__ = [
    "MONITOR_STREAM",
    "ChainEndpoint",
    "ExchangeEndpoint",
    "HedgeStatus",
    "Hedger",
    "LeaseFence",
    "RiskMonitor",
    "SafeOwners",
    "SessionTimeout",
    "ThresholdGroup",
    "TradingSession",
    "WebhookSender",
    "Worker",
    "WorkerStats",
    "engine_holdings",
    "is_settled",
    "local_exchange_urls",
    "quote_feed",
]
