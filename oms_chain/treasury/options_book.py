"""The treasury's view of the on-chain options market: listed series, the option positions the
Safe's executor holds, and signed RFQ quotes for it.

:class:`OptionBook` is the small interface the planner and the measurer need; :class:`MarketBook`
implements it on :class:`~oms_chain.venues.options.onchain.OnchainOptionsVenue` (series
discovery and positions, read-only: the venue is never started and never sends) plus an RFQ
round to the makers with the executor as taker. When option venues join the trading session,
this is the seam to swap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import aiohttp

from oms_chain.chain.registry import ChainInfo, chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.model.errors import InvalidInput, VenueRejected
from oms_chain.model.instruments import OptionContract
from oms_chain.model.intent import Side
from oms_chain.store import EventStore, open_store
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.options.onchain import (
    MakerQuote,
    OnchainOptionsConfig,
    OnchainOptionsVenue,
    SeriesListing,
)

__all__ = ["ExpiredPosition", "MarketBook", "OptionBook", "OptionHolding"]


@dataclass(frozen=True, slots=True)
class OptionHolding:
    """A signed number of whole-underlying option units held (short < 0), and for a short the
    ``collateral`` it locks in the market (whole units of ``collateral_symbol``): still the
    treasury's, paid back at expiry less the payoff."""

    contract: OptionContract
    quantity: Decimal
    collateral: Decimal = Decimal(0)
    collateral_symbol: str = ""


@dataclass(frozen=True, slots=True)
class ExpiredPosition:
    """A position of the executor in an expired series: ``contracts`` on-chain contracts, long
    (redeemed for the payoff) or short (withdrawn for the collateral left); ``settle``: the
    market's ``settle`` calldata when the series is not settled yet."""

    listing: SeriesListing
    contracts: int
    long: bool
    settle: bytes | None


class OptionBook(Protocol):
    """What the treasury reads from an options market."""

    def listings(self) -> Sequence[SeriesListing]:
        """Every listed series."""
        ...

    async def holdings(self) -> list[OptionHolding]:
        """The positions held by the treasury's executor."""
        ...

    async def quote(self, listing: SeriesListing, side: Side, contracts: int) -> MakerQuote:
        """The best signed quote for the treasury to ``side`` ``contracts`` of ``listing``."""
        ...


class MarketBook:
    """:class:`OptionBook` on our ``OptionsMarket``; use :meth:`open` (an async context)."""

    def __init__(self, venue: OnchainOptionsVenue, rpc: RpcClient, makers: Sequence[str]) -> None:
        self._venue = venue
        self._rpc = rpc
        self._makers = tuple(makers)
        self._series: list[SeriesListing] = []
        self._http: aiohttp.ClientSession | None = None
        self._scratch: EventStore | None = None

    @classmethod
    async def open(
        cls, rpc: RpcClient, chain_id: int, market: str, executor: str, makers: Sequence[str]
    ) -> MarketBook:
        """Discover the market's series for ``executor`` (the quotes' taker and holder)."""
        try:
            info = chain_info(chain_id)
        except InvalidInput:
            info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
        # a read-only account: the venue needs one to exist, it never signs here
        scratch = open_store("sqlite:///:memory:")
        reader = ChainAccount(rpc, info, LocalSigner("0x" + "11" * 32), scratch)
        # the venue wants a maker; with none configured (positions read only) it gets a URL that
        # is never asked: quote() below asks self._makers, which is empty then
        asked = tuple(makers) or ("http://127.0.0.1:1",)
        config = OnchainOptionsConfig(market=market, makers=asked, executor=executor)
        book = cls(OnchainOptionsVenue(reader, config), rpc, makers)
        book._scratch = scratch
        book._series = await book._venue.discover()
        book._http = aiohttp.ClientSession()
        return book

    async def close(self) -> None:
        """Close the RFQ session (and the reader's scratch store)."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None

    async def __aenter__(self) -> MarketBook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def executor(self) -> str:
        """The executor the quotes are for."""
        return self._venue.holder

    def listings(self) -> Sequence[SeriesListing]:
        """Every listed series (discovered at :meth:`open`)."""
        return tuple(self._series)

    async def holdings(self) -> list[OptionHolding]:
        """Longs and shorts of the executor in every series."""
        return [
            OptionHolding(p.contract, p.quantity, p.collateral, p.collateral_currency)
            for p in await self._venue.positions()
        ]

    async def expired(self) -> list[ExpiredPosition]:
        """The executor's positions in series expired by chain time, longs and shorts apart.

        Raises :class:`~oms_chain.model.errors.VenueRejected` when a series to settle has no
        feed round after its expiry yet (wait for the oracle)."""
        block = await self._rpc.get_block("latest")
        now_ns = int(block["timestamp"], 16) * 1_000_000_000 if block else 0
        out: list[ExpiredPosition] = []
        for p in await self._venue.positions():
            if p.contract.expiry_ns > now_ns:
                continue
            listing = self._venue.listing(p.contract)
            contracts = int((abs(p.quantity) / listing.unit).to_integral_value())
            settle = await self._venue.settlement_call(p.contract)
            out.append(ExpiredPosition(listing, contracts, p.quantity > 0, settle))
        return out

    async def quote(self, listing: SeriesListing, side: Side, contracts: int) -> MakerQuote:
        """RFQ every maker for the executor; the best valid answer (fields checked here, the
        signature by the market when the batch runs). Raises :class:`VenueRejected` with each
        maker's reason when none quotes."""
        assert self._http is not None, "open() the book first"
        body = {
            "series_id": listing.series_id,
            "side": side.value,
            "size": contracts,
            "taker": self.executor,
        }

        async def one(url: str) -> MakerQuote | str:
            try:
                async with self._http.post(  # type: ignore[union-attr]
                    url.rstrip("/") + "/rfq", json=body, timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    data = await resp.json(content_type=None)
                    if resp.status != 200 or not isinstance(data, dict) or "quote" not in data:
                        return (
                            f"{url}: {data.get('error') if isinstance(data, dict) else resp.status}"
                        )
                    q = MakerQuote.from_json(url, data["quote"], str(data["signature"]))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                return f"{url}: no answer ({type(exc).__name__})"
            except InvalidInput as exc:
                return str(exc)
            if q.series_id != listing.series_id or q.maker_sells is not (side is Side.BUY):
                return f"{url}: quote for another series or side"
            if q.size < contracts or q.taker.lower() != self.executor.lower():
                return f"{url}: quote for {q.size} contracts / taker {q.taker}"
            return q

        answers = await asyncio.gather(*(one(u) for u in self._makers))
        good = [a for a in answers if isinstance(a, MakerQuote)]
        if not good:
            reasons = "; ".join(a for a in answers if isinstance(a, str)) or "no maker configured"
            raise VenueRejected(f"no quote for series {listing.series_id}: {reasons}")
        return min(good, key=lambda q: q.premium if side is Side.BUY else -q.premium)
