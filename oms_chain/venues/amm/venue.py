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
latest block). This module is about twice the ~600-line guideline: placing, settling and
reporting share the journal entries and reservations of one venue; splitting them (e.g. the V2
and V3 subclasses and the report builders into modules of their own) is a known follow-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any, ClassVar

from oms_chain.chain.fees import FeeCapExceeded, FeeQuote
from oms_chain.chain.revert import TransactionWouldRevert, decode_revert
from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.chain.sender import BroadcastRejected, BroadcastUncertain, SentTransaction
from oms_chain.chain.tracker import MalformedReceipt, SettlementReport, receipt_status
from oms_chain.custody.base import SignedTransaction
from oms_chain.model.errors import (
    InvalidInput,
    OmsError,
    RetryableError,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from oms_chain.model.ids import ClientOrderId, TradeId, TxHash, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument, SpotPair, instrument_from_payload
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementState, SettlementStatus
from oms_chain.venues.amm._calls import (
    WalletFlows,
    encode_call,
    erc20_balance,
    native_balance,
)
from oms_chain.venues.amm._states import PoolStates
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.amm.approvals import ensure_allowance
from oms_chain.venues.amm.quotes import GAS_MODEL, V3_GAS, v3_swap_gas
from oms_chain.venues.amm.v2_math import InsufficientReserves, get_amounts_in, get_amounts_out
from oms_chain.venues.amm.v2_pool import V2PoolState
from oms_chain.venues.amm.v3_math import (
    MathRevert,
    TickDataMissing,
    quote_exact_input_path,
    quote_exact_output_path,
)
from oms_chain.venues.amm.v3_pool import PoolLoadError, v3_path_hops
from oms_chain.venues.amm.weth import unwrap, wrap
from oms_chain.venues.base import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    VenueOrderStatus,
    VenueReport,
)

__all__ = ["AmmVenueConfig", "SwapPath", "UniswapV2Venue", "UniswapV3Venue"]

_log = logging.getLogger(__name__)
_S = SettlementStatus
_BPS = Decimal(10_000)
_PREC = 60
_MINED = (_S.INCLUDED, _S.CONFIRMED, _S.FINAL)
_EXPIRY_REASONS = ("Transaction too old", "UniswapV2Router: EXPIRED")


