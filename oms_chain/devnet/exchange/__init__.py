"""A local exchange speaking Binance's spot REST and websocket APIs, for unmodified ccxt clients.

Start one with :class:`ExchangeSimulator` (async) or :func:`run_in_thread` (sync), or from a shell
with ``python -m oms_chain.devnet.exchange``. Pieces: :class:`MatchingEngine` (price-time
priority, balances, fees, filters), market-maker / taker agents on a :class:`PriceBoard`, and
fault injection (dropped websockets, skipped depth ids, slow / failing / unanswered REST calls,
throttling) through Python methods or ``/_sim/`` admin endpoints.

Pointing unmodified ccxt at it (only public options and ``urls['api']`` change)::

    sim = await ExchangeSimulator(SimulatorConfig(seed=1)).start()
    sim.create_account("key", "secret", {"USDC": 100_000})
    exchange = ccxt.pro.binance({
        "apiKey": "key", "secret": "secret",
        "options": {"fetchCurrencies": False, "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]}},
    })
    exchange.urls["api"] = sim.binance_urls(exchange.urls["api"])  # REST and websockets

Spot user data reaches ccxt.pro through the WebSocket API (``/ws-api/v3``,
``userDataStream.subscribe.signature``); the legacy listenKey stream (``/ws/<listenKey>``) is
served too. ``binance_urls`` also points ``urls['api']['ws']['ws-api']`` here, so ccxt.pro's
``create_order_ws`` / ``cancel_order_ws`` / ``fetch_order_ws`` / ``edit_order_ws`` /
``fetch_open_orders_ws`` use the simulator's ``order.*`` / ``openOrders.*`` methods.

Beyond orders, books, trades and tickers it answers ``fetch_status`` (``/sapi/v1/system/status``),
``fetch_trading_fees`` (``/sapi/v1/asset/tradeFee``), ``edit_order``
(``/api/v3/order/cancelReplace``), ``STOP_LOSS_LIMIT`` / ``TAKE_PROFIT_LIMIT`` orders (triggered
by the last trade price) and ``watch_ohlcv`` (``<symbol>@kline_<interval>``). Prices can follow
an anchor (``SimulatorConfig(anchor=...)``, e.g. the devnet's pools through
:class:`oms_chain.devnet.pool_anchor.PoolAnchor`, or a :class:`StaticAnchor`).
"""

from oms_chain.devnet.exchange.agents import (
    AgentRunner,
    AnchoredPath,
    GbmPath,
    ListPath,
    MarketMaker,
    PriceAnchor,
    PriceBoard,
    PricePath,
    StaticAnchor,
    Taker,
)
from oms_chain.devnet.exchange.errors import ExchangeApiError
from oms_chain.devnet.exchange.faults import Faults, RestFault
from oms_chain.devnet.exchange.markets import DEFAULT_PRICES_USD, SymbolSpec, default_markets
from oms_chain.devnet.exchange.matching import (
    Account,
    MatchingEngine,
    Order,
    PlaceResult,
    Trade,
    check_invariants,
)
from oms_chain.devnet.exchange.simulator import (
    ExchangeSimulator,
    SimulatorConfig,
    SimulatorThread,
    run_in_thread,
)

__all__ = [
    "DEFAULT_PRICES_USD",
    "Account",
    "AgentRunner",
    "AnchoredPath",
    "ExchangeApiError",
    "ExchangeSimulator",
    "Faults",
    "GbmPath",
    "ListPath",
    "MarketMaker",
    "MatchingEngine",
    "Order",
    "PlaceResult",
    "PriceAnchor",
    "PriceBoard",
    "PricePath",
    "RestFault",
    "SimulatorConfig",
    "SimulatorThread",
    "StaticAnchor",
    "SymbolSpec",
    "Taker",
    "Trade",
    "check_invariants",
    "default_markets",
    "run_in_thread",
]
