"""Pricing of a Uniswap venue: its routes and paths, the exact quotes and liquidity curves
from the pool states, the gas in quote, and the bound of a swap about to be placed (with the
dust refusal). The protocol-specific math and calldata come from the V2 / V3 subclasses."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Any, ClassVar

from oms_chain.model.errors import (
    InvalidInput,
    OmsError,
    RetryableError,
    VenueRejected,
    VenueUnavailable,
)
from oms_chain.model.ids import VenueId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.venues.amm._calls import erc20_balance, native_balance
from oms_chain.venues.amm._config import (
    _BPS,
    _PREC,
    AmmVenueConfig,
    SwapPath,
    _ceil,
    _floor,
    _Route,
    _Swap,
)
from oms_chain.venues.amm._states import PoolStates
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.amm.quotes import GAS_MODEL
from oms_chain.venues.amm.v3_pool import PoolLoadError
from oms_chain.venues.base import LiquidityCurve, LiquidityLevel, PlaceOrder, Quote


class _Pricing:
    """Quotes, curves and swap bounds of one venue (mixed into the venue)."""

    protocol: ClassVar[str]
    _id: VenueId
    _account: ChainAccount
    _cfg: AmmVenueConfig
    _routes: dict[str, _Route]
    _pool_states: PoolStates

    def _route(self, instrument: Instrument) -> _Route:
        route = self._routes.get(instrument.id)
        if route is not None:
            return route
        by_symbol = [r for r in self._routes.values() if r.instrument.symbol == instrument.symbol]
        if len(by_symbol) == 1:
            return by_symbol[0]
        known = ", ".join(sorted(r.instrument.symbol for r in self._routes.values()))
        raise VenueRejected(
            f"{self._id}: no route for {instrument.symbol} ({instrument.id}); routed: {known}"
        )

    def _token(self, asset: Any) -> str:
        if asset.is_native:
            assert self._account.weth is not None
            return self._account.weth.lower()
        return str(asset.address).lower()

    # -- protocol-specific (subclasses) ----------------------------------------------------------

    def _path(self, states: Sequence[Any], token_in: str) -> tuple[list[Any], list[str]]:
        """States in trading order starting from ``token_in``, and the tokens along the path."""
        ordered = list(states)
        for attempt in (ordered, list(reversed(ordered))):
            tokens = [token_in.lower()]
            ok = True
            for st in attempt:
                t0, t1 = st.token0.lower(), st.token1.lower()
                if tokens[-1] == t0:
                    tokens.append(t1)
                elif tokens[-1] == t1:
                    tokens.append(t0)
                else:
                    ok = False
                    break
            if ok:
                return attempt, tokens
        raise VenueRejected(f"{self._id}: token {token_in} does not start the route's path")

    def _quote_in(self, states: Sequence[Any], token_in: str, amount_in: int) -> int:
        raise NotImplementedError

    def _quote_out(self, states: Sequence[Any], token_in: str, amount_out: int) -> int:
        raise NotImplementedError

    def _calldata(self, states: Sequence[Any], swap: _Swap, recipient: str, deadline: int) -> bytes:
        raise NotImplementedError

    def _gas_units(self, hops: int) -> int:
        fixed, _ = GAS_MODEL[self.protocol]
        return fixed * hops

    # -- pricing -----------------------------------------------------------------------------

    async def _states(self, route: _Route) -> list[Any]:
        try:
            return await self._pool_states.read(route.pools)
        except (PoolLoadError, RetryableError) as exc:
            raise VenueUnavailable(f"{self._id}: could not read pool state: {exc}") from exc
        except Exception as exc:
            raise VenueUnavailable(f"{self._id}: could not read pool state: {exc!r}") from exc

    def _price(self, states: Sequence[Any], route: _Route, side: Side, base_units: int) -> int:
        """Quote units paid (BUY) or received (SELL) for ``base_units``; raises InvalidInput."""
        base = self._token(route.instrument.base)
        quote = self._token(route.instrument.quote)
        if side is Side.SELL:
            return self._quote_in(states, base, base_units)
        return self._quote_out(states, quote, base_units)

    def _swap_gas(self, states: Sequence[Any], route: _Route, side: Side, base_units: int) -> int:
        """Modelled gas of this swap (subclasses that can model it per size override this)."""
        return self._gas_units(len(route.pools))

    async def _gas_cost_quote(
        self, route: _Route, states: Sequence[Any], gas_units: int | None = None
    ) -> Decimal:
        """Gas of one swap (``gas_units``, else the fixed model) in quote units (0 when no price
        of the native asset is at hand)."""
        try:
            gas_price = await self._account.rpc.gas_price()
        except OmsError:
            return Decimal(0)
        units = self._gas_units(len(route.pools)) if gas_units is None else gas_units
        native = Decimal(units * gas_price).scaleb(-18)
        inst = route.instrument
        weth = (self._account.weth or "").lower()
        if self._token(inst.quote) == weth:
            return native
        if self._token(inst.base) == weth:
            one = 10**inst.base.decimals
            try:
                out = self._price(states, route, Side.SELL, one)
            except (InvalidInput, VenueRejected):
                return Decimal(0)
            return native * inst.quote.from_base_units(out)
        return Decimal(0)

    async def swap_path(self, instrument: Instrument, side: Side) -> SwapPath:
        """Freshly loaded pool states of ``instrument``'s route in trading order for ``side``
        (``SELL`` spends base for quote, ``BUY`` spends quote for base), for exact routing.

        Raises:
            VenueRejected: no route for ``instrument``. VenueUnavailable: pools unreadable.
        """
        route = self._route(instrument)
        states = await self._states(route)
        inst = route.instrument
        token_in = self._token(inst.base if side is Side.SELL else inst.quote)
        ordered, tokens = self._path(states, token_in)
        return SwapPath(
            venue=self._id,
            protocol=self.protocol,
            instrument=inst,
            side=side,
            states=tuple(ordered),
            tokens=tuple(tokens),
            gas_cost_quote=await self._gas_cost_quote(route, states),
        )

    async def spendable(self, instrument: Instrument, side: Side) -> tuple[str, Decimal]:
        """What this wallet can spend on ``side`` of ``instrument`` (``SELL`` spends base,
        ``BUY`` quote), as ``(group, amount)``: ``group`` names the balance, shared by every
        venue of this wallet on this chain (so a router never spends it twice); the amount is
        in whole tokens. The native asset counts what is wrapped plus what can be wrapped,
        less ``gas_reserve`` native for the transactions.

        Raises:
            VenueRejected: no route for ``instrument``.
        """
        inst = self._route(instrument).instrument
        asset = inst.base if side is Side.SELL else inst.quote
        account = self._account
        token = self._token(asset)
        units = await erc20_balance(account.rpc, token, account.address)
        if asset.is_native and self._cfg.wrap_native:
            native = await native_balance(account.rpc, account.address)
            units += max(0, native - int(self._cfg.gas_reserve.scaleb(18)))
        group = f"wallet:{account.chain.chain_id}:{account.address.lower()}:{token}"
        return group, asset.from_base_units(units)

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        """Levels from the exact swap math on freshly loaded pool state (LP fee included in
        the prices, so ``taker_fee_bps`` is 0); ``fixed_cost`` is one swap's gas in quote."""
        route = self._route(instrument)
        states = await self._states(route)
        inst = route.instrument
        levels: list[LiquidityLevel] = []
        prev_base, prev_quote = 0, 0
        with localcontext() as ctx:
            ctx.prec = _PREC
            for size in self._cfg.curve_sizes:
                base_units = int(size.scaleb(inst.base.decimals))
                if base_units <= prev_base:
                    continue
                try:
                    quote_units = self._price(states, route, side, base_units)
                except (InvalidInput, VenueRejected):
                    break
                d_base = inst.base.from_base_units(base_units - prev_base)
                d_quote = inst.quote.from_base_units(abs(quote_units - prev_quote))
                levels.append(LiquidityLevel(price=d_quote / d_base, quantity=d_base))
                prev_base, prev_quote = base_units, quote_units
        return LiquidityCurve(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            levels=tuple(levels),
            taker_fee_bps=Decimal(0),
            fixed_cost=await self._gas_cost_quote(route, states),
            ts_event=self._account.clock_ns(),
        )

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        """Exact average price of ``quantity`` now (LP fee included); ``fee`` is gas in quote.

        Raises :class:`VenueRejected` when the route cannot fill it."""
        route = self._route(instrument)
        states = await self._states(route)
        inst = route.instrument
        try:
            base_units = inst.base.to_base_units(quantity)
            quote_units = self._price(states, route, side, base_units)
        except InvalidInput as exc:
            raise VenueRejected(
                f"{self._id}: cannot quote {quantity} {inst.symbol}: {exc}"
            ) from exc
        if quote_units <= 0:
            raise VenueRejected(
                f"{self._id}: cannot quote {quantity} {inst.symbol}: its quote side floors to 0 "
                f"base units of {inst.quote.symbol} (dust); quote a larger quantity"
            )
        with localcontext() as ctx:
            ctx.prec = _PREC
            avg = inst.quote.from_base_units(quote_units) / inst.base.from_base_units(base_units)
        return Quote(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            quantity=quantity,
            avg_price=avg,
            fee=await self._gas_cost_quote(
                route, states, self._swap_gas(states, route, side, base_units)
            ),
            ts_event=self._account.clock_ns(),
        )

    def _price_swap(
        self, order: PlaceOrder, route: _Route, states: Sequence[Any], base_units: int
    ) -> _Swap:
        inst = route.instrument
        base, quote = self._token(inst.base), self._token(inst.quote)
        bps = Decimal(
            order.max_slippage_bps if order.max_slippage_bps is not None else self._cfg.slippage_bps
        )
        try:
            quoted = self._price(states, route, order.side, base_units)
        except InvalidInput as exc:
            raise VenueRejected(
                f"{self._id}: the route of {inst.symbol} cannot fill {order.quantity}: {exc}"
            ) from exc
        self._refuse_dust(order, route, quoted)
        with localcontext() as ctx:
            ctx.prec = _PREC
            limit_notional = (
                None
                if order.limit_price is None
                else order.quantity * order.limit_price * Decimal(10) ** inst.quote.decimals
            )
            if order.side is Side.SELL:
                bound = (
                    _ceil(limit_notional)
                    if limit_notional is not None
                    else _floor(quoted * (_BPS - bps) / _BPS)
                )
                if bound <= 0:
                    raise VenueRejected(
                        f"{self._id}: {order.client_order_id} refused before sending: its minimum "
                        f"output ({quoted} base units of {inst.quote.symbol} less "
                        f"{bps} bps slippage) floors to 0, so the swap could be mined for "
                        "nothing; sell a larger quantity or give a limit price"
                    )
                return _Swap(base, quote, True, base_units, bound, quoted, base_units)
            bound = (
                _floor(limit_notional)
                if limit_notional is not None
                else _ceil(quoted * (_BPS + bps) / _BPS)
            )
        return _Swap(quote, base, False, base_units, bound, quoted, bound)

    def _refuse_dust(self, order: PlaceOrder, route: _Route, quoted: int) -> None:
        """Refuse, before anything is signed, an order whose quote side floors to zero or is
        below ``min_quote_amount``."""
        inst = route.instrument
        what = "would receive" if order.side is Side.SELL else "would pay"
        if quoted <= 0:
            raise VenueRejected(
                f"{self._id}: {order.client_order_id} refused before sending: "
                f"{order.side.value} {order.quantity} {inst.base.symbol} {what} 0 base units "
                f"of {inst.quote.symbol} (dust: the output floors to zero); trade a larger "
                "quantity"
            )
        minimum = self._cfg.min_quote_amount
        amount = inst.quote.from_base_units(quoted)
        if minimum > 0 and amount < minimum:
            raise VenueRejected(
                f"{self._id}: {order.client_order_id} refused before sending: "
                f"{order.side.value} {order.quantity} {inst.base.symbol} {what} {amount} "
                f"{inst.quote.symbol}, below this venue's minimum of {minimum} "
                f"{inst.quote.symbol} (min_quote_amount); trade a larger quantity"
            )
