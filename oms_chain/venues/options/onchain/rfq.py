"""RFQ of the on-chain options venue: every maker is asked over HTTP for a signed EIP-712
quote (:class:`MakerQuote`), each answer is checked against the chain (series, side, size,
taker, deadline against chain time, the maker's nonce, what the market still lets fill, the
signature for *this* chain and market, the limit), and the best fillable one is chosen; also the
venue's prices (:meth:`quote`, :meth:`liquidity`), which are RFQs that fill nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import aiohttp
from eth_utils import is_address, to_checksum_address

from oms_chain.chain.rpc import RpcError
from oms_chain.model.errors import InvalidInput, VenueRejected
from oms_chain.model.ids import ClientOrderId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.venues.amm._calls import encode_call, eth_call
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel, PlaceOrder, Quote
from oms_chain.venues.options.onchain._base import _PREC, _ZERO, SeriesListing
from oms_chain.venues.options.onchain.series import _Series
from oms_chain.venues.options.quotes import (
    ERC1271_MAGIC,
    REMAINING,
    quote_digest,
    quote_json,
    quote_tuple,
    recovers_to,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MakerQuote:
    """A maker's signed quote as received (integers in base units) and where it came from."""

    source: str
    maker: str
    taker: str
    series_id: int
    maker_sells: bool
    size: int
    premium: int
    deadline: int
    nonce: int
    allow_partial: bool
    salt: int
    signature: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple, in the contract's field order."""
        return quote_tuple(self)

    def to_json(self) -> dict[str, Any]:
        """The quote as the maker sent it, with its source and signature."""
        return {
            "source": self.source,
            **quote_json(self),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, source: str, data: Mapping[str, Any], signature: str) -> MakerQuote:
        """Parse a maker's answer; raises :class:`InvalidInput` naming the bad field."""
        try:
            maker, taker = str(data["maker"]), str(data["taker"])
            if not (is_address(maker) and is_address(taker)):
                raise InvalidInput("maker / taker are not addresses")
            sig = bytes.fromhex(signature.removeprefix("0x"))
            out = cls(
                source=source,
                maker=to_checksum_address(maker),
                taker=to_checksum_address(taker),
                series_id=int(data["series_id"]),
                maker_sells=bool(data["maker_sells"]),
                size=int(data["size"]),
                premium=int(str(data["premium"])),
                deadline=int(data["deadline"]),
                nonce=int(data["nonce"]),
                allow_partial=bool(data["allow_partial"]),
                salt=int(str(data["salt"])),
                signature=sig,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"maker {source} sent a malformed quote: {exc}") from None
        if min(out.series_id, out.size, out.premium, out.deadline, out.nonce, out.salt) < 0:
            raise InvalidInput(f"maker {source} sent negative quote fields")
        return out


