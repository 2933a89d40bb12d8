"""Uniswap V2 and V3 venues: :class:`~oms_chain.venues.base.Venue` adapters that swap through the
real routers (Router02, SwapRouter) and report settlement through confirmations and reorgs.

One venue = one protocol deployment on one chain + a route (one pool or several, base to quote)
per instrument, under its own ``venue_id`` (three V3 fee tiers can be three venues). Every venue
of one signer on one chain shares a :class:`~oms_chain.venues.amm.account.ChainAccount`: nonces,
settlement tracker, polling and order journal.

Execution: SELL ``quantity`` base = exact input (``exactInputSingle`` / ``exactInput`` /
``swapExactTokensForTokens``) with a minimum output; BUY = exact output (``exactOutputSingle`` /
``exactOutput`` / ``swapTokensForExactTokens``) with a maximum input. The bound comes from the
order's limit price, else from the exact off-chain quote and the slippage allowance. Each
transaction is simulated before signing; a revert is a :class:`VenueRejected` with the router's
reason and nothing is sent.

Reports: ``place`` answers ``OPEN`` / ``submitted`` (``venue_order_id`` = transaction hash). Then,
through :meth:`events`: ``FILLED`` with one fill per inclusion (trade id
``<tx hash>@<block hash>``, price from the wallet's Transfer logs, fee = gas in the native asset)
while the transaction is included / confirmed / final; ``OPEN`` / ``reorged`` without fills when
its block leaves the chain; ``REJECTED`` when it reverted on chain; ``EXPIRED`` when it was
dropped or its deadline passed; ``CANCELLED`` when a cancellation took its nonce.

Pool state comes from :mod:`~oms_chain.venues.amm._states` (a pool follower checked at the
latest block). This module is the public face; the seams live in their own modules: the order
journal (:mod:`~oms_chain.venues.amm.journal`), pricing (``_pricing``), receipts to reports
(``_reports``), placing and settling (``_orders``), and the V2 / V3 venues (``v2_venue``,
``v3_venue``).
"""

from oms_chain.venues.amm._config import AmmVenueConfig, SwapPath
from oms_chain.venues.amm._config import _Swap as _Swap  # tests build swaps by hand
from oms_chain.venues.amm.v2_venue import UniswapV2Venue
from oms_chain.venues.amm.v3_venue import UniswapV3Venue

__all__ = ["AmmVenueConfig", "SwapPath", "UniswapV2Venue", "UniswapV3Venue"]