@dataclass(frozen=True, slots=True, kw_only=True)
class AmmVenueConfig:
    """Settings of one AMM venue.

    ``slippage_bps``: allowance against the exact quote for orders with neither a limit price nor
    ``max_slippage_bps``. ``deadline_s``: router deadline after the latest block's timestamp
    when the order has no ``deadline_ns``. ``wrap_native`` / ``unwrap_native``: wrap ETH before
    spending it, unwrap bought WETH after the swap, for instruments on the native asset.
    ``cancel_timeout``: seconds :meth:`cancel` waits for the cancellation to land.
    ``gas_reserve``: native asset (whole units) :meth:`spendable` leaves for gas.
    ``word_radius``: V3 tick-bitmap words loaded around the price (``None``: all).
    ``follow_pools``: quote from a :class:`~oms_chain.venues.amm.follower.PoolFollower` of the
    venue's pools (started on first use, checked to be at the node's latest block) instead of
    reloading every pool per quote; ``follow_timeout``: seconds to wait for it before loading.
    ``curve_sizes``: cumulative base quantities (in units of one base token) of the liquidity
    curve's levels. ``min_quote_amount``: orders whose quote side (received by a sell, paid by
    a buy; whole quote tokens) is below it are refused before sending; an order whose quote
    side floors to 0 base units is always refused (dust).
    """

    slippage_bps: Decimal = Decimal(50)
    deadline_s: int = 300
    wrap_native: bool = True
    unwrap_native: bool = False
    cancel_timeout: float = 10.0
    gas_reserve: Decimal = Decimal("0.05")
    word_radius: int | None = None
    follow_pools: bool = True
    follow_timeout: float = 5.0
    curve_sizes: tuple[Decimal, ...] = tuple(Decimal(2) ** k for k in range(-6, 9))
    min_quote_amount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not Decimal(0) <= Decimal(self.slippage_bps) < _BPS:
            raise InvalidInput(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if self.deadline_s <= 0:
            raise InvalidInput(f"deadline_s must be > 0 seconds, got {self.deadline_s}")
        if self.gas_reserve < 0:
            raise InvalidInput(f"gas_reserve must be >= 0, got {self.gas_reserve}")
        if not self.follow_timeout > 0:
            raise InvalidInput(f"follow_timeout must be > 0 seconds, got {self.follow_timeout}")
        if self.cancel_timeout < 0:
            raise InvalidInput(f"cancel_timeout must be >= 0 seconds, got {self.cancel_timeout}")
        if not self.curve_sizes or any(s <= 0 for s in self.curve_sizes):
            raise InvalidInput("curve_sizes must be positive quantities")
        if not isinstance(self.min_quote_amount, Decimal) or not (
            self.min_quote_amount.is_finite() and self.min_quote_amount >= 0
        ):
            raise InvalidInput(
                f"min_quote_amount must be a finite Decimal >= 0, got {self.min_quote_amount!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapPath:
    """What a router sees of one venue for (instrument, side), read at one block: the pool
    states in trading order (``V2PoolState`` / ``V3PoolState``), the tokens along the path
    (``tokens[0]`` is spent, ``tokens[-1]`` received), and one swap's gas cost in the
    instrument's quote (``0`` when the native asset cannot be priced)."""

    venue: VenueId
    protocol: str
    instrument: SpotPair
    side: Side
    states: tuple[Any, ...]
    tokens: tuple[str, ...]
    gas_cost_quote: Decimal


@dataclass(frozen=True, slots=True)
class _Route:
    instrument: SpotPair
    pools: tuple[str, ...]


@dataclass(slots=True)
class _Swap:
    """A priced swap: tokens, the exact side, the bound and the quote at the loaded block."""

    token_in: str
    token_out: str
    exact_in: bool
    amount: int  # exact input (sell) or exact output (buy), base units
    bound: int  # minimum output or maximum input
    quoted: int  # the other side, from the exact math
    spend: int = 0  # what the router may pull: amount (exact in) or bound (exact out)
    path: list[str] = field(default_factory=list)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


class _UniswapVenue:
    """What V2 and V3 venues share; subclasses price and encode swaps."""

    protocol: ClassVar[str]

    def __init__(
        self,
        account: ChainAccount,
        *,
        venue_id: str,
        router: str,
        routes: Mapping[Instrument, Sequence[str]],
        config: AmmVenueConfig | None = None,
    ) -> None:
        if not venue_id or venue_id != venue_id.lower():
            raise InvalidInput(f"venue_id must be a non-empty lower-case name, got {venue_id!r}")
        self._id = VenueId(venue_id)
        self._account = account
        self._router = router
        self._cfg = config or AmmVenueConfig()
        self._routes: dict[str, _Route] = {}
        for instrument, pools in routes.items():
            if not isinstance(instrument, SpotPair):
                raise InvalidInput(
                    f"{venue_id}: {instrument.id} is not a spot pair; AMM venues trade spot pairs"
                )
            if not pools:
                raise InvalidInput(f"{venue_id}: route of {instrument.symbol} has no pool")
            chain_ids = instrument.chain_ids
            if chain_ids != {account.chain.chain_id}:
                raise InvalidInput(
                    f"{venue_id}: {instrument.symbol} is on chain(s) {sorted(chain_ids)}, the "
                    f"account on chain {account.chain.chain_id}"
                )
            if (instrument.base.is_native or instrument.quote.is_native) and not account.weth:
                raise InvalidInput(
                    f"{venue_id}: {instrument.symbol} trades the native asset; give the "
                    "ChainAccount the chain's WETH address (weth=...)"
                )
            self._routes[instrument.id] = _Route(instrument, tuple(pools))
        self._pool_states = PoolStates(
            account.rpc,
            self.protocol,
            [p for r in self._routes.values() for p in r.pools],
            follow=self._cfg.follow_pools,
            follow_timeout=self._cfg.follow_timeout,
            word_radius=self._cfg.word_radius,
            poll_interval=max(0.25, account.poll_interval),
        )
        self._queue: asyncio.Queue[VenueReport] = asyncio.Queue()
        self._coid_of: dict[TxHash, ClientOrderId] = {}
        self._receipts: dict[TxHash, dict[str, Any]] = {}
        self._reasons: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        for coid, entry in account.journal.entries().items():
            if entry.get("venue") == venue_id:
                self._coid_of[TxHash(entry["tx"]["hash"])] = ClientOrderId(coid)
                if not entry.get("settled"):  # mined or not, holdings() asks the chain
                    account.track_pull(entry["tx"]["hash"], entry["token_in"], int(entry["spend"]))
                    # and the router's allowance stays reserved for it until it settles
                    account.reserve(entry["token_in"], self._router, int(entry["spend"]))
                if entry.get("cancel"):
                    self._coid_of[TxHash(entry["cancel"]["hash"])] = ClientOrderId(coid)
        account.register(self)

    # -- identity and configuration ----------------------------------------------------------------

    @property
    def venue_id(self) -> VenueId:
        """The name given at construction, e.g. ``uniswap-v3-500-31337``."""
        return self._id

    @property
    def send_timeout_s(self) -> float:
        """How long :meth:`place` may take: it can wait for a wrap and an approval to be mined
        before it sends the swap (the engine gives a venue at least this long)."""
        return 2 * self._account.approvals.timeout + 15.0

    @property
    def account(self) -> ChainAccount:
        """The shared account (sender, tracker, journal) of this venue."""
        return self._account

    @property
    def router(self) -> str:
        """Address of the router the venue swaps through."""
        return self._router

    def instruments(self) -> list[SpotPair]:
        """Instruments this venue routes."""
        return [r.instrument for r in self._routes.values()]

    def forget_transaction(self, tx_hash: TxHash) -> None:
        """The account pruned ``tx_hash`` (settled long ago): stop mapping it to its order."""
        self._coid_of.pop(tx_hash, None)

    def owned_transactions(self) -> list[tuple[TxHash, dict[str, Any]]]:
        """(hash, journaled tx) of the swaps and cancellations this venue signed."""
        out = []
        for entry in self._account.journal.entries().values():
            if entry.get("venue") != self._id:
                continue
            out.append((TxHash(entry["tx"]["hash"]), entry["tx"]))
            if entry.get("cancel"):
                out.append((TxHash(entry["cancel"]["hash"]), entry["cancel"]))
        return out

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
            gas_price = int(await self._account.rpc.call("eth_gasPrice"), 16)
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

    # -- placing ---------------------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        """Swap now; returns ``OPEN`` with settlement ``submitted`` once the transaction is out.

        Raises:
            VenueRejected: duplicate client order id, no route, bad quantity, too little balance,
                or the router would revert (reason given); nothing was sent.
            VenueUnavailable: the node could not be reached before anything was signed.
            VenueTimeout: an approval or wrap was not mined in time (the swap was not sent).
        """
        coid = order.client_order_id
        account = self._account
        known = account.journal.get(coid)
        if known is not None or coid in account.placing:
            where = f" (tx {known['tx']['hash']})" if known else ""
            raise VenueRejected(
                f"{self._id}: duplicate client order id {coid}: already sent{where}; ask "
                "status() for its outcome"
            )
        account.placing.add(coid)
        try:
            return await self._place(order)
        except (RpcUnavailable, PoolLoadError) as exc:
            raise VenueUnavailable(f"{self._id}: {coid} not sent: {exc}") from exc
        except (TransactionWouldRevert, BroadcastRejected, FeeCapExceeded) as exc:
            raise VenueRejected(f"{self._id}: {coid} refused: {exc}; nothing was sent") from exc
        except BroadcastUncertain as exc:  # an approval or wrap; the swap itself was not sent
            raise VenueTimeout(
                f"{self._id}: {coid} not sent: {exc}; place it again once that settles"
            ) from exc
        except RpcError as exc:
            raise VenueRejected(f"{self._id}: {coid} not sent: the node said {exc}") from exc
        finally:
            account.placing.discard(coid)

    async def _place(self, order: PlaceOrder) -> OrderStatusReport:
        coid = order.client_order_id
        route = self._route(order.instrument)
        inst = route.instrument
        account = self._account
        if order.quantity <= 0:
            raise VenueRejected(f"{self._id}: quantity must be > 0, got {order.quantity}")
        if order.limit_price is not None and order.limit_price <= 0:
            raise VenueRejected(f"{self._id}: limit price must be > 0, got {order.limit_price}")
        try:
            base_units = inst.base.to_base_units(order.quantity)
        except InvalidInput as exc:
            raise VenueRejected(f"{self._id}: {exc}") from exc
        states = await self._states(route)
        swap = self._price_swap(order, route, states, base_units)
        latest = await account.rpc.get_block("latest")
        # the next block is stamped no earlier than the wall clock (nor than the latest block)
        now_s = max(int(latest["timestamp"], 16) if latest else 0, account.clock_ns() // 10**9)
        deadline = (
            order.deadline_ns // 1_000_000_000
            if order.deadline_ns is not None
            else now_s + self._cfg.deadline_s
        )
        calldata = self._calldata(states, swap, account.address, deadline)
        native_in = (order.side is Side.SELL and inst.base.is_native) or (
            order.side is Side.BUY and inst.quote.is_native
        )
        sender = account.sender
        async with account.spend_lock(swap.token_in, self._router):
            # Allowance per router; balance shared by every router spending from this wallet.
            # Settle what was mined first, so swaps already paid are not reserved twice.
            await account.poll()
            need = account.reserved(swap.token_in, self._router) + swap.spend
            held, pending = await account.holdings(swap.token_in)
            if native_in and self._cfg.wrap_native and held < pending + swap.spend:
                await wrap(
                    sender,
                    account.rpc,
                    swap.token_in,
                    pending + swap.spend - held,
                    timeout=account.approvals.timeout,
                )
                held, pending = await account.holdings(swap.token_in)
            if held < pending + swap.spend:
                raise VenueRejected(
                    f"{self._id}: {coid} needs {swap.spend} base units of {swap.token_in} "
                    f"(+{pending} pulled by swaps in flight) but "
                    f"{account.address} holds {held}; fund the account or trade less"
                )
            await ensure_allowance(
                sender, account.rpc, swap.token_in, self._router, need, account.approvals
            )
            entry: dict[str, Any] = {
                "venue": self._id,
                "instrument": inst.to_payload(),
                "side": order.side.value,
                "quantity": str(order.quantity),
                "limit_price": None if order.limit_price is None else str(order.limit_price),
                "deadline": deadline,
                "token_in": swap.token_in,
                "token_out": swap.token_out,
                "exact_in": swap.exact_in,
                "amount": str(swap.amount),
                "bound": str(swap.bound),
                "quoted": str(swap.quoted),
                "spend": str(swap.spend),
                "ts": account.clock_ns(),
                "tx": None,
                "cancel": None,
                "unwrap": None,
            }

            async def journal(sent: SentTransaction) -> None:
                account.track_pull(sent.tx_hash, swap.token_in, swap.spend)
                entry["tx"] = _tx_entry(sent)
                account.journal.put(coid, entry)
                self._coid_of[sent.tx_hash] = coid
                account.own(sent.tx_hash, self)

            what = f"{self._id} {order.side.value} {order.quantity} {inst.symbol}"
            # Reserved before the broadcast: the swap can be mined, and its settlement release
            # the reservation, before send() returns.
            account.reserve(swap.token_in, self._router, swap.spend)
            try:
                for attempt in (1, 2):
                    try:
                        sent = await sender.send(
                            to=self._router, data=calldata, what=what, on_signed=journal
                        )
                        tx_hash = sent.tx_hash
                        break
                    except BroadcastUncertain as exc:
                        tx_hash = exc.tx_hash
                        break
                    except BroadcastRejected as exc:
                        # the node refused the bytes: they were never sent, forget them
                        if entry["tx"] is not None:
                            account.forget_pull(entry["tx"]["hash"])
                        account.journal.remove(coid)
                        if attempt == 2 or "nonce too low" not in str(exc).lower():
                            raise
                        # another wallet used our nonce; the sender has resynced, sign again
            except BaseException:
                if account.journal.get(coid) is None:  # never signed or refused: nothing pulls
                    account.reserve(swap.token_in, self._router, -swap.spend)
                raise
        return self._open_report(coid, entry, tx_hash)

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

    # -- reports ---------------------------------------------------------------------------------

    def _open_report(
        self, coid: ClientOrderId, entry: dict[str, Any], tx_hash: TxHash
    ) -> OrderStatusReport:
        return self._report(
            coid,
            entry,
            VenueOrderStatus.OPEN,
            SettlementState(tx_hash=tx_hash),
            fills=(),
        )

    def _report(
        self,
        coid: ClientOrderId,
        entry: dict[str, Any],
        status: VenueOrderStatus,
        settlement: SettlementState,
        *,
        fills: tuple[FillReport, ...] = (),
        reason: str | None = None,
    ) -> OrderStatusReport:
        limit = entry.get("limit_price")
        return OrderStatusReport(
            venue=self._id,
            client_order_id=coid,
            venue_order_id=VenueOrderId(entry["tx"]["hash"]),
            status=status,
            quantity=Decimal(entry["quantity"]),
            filled_quantity=sum((f.quantity for f in fills), Decimal(0)),
            limit_price=None if limit is None else Decimal(limit),
            fills=fills,
            ts_event=self._account.clock_ns(),
            reason=reason,
            settlement=settlement,
        )

    async def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        raw = await self._account.rpc.call("eth_getTransactionReceipt", [tx_hash])
        return raw if isinstance(raw, dict) and raw.get("blockHash") else None

    def _succeeded(self, receipt: dict[str, Any]) -> bool:
        """The receipt's status; a receipt without one is an error, never a success."""
        try:
            return receipt_status(receipt) == 1
        except MalformedReceipt as exc:
            raise VenueUnavailable(f"{self._id}: {exc}") from exc

    async def _build(
        self,
        coid: ClientOrderId,
        settlement: SettlementState,
        block_hash: str | None,
    ) -> OrderStatusReport:
        """The order's report for the settlement state of its swap transaction."""
        entry = self._account.journal.get(coid)
        assert entry is not None
        tx_hash = entry["tx"]["hash"]
        status = settlement.status
        if status in (_S.SUBMITTED, _S.REORGED):
            return self._report(coid, entry, VenueOrderStatus.OPEN, settlement)
        if status is _S.DROPPED:
            return self._report(
                coid,
                entry,
                VenueOrderStatus.EXPIRED,
                settlement,
                reason="the transaction was dropped by the network and could not be rebroadcast",
            )
        if status is _S.REPLACED:
            cancel = entry.get("cancel")
            if cancel:
                receipt = await self._receipt(cancel["hash"])
                if receipt is not None and self._succeeded(receipt):
                    return self._report(
                        coid,
                        entry,
                        VenueOrderStatus.CANCELLED,
                        settlement,
                        reason=f"cancelled by {cancel['hash']}",
                    )
            return self._report(
                coid,
                entry,
                VenueOrderStatus.EXPIRED,
                settlement,
                reason=f"nonce {entry['tx']['nonce']} was used by another transaction",
            )
        receipt = await self._receipt(tx_hash)
        if receipt is None or (block_hash is not None and receipt["blockHash"] != block_hash):
            # the block moved under us; the tracker's next pass reports where it went
            return self._report(
                coid, entry, VenueOrderStatus.OPEN, SettlementState(tx_hash=TxHash(tx_hash))
            )
        if not self._succeeded(receipt):
            reason = await self._revert_reason(entry, receipt)
            expired = any(r in reason for r in _EXPIRY_REASONS)
            return self._report(
                coid,
                entry,
                VenueOrderStatus.EXPIRED if expired else VenueOrderStatus.REJECTED,
                settlement,
                reason=f"reverted on chain in block {int(receipt['blockNumber'], 16)}: {reason}",
            )
        fill = self._fill(coid, entry, receipt)
        if fill is None:
            # A degenerate swap (dust sent before the venue refused it): mined, but one side
            # moved nothing, so there is no fill with a positive price to record. The order
            # ends unfilled with the facts, instead of failing every report (and restart).
            flows = WalletFlows.from_receipt(receipt, self._account.address)
            return self._report(
                coid,
                entry,
                VenueOrderStatus.REJECTED,
                settlement,
                reason=(
                    f"the swap was mined in block {int(receipt['blockNumber'], 16)} but moved "
                    f"{flows.sent.get(entry['token_in'], 0)} base units of {entry['token_in']} "
                    f"for {flows.received.get(entry['token_out'], 0)} of {entry['token_out']}: "
                    "a zero-output (dust) swap, recorded with nothing filled"
                ),
            )
        return self._report(coid, entry, VenueOrderStatus.FILLED, settlement, fills=(fill,))

    def _fill(
        self, coid: ClientOrderId, entry: dict[str, Any], receipt: dict[str, Any]
    ) -> FillReport | None:
        """The swap's fill from the wallet's Transfer logs; ``None`` when either side moved
        nothing (no fill with a positive quantity and price exists)."""
        inst = instrument_from_payload(entry["instrument"])
        assert isinstance(inst, SpotPair)
        flows = WalletFlows.from_receipt(receipt, self._account.address)
        paid = flows.sent.get(entry["token_in"], 0)
        got = flows.received.get(entry["token_out"], 0)
        side = Side(entry["side"])
        base_units, quote_units = (paid, got) if side is Side.SELL else (got, paid)
        if base_units <= 0 or quote_units <= 0:
            return None
        gas = int(receipt.get("gasUsed", "0x0"), 16) * int(
            receipt.get("effectiveGasPrice", "0x0"), 16
        )
        with localcontext() as ctx:
            ctx.prec = _PREC
            quantity = inst.base.from_base_units(base_units)
            price = inst.quote.from_base_units(quote_units) / quantity
        return FillReport(
            venue=self._id,
            trade_id=TradeId(f"{receipt['transactionHash']}@{receipt['blockHash']}"),
            client_order_id=coid,
            venue_order_id=VenueOrderId(entry["tx"]["hash"]),
            side=side,
            quantity=quantity,
            price=price,
            fee=Decimal(gas).scaleb(-18),
            fee_currency=self._account.chain.native_symbol,
            ts_event=self._account.clock_ns(),
        )

    async def _revert_reason(self, entry: dict[str, Any], receipt: dict[str, Any]) -> str:
        key = f"{receipt['transactionHash']}@{receipt['blockHash']}"
        if key in self._reasons:
            return self._reasons[key]
        block = int(receipt["blockNumber"], 16)
        fields = entry["tx"]["fields"]
        call = {
            "from": self._account.address,
            "to": fields["to"],
            "data": fields["data"],
            "value": hex(int(fields["value"])),
        }
        # Replay at the block it was mined in (its timestamp, so deadline checks fail again).
        reason = "reverted (no reason could be recovered)"
        for tag in (hex(block), hex(block - 1)):
            try:
                await self._account.rpc.call("eth_call", [call, tag])
            except RpcError as exc:
                data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
                reason = decode_revert(data if isinstance(data, str) else None).message
                break
            except RpcUnavailable:
                return reason
        if int(entry["deadline"]) < await self._block_time(block):
            reason = f"Transaction too old (deadline {entry['deadline']} passed): {reason}"
        self._reasons[key] = reason
        return reason

    async def _block_time(self, number: int) -> int:
        block = await self._account.rpc.get_block(number)
        return int(block["timestamp"], 16) if block else 0

    async def _current(self, coid: ClientOrderId) -> OrderStatusReport:
        entry = self._account.journal.get(coid)
        assert entry is not None
        tx_hash = TxHash(entry["tx"]["hash"])
        if not self._account.is_tracked(tx_hash):
            self._account.register(self)
        return await self._build(coid, self._account.tracker.state(tx_hash), None)

    async def on_settlement(self, report: SettlementReport) -> None:
        """Turn a settlement move of one of our transactions into an order report on
        :meth:`events` (called by the account's poll)."""
        coid = self._coid_of.get(report.tx_hash)
        if coid is None:
            return
        entry = self._account.journal.get(coid)
        if entry is None or entry["tx"]["hash"] != report.tx_hash:
            return  # a cancellation: the swap's own REPLACED move reports the outcome
        # The first move that says the swap no longer waits in the mempool releases what it
        # reserved (a swap first seen already confirmed skips INCLUDED).
        done = (_S.INCLUDED, _S.CONFIRMED, _S.FINAL, _S.DROPPED, _S.REPLACED)
        if report.status in (_S.FINAL, _S.DROPPED, _S.REPLACED):
            # until then holdings() asks the chain whether it was mined (a reorg can undo that)
            self._account.forget_pull(report.tx_hash)
        if report.status in done and not entry.get("settled"):
            entry["settled"] = True
            self._account.journal.put(coid, entry)
            self._account.reserve(entry["token_in"], self._router, -int(entry["spend"]))
        if report.status in (_S.FINAL, _S.DROPPED, _S.REPLACED) and entry.get("ended_ns") is None:
            # from now on nothing moves: the account prunes it after its retention
            entry["ended_ns"] = self._account.clock_ns()
            self._account.journal.put(coid, entry)
        settlement = SettlementState(
            tx_hash=report.tx_hash,
            status=report.status,
            confirmations=report.confirmations,
            block_number=report.block_number,
        )
        built = await self._build(coid, settlement, report.block_hash)
        self._queue.put_nowait(built)
        if (
            built.status is VenueOrderStatus.FILLED
            and self._cfg.unwrap_native
            and entry.get("unwrap") is None
        ):
            self._start_unwrap(coid, entry)

    def _start_unwrap(self, coid: ClientOrderId, entry: dict[str, Any]) -> None:
        inst = instrument_from_payload(entry["instrument"])
        side = Side(entry["side"])
        native_out = (side is Side.BUY and inst.base.is_native) or (
            side is Side.SELL and inst.quote.is_native
        )
        if not native_out:
            return
        entry["unwrap"] = "pending"
        self._account.journal.put(coid, entry)
        amount = int(entry["amount"]) if side is Side.BUY else int(entry["bound"])

        async def run() -> None:
            account = self._account
            try:
                held = await erc20_balance(account.rpc, entry["token_out"], account.address)
                tx = await unwrap(
                    account.sender, account.rpc, entry["token_out"], min(held, max(amount, 1))
                )
                entry["unwrap"] = tx
            except OmsError as exc:
                entry["unwrap"] = f"failed: {exc}"
                _log.warning("%s: unwrap after %s failed: %s", self._id, coid, exc)
            account.journal.put(coid, entry)

        task = asyncio.create_task(run(), name=f"{self._id}-unwrap-{coid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def events(self) -> AsyncIterator[VenueReport]:
        """Every order report the venue pushes (settlement moves of its swaps)."""

        async def stream() -> AsyncIterator[VenueReport]:
            while True:
                yield await self._queue.get()

        return stream()

    def drain(self) -> list[VenueReport]:
        """Reports queued for :meth:`events` so far, removed from the queue (tests, scripts)."""
        out: list[VenueReport] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    # -- order queries and control -------------------------------------------------------------

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """The order's report from the journal and the chain; ``None`` when this venue never
        signed a transaction for it (then it provably never reached the chain)."""
        entry = self._account.journal.get(client_order_id)
        if entry is None or entry.get("venue") != self._id:
            return None
        await self._account.poll()
        return await self._current(client_order_id)

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel a swap still pending: a 0-value self-transfer at its nonce with higher fees.
        Waits up to ``cancel_timeout`` for one of the two to land and returns the order's
        report then (``CANCELLED``, or ``FILLED`` if the swap won). A mined swap just returns
        its report.

        Raises :class:`VenueRejected` for an id this venue never sent.
        """
        entry = self._account.journal.get(client_order_id)
        if entry is None or entry.get("venue") != self._id:
            raise VenueRejected(
                f"{self._id}: cannot cancel {client_order_id}: no such order was sent"
            )
        account = self._account
        await account.poll()
        tx_hash = TxHash(entry["tx"]["hash"])
        if account.tracker.state(tx_hash).status in (_S.SUBMITTED, _S.REORGED) and not entry.get(
            "cancel"
        ):

            async def journal(sent: SentTransaction) -> None:
                entry["cancel"] = _tx_entry(sent)
                account.journal.put(client_order_id, entry)
                self._coid_of[sent.tx_hash] = client_order_id
                account.own(sent.tx_hash, self)

            try:
                await account.sender.cancel(
                    _sent_from(entry["tx"], account.address), on_signed=journal
                )
            except BroadcastUncertain:
                pass
            except (BroadcastRejected, RpcError) as exc:
                _log.info("%s: cancellation of %s refused: %s", self._id, client_order_id, exc)
        loop = asyncio.get_running_loop()
        end = loop.time() + self._cfg.cancel_timeout
        while account.tracker.state(tx_hash).status in (_S.SUBMITTED, _S.REORGED):
            if loop.time() >= end:
                break
            await asyncio.sleep(account.poll_interval)
            await account.poll()
        return await self._current(client_order_id)

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        """Not possible: an AMM swap executes at once or not at all, nothing rests to amend.

        Raises:
            VenueRejected: always.
        """
        raise VenueRejected(
            f"{self._id}: amend of {request.client_order_id} is not possible: AMM orders do not "
            "rest; cancel it while its transaction is pending and place a new order"
        )

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        """Reports for the asked ids and every order whose swap is not settled yet, from the
        journal and the chain; ids never journaled are ``unknown``."""
        try:
            await self._account.poll()
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: cannot reconcile: {exc}") from exc
        reports: dict[ClientOrderId, OrderStatusReport] = {}
        unknown: list[ClientOrderId] = []
        for coid in client_order_ids:
            entry = self._account.journal.get(coid)
            if entry is None or entry.get("venue") != self._id:
                unknown.append(coid)
            else:
                reports[coid] = await self._current(coid)
        for key, entry in self._account.journal.entries().items():
            coid = ClientOrderId(key)
            if entry.get("venue") != self._id or coid in reports:
                continue
            if not self._account.is_tracked(TxHash(entry["tx"]["hash"])):
                self._account.register(self)
            state = self._account.tracker.state(TxHash(entry["tx"]["hash"]))
            if state.status in (_S.SUBMITTED, _S.REORGED):
                reports[coid] = await self._current(coid)
        return ReconciliationReport(
            venue=self._id,
            orders=tuple(reports.values()),
            unknown=tuple(sorted(unknown)),
            balances=await self.balances(),
            ts_event=self._account.clock_ns(),
        )

    async def balances(self) -> Mapping[str, Decimal]:
        """Wallet balances of the native asset and every token this venue routes."""
        account = self._account
        out: dict[str, Decimal] = {
            account.chain.native_symbol: Decimal(
                await native_balance(account.rpc, account.address)
            ).scaleb(-18)
        }
        seen: set[str] = set()
        for route in self._routes.values():
            for asset in (route.instrument.base, route.instrument.quote):
                if asset.is_native or asset.symbol in seen:
                    continue
                seen.add(asset.symbol)
                units = await erc20_balance(account.rpc, str(asset.address), account.address)
                out[asset.symbol] = asset.from_base_units(units)
        return out

    @property
    def pool_follower(self) -> Any:
        """The :class:`~oms_chain.venues.amm.follower.PoolFollower` quotes read from, once
        started (``None`` before the first quote or with ``follow_pools=False``)."""
        return self._pool_states.follower

    async def close(self) -> None:
        """Wait for background unwraps to finish and stop the pool follower (the account is
        closed by its owner)."""
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        await self._pool_states.close()


def _tx_entry(sent: SentTransaction) -> dict[str, Any]:
    fees = sent.fees
    return {
        "hash": sent.tx_hash,
        "raw": sent.signed.raw.hex(),
        "nonce": sent.signed.nonce,
        "fields": {k: (str(v) if isinstance(v, int) else v) for k, v in sent.tx.items()},
        "fees": [
            None if fees.max_fee_per_gas is None else str(fees.max_fee_per_gas),
            None if fees.max_priority_fee_per_gas is None else str(fees.max_priority_fee_per_gas),
            None if fees.gas_price is None else str(fees.gas_price),
        ],
    }


def _sent_from(tx: dict[str, Any], sender: str) -> SentTransaction:
    fields: dict[str, Any] = {}
    for key, value in tx["fields"].items():
        fields[key] = int(value) if key not in ("to", "data", "from") else value
    max_fee, tip, gas_price = (None if v is None else int(v) for v in tx["fees"])
    signed = SignedTransaction(
        raw=bytes.fromhex(tx["raw"]),
        tx_hash=TxHash(tx["hash"]),
        sender=sender,  # type: ignore[arg-type]
        nonce=int(tx["nonce"]),
    )
    return SentTransaction(signed, fields, FeeQuote(max_fee, tip, gas_price))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Uniswap V2


class UniswapV2Venue(_UniswapVenue):
    """Uniswap V2 (or a fork with the same Router02 and 0.3 % pairs) on one chain.

    Args:
        account: the shared :class:`ChainAccount` of the signer on this chain.
        venue_id: lower-case name, e.g. ``uniswap-v2-31337``.
        router: the UniswapV2Router02 address.
        routes: instrument -> pair addresses from base to quote (one, or several for
            multi-hop).
        config: :class:`AmmVenueConfig`.
    """

    protocol = "uniswap-v2"

    def _reserves(self, states: Sequence[V2PoolState], token_in: str) -> list[tuple[int, int]]:
        ordered, tokens = self._path(states, token_in)
        return [st.reserves_for(t) for st, t in zip(ordered, tokens, strict=False)]

    def _quote_in(self, states: Sequence[Any], token_in: str, amount_in: int) -> int:
        try:
            return get_amounts_out(amount_in, self._reserves(states, token_in), states[0].fee_bps)[
                -1
            ]
        except InsufficientReserves as exc:
            raise InvalidInput(str(exc)) from exc

    def _quote_out(self, states: Sequence[Any], token_in: str, amount_out: int) -> int:
        return get_amounts_in(amount_out, self._reserves(states, token_in), states[0].fee_bps)[0]

    def _calldata(self, states: Sequence[Any], swap: _Swap, recipient: str, deadline: int) -> bytes:
        _, tokens = self._path(states, swap.token_in)
        path = [_checksum(t) for t in tokens]
        if swap.exact_in:
            return encode_call(
                "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                swap.amount,
                swap.bound,
                path,
                recipient,
                deadline,
            )
        return encode_call(
            "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)",
            swap.amount,
            swap.bound,
            path,
            recipient,
            deadline,
        )


# ---------------------------------------------------------------------------------------------
# Uniswap V3

_EXACT_INPUT_SINGLE = (
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
_EXACT_OUTPUT_SINGLE = (
    "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
_EXACT_INPUT = "exactInput((bytes,address,uint256,uint256,uint256))"
_EXACT_OUTPUT = "exactOutput((bytes,address,uint256,uint256,uint256))"


class UniswapV3Venue(_UniswapVenue):
    """Uniswap V3 on one chain, swapping through SwapRouter.

    Args:
        account: the shared :class:`ChainAccount` of the signer on this chain.
        venue_id: lower-case name, e.g. ``uniswap-v3-500-31337`` for one fee tier.
        router: the SwapRouter address.
        routes: instrument -> pool addresses from base to quote (one, or several for
            multi-hop).
        config: :class:`AmmVenueConfig`.
    """

    protocol = "uniswap-v3"

    def _quote_in(self, states: Sequence[Any], token_in: str, amount_in: int) -> int:
        ordered, _ = self._path(states, token_in)
        try:
            out, results = quote_exact_input_path(v3_path_hops(ordered, token_in), amount_in)
        except (MathRevert, TickDataMissing) as exc:
            raise InvalidInput(str(exc)) from exc
        if results[0].amount_in != amount_in:
            raise InvalidInput(
                f"the pools absorb only {results[0].amount_in} of {amount_in} before their "
                "price limit"
            )
        return out

    def _quote_out(self, states: Sequence[Any], token_in: str, amount_out: int) -> int:
        ordered, _ = self._path(states, token_in)
        try:
            return quote_exact_output_path(v3_path_hops(ordered, token_in), amount_out)[0]
        except (MathRevert, TickDataMissing) as exc:
            raise InvalidInput(str(exc)) from exc

    def _calldata(self, states: Sequence[Any], swap: _Swap, recipient: str, deadline: int) -> bytes:
        ordered, tokens = self._path(states, swap.token_in)
        fees = [int(st.fee) for st in ordered]
        if len(ordered) == 1:
            params = (
                _checksum(swap.token_in),
                _checksum(swap.token_out),
                fees[0],
                recipient,
                deadline,
                swap.amount,
                swap.bound,
                0,
            )
            return encode_call(
                _EXACT_INPUT_SINGLE if swap.exact_in else _EXACT_OUTPUT_SINGLE, params
            )
        if swap.exact_in:
            path = _v3_path(tokens, fees)
            return encode_call(_EXACT_INPUT, (path, recipient, deadline, swap.amount, swap.bound))
        # exact output paths are encoded from the output token back to the input token
        path = _v3_path(list(reversed(tokens)), list(reversed(fees)))
        return encode_call(_EXACT_OUTPUT, (path, recipient, deadline, swap.amount, swap.bound))

    def _gas_units(self, hops: int) -> int:
        fixed, per_tick = GAS_MODEL[self.protocol]
        return fixed * hops + per_tick

    def _swap_gas(self, states: Sequence[Any], route: _Route, side: Side, base_units: int) -> int:
        """SwapRouter's overhead plus each hop's pool swap as QuoterV2 would measure it (per
        initialized tick crossed and bitmap word walked): a sweeping swap costs millions."""
        inst = route.instrument
        try:
            if side is Side.SELL:
                token_in = self._token(inst.base)
                ordered, _ = self._path(states, token_in)
                hops = v3_path_hops(ordered, token_in)
                results = quote_exact_input_path(hops, base_units)[1]
            else:
                token_in = self._token(inst.quote)
                ordered, _ = self._path(states, token_in)
                hops = v3_path_hops(ordered, token_in)
                results = quote_exact_output_path(hops, base_units)[1]
        except (InvalidInput, VenueRejected):
            return self._gas_units(len(route.pools))
        pools = [pool for pool, _ in hops]
        return V3_GAS.router + sum(v3_swap_gas(p, r) for p, r in zip(pools, results, strict=True))


def _v3_path(tokens: Sequence[str], fees: Sequence[int]) -> bytes:
    """SwapRouter's packed path: token (20 bytes), fee (3 bytes), token, ..."""
    raw = bytes.fromhex(tokens[0][2:])
    for fee, token in zip(fees, tokens[1:], strict=True):
        raw += fee.to_bytes(3, "big") + bytes.fromhex(token[2:])
    return raw


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))
