"""Service surfaces over the engine: :class:`TradingSession` wires the engine to real venues
(Uniswap pools on each chain, an exchange through ccxt) for scripts and the ``oms`` command."""

from oms_chain.service.endpoints import ChainEndpoint, ExchangeEndpoint, local_exchange_urls
from oms_chain.service.session import SessionTimeout, TradingSession, is_settled

__all__ = [
    "ChainEndpoint",
    "ExchangeEndpoint",
    "SessionTimeout",
    "TradingSession",
    "is_settled",
    "local_exchange_urls",
]