class _Rfq(_Series):
    """Asking makers and checking their quotes (mixed into the venue)."""

    async def _ask(
        self, listing: SeriesListing, side: Side, contracts: int
    ) -> tuple[list[MakerQuote], list[str]]:
        """Every maker's answer for ``contracts`` on ``side``: quotes and refusals."""
        assert self._http is not None, "start() the venue first"
        body = {
            "series_id": listing.series_id,
            "side": side.value,
            "size": contracts,
            "taker": self.holder,
            "chain_id": self._account.chain.chain_id,
        }
        timeout = aiohttp.ClientTimeout(total=self._cfg.rfq_timeout_s)

        async def one(url: str) -> MakerQuote | str:
            try:
                async with self._http.post(  # type: ignore[union-attr]
                    url.rstrip("/") + "/rfq", json=body, timeout=timeout
                ) as resp:
                    data = await resp.json(content_type=None)
                    if resp.status != 200 or not isinstance(data, dict) or "quote" not in data:
                        error = data.get("error") if isinstance(data, dict) else data
                        return f"{url}: {error or resp.status}"
                    return MakerQuote.from_json(url, data["quote"], str(data["signature"]))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                return f"{url}: no answer ({type(exc).__name__}: {exc})"
            except InvalidInput as exc:
                return str(exc)

        answers = await asyncio.gather(*(one(u) for u in self._cfg.makers))
        quotes = [a for a in answers if isinstance(a, MakerQuote)]
        refusals = [a for a in answers if isinstance(a, str)]
        return quotes, refusals

    def _digest(self, q: MakerQuote) -> bytes:
        return quote_digest(
            q.as_tuple(),
            chain_id=self._account.chain.chain_id,
            market=self._market,
            name=self._cfg.eip712_name,
            version=self._cfg.eip712_version,
        )

    async def _signature_ok(self, q: MakerQuote) -> bool:
        digest = self._digest(q)
        code = await self._account.rpc.call("eth_getCode", [q.maker, "latest"])
        if code and code != "0x":
            try:
                (magic,) = await eth_call(
                    self._account.rpc,
                    q.maker,
                    encode_call("isValidSignature(bytes32,bytes)", digest, q.signature),
                    ["bytes4"],
                )
            except (RpcError, ValueError):
                return False
            return bytes(magic) == ERC1271_MAGIC
        return recovers_to(digest, q.signature, q.maker)

    async def _problem(
        self,
        q: MakerQuote,
        listing: SeriesListing,
        side: Side,
        contracts: int,
        next_block: int,
        limit: Decimal | None,
    ) -> str | None:
        """Why ``q`` must not be filled, or ``None`` when it may; ``next_block`` is the earliest
        timestamp of the block the fill can land in."""
        where = f"quote from {q.source}"
        if q.series_id != listing.series_id:
            return f"{where} is for series {q.series_id}, not {listing.series_id}"
        if q.maker_sells is not (side is Side.BUY):
            return f"{where} is on the wrong side"
        if q.taker not in (_ZERO, self.holder):
            return f"{where} may only be filled by {q.taker}"
        if q.maker == self.holder:
            return f"{where} is our own"
        if q.size < contracts or (not q.allow_partial and q.size != contracts):
            return f"{where} is for {q.size} contracts, we need {contracts}"
        if q.deadline < next_block:
            # the fill reverts when its block's timestamp is past the (inclusive) deadline
            return f"{where} expired at {q.deadline} (next block at {next_block} or later)"
        (nonce,) = await eth_call(
            self._account.rpc, self._market, encode_call("nonces(address)", q.maker), ["uint256"]
        )
        if int(nonce) != q.nonce:
            return f"{where} has nonce {q.nonce}, the maker's is {nonce} (cancelled)"
        # what the market itself still lets fill: filled part, cancellation (and nonce, deadline)
        (left,) = await eth_call(
            self._account.rpc, self._market, encode_call(REMAINING, q.as_tuple()), ["uint256"]
        )
        if int(left) < contracts:
            return (
                f"{where} has {left} of its {q.size} contracts left to fill on the market "
                f"(partly filled or cancelled), we need {contracts}"
            )
        if not await self._signature_ok(q):
            return (
                f"{where}: the signature does not verify for maker {q.maker} on chain "
                f"{self._account.chain.chain_id} and market {self._market} (signed for another "
                "chain or market, or for other fields)"
            )
        price = self._unit_price(listing, q.premium)
        if limit is not None and (
            (side is Side.BUY and price > limit) or (side is Side.SELL and price < limit)
        ):
            return f"{where} prices {price} per unit, beyond the limit {limit}"
        return None

    def _unit_price(self, listing: SeriesListing, premium: int) -> Decimal:
        """Premium per contract (quote base units) as quote per whole underlying."""
        with localcontext() as ctx:
            ctx.prec = _PREC
            return listing.contract.quote.from_base_units(premium) / listing.unit

    def _contracts(self, listing: SeriesListing, quantity: Decimal) -> int:
        if not isinstance(quantity, Decimal) or quantity <= 0:
            raise VenueRejected(f"{self._id}: quantity must be a positive Decimal, got {quantity}")
        n = quantity / listing.unit
        if n != n.to_integral_value():
            raise VenueRejected(
                f"{self._id}: quantity {quantity} is not a whole number of {listing.unit} "
                f"{listing.contract.underlying.symbol} contracts"
            )
        return int(n)

    async def _best(
        self, order: PlaceOrder, listing: SeriesListing, contracts: int
    ) -> tuple[MakerQuote, int]:
        now = await self._chain_time()
        if now >= listing.contract.expiry_ns // 1_000_000_000:
            raise VenueRejected(
                f"{self._id}: series {listing.series_id} ({listing.contract.symbol}) expired "
                f"(chain time {now}); nothing to trade"
            )
        quotes, problems = await self._ask(listing, order.side, contracts)
        good: list[MakerQuote] = []
        # the fill lands in the next block at the earliest, at least a second after the latest
        # one (not the wall clock: a devnet's chain time need not follow it)
        next_block = now + 1
        for q in quotes:
            problem = await self._problem(
                q, listing, order.side, contracts, next_block, order.limit_price
            )
            if problem is None:
                good.append(q)
            else:
                problems.append(problem)
        if not good:
            raise VenueRejected(
                f"{self._id}: no fillable quote for {order.client_order_id}: "
                + "; ".join(problems or ["no maker answered"])
                + "; nothing was sent"
            )
        best = min(good, key=lambda q: q.premium if order.side is Side.BUY else -q.premium)
        return best, now

    # -- prices ---------------------------------------------------------------------------------

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        """The best maker price for ``quantity`` now (an RFQ; nothing is filled). ``fee`` is 0:
        the premium is all the taker pays (gas aside).

        Raises:
            VenueRejected: unknown series, bad quantity, or no maker quotes.
        """
        listing = self.listing(instrument)
        contracts = self._contracts(listing, quantity)
        best, _ = await self._best(
            PlaceOrder(
                client_order_id=ClientOrderId("quote"),
                instrument=instrument,
                side=side,
                quantity=quantity,
            ),
            listing,
            contracts,
        )
        return Quote(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            quantity=quantity,
            avg_price=self._unit_price(listing, best.premium),
            fee=Decimal(0),
            ts_event=self._account.clock_ns(),
        )

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        """One level per maker that quotes ``liquidity_contracts`` now, best first."""
        listing = self.listing(instrument)
        quotes, _ = await self._ask(listing, side, self._cfg.liquidity_contracts)
        now = await self._chain_time()
        levels = []
        for q in quotes:
            if await self._problem(q, listing, side, self._cfg.liquidity_contracts, now, None):
                continue
            levels.append(
                LiquidityLevel(self._unit_price(listing, q.premium), listing.quantity(q.size))
            )
        levels.sort(key=lambda lv: lv.price, reverse=side is Side.SELL)
        return LiquidityCurve(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            levels=tuple(levels),
            taker_fee_bps=Decimal(0),
            fixed_cost=Decimal(0),
            ts_event=self._account.clock_ns(),
        )
