"""The options venues of a :class:`~oms_chain.service.session.TradingSession`: the on-chain
``OptionsMarket`` of every chain that has one and RFQ makers to ask (sharing the chain's
account with its Uniswap venues), and a Deribit-protocol exchange through ccxt; built through
the hooks of :mod:`oms_chain.venues.options.factory`. Also how a series name the user typed
(``ETH-11DEC26-3000-P``, an on-chain series id) becomes one venue's option contract."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from oms_chain.chain.addressbook import load_address_book
from oms_chain.engine import OmsConfig
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.model.instruments import OptionContract
from oms_chain.service.endpoints import ChainEndpoint, ExchangeEndpoint
from oms_chain.venues.amm import UniswapVenues
from oms_chain.venues.options import (
    DeribitOptionsVenue,
    OnchainOptionsVenue,
    deribit_options_venue,
    onchain_options_venue,
)

__all__ = [
    "OptionVenue",
    "find_option",
    "open_option_venues",
    "options_exchange_from_runtime",
    "options_from_config",
]

OptionVenue = OnchainOptionsVenue | DeribitOptionsVenue

_NAME = re.compile(r"^([A-Z]+)-(\d{1,2}[A-Z]{3}\d{2})-(\d+(?:\.\d+)?)-([CP])$")
#: underlyings spelled either way (Deribit trades ETH, the chain its wrapped ERC-20)
_CANONICAL = {"WETH": "ETH", "WBTC": "BTC"}


def options_exchange_from_runtime(
    runtime: Mapping[str, Any], *, account: int
) -> ExchangeEndpoint | None:
    """The Deribit-protocol exchange of a devnet runtime JSON (client id / secret pair
    ``account``), or ``None`` when the devnet runs none.

    Raises:
        InvalidInput: the runtime's ``deribit`` entry is malformed or lacks that account.
    """
    world = runtime.get("chains", runtime)
    dx = world.get("deribit") if isinstance(world, Mapping) else None
    if not dx:
        return None
    try:
        creds = dx["accounts"][account]
        return ExchangeEndpoint(
            exchange="deribit",
            venue_id="deribit",
            api_key=str(creds["client_id"]),
            secret=str(creds["client_secret"]),
            rest_url=str(dx["rest_url"]),
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise InvalidInput(f"devnet runtime JSON: malformed 'deribit' entry ({exc!r})") from None


def options_from_config(
    config: OmsConfig, env: Mapping[str, str], chains: Sequence[ChainEndpoint]
) -> tuple[list[ChainEndpoint], ExchangeEndpoint | None]:
    """``chains`` with the RFQ makers of the config's on-chain ``kind = "options"`` venues
    (named by the venue: ``options_venue_id``), and the first Deribit-protocol options
    exchange (``exchange = "deribit"``; credentials from ``env``), or ``None``.

    Raises:
        ConfigError: a credential variable of the exchange is not set.
    """
    ids = {c.name: c.chain_id for c in config.chains}
    makers: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    exchange: ExchangeEndpoint | None = None
    for v in config.venues:
        if v.kind != "options":
            continue
        if v.exchange is None:
            cid = ids[str(v.chain)]
            makers.setdefault(cid, []).extend(v.makers)
            names.setdefault(cid, v.name)
        elif exchange is None:
            creds = v.credentials(env)
            exchange = ExchangeEndpoint(
                exchange="deribit",
                venue_id=v.name,
                api_key=creds["api_key"].reveal() if "api_key" in creds else None,
                secret=creds["secret"].reveal() if "secret" in creds else None,
                rest_url=v.rest_url,
                sandbox=v.testnet,
                live=v.live,
            )
    out = [
        dataclasses.replace(
            c,
            option_makers=tuple(makers.get(c.chain_id, ())),
            options_venue_id=names.get(c.chain_id),
        )
        for c in chains
    ]
    return out, exchange


async def open_option_venues(
    chains: Sequence[ChainEndpoint],
    uniswap: Mapping[int, UniswapVenues],
    exchange: ExchangeEndpoint | None,
    clock: Clock,
) -> list[OptionVenue]:
    """Start the on-chain options venue of every chain with RFQ makers (``option_makers``)
    whose address book names an ``OptionsMarket``, and the Deribit-protocol venue of
    ``exchange``. On failure the venues already started are closed again.

    Raises:
        InvalidInput: a chain with makers but no market; VenueUnavailable: a venue does not
            answer.
    """
    out: list[OptionVenue] = []
    try:
        for c in chains:
            if not c.option_makers:
                continue
            uni = uniswap[c.chain_id]
            book = c.book or load_address_book(c.chain_id)
            venue = onchain_options_venue(
                uni.account, book, c.option_makers, venue_id=c.options_venue_id
            )
            await venue.start()
            out.append(venue)
        if exchange is not None:
            if exchange.reaches_production and not exchange.live:
                raise InvalidInput(
                    f"options exchange {exchange.venue_id!r} would trade real money on "
                    f"{exchange.rest_url or 'Deribit'}; set live = true on the venue to confirm, "
                    "or testnet = true for Deribit's testnet"
                )
            dvenue = deribit_options_venue(
                name=exchange.venue_id or "deribit",
                rest_url=exchange.rest_url,
                api_key=exchange.api_key,
                secret=exchange.secret,
                sandbox=exchange.sandbox,
                clock=clock,
            )
            await dvenue.start()
            out.append(dvenue)
    except BaseException:
        for v in out:
            await v.close()
        raise
    return out


def find_option(
    venues: Sequence[OptionVenue], series: str, venue: str | None = None
) -> tuple[OptionContract, str]:
    """``(contract, venue id)`` of ``series`` on one of ``venues`` (``venue`` if given): a
    Deribit-style name ``ETH-11DEC26-3000-P`` (ETH / WETH and BTC / WBTC alike, any case) on
    any options venue, or an on-chain series id (digits) on an on-chain venue.

    Raises:
        InvalidInput: bad name, unknown venue, or no such series (the message lists a few).
    """
    if not isinstance(series, str) or not series.strip():
        raise InvalidInput(f"series must be a name like ETH-11DEC26-3000-P, got {series!r}")
    text = series.strip().upper()
    pool = [v for v in venues if venue is None or str(v.venue_id) == venue]
    if venue is not None and not pool:
        known = ", ".join(str(v.venue_id) for v in venues) or "none"
        raise InvalidInput(
            f"venue {venue!r} is not an options venue of this session; known: {known}"
        )
    if not pool:
        raise InvalidInput("this session has no options venue (no RFQ maker, no Deribit exchange)")
    if text.isdigit():
        for v in pool:
            if isinstance(v, OnchainOptionsVenue):
                try:
                    return v.contract(int(text)), str(v.venue_id)
                except OmsError:
                    continue
        raise InvalidInput(f"no on-chain options venue lists series id {text}")
    if _NAME.match(text) is None:
        raise InvalidInput(
            f"series {series!r} is not a name like ETH-11DEC26-3000-P (underlying-DDMMMYY-"
            "strike-C/P) nor an on-chain series id"
        )
    wanted = _key(text)
    seen: list[str] = []
    for v in pool:
        for c in v.instruments():
            if not isinstance(c, OptionContract):
                continue
            if _key(c.symbol.upper()) == wanted:
                return c, str(v.venue_id)
            seen.append(v.venue_name(c) if isinstance(v, DeribitOptionsVenue) else c.symbol)
    some = ", ".join(sorted(set(seen))[:6])
    raise InvalidInput(f"no options venue lists {series!r}; listed are e.g. {some or 'nothing'}")


def _key(name: str) -> tuple[str, int, str, Decimal, str] | None:
    """A name's (underlying, day, month+year, strike, C/P), ETH and WETH alike, ``4DEC26`` and
    ``04DEC26`` alike."""
    m = _NAME.match(name)
    if m is None:
        return None
    under, day, strike, kind = m.groups()
    under = _CANONICAL.get(under, under)
    return under, int(day[:-5]), day[-5:], Decimal(strike), kind
