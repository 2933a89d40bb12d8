"""Orders of the on-chain options venue: a fill of the best quote sent through the shared
:class:`~oms_chain.venues.amm.account.ChainAccount` (journaled between signing and broadcasting,
so a restart finds it and never sends it twice), directly, as one ``BatchExecutor`` batch, or as
one transaction of the account's contract account (a Safe: approvals and fill in one batch);
its settlement moves turned into order reports; status, cancel, reconcile and balances."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from decimal import Decimal, localcontext
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from oms_chain.chain.fees import FeeCapExceeded
from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.chain.sender import BroadcastRejected, BroadcastUncertain, SentTransaction
from oms_chain.chain.tracker import SettlementReport
from oms_chain.chain.types import Receipt
from oms_chain.custody.calls import Call
from oms_chain.model.assets import Asset
from oms_chain.model.errors import VenueRejected, VenueTimeout, VenueUnavailable
from oms_chain.model.ids import ClientOrderId, TradeId, TxHash, VenueOrderId
from oms_chain.model.intent import Side
from oms_chain.venues.amm._calls import encode_call, erc20_balance, native_balance
from oms_chain.venues.amm.approvals import approval_calls, ensure_allowance
from oms_chain.venues.amm.journal import tx_entry
from oms_chain.venues.base import (
    AmendOrder,
    FillReport,
    OrderStatusReport,
    PlaceOrder,
    ReconciliationReport,
    VenueReport,
)
from oms_chain.venues.options.onchain._base import _EXECUTE, _PREC, _ZERO, SeriesListing
from oms_chain.venues.options.onchain.rfq import MakerQuote, _Rfq
from oms_chain.venues.options.quotes import FILL

_QUOTE_FILLED = (
    "0x"
    + keccak(text="QuoteFilled(bytes32,address,address,uint256,bool,uint256,uint256,uint256)").hex()
)


class _Orders(_Rfq):
    """Placing fills and following them (mixed into the venue)."""

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        """RFQ the makers, check the best quote and the funds, fill it; returns ``OPEN`` with
        settlement ``submitted`` once the fill transaction is out.

        Raises:
            VenueRejected: duplicate id, unknown series, expired series, bad quantity, no
                fillable quote (each maker's reason given), funds or allowance short, or the
                fill would revert; nothing was sent.
            VenueUnavailable: the node could not be reached before anything was signed.
            VenueTimeout: an approval was not mined in time (the fill was not sent).
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
        listing = self.listing(order.instrument)
        contracts = self._contracts(listing, order.quantity)
        if order.limit_price is not None and order.limit_price <= 0:
            raise VenueRejected(f"{self._id}: limit price must be > 0, got {order.limit_price}")
        account.placing.add(coid)
        try:
            return await self._place(order, listing, contracts)
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: {coid} not sent: {exc}") from exc
        except (TransactionWouldRevert, BroadcastRejected, FeeCapExceeded) as exc:
            raise VenueRejected(f"{self._id}: {coid} refused: {exc}; nothing was sent") from exc
        except BroadcastUncertain as exc:
            raise VenueTimeout(
                f"{self._id}: {coid} not sent: {exc}; place it again once that settles"
            ) from exc
        except RpcError as exc:
            raise VenueRejected(f"{self._id}: {coid} not sent: the node said {exc}") from exc
        finally:
            account.placing.discard(coid)

    async def _place(
        self, order: PlaceOrder, listing: SeriesListing, contracts: int
    ) -> OrderStatusReport:
        coid = order.client_order_id
        account = self._account
        best, _now = await self._best(order, listing, contracts)
        if order.side is Side.BUY:
            token, spend = listing.quote, contracts * best.premium
        else:
            token, spend = listing.collateral_token, contracts * listing.collateral_per_contract
        fill = encode_call(FILL, best.as_tuple(), best.signature, contracts)
        to, calldata = self._market, fill
        if self._cfg.executor is not None:
            to, calldata = self._cfg.executor, self._batch(order.side, listing, best, contracts)
        async with account.spend_lock(token, self._market):
            await account.poll()
            held, pending = await self._held(token)
            if held < pending + spend:
                role = "premium" if order.side is Side.BUY else "collateral"
                raise VenueRejected(
                    f"{self._id}: {coid} needs {spend} base units of {token} as {role} "
                    f"(+{pending} pulled by orders in flight) but {self.holder} holds "
                    f"{held}: insufficient {role}; fund the account or trade less; nothing "
                    "was sent"
                )
            need = account.reserved(token, self._market) + spend
            calls: list[Call] = []
            if account.executor.batches:  # a contract account approves inside its batch
                calls = await approval_calls(
                    account.rpc, token, account.address, self._market, need, account.approvals
                )
                calls.append(Call.to_address(self._market, fill))
            elif self._cfg.executor is None:  # the BatchExecutor approves inside its batch
                await ensure_allowance(
                    account.sender, account.rpc, token, self._market, need, account.approvals
                )
            entry: dict[str, Any] = {
                "venue": self._id,
                "instrument": listing.contract.to_payload(),
                "series_id": listing.series_id,
                "side": order.side.value,
                "quantity": str(order.quantity),
                "contracts": contracts,
                "limit_price": None if order.limit_price is None else str(order.limit_price),
                "deadline": best.deadline,
                "quote": best.to_json(),
                "token_in": token,
                "spend": str(spend),
                "executor": self._cfg.executor,
                "ts": account.clock_ns(),
                "tx": None,
                "cancel": None,
                "unwrap": None,
            }

            async def journal(sent: SentTransaction) -> None:
                entry["tx"] = tx_entry(sent)
                account.track_pull(sent.tx_hash, token, spend, account.pull_nonce(entry["tx"]))
                account.journal.put(coid, entry)
                self._coid_of[sent.tx_hash] = coid
                account.own(sent.tx_hash, self)

            what = f"{self._id} {order.side.value} {order.quantity} {listing.contract.symbol}"
            account.reserve(token, self._market, spend)
            try:
                try:
                    if calls:
                        sent = await account.execute_calls(calls, what=what, on_signed=journal)
                    else:
                        sent = await account.sender.send(
                            to=to, data=calldata, what=what, on_signed=journal
                        )
                    tx_hash = sent.tx_hash
                except BroadcastUncertain as exc:
                    tx_hash = exc.tx_hash
                except BroadcastRejected:
                    if entry["tx"] is not None:
                        account.forget_pull(entry["tx"]["hash"])
                    account.journal.remove(coid)
                    raise
            except BaseException:
                if account.journal.get(coid) is None:
                    account.reserve(token, self._market, -spend)
                raise
        return self._open_report(coid, entry, tx_hash)

    def _batch(self, side: Side, listing: SeriesListing, q: MakerQuote, contracts: int) -> bytes:
        """``execute`` calldata for the executor: approve what the fill pulls, fill, and guard
        the quote token: a buyer pays at most the premium, a writer nets at least the premium
        (less the collateral when a put's collateral is the quote token)."""
        premium = contracts * q.premium
        if side is Side.BUY:
            token, pull, net = listing.quote, premium, -premium
        else:
            token = listing.collateral_token
            pull = contracts * listing.collateral_per_contract
            net = premium - (pull if token == listing.quote else 0)
        fill = encode_call(FILL, q.as_tuple(), q.signature, contracts)
        calls = [
            (token, 0, encode_call("approve(address,uint256)", self._market, pull), _ZERO, 0),
            (self._market, 0, fill, listing.quote, net),
        ]
        return encode_call(_EXECUTE, calls, [(listing.quote, net)])

    # -- settlement moves -> reports -----------------------------------------------------------

    def _fill(
        self, coid: ClientOrderId, entry: dict[str, Any], receipt: Receipt
    ) -> FillReport | None:
        """The fill from the receipt's ``QuoteFilled`` log of our quote."""
        market = self._market.lower()
        for log in receipt.logs:
            topics = [t.lower() for t in log.topics]
            if log.address.lower() != market or not topics:
                continue
            if topics[0] != _QUOTE_FILLED:
                continue
            _sid, _sells, amount, premium_total, _total = abi_decode(
                ["uint256", "bool", "uint256", "uint256", "uint256"],
                bytes.fromhex(log.data[2:]),
            )
            listing = self._series.get(int(entry["series_id"]))
            if listing is None or int(amount) == 0:
                return None
            quantity = listing.quantity(int(amount))
            with localcontext() as ctx:
                ctx.prec = _PREC
                price = listing.contract.quote.from_base_units(int(premium_total)) / quantity
            gas = receipt.gas_paid
            return FillReport(
                venue=self._id,
                trade_id=TradeId(f"{receipt.tx_hash}@{receipt.block_hash}"),
                client_order_id=coid,
                venue_order_id=VenueOrderId(entry["tx"]["hash"]),
                side=Side(entry["side"]),
                quantity=quantity,
                price=price,
                fee=Decimal(gas).scaleb(-18),
                fee_currency=self._account.chain.native_symbol,
                ts_event=self._account.clock_ns(),
            )
        return None

    async def _current(self, coid: ClientOrderId) -> OrderStatusReport:
        return await self._build(coid, self._account.journaled_state(self, coid), None)

    def owned_transactions(self) -> list[tuple[TxHash, dict[str, Any]]]:
        """(hash, journaled tx) of the fills and cancellations this venue signed."""
        return self._account.journaled_transactions(self._id)

    def forget_transaction(self, tx_hash: TxHash) -> None:
        """The account pruned ``tx_hash``."""
        self._coid_of.pop(tx_hash, None)

    async def on_settlement(self, report: SettlementReport) -> None:
        """A settlement move of one of our fill transactions -> an order report on
        :meth:`events` (called by the account's poll)."""
        booked = self._account.settle_journaled(self._coid_of, report, self._market)
        if booked is not None:
            coid, _, settlement = booked
            self._queue.put_nowait(await self._build(coid, settlement, report.block_hash))

    def events(self) -> AsyncIterator[VenueReport]:
        """Every order report the venue pushes (settlement moves of its fills)."""

        async def stream() -> AsyncIterator[VenueReport]:
            while True:
                yield await self._queue.get()

        return stream()

    # -- order queries and control ---------------------------------------------------------------

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """The order's report from the journal and the chain; ``None`` when this venue never
        signed a fill for it."""
        entry = self._account.journal.get(client_order_id)
        if entry is None or entry.get("venue") != self._id:
            return None
        await self._account.poll()
        return await self._current(client_order_id)

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel a fill still pending (a 0-value self-transfer at its nonce, higher fees);
        waits up to ``cancel_timeout`` for one of the two to land. A mined fill just returns
        its report.

        Raises:
            VenueRejected: no such order was sent.
        """
        await self._account.cancel_journaled(
            self, self._id, client_order_id, self._coid_of, self._cfg.cancel_timeout
        )
        return await self._current(client_order_id)

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        """Not possible: a quote is filled or refused, nothing rests.

        Raises:
            VenueRejected: always.
        """
        raise VenueRejected(
            f"{self._id}: amend of {request.client_order_id} is not possible: RFQ fills do not "
            "rest; place a new order"
        )

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        """Reports for the asked ids and every fill not settled yet, from the journal and the
        chain; ids never journaled are ``unknown``."""
        return await self._account.reconcile_journaled(
            self, client_order_ids, self._current, self.balances
        )

    async def balances(self) -> Mapping[str, Decimal]:
        """Wallet balances: the native asset and every token of the listed series."""
        account = self._account
        out: dict[str, Decimal] = {
            account.chain.native_symbol: Decimal(
                await native_balance(account.rpc, account.address)
            ).scaleb(-18)
        }
        seen: dict[str, Asset] = {}
        for listing in self._series.values():
            for asset in (listing.contract.underlying, listing.contract.quote):
                seen.setdefault(asset.symbol, asset)
        for symbol, asset in sorted(seen.items()):
            units = await erc20_balance(account.rpc, str(asset.address), self.holder)
            out[symbol] = asset.from_base_units(units)
        return out
