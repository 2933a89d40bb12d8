"""What V2 and V3 venues share: construction from the journal, placing a swap (balance,
wrap, allowance, journal before broadcast), settlement moves into reports, cancel, reconcile.
Pricing is in :mod:`~oms_chain.venues.amm._pricing`, reports in
:mod:`~oms_chain.venues.amm._reports`, the journal in :mod:`~oms_chain.venues.amm.journal`,
the journaled settlement, cancel and reconcile steps every on-chain venue shares in
:class:`~oms_chain.venues.amm.account.ChainAccount`.

(About 600 lines: placing a swap is one write-ahead sequence — balance, wrap, allowance,
journal, broadcast — whose steps share the venue's reservations and journal entry.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any

from oms_chain.chain.fees import FeeCapExceeded
from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.chain.sender import BroadcastRejected, BroadcastUncertain, OnSigned, SentTransaction
from oms_chain.chain.tracker import SettlementReport
from oms_chain.custody.calls import Call
from oms_chain.model.amm_orders import AmmOrderState, UnwrapState
from oms_chain.model.errors import (
    FinalError,
    InvalidInput,
    OmsError,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from oms_chain.model.ids import ClientOrderId, TxHash, VenueId
from oms_chain.model.instruments import Instrument, SpotPair, instrument_from_payload
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementStatus
from oms_chain.venues.amm._calls import (
    encode_call,
    erc20_balance,
    native_balance,
    wait_for_receipt,
)
from oms_chain.venues.amm._config import AmmVenueConfig, _Route
from oms_chain.venues.amm._pricing import _Pricing
from oms_chain.venues.amm._reports import _Reports
from oms_chain.venues.amm._states import PoolStates
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.amm.approvals import approval_calls, ensure_allowance
from oms_chain.venues.amm.journal import entry_state, tx_entry, unwrap_state
from oms_chain.venues.amm.v3_pool import PoolLoadError
from oms_chain.venues.amm.weth import unwrap, wrap
from oms_chain.venues.base import (
    AmendOrder,
    OrderStatusReport,
    PlaceOrder,
    ReconciliationReport,
    VenueCapabilities,
    VenueOrderStatus,
    VenueReport,
)

_log = logging.getLogger(__name__)
_S = SettlementStatus
_CAPABILITIES = VenueCapabilities(resting_orders=False, amend=False, fills_on_place=False)


class _UniswapVenue(_Pricing, _Reports):
    """What V2 and V3 venues share; subclasses price and encode swaps."""

    #: Gas added per pool to a swap's estimate (see the subclasses).
    _oracle_gas = 0

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
                if entry_state(entry) is AmmOrderState.PENDING:
                    # mined or not by now, holdings() asks the chain
                    account.track_pull(
                        entry["tx"]["hash"],
                        entry["token_in"],
                        int(entry["spend"]),
                        account.pull_nonce(entry["tx"]),
                    )
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
    def capabilities(self) -> VenueCapabilities:
        """A swap executes when mined or not at all: nothing rests, nothing can be amended,
        and :meth:`place` answers once the transaction is out (the fill comes with the receipt,
        through :meth:`status` and :meth:`events`)."""
        return _CAPABILITIES

    @property
    def send_timeout_s(self) -> float:
        """How long :meth:`place` may take: it can wait for a wrap and an approval to be mined
        before it sends the swap (the engine gives a venue at least this long), and for the
        owners' signatures when the account is a Safe whose owners sign elsewhere."""
        wait = float(getattr(self._account.executor, "send_wait_s", 0.0))
        return 2 * self._account.approvals.timeout + 15.0 + wait

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

    def destinations(self, instrument: Instrument) -> Mapping[str, Sequence[str]]:
        """Addresses a swap of ``instrument`` touches, for compliance screening: the router,
        the route's pools and the wrapper (native legs) as ``destination``, the trading account
        (it receives what the swap buys) as ``recipient``. Nothing for an instrument this
        venue does not route."""
        route = self._routes.get(instrument.id)
        if route is None:
            return {}
        called = [self._router, *route.pools]
        inst = route.instrument
        if (inst.base.is_native or inst.quote.is_native) and self._account.weth:
            called.append(self._account.weth)
        return {"destination": called, "recipient": [self._account.address]}

    def forget_transaction(self, tx_hash: TxHash) -> None:
        """The account pruned ``tx_hash`` (settled long ago): stop mapping it to its order."""
        self._coid_of.pop(tx_hash, None)

    def owned_transactions(self) -> list[tuple[TxHash, dict[str, Any]]]:
        """(hash, journaled tx) of the swaps and cancellations this venue signed."""
        return self._account.journaled_transactions(self._id)

    # -- placing ---------------------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        """Swap now; returns ``OPEN`` with settlement ``submitted`` once the transaction is out.

        Raises:
            VenueRejected: duplicate client order id, no route, bad quantity, too little balance,
                the router would revert (reason given), or a signer, its policy or a Safe's
                owners refused; nothing was sent.
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
        except VenueRejected:
            raise
        except FinalError as exc:  # a signer, its policy or the Safe's owners refused
            raise VenueRejected(f"{self._id}: {coid} refused: {exc}; nothing was sent") from exc
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
        latest = await account.rpc.head("latest")
        # the next block is stamped no earlier than the wall clock (nor than the latest block)
        now_s = max(latest.timestamp if latest else 0, account.clock_ns() // 10**9)
        deadline = (
            order.deadline_ns // 1_000_000_000
            if order.deadline_ns is not None
            else now_s + self._cfg.deadline_s
        )
        calldata = self._calldata(states, swap, account.address, deadline)
        native_in = (order.side is Side.SELL and inst.base.is_native) or (
            order.side is Side.BUY and inst.quote.is_native
        )
        if account.executor.batches:
            return await self._place_batched(
                order, inst, swap, calldata, native_in, deadline, self._oracle_gas * len(states)
            )
        sender = account.sender
        async with account.spend_lock(swap.token_in, self._router):
            # Allowance per router; balance shared by every router spending from this wallet.
            # Settle what was mined first, so swaps already paid are not reserved twice.
            await account.poll()
            need = account.reserved(swap.token_in, self._router) + swap.spend
            held, pending = await account.holdings(swap.token_in)
            wrapped = 0
            try:
                if native_in and self._cfg.wrap_native and held < pending + swap.spend:
                    await wrap(
                        sender,
                        account.rpc,
                        swap.token_in,
                        pending + swap.spend - held,
                        timeout=account.approvals.timeout,
                    )
                    wrapped = pending + swap.spend - held
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
                entry = self._entry(order, inst, deadline, swap)
                tx_hash = await self._send_swap(
                    coid,
                    entry,
                    swap,
                    lambda journal: sender.send(
                        to=self._router,
                        data=calldata,
                        what=self._what(order, inst),
                        on_signed=journal,
                        gas_margin=self._oracle_gas * len(states),
                    ),
                )
            except OmsError:
                if wrapped and account.journal.get(coid) is None:
                    await self._unwrap_unsent(coid, swap.token_in, wrapped)
                raise
        return self._open_report(coid, entry, tx_hash)

    def _what(self, order: PlaceOrder, inst: SpotPair) -> str:
        return f"{self._id} {order.side.value} {order.quantity} {inst.symbol}"

    def _entry(self, order: PlaceOrder, inst: SpotPair, deadline: int, swap: Any) -> dict[str, Any]:
        """The journal entry of a swap about to be signed (``tx`` set by :meth:`_send_swap`)."""
        return {
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
            "ts": self._account.clock_ns(),
            "tx": None,
            "cancel": None,
            "unwrap": None,
        }

    async def _send_swap(
        self,
        coid: ClientOrderId,
        entry: dict[str, Any],
        swap: Any,
        send: Callable[[OnSigned], Awaitable[SentTransaction]],
    ) -> TxHash:
        """Send the swap through ``send`` (given the journal hook), journaling its signed
        transaction before the broadcast and reserving what it pulls; signs once more when the
        node refused a nonce another wallet used. Called under the token's spend lock."""
        account = self._account

        async def journal(sent: SentTransaction) -> None:
            entry["tx"] = tx_entry(sent)
            account.track_pull(
                sent.tx_hash, swap.token_in, swap.spend, account.pull_nonce(entry["tx"])
            )
            account.journal.put(coid, entry)
            self._coid_of[sent.tx_hash] = coid
            account.own(sent.tx_hash, self)

        # Reserved before the broadcast: the swap can be mined, and its settlement release
        # the reservation, before send() returns.
        account.reserve(swap.token_in, self._router, swap.spend)
        try:
            for attempt in (1, 2):
                try:
                    return (await send(journal)).tx_hash
                except BroadcastUncertain as exc:
                    return exc.tx_hash
                except BroadcastRejected as exc:
                    # the node refused the bytes: they were never sent, forget them
                    if entry["tx"] is not None:
                        account.forget_pull(entry["tx"]["hash"])
                    account.journal.remove(coid)
                    if attempt == 2 or "nonce too low" not in str(exc).lower():
                        raise
                    # another wallet used our nonce; the sender has resynced, sign again
            raise AssertionError("unreachable")
        except BaseException:
            if account.journal.get(coid) is None:  # never signed or refused: nothing pulls
                account.reserve(swap.token_in, self._router, -swap.spend)
            raise

    async def _place_batched(
        self,
        order: PlaceOrder,
        inst: SpotPair,
        swap: Any,
        calldata: bytes,
        native_in: bool,
        deadline: int,
        gas_margin: int,
    ) -> OrderStatusReport:
        """The swap from a contract account (a Safe): the wrap it needs, the approval it needs
        and the swap itself as one transaction of the account (all or nothing)."""
        coid = order.client_order_id
        account = self._account
        async with account.spend_lock(swap.token_in, self._router):
            await account.poll()
            need = account.reserved(swap.token_in, self._router) + swap.spend
            held, pending = await account.holdings(swap.token_in)
            calls: list[Call] = []
            short = pending + swap.spend - held
            if native_in and self._cfg.wrap_native and short > 0:
                have = await native_balance(account.rpc, account.address)
                if have < short:
                    raise VenueRejected(
                        f"{self._id}: {coid} needs to wrap {short} wei but {account.address} "
                        f"holds only {have} wei of {account.chain.native_symbol}; fund the "
                        "account or trade less"
                    )
                calls.append(Call.to_address(swap.token_in, encode_call("deposit()"), short))
                held += short
            if held < pending + swap.spend:
                raise VenueRejected(
                    f"{self._id}: {coid} needs {swap.spend} base units of {swap.token_in} "
                    f"(+{pending} pulled by swaps in flight) but "
                    f"{account.address} holds {held}; fund the account or trade less"
                )
            calls += await approval_calls(
                account.rpc, swap.token_in, account.address, self._router, need, account.approvals
            )
            calls.append(Call.to_address(self._router, calldata))
            entry = self._entry(order, inst, deadline, swap)
            tx_hash = await self._send_swap(
                coid,
                entry,
                swap,
                lambda journal: account.execute_calls(
                    calls, what=self._what(order, inst), on_signed=journal, gas_margin=gas_margin
                ),
            )
        return self._open_report(coid, entry, tx_hash)

    async def _unwrap_unsent(self, coid: ClientOrderId, weth: str, wrapped: int) -> None:
        """``coid`` wrapped ``wrapped`` wei and then sent no swap: unwrap it again, so an order
        that did nothing leaves the wallet's native balance as it was (less gas) instead of
        holding WETH nobody asked for. Never more than the wallet holds beyond what swaps in
        flight will pull; called under the token's spend lock. A failure is logged, the
        order's own error is what the caller raises."""
        account = self._account
        try:
            held, pending = await account.holdings(weth)
            amount = min(wrapped, held - pending)
            if amount > 0:
                await unwrap(
                    account.sender, account.rpc, weth, amount, timeout=account.approvals.timeout
                )
        except OmsError as exc:
            _log.warning(
                "%s: %s sent no swap; unwrapping the %d wei it wrapped failed: %s",
                self._id,
                coid,
                wrapped,
                exc,
            )

    async def _current(self, coid: ClientOrderId) -> OrderStatusReport:
        return await self._build(coid, self._account.journaled_state(self, coid), None)

    async def on_settlement(self, report: SettlementReport) -> None:
        """Turn a settlement move of one of our transactions into an order report on
        :meth:`events` (called by the account's poll); a filled swap buying the native asset
        starts its unwrap."""
        booked = self._account.settle_journaled(self._coid_of, report, self._router)
        if booked is None:
            return
        coid, entry, settlement = booked
        built = await self._build(coid, settlement, report.block_hash)
        self._queue.put_nowait(built)
        if (
            built.status is VenueOrderStatus.FILLED
            and self._cfg.unwrap_native
            and unwrap_state(entry) is UnwrapState.NOT_STARTED
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
        self._account.unwrapping.add(coid)
        self._account.journal.advance_unwrap(coid, UnwrapState.PENDING)
        amount = int(entry["amount"]) if side is Side.BUY else int(entry["bound"])

        async def run() -> None:
            account = self._account
            try:
                held = await erc20_balance(account.rpc, entry["token_out"], account.address)
                value = min(held, max(amount, 1))
                if account.executor.batches:
                    sent = await account.execute_calls(
                        [
                            Call.to_address(
                                entry["token_out"], encode_call("withdraw(uint256)", value)
                            )
                        ],
                        what="unwrap",
                    )
                    await wait_for_receipt(account.rpc, sent.tx_hash, "unwrap")
                    tx = sent.tx_hash
                else:
                    tx = await unwrap(account.sender, account.rpc, entry["token_out"], value)
            except OmsError as exc:
                account.journal.advance_unwrap(coid, UnwrapState.FAILED, str(exc))
                _log.warning("%s: unwrap after %s failed: %s", self._id, coid, exc)
            else:
                account.journal.advance_unwrap(coid, UnwrapState.SENT, tx)
            finally:
                account.unwrapping.discard(coid)

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
        await self._account.cancel_journaled(
            self, self._id, client_order_id, self._coid_of, self._cfg.cancel_timeout
        )
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
        return await self._account.reconcile_journaled(
            self, client_order_ids, self._current, self.balances
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
