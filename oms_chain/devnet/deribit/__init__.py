"""A local options exchange speaking Deribit's API v2, for unmodified ``ccxt.deribit``.

JSON-RPC over HTTP (``/api/v2/...``) and a websocket (``/ws/api/v2``): ``public/auth``,
instruments, tickers with mark IV and Greeks, order books, book summaries, orders (buy, sell,
edit, cancel), open orders, fills, positions and account summaries in Deribit's standard margin,
and the ``book.*`` / ``user.orders.*`` / ``user.trades.*`` subscriptions. Options on ETH and BTC
(premiums in the underlying) and the inverse perpetuals, matched by the Binance simulator's
:class:`~oms_chain.devnet.exchange.MatchingEngine`; a market maker quotes around a volatility
surface (a small Black-76 here until ``oms_chain.risk.pricing`` replaces it), the index follows
the devnet, and expired options are delivered at a delivery price.

Pointing unmodified ccxt at it (only ``urls['api']`` changes)::

    sim = await DeribitSimulator(DeribitConfig(seed=1)).start()
    sim.create_account("key", "secret", {"ETH": 100, "BTC": 10})
    exchange = ccxt.pro.deribit({"apiKey": "key", "secret": "secret"})
    exchange.urls["api"] = sim.deribit_urls()
"""

from oms_chain.devnet.deribit.agents import QuotingMaker
from oms_chain.devnet.deribit.errors import DeribitApiError
from oms_chain.devnet.deribit.exchange import DEFAULT_INDEX_USD, DeribitExchange, OrderRecord
from oms_chain.devnet.deribit.instruments import (
    Instrument,
    default_expiries,
    default_instruments,
    option_name,
)
from oms_chain.devnet.deribit.ledger import DeribitAccount, Position
from oms_chain.devnet.deribit.marks import VolSurface
from oms_chain.devnet.deribit.simulator import (
    DeribitConfig,
    DeribitSimulator,
    DeribitThread,
    run_deribit_in_thread,
)

__all__ = [
    "DEFAULT_INDEX_USD",
    "DeribitAccount",
    "DeribitApiError",
    "DeribitConfig",
    "DeribitExchange",
    "DeribitSimulator",
    "DeribitThread",
    "Instrument",
    "OrderRecord",
    "Position",
    "QuotingMaker",
    "VolSurface",
    "default_expiries",
    "default_instruments",
    "option_name",
    "run_deribit_in_thread",
]
