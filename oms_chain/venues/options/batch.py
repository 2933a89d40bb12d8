"""All legs of an option structure on the on-chain market as ONE ``BatchExecutor`` transaction.

(About 650 lines: preparing, sending and settling one batch share its journal entry; the package
RFQ and its log reading live in :mod:`~oms_chain.venues.options.batch_package`.)

:class:`AtomicOptionsBatch` works beside an :class:`~oms_chain.venues.options.OnchainOptionsVenue`
configured with an executor (the executor holds the funds and the positions):

* :meth:`~AtomicOptionsBatch.prepare` asks the makers at once for ONE package quote over all
  legs (:mod:`~oms_chain.venues.options.batch_package`: one maker signature, filled by one
  ``fillPackage``: one signature check, one record, the premium netted on chain) and for every
  leg alone, checks each answer exactly as the venue checks a single fill (series, side, size,
  deadline against chain time, the maker's nonce, what the market still lets fill, the
  signature, each leg's limit price), and takes the best package unless the best single quotes
  net a lower premium (a tie goes to the package, which costs less gas), then checks the
  structure's net premium against ``max_net_premium``. Nothing is signed.
* :meth:`~AtomicOptionsBatch.send` signs one ``execute`` call: one exact approval per token
  pulled, one ``fillPackage`` (or one ``fill`` per leg), and aggregate guards: the quote token
  may fall by at most ``max_net_premium`` plus the put collateral posted, and every other
  collateral token by at most the collateral posted. A quote that became invalid in between
  (expired, cancelled, filled by someone else) or a premium beyond the guard reverts the whole
  batch; the sender's simulation catches that before signing, so nothing is broadcast and
  nothing moves.
* The transaction is journaled between signing and broadcasting in the shared
  :class:`~oms_chain.venues.amm.account.ChainAccount` under the batch id, so a process killed
  after sending finds it again and never sends it twice. Its settlement is the settlement of
  every leg together: one receipt fills all legs, a reorg or drop un-fills all of them
  (:meth:`~AtomicOptionsBatch.status`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from oms_chain.chain.fees import FeeCapExceeded
from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.chain.sender import BroadcastRejected, BroadcastUncertain, SentTransaction
from oms_chain.chain.tracker import SettlementReport
from oms_chain.chain.types import MalformedReceipt, Receipt
from oms_chain.model.amm_orders import AmmOrderState
from oms_chain.model.errors import InvalidInput, VenueRejected, VenueTimeout, VenueUnavailable
from oms_chain.model.ids import ClientOrderId, TxHash, VenueId
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementStatus
from oms_chain.venues.amm._calls import encode_call, eth_call
from oms_chain.venues.amm.journal import entry_state, tx_entry
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options.batch_package import PackageRequest, best_package, package_fills
from oms_chain.venues.options.onchain import MakerQuote, OnchainOptionsVenue, SeriesListing
from oms_chain.venues.options.onchain._base import _EXECUTE, _ZERO
from oms_chain.venues.options.onchain.orders import _QUOTE_FILLED
from oms_chain.venues.options.packages import FILL_PACKAGE, SignedPackage
from oms_chain.venues.options.quotes import FILL as _FILL

__all__ = ["AtomicOptionsBatch", "BatchLeg", "BatchStatus", "NetPremiumExceeded", "PreparedBatch"]

_log = logging.getLogger(__name__)
_S = SettlementStatus
_MAX_LEGS = 16


class NetPremiumExceeded(VenueRejected):
    """The best quotes of a structure's legs add up to a net premium beyond its limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchLeg:
    """One leg of a batch: the order, its series, on-chain contracts and the quote to fill
    (``None`` when the batch fills a package quote over all legs). ``premium`` is the leg's total
    premium in quote base units (paid for a buy, received for a sell)."""

    order: PlaceOrder
    listing: SeriesListing
    contracts: int
    quote: MakerQuote | None
    premium: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedBatch:
    """A checked, unsigned batch. ``net_premium`` is in quote base units, positive when the
    structure pays (a debit), negative when it receives; ``max_net_premium`` the guard in the same
    units; ``calldata`` the executor's ``execute`` call; ``package`` the maker's package quote
    over all legs, when it fills one (else each leg has its own quote)."""

    batch_id: ClientOrderId
    legs: tuple[BatchLeg, ...]
    net_premium: int
    max_net_premium: int
    pulls: tuple[tuple[str, int], ...]
    calldata: bytes
    package: SignedPackage | None = None

    @property
    def deadline(self) -> int:
        """The last chain time (unix seconds, inclusive) the batch can be mined at: the
        package's deadline, or the earliest of the legs' quotes."""
        if self.package is not None:
            return self.package.deadline
        return min(leg.quote.deadline for leg in self.legs if leg.quote is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchStatus:
    """Where a batch's one transaction stands. ``filled`` holds, per leg in order, the
    contracts the receipt's ``QuoteFilled`` logs show (all zero unless the transaction is
    mined and succeeded, and zero again after a reorg or a drop: all legs move together)."""

    batch_id: ClientOrderId
    tx_hash: TxHash
    settlement: SettlementStatus
    succeeded: bool | None
    filled: tuple[int, ...]
    premiums: tuple[int, ...]
    gas_used: int | None
    block_number: int | None

    @property
    def all_filled(self) -> bool:
        """Every leg filled by one mined, successful transaction."""
        return bool(self.succeeded) and all(n > 0 for n in self.filled)

    @property
    def rolled_back(self) -> bool:
        """The transaction was dropped, replaced, reverted or reorged out: no leg holds."""
        return self.settlement in (_S.DROPPED, _S.REPLACED, _S.REORGED) or self.succeeded is False


class AtomicOptionsBatch:
    """Atomic structures on ``venue``'s market through its executor (see the module doc).

    Raises:
        InvalidInput: ``venue`` is not an on-chain options venue with an executor.
    """

    def __init__(self, venue: OnchainOptionsVenue) -> None:
        if not isinstance(venue, OnchainOptionsVenue):
            raise InvalidInput(f"venue must be an OnchainOptionsVenue, got {type(venue).__name__}")
        account = venue.account
        if venue.holder == to_checksum_address(account.address):
            raise InvalidInput(
                f"{venue.venue_id}: atomic structures need a BatchExecutor; configure the "
                "venue with executor=<address>"
            )
        self._venue = venue
        self._account = account
        self._id = VenueId(f"{venue.venue_id}-batch")
        self._coid_of: dict[TxHash, ClientOrderId] = {}
        self._moves: dict[ClientOrderId, SettlementReport] = {}
        for coid, entry in account.journal.entries().items():
            if entry.get("venue") == self._id:
                self._coid_of[TxHash(entry["tx"]["hash"])] = ClientOrderId(coid)
        account.register(self)

    @property
    def venue_id(self) -> VenueId:
        """``<venue id>-batch``: the account routes the batches' settlement moves here."""
        return self._id

    @property
    def executor(self) -> str:
        """The BatchExecutor that sends the fills and holds the positions."""
        return self._venue.holder

    def listing(self, instrument: Instrument) -> SeriesListing:
        """The market's listing of ``instrument``.

        Raises:
            VenueRejected: the market does not list it.
        """
        return self._venue.listing(instrument)

    # -- preparing ----------------------------------------------------------------------------

    async def prepare(
        self,
        batch_id: ClientOrderId,
        orders: Sequence[PlaceOrder],
        *,
        max_net_premium: Decimal,
    ) -> PreparedBatch:
        """Quote and check every leg and the net premium; nothing is signed or sent. The best
        package quote over all legs is used unless the best single quotes net less.

        ``max_net_premium`` is in the quote asset (USDC): the most the structure may pay, or,
        when negative, the least credit it must receive.

        Raises:
            InvalidInput: bad arguments (named).
            VenueRejected: no fillable package and a leg has no fillable quote (each maker's
                reason, the leg named).
            NetPremiumExceeded: the best quotes' net premium is beyond ``max_net_premium``.
        """
        if not isinstance(batch_id, str) or not batch_id:
            raise InvalidInput("batch_id must be a non-empty client order id")
        legs_in = tuple(orders)
        if not 1 <= len(legs_in) <= _MAX_LEGS:
            raise InvalidInput(f"orders: a batch has 1 to {_MAX_LEGS} legs, got {len(legs_in)}")
        if not isinstance(max_net_premium, Decimal) or not max_net_premium.is_finite():
            raise InvalidInput(f"max_net_premium must be a finite Decimal, got {max_net_premium!r}")
        venue = self._venue
        asked: list[PackageRequest] = []
        quote_asset = None
        for i, order in enumerate(legs_in):
            if not isinstance(order, PlaceOrder):
                raise InvalidInput(f"orders[{i}] must be a PlaceOrder, got {type(order).__name__}")
            try:
                listing = venue.listing(order.instrument)
                contracts = venue._contracts(listing, order.quantity)
            except (VenueRejected, InvalidInput) as exc:
                raise VenueRejected(f"{self._id}: {_leg_name(i, order)}: {exc}") from None
            if quote_asset is None:
                quote_asset = listing.contract.quote
            elif listing.contract.quote != quote_asset:
                raise InvalidInput(f"orders[{i}]: settles in another quote asset than leg 0")
            asked.append(PackageRequest(order=order, listing=listing, contracts=contracts))
        # the package and the single quotes are asked together: a package is taken only when
        # its net premium is no worse than the best single quotes' (or no leg is quoted alone)
        offered = asyncio.ensure_future(best_package(venue, asked))
        try:
            singles = await asyncio.gather(
                *(self._quoted(i, a) for i, a in enumerate(asked)), return_exceptions=True
            )
            package, refused = await offered
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: batch {batch_id} not quoted: {exc}") from exc
        finally:
            offered.cancel()
        for reason in refused:
            _log.info("%s: batch %s: package refused: %s", self._id, batch_id, reason)
        single_legs = [leg for leg in singles if isinstance(leg, BatchLeg)]
        failed = [e for e in singles if isinstance(e, BaseException)]
        for error in failed:
            if not isinstance(error, VenueRejected | VenueUnavailable):
                raise error
        if package is not None:
            legs = [
                BatchLeg(
                    order=a.order,
                    listing=a.listing,
                    contracts=a.contracts,
                    quote=None,
                    premium=a.contracts * pleg.premium,
                )
                for a, pleg in zip(asked, package.legs, strict=True)
            ]
            if not failed and _net(single_legs) < _net(legs):
                package, legs = None, single_legs
        elif failed:
            raise failed[0]
        else:
            legs = single_legs
        net = _net(legs)
        pulls: dict[str, int] = {}
        for leg in legs:
            if leg.order.side is Side.SELL:
                token = leg.listing.collateral_token
                amount = leg.contracts * leg.listing.collateral_per_contract
                pulls[token] = pulls.get(token, 0) + amount
            elif package is None:
                pulls[leg.listing.quote] = pulls.get(leg.listing.quote, 0) + leg.premium
        if package is not None and net > 0:
            # one netted premium transfer: the executor pays only the debit
            quote_token = legs[0].listing.quote
            pulls[quote_token] = pulls.get(quote_token, 0) + net
        loose = PreparedBatch(
            batch_id=batch_id,
            legs=tuple(legs),
            net_premium=net,
            max_net_premium=net,
            pulls=tuple(sorted((t, a) for t, a in pulls.items() if a > 0)),
            calldata=b"",
            package=package,
        )
        return self.guarded(loose, max_net_premium)

    async def _quoted(self, i: int, asked: PackageRequest) -> BatchLeg:
        """Leg ``i`` with the best single quote for it."""
        order, listing, contracts = asked.order, asked.listing, asked.contracts
        try:
            best, _now = await self._venue._best(order, listing, contracts)
        except (VenueRejected, InvalidInput) as exc:
            raise VenueRejected(f"{self._id}: {_leg_name(i, order)}: {exc}") from None
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: leg {i} not quoted: {exc}") from exc
        return BatchLeg(
            order=order,
            listing=listing,
            contracts=contracts,
            quote=best,
            premium=contracts * best.premium,
        )

    def guarded(self, prepared: PreparedBatch, max_net_premium: Decimal) -> PreparedBatch:
        """``prepared`` with its guard at ``max_net_premium`` (quote asset; see
        :meth:`prepare`): the same quotes, new calldata. Nothing is asked or sent.

        Raises:
            NetPremiumExceeded: the quotes' net premium is beyond ``max_net_premium``.
        """
        if not isinstance(max_net_premium, Decimal) or not max_net_premium.is_finite():
            raise InvalidInput(f"max_net_premium must be a finite Decimal, got {max_net_premium!r}")
        quote_asset = prepared.legs[0].listing.contract.quote
        net = prepared.net_premium
        limit = _base_units(max_net_premium, quote_asset.decimals)
        if net > limit:
            raise NetPremiumExceeded(
                f"{self._id}: batch {prepared.batch_id}: the best quotes net a premium of "
                f"{_human(net, quote_asset.decimals)} {quote_asset.symbol} "
                f"({'paid' if net > 0 else 'received'}), beyond max_net_premium "
                f"{max_net_premium} {quote_asset.symbol}; nothing was sent"
            )
        legs = list(prepared.legs)
        calldata = self._calldata(
            legs, legs[0].listing.quote, limit, dict(prepared.pulls), package=prepared.package
        )
        return PreparedBatch(
            batch_id=prepared.batch_id,
            legs=prepared.legs,
            net_premium=net,
            max_net_premium=limit,
            pulls=prepared.pulls,
            calldata=calldata,
            package=prepared.package,
        )

    def _calldata(
        self,
        legs: list[BatchLeg],
        quote_token: str,
        limit: int,
        pulls: dict[str, int],
        *,
        package: SignedPackage | None = None,
    ) -> bytes:
        market = self._venue.market_address
        calls: list[tuple[str, int, bytes, str, int]] = [
            (token, 0, encode_call("approve(address,uint256)", market, amount), _ZERO, 0)
            for token, amount in sorted(pulls.items())
        ]
        if package is not None:
            fill = encode_call(FILL_PACKAGE, package.as_tuple(), package.signature, package.size)
            calls.append((market, 0, fill, _ZERO, 0))
        for leg in legs if package is None else ():
            assert leg.quote is not None
            fill = encode_call(_FILL, leg.quote.as_tuple(), leg.quote.signature, leg.contracts)
            calls.append((market, 0, fill, _ZERO, 0))
        # collateral posted by the writes is no premium: the quote guard allows for the put
        # collateral, the other tokens may fall by exactly their collateral and no more
        collateral: dict[str, int] = {}
        for leg in legs:
            if leg.order.side is Side.SELL:
                t = leg.listing.collateral_token
                posted = leg.contracts * leg.listing.collateral_per_contract
                collateral[t] = collateral.get(t, 0) + posted
        guards = [(quote_token, -(limit + collateral.pop(quote_token, 0)))]
        guards += [(t, -amount) for t, amount in sorted(collateral.items())]
        return encode_call(_EXECUTE, calls, guards)

    # -- sending ------------------------------------------------------------------------------

    async def send(self, prepared: PreparedBatch) -> BatchStatus:
        """Sign and broadcast the batch (once: a batch id already journaled is not sent again,
        its status is returned).

        Raises:
            VenueRejected: the executor lacks funds, or the batch would revert (a leg's quote
                became invalid, a guard fails); nothing was sent.
            VenueUnavailable: the node could not be reached before anything was signed.
            VenueTimeout: the broadcast's outcome is unknown (the journal has it; ask
                :meth:`status`, never send again).
        """
        if not isinstance(prepared, PreparedBatch):
            raise InvalidInput(f"expected a PreparedBatch, got {type(prepared).__name__}")
        coid = prepared.batch_id
        account = self._account
        known = await self.status(coid)
        if known is not None:
            return known
        if coid in account.placing:
            raise VenueRejected(f"{self._id}: batch {coid} is being sent; ask status()")
        account.placing.add(coid)
        try:
            return await self._send(prepared)
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: batch {coid} not sent: {exc}") from exc
        except (TransactionWouldRevert, BroadcastRejected, FeeCapExceeded) as exc:
            raise VenueRejected(
                f"{self._id}: batch {coid} refused: {exc}; no leg was sent"
            ) from exc
        except BroadcastUncertain as exc:
            raise VenueTimeout(f"{self._id}: batch {coid}: {exc}; ask status()") from exc
        except RpcError as exc:
            raise VenueRejected(f"{self._id}: batch {coid} not sent: the node said {exc}") from exc
        finally:
            account.placing.discard(coid)

    async def _send(self, prepared: PreparedBatch) -> BatchStatus:
        coid = prepared.batch_id
        account = self._account
        venue = self._venue
        market = venue.market_address
        locks = [account.spend_lock(t, market) for t, _ in prepared.pulls]
        for lock in locks:
            await lock.acquire()
        try:
            await account.poll()
            for token, amount in prepared.pulls:
                held, pending = await venue._held(token)
                if held < pending + amount:
                    raise VenueRejected(
                        f"{self._id}: batch {coid} pulls {amount} base units of {token} "
                        f"(+{pending} by orders in flight) but {self.executor} holds {held}; "
                        "fund the executor; nothing was sent"
                    )
            entry: dict[str, Any] = {
                "venue": self._id,
                "kind": "structure_batch",
                "legs": [
                    {
                        "client_order_id": leg.order.client_order_id,
                        "instrument": leg.listing.contract.to_payload(),
                        "series_id": leg.listing.series_id,
                        "side": leg.order.side.value,
                        "quantity": str(leg.order.quantity),
                        "contracts": leg.contracts,
                        "premium": str(leg.premium),
                        "quote": None if leg.quote is None else leg.quote.to_json(),
                    }
                    for leg in prepared.legs
                ],
                "package": None if prepared.package is None else prepared.package.to_json(),
                "net_premium": str(prepared.net_premium),
                "max_net_premium": str(prepared.max_net_premium),
                "pulls": [[t, str(a)] for t, a in prepared.pulls],
                "ts": account.clock_ns(),
                "tx": None,
                "cancel": None,
            }

            async def journal(sent: SentTransaction) -> None:
                entry["tx"] = tx_entry(sent)
                account.journal.put(coid, entry)
                self._coid_of[sent.tx_hash] = coid
                account.own(sent.tx_hash, self)

            what = f"{self._id} structure {coid} ({len(prepared.legs)} legs)"
            for token, amount in prepared.pulls:
                account.reserve(token, market, amount)
            try:
                await account.sender.send(
                    to=self.executor, data=prepared.calldata, what=what, on_signed=journal
                )
            except BroadcastUncertain:
                pass  # journaled: the tracker finds out
            except BaseException:
                if account.journal.get(coid) is None:
                    for token, amount in prepared.pulls:
                        account.reserve(token, market, -amount)
                raise
        finally:
            for lock in reversed(locks):
                lock.release()
        status = await self.status(coid)
        assert status is not None
        return status

    # -- settlement -----------------------------------------------------------------------------

    async def status(self, batch_id: ClientOrderId) -> BatchStatus | None:
        """The batch's transaction and what it filled per leg (``None``: never journaled, so
        never sent)."""
        entry = self._account.journal.get(batch_id)
        if entry is None or entry.get("venue") != self._id or entry.get("tx") is None:
            return None
        tx_hash = TxHash(entry["tx"]["hash"])
        if not self._account.is_tracked(tx_hash):
            self._account.register(self)
        state = self._account.tracker.state(tx_hash)
        legs = entry["legs"]
        zero = tuple(0 for _ in legs)
        premiums = tuple(int(leg["premium"]) for leg in legs)
        mined = state.status in (_S.INCLUDED, _S.CONFIRMED, _S.FINAL)
        receipt = await self._receipt(tx_hash) if mined else None
        if receipt is None:
            return BatchStatus(
                batch_id=batch_id,
                tx_hash=tx_hash,
                settlement=state.status,
                succeeded=None,
                filled=zero,
                premiums=premiums,
                gas_used=None,
                block_number=state.block_number,
            )
        filled = self._filled(entry, receipt) if receipt.status == 1 else zero
        return BatchStatus(
            batch_id=batch_id,
            tx_hash=tx_hash,
            settlement=state.status,
            succeeded=receipt.status == 1,
            filled=filled,
            premiums=premiums,
            gas_used=receipt.gas_used,
            block_number=receipt.block_number,
        )

    async def wait(self, batch_id: ClientOrderId, *, polls: int = 600) -> BatchStatus:
        """Poll the account until the batch is mined (or rolled back); returns its status.

        Raises:
            InvalidInput: the batch was never journaled.
            VenueTimeout: still pending after ``polls`` polls.
        """
        for _ in range(polls):
            await self._account.poll()
            status = await self.status(batch_id)
            if status is None:
                raise InvalidInput(f"batch {batch_id} was never sent")
            if status.succeeded is not None or status.rolled_back:
                return status
            await asyncio.sleep(0.05)
        raise VenueTimeout(f"{self._id}: batch {batch_id} still pending; ask status() later")

    async def _receipt(self, tx_hash: str) -> Receipt | None:
        try:
            return await self._account.rpc.receipt(tx_hash)
        except MalformedReceipt:
            return None

    def _filled(self, entry: dict[str, Any], receipt: Receipt) -> tuple[int, ...]:
        """Contracts per leg from the market's logs. A package: its one ``PackageFilled`` log
        gives the units, each leg fills ``units * ratio``. Else the ``QuoteFilled`` logs: the
        batch makes one ``fill`` per leg, in leg order, and each emits one, so the i-th log is
        leg i (two legs on one series are told apart). A receipt with another count of them is
        read per series instead."""
        market = self._venue.market_address.lower()
        if entry.get("package") is not None:
            return package_fills(self._venue, entry["package"], receipt)
        fills: list[tuple[int, int]] = []
        for log in receipt.logs:
            topics = [t.lower() for t in log.topics]
            if log.address.lower() != market or not topics or topics[0] != _QUOTE_FILLED:
                continue
            sid, _sells, amount, _premium, _total = abi_decode(
                ["uint256", "bool", "uint256", "uint256", "uint256"],
                bytes.fromhex(log.data[2:]),
            )
            fills.append((int(sid), int(amount)))
        legs = entry["legs"]
        if len(fills) == len(legs) and all(
            sid == int(leg["series_id"]) for (sid, _), leg in zip(fills, legs, strict=True)
        ):
            return tuple(amount for _, amount in fills)
        by_series: dict[int, int] = {}
        for sid, amount in fills:
            by_series[sid] = by_series.get(sid, 0) + amount
        return tuple(by_series.get(int(leg["series_id"]), 0) for leg in legs)

    async def close_pairs(self, instrument: Instrument) -> int:
        """Burn every long the executor holds of ``instrument``'s series against a short of the
        same series for the collateral back (``close``: what selling back an option leaves on
        this market, where a sale writes); returns the pairs closed (0: nothing to close, nothing
        sent).

        Raises:
            VenueRejected: unknown series, or the close was refused (nothing sent).
        """
        listing = self._venue.listing(instrument)
        sid = listing.series_id
        rpc = self._account.rpc
        market = self._venue.market_address
        held = []
        for token_id in (2 * sid, 2 * sid + 1):
            (n,) = await eth_call(
                rpc,
                market,
                encode_call("balanceOf(address,uint256)", self.executor, token_id),
                ["uint256"],
            )
            held.append(int(n))
        pairs = min(held)
        if pairs == 0:
            return 0
        close = encode_call("close(uint256,uint256)", sid, pairs)
        call = encode_call(_EXECUTE, [(market, 0, close, _ZERO, 0)], [])
        await self._venue._send_and_wait(call, f"close {pairs} of series {sid}", to=self.executor)
        return pairs

    # -- the account's listener protocol ----------------------------------------------------------

    def owned_transactions(self) -> list[tuple[TxHash, dict[str, Any]]]:
        """(hash, journaled tx) of every batch this object signed."""
        return [
            (TxHash(entry["tx"]["hash"]), entry["tx"])
            for entry in self._account.journal.entries().values()
            if entry.get("venue") == self._id and entry.get("tx") is not None
        ]

    def forget_transaction(self, tx_hash: TxHash) -> None:
        """The account pruned ``tx_hash``."""
        self._coid_of.pop(tx_hash, None)

    async def on_settlement(self, report: SettlementReport) -> None:
        """A settlement move of a batch: release the reservations once it is mined or gone,
        advance the journal entry; the legs move together (see :meth:`status`)."""
        coid = self._coid_of.get(report.tx_hash)
        if coid is None:
            return
        entry = self._account.journal.get(coid)
        if entry is None or entry["tx"]["hash"] != report.tx_hash:
            return
        self._moves[coid] = report
        done = (_S.INCLUDED, _S.CONFIRMED, _S.FINAL, _S.DROPPED, _S.REPLACED)
        ended = report.status in (_S.FINAL, _S.DROPPED, _S.REPLACED)
        state = entry_state(entry)
        if state is AmmOrderState.PENDING and report.status in done:
            for token, amount in entry["pulls"]:
                self._account.reserve(token, self._venue.market_address, -int(amount))
        if ended and state is not AmmOrderState.ENDED:
            self._account.journal.advance(
                coid, AmmOrderState.ENDED, ended_ns=self._account.clock_ns()
            )
        elif state is AmmOrderState.PENDING and report.status in done:
            self._account.journal.advance(coid, AmmOrderState.MINED)
        _log.info("%s: batch %s %s", self._id, coid, report.status.value)


def _net(legs: Sequence[BatchLeg]) -> int:
    """Net premium of ``legs`` in quote base units: positive when the structure pays."""
    return sum(leg.premium if leg.order.side is Side.BUY else -leg.premium for leg in legs)


def _leg_name(i: int, order: PlaceOrder) -> str:
    return f"leg {i} ({order.side.value} {order.quantity} {order.instrument.symbol})"


def _base_units(amount: Decimal, decimals: int) -> int:
    """``amount`` in base units, rounded down (a limit never loosens by rounding)."""
    return int(amount.scaleb(decimals).to_integral_value(rounding="ROUND_FLOOR"))


def _human(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)
