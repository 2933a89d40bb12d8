"""What a :class:`~oms_chain.service.session.TradingSession` trades on, once open: its
venues by id and by chain, the option series and spot instruments they list, the venues
that trade an instrument, intents on the session's account, and the best single-venue
price for a size. :class:`SessionVenues` is the session's base class holding these
lookups; the session fills the venue attributes it reads when it opens."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from oms_chain.model.checks import (
    check_bool,
    check_decimal,
    check_int,
    check_str,
)
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.model.instruments import Instrument, OptionContract, SpotPair
from oms_chain.model.intent import Intent, Side
from oms_chain.service._session_checks import (
    check_instrument,
    check_intent_args,
    check_side,
    check_venue_ids,
)
from oms_chain.service._session_options import (
    OptionVenue,
    find_option,
)
from oms_chain.venues.amm import UniswapVenues
from oms_chain.venues.base import ListsInstruments, Venue
from oms_chain.venues.cex import CcxtVenue

__all__ = ["SessionVenues"]


class SessionVenues:
    """The venue lookups of an open :class:`~oms_chain.service.session.TradingSession`
    (its base class): everything here reads the venues the session opened."""

    _uniswap: dict[int, UniswapVenues]
    _cex: CcxtVenue | None
    _options: list[OptionVenue]
    _own: tuple[Venue, ...]
    _clock: Clock
    _account: str

    def chain_venues(self, chain_id: int) -> UniswapVenues:
        """The Uniswap venues of ``chain_id`` (for balances, the account, the address book)."""
        try:
            return self._uniswap[chain_id]
        except KeyError:
            raise InvalidInput(
                f"the session does not trade on chain {chain_id}; it has {list(self._uniswap)}"
            ) from None

    def venues(self) -> dict[str, Venue]:
        """Every venue of the session by id (chains' pools first, then the exchange, the
        options venues and the caller's own)."""
        out: dict[str, Venue] = {}
        for uni in self._uniswap.values():
            out.update({v.venue_id: v for v in uni.venues})
        if self._cex is not None:
            out[self._cex.venue_id] = self._cex
        out.update({v.venue_id: v for v in self._options})
        out.update({v.venue_id: v for v in self._own})
        return out

    def option(self, series: str, *, venue: str | None = None) -> tuple[OptionContract, str]:
        """``(contract, venue id)`` of an option series on the session's options venues:
        ``ETH-11DEC26-3000-P`` (any venue, ``venue`` to pick one) or an on-chain series id.
        Raises :class:`InvalidInput` naming what is wrong (see :func:`find_option`)."""
        return find_option(self._options, series, venue)

    def instrument(self, symbol: str, *, chain_id: int | None = None) -> Instrument:
        """The spot instrument ``symbol`` (``ETH/USDC``, ``WETH/USDC``) as the chain's pools
        route it (first chain by default), else as the exchange lists it, else as one of the
        caller's own venues does.

        Raises:
            InvalidInput: no venue of the session trades ``symbol``; lists what they do trade.
        """
        check_str(symbol, "symbol", rule="a pair such as 'ETH/USDC'")
        if chain_id is not None:
            check_int(chain_id, "chain_id", minimum=1)
        wanted = symbol.strip().upper()
        chains = [chain_id] if chain_id is not None else list(self._uniswap)
        known: set[str] = set()
        for cid in chains:
            for v in self.chain_venues(cid).venues:
                for inst in v.instruments():
                    known.add(inst.symbol)
                    if inst.symbol.upper() == wanted:
                        return inst
        if self._cex is not None and chain_id is None:
            for listed in self._cex.instruments():
                known.add(listed.symbol)
                if listed.symbol.upper() == wanted:
                    return listed
        if chain_id is None:
            for own in self._own:
                for item in _listed(own):
                    known.add(item.symbol)
                    if item.symbol.upper() == wanted:
                        return item
        raise InvalidInput(f"no venue trades {symbol!r}; known pairs: {', '.join(sorted(known))}")

    def venues_for(self, instrument: Instrument, *, exchange: bool = True) -> list[str]:
        """Ids of the session's venues that trade ``instrument`` (by symbol; on-chain venues
        only on the instrument's chain; the caller's own venues where they list it), the
        exchange last.

        Raises:
            InvalidInput: ``instrument`` is not an Instrument or ``exchange`` not a bool.
        """
        check_instrument(instrument)
        check_bool(exchange, "exchange")
        chains = instrument.chain_ids
        out = []
        for cid, uni in self._uniswap.items():
            if chains and cid not in chains:
                continue
            for v in uni.venues:
                if any(i.symbol == instrument.symbol for i in v.instruments()):
                    out.append(str(v.venue_id))
        for ov in self._options:
            if instrument in ov.instruments():
                out.append(str(ov.venue_id))
        out.extend(str(v.venue_id) for v in self._own if instrument in _listed(v))
        if exchange and self._cex is not None and isinstance(instrument, SpotPair):
            with contextlib.suppress(OmsError):
                self._cex.market(instrument)
                out.append(str(self._cex.venue_id))
        return out

    def intent(
        self,
        symbol: str | Instrument,
        side: str,
        quantity: Decimal | int | str | None = None,
        *,
        venues: Sequence[str] | None = None,
        exchange: bool = True,
        intent_id: str | None = None,
        **kw: Any,
    ) -> Intent:
        """An intent on this session's account: ``side`` (``buy`` / ``sell``) ``quantity`` of
        the base of ``symbol`` (or ``notional=`` in its quote), on ``venues`` (default: every
        venue trading it; several venues are split by the router). Other keywords go to
        :meth:`Intent.create` (``limit_price``, ``max_slippage_bps``, ``algo``,
        ``algo_params``, ``deadline_ns``...).

        Raises:
            InvalidInput / InvalidIntent: unknown symbol or venue, bad quantity or parameter,
                or an unknown keyword; the message names it.
        """
        check_intent_args(symbol, kw)
        venues = check_venue_ids(venues)
        check_bool(exchange, "exchange")
        inst = self.instrument(symbol) if isinstance(symbol, str) else symbol
        trading = self.venues_for(inst, exchange=exchange)
        if venues:
            unknown = [v for v in venues if v not in trading]
            if unknown:
                raise InvalidInput(
                    f"venue {unknown[0]!r} does not trade {inst.symbol} in this session; "
                    f"venues that do: {', '.join(trading) or 'none'}"
                )
            chosen = list(venues)
        else:
            chosen = trading
        if not chosen:
            raise InvalidInput(f"no venue of this session trades {inst.symbol}")
        now = self._clock.now_ns()
        return Intent.create(
            intent_id=intent_id or f"{self._account}-{now}",
            account=self._account,
            instrument=inst,
            side=side,
            quantity=quantity,
            venues=chosen,
            now_ns=now,
            **kw,
        )

    async def best_price(
        self,
        instrument: Instrument,
        side: str,
        quantity: Decimal,
        venues: Sequence[str] | None = None,
    ) -> Decimal:
        """The best all-in average price (quote per base, venue fee included) any one of
        ``venues`` (default: all trading ``instrument``) quotes for ``quantity``.

        Raises:
            InvalidInput: no venue can quote that size, or a bad argument (named).
        """
        check_instrument(instrument)
        want = check_side(side)
        check_decimal(quantity, "quantity", gt=0)
        venues = check_venue_ids(venues)
        ids = list(venues) if venues else self.venues_for(instrument)
        found = self.venues()
        best: Decimal | None = None
        for vid in ids:
            try:
                q = await found[vid].quote(instrument, want, quantity)
            except (OmsError, KeyError):
                continue
            if q.avg_price <= 0:
                continue
            fee = q.fee / quantity if quantity else Decimal(0)
            price = q.avg_price + fee if want is Side.BUY else q.avg_price - fee
            if best is None or (price < best if want is Side.BUY else price > best):
                best = price
        if best is None:
            raise InvalidInput(f"no venue quotes {quantity} {instrument.symbol} ({side})")
        return best

    async def quantity_for_notional(
        self,
        instrument: Instrument,
        side: str,
        notional: Decimal,
        venues: Sequence[str] | None = None,
    ) -> Decimal:
        """The base quantity worth ``notional`` (quote) at the best single venue's all-in price
        for that size, rounded down to the instrument's precision; routing across several
        venues then does at least as well. Raises :class:`InvalidInput` like
        :meth:`best_price`."""
        check_instrument(instrument)
        check_side(side)
        notional = check_decimal(notional, "notional", gt=0)
        venues = check_venue_ids(venues)
        rough = await self.best_price(instrument, side, Decimal(1), venues)
        size = (notional / rough).quantize(Decimal(1).scaleb(-instrument.size_decimals))
        price = await self.best_price(instrument, side, size, venues)
        step = Decimal(1).scaleb(-min(instrument.size_decimals, 8))
        return (notional / price).quantize(step, rounding=ROUND_DOWN)


def _listed(venue: Venue) -> Sequence[Instrument]:
    """What one of the caller's own venues lists (checked at construction: it lists)."""
    return venue.instruments() if isinstance(venue, ListsInstruments) else ()
