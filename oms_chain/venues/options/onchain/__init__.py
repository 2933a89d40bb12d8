"""The on-chain options venue: our ``OptionsMarket`` contract behind the
:class:`~oms_chain.venues.base.Venue` protocol.

* **Series** are discovered from the market's ``SeriesListed`` events (``eth_getLogs``) and
  mapped to :class:`~oms_chain.model.instruments.OptionContract`: strike in quote units per whole
  underlying, quantity in whole underlying (a 0.1 WETH contract is ``0.1``), prices in quote
  per whole underlying. The series id stays at the edge (:meth:`OnchainOptionsVenue.series_id`).
* **Orders** are RFQs: :meth:`~OnchainOptionsVenue.place` asks every configured maker over
  HTTP for a signed EIP-712 quote, checks each one itself (series, side, size, taker, deadline
  against chain time, the maker's current nonce, the signature against *this* chain id and
  market, the limit price) and the taker's funds and allowance, then fills the best one through
  the market. Nothing is sent unless every check passed.
* **Settlement** of the fill transaction is tracked like every on-chain order: the transaction
  is journaled between signing and broadcasting in the shared
  :class:`~oms_chain.venues.amm.account.ChainAccount` (sender, nonce journal, settlement
  tracker, order journal), so a process killed after sending finds it again on restart and
  never sends it twice; fills come from the receipt's ``QuoteFilled`` log.
* **Expiry**: :meth:`~OnchainOptionsVenue.settle_series` settles a series from the feed's first
  round after expiry, :meth:`~OnchainOptionsVenue.redeem` burns the longs for their payoff and
  :meth:`~OnchainOptionsVenue.withdraw` the shorts for the collateral left; each returns an
  :class:`~oms_chain.venues.options.types.OptionSettlement` with the exact amount received.

The package's modules follow those seams: :mod:`.series`, :mod:`.rfq`, :mod:`.orders`,
:mod:`.expiry`, put together in :mod:`.venue`; the quote encoding is shared with the devnet in
:mod:`oms_chain.venues.options.quotes`.
"""

from oms_chain.venues.options.onchain._base import OnchainOptionsConfig, SeriesListing
from oms_chain.venues.options.onchain.rfq import MakerQuote
from oms_chain.venues.options.onchain.venue import OnchainOptionsVenue

__all__ = ["MakerQuote", "OnchainOptionsConfig", "OnchainOptionsVenue", "SeriesListing"]
