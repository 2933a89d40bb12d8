"""Building the options venues from what a session knows (the hook for ``TradingSession``):
a Deribit-protocol exchange's REST URL and credentials, or a chain's shared account, address
book and RFQ makers."""

from __future__ import annotations

from collections.abc import Sequence

from oms_chain.chain.addressbook import AddressBook
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.cex import CcxtVenueConfig
from oms_chain.venues.options.deribit import DeribitOptionsConfig, DeribitOptionsVenue
from oms_chain.venues.options.onchain import OnchainOptionsConfig, OnchainOptionsVenue

__all__ = ["deribit_options_venue", "onchain_options_venue"]


def deribit_options_venue(
    *,
    name: str = "deribit",
    rest_url: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
    currencies: Sequence[str] = ("ETH",),
    sandbox: bool = False,
    clock: Clock | None = None,
) -> DeribitOptionsVenue:
    """The ccxt options venue (not started): ``rest_url`` points ccxt at a local
    Deribit-protocol server (its websocket at ``/ws/api/v2``); ``sandbox`` uses Deribit's
    testnet; neither means production Deribit.

    Raises:
        InvalidInput / ConfigError: bad URL or settings.
    """
    urls = None
    if rest_url is not None:
        if not rest_url.startswith(("http://", "https://")):
            raise InvalidInput(f"rest_url must be an http(s) URL, got {rest_url!r}")
        base = rest_url.rstrip("/")
        urls = {"rest": base, "ws": "ws" + base[4:] + "/ws/api/v2"}
    cfg = DeribitOptionsConfig(
        ccxt=CcxtVenueConfig(
            exchange="deribit",
            venue_id=name,
            api_key=api_key,
            secret=secret,
            urls=urls,
            sandbox=sandbox,
        ),
        currencies=tuple(currencies),
    )
    return DeribitOptionsVenue(cfg, clock=clock)


def onchain_options_venue(
    account: ChainAccount,
    book: AddressBook,
    makers: Sequence[str],
    *,
    venue_id: str | None = None,
    executor: str | None = None,
) -> OnchainOptionsVenue:
    """The on-chain options venue (not started) on the ``OptionsMarket`` of ``book``, sharing
    ``account`` with the chain's other venues.

    Raises:
        InvalidInput: the book names no ``OptionsMarket``, or bad makers / executor.
    """
    if "OptionsMarket" not in book.contracts:
        raise InvalidInput(
            f"the address book of chain {book.chain_id} names no OptionsMarket; add its address"
        )
    cfg = OnchainOptionsConfig(
        market=book.contracts["OptionsMarket"],
        makers=tuple(makers),
        venue_id=venue_id,
        executor=executor,
    )
    return OnchainOptionsVenue(account, cfg)
