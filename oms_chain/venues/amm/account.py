"""One trading account on one chain, shared by every on-chain venue that signs with it.

Several venues on one chain and one signer (Uniswap V2, three V3 fee tiers, ...) must not hand
out the same nonce twice nor poll the chain once each. :class:`ChainAccount` owns, per
(chain, signer):

- the :class:`~oms_chain.chain.sender.TxSender` with its nonce manager (journaled in the event
  store, so a restart continues from the same nonces);
- the :class:`~oms_chain.chain.tracker.SettlementTracker` (journaled per chain *and* signer) and
  one polling loop, whose settlement moves go to the venue that owns each transaction;
- the order journal (:class:`AmmOrderJournal`): client order id -> signed transaction, written
  between signing and broadcasting, so a crashed process can always tell what it sent;
- a lock and an in-flight reservation per (token, spender), so concurrent swaps through one
  router never overwrite each other's exact approvals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from oms_chain.chain.executor import CallExecutor, EoaExecutor
from oms_chain.chain.fees import FeePolicy
from oms_chain.chain.nonces import NonceManager, StoreNonceJournal
from oms_chain.chain.registry import ChainInfo
from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.sender import (
    BroadcastRejected,
    BroadcastUncertain,
    OnSigned,
    SentTransaction,
    TxSender,
)
from oms_chain.chain.tracker import SettlementReport, SettlementTracker, StoreTrackerJournal
from oms_chain.custody.base import SignedTransaction, Signer
from oms_chain.custody.calls import Call
from oms_chain.model.amm_orders import AmmOrderState, UnwrapState
from oms_chain.model.errors import InvalidInput, OmsError, VenueRejected, VenueUnavailable
from oms_chain.model.ids import ClientOrderId, TxHash, VenueId
from oms_chain.model.orders import SettlementState, SettlementStatus
from oms_chain.store.base import EventStore
from oms_chain.venues.amm._calls import erc20_balance
from oms_chain.venues.amm.approvals import ApprovalPolicy
from oms_chain.venues.amm.journal import (
    AmmOrderJournal,
    entry_state,
    sent_from,
    tx_entry,
    unwrap_state,
)
from oms_chain.venues.base import OrderStatusReport, ReconciliationReport

__all__ = ["AmmOrderJournal", "ChainAccount", "SettlementListener"]

_log = logging.getLogger(__name__)
_HOLDINGS_ATTEMPTS = 5


class SettlementListener(Protocol):
    """A venue that owns transactions of a :class:`ChainAccount`."""

    @property
    def venue_id(self) -> VenueId: ...

    async def on_settlement(self, report: SettlementReport) -> None:
        """Called with every settlement move of a transaction the venue owns."""
        ...

    def owned_transactions(self) -> list[tuple[TxHash, dict[str, Any]]]:
        """(tx hash, journal entry) of every transaction the venue journaled, for resuming."""
        ...

    def forget_transaction(self, tx_hash: TxHash) -> None:
        """The account pruned ``tx_hash`` (settled long ago) from its journals."""
        ...


class _SignerTrackerJournal(StoreTrackerJournal):
    """A tracker journal per (chain, signer): two accounts on one chain and one store must not
    overwrite each other's tracked transactions."""

    def __init__(self, store: EventStore, address: str) -> None:
        super().__init__(store, suffix=f"/{address.lower()}")


class ChainAccount:
    """Sender, settlement tracker, order journal and polling for ``signer`` on ``chain``.

    Build one per (chain, signer) and pass it to every venue that trades with that signer.
    ``weth`` is the chain's wrapped native token (needed for instruments on the native asset).
    ``poll_interval`` (seconds) defaults to a quarter of the chain's block time, within
    [0.05, 1]. ``journal_retention_s``: how long an order stays in the journal (and its
    transactions in the tracker) after all of them settled (final, dropped or replaced) before
    :meth:`prune` drops them; until then the venues' ``status`` and ``reconcile`` answer for it.
    Call :meth:`start` to poll in the background (or :meth:`poll` yourself) and
    :meth:`close` at the end; ``async with`` does both.

    ``executor``: trade from a contract account instead of the signer's own address: a factory
    given this account's sender (the relayer that pays gas) returning the
    :class:`~oms_chain.chain.executor.CallExecutor` (e.g. a
    :class:`~oms_chain.chain.safe_executor.SafeExecutor`). Then :attr:`address` is the contract
    account's, and venues hand it their calls as one batch (:meth:`execute_calls`).
    """

    def __init__(
        self,
        rpc: RpcClient,
        chain: ChainInfo,
        signer: Signer,
        store: EventStore,
        *,
        weth: str | None = None,
        fee_policy: FeePolicy | None = None,
        approvals: ApprovalPolicy | None = None,
        poll_interval: float | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        journal_retention_s: float = 3600.0,
        executor: Callable[[TxSender], CallExecutor] | None = None,
    ) -> None:
        if poll_interval is not None and poll_interval <= 0:
            raise InvalidInput(f"poll_interval must be > 0 seconds, got {poll_interval}")
        if not journal_retention_s >= 0:
            raise InvalidInput(
                f"journal_retention_s must be >= 0 seconds, got {journal_retention_s!r}"
            )
        self.journal_retention_s = journal_retention_s
        self.rpc = rpc
        self.chain = chain
        self.signer = signer
        self.store = store
        self.weth = weth
        self.approvals = approvals or ApprovalPolicy()
        self.clock_ns = clock_ns
        self.poll_interval = poll_interval or min(1.0, max(0.05, chain.block_time / 4))
        nonces = NonceManager(rpc, chain.chain_id, signer.address, journal=StoreNonceJournal(store))
        tracker = SettlementTracker(
            rpc,
            chain,
            journal=_SignerTrackerJournal(store, signer.address),
            clock_ns=clock_ns,
        )
        self.sender = TxSender(
            rpc, chain, signer, nonces=nonces, tracker=tracker, fee_policy=fee_policy
        )
        self.executor: CallExecutor = (
            EoaExecutor(rpc, self.sender) if executor is None else executor(self.sender)
        )
        self.journal = AmmOrderJournal(store, chain.chain_id, self.executor.address)
        self._owners: dict[TxHash, SettlementListener] = {}
        self._listeners: dict[VenueId, SettlementListener] = {}
        self._poll_lock = asyncio.Lock()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._reserved: dict[tuple[str, str], int] = {}
        # swaps signed and not known to be settled: hash -> (token, base units, nonce)
        self._pulls: dict[str, tuple[str, int, int]] = {}
        self.placing: set[str] = set()
        #: client order ids whose unwrap runs in this process (a venue adds and discards them)
        self.unwrapping: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """The trading account's address: the signer's, or the contract account's (a Safe)
        when an ``executor`` runs the calls."""
        return self.executor.address

    async def execute_calls(
        self, calls: Sequence[Call], *, what: str, on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:  # fmt: skip
        """Run ``calls`` through the account's executor (one transaction; see
        :class:`~oms_chain.chain.executor.CallExecutor`)."""
        return await self.executor.execute_calls(
            calls, what=what, on_signed=on_signed, gas_margin=gas_margin
        )

    def pull_nonce(self, tx: dict[str, Any]) -> int:
        """Where a journaled transaction (:func:`tx_entry`) sits on the account's nonce."""
        return self.executor.nonce_of(str(tx["hash"]), int(tx["nonce"]))

    @property
    def tracker(self) -> SettlementTracker:
        """The shared settlement tracker."""
        return self.sender.tracker

    # -- venues --------------------------------------------------------------------------------

    def register(self, venue: SettlementListener) -> None:
        """Attach a venue; resumes tracking of every transaction it journaled earlier (a
        journaled transaction the tracker never saw, e.g. after a crash between signing and
        broadcasting, is tracked now and broadcast by the tracker's next poll)."""
        if venue.venue_id in self._listeners and self._listeners[venue.venue_id] is not venue:
            raise InvalidInput(
                f"venue id {venue.venue_id!r} is already registered on this account; give each "
                "venue its own venue_id"
            )
        self._listeners[venue.venue_id] = venue
        for tx_hash, tx in venue.owned_transactions():
            self._owners[tx_hash] = venue
            try:
                self.tracker.state(tx_hash)
            except InvalidInput:
                self.tracker.track(
                    SignedTransaction(
                        raw=bytes.fromhex(tx["raw"]),
                        tx_hash=tx_hash,
                        sender=self.signer.address,
                        nonce=int(tx["nonce"]),
                    )
                )

    def own(self, tx_hash: TxHash, venue: SettlementListener) -> None:
        """Route settlement moves of ``tx_hash`` to ``venue``."""
        self._owners[tx_hash] = venue

    def is_tracked(self, tx_hash: TxHash) -> bool:
        """True when the tracker follows ``tx_hash``."""
        try:
            self.tracker.state(tx_hash)
        except InvalidInput:
            return False
        return True

    # -- approvals bookkeeping -------------------------------------------------------------------

    def spend_lock(self, token: str, spender: str) -> asyncio.Lock:
        """The lock serializing balance and allowance checks and swap broadcasts that spend
        ``token``: one per token, whatever the spender, as every router draws on the same
        wallet balance (``spender`` is accepted for the call sites' readability)."""
        key = (token.lower(), "*")
        return self._locks.setdefault(key, asyncio.Lock())

    def reserved_total(self, token: str) -> int:
        """Base units of ``token`` that broadcast, not yet mined swaps will pull, all spenders."""
        t = token.lower()
        return sum(v for (tok, _), v in self._reserved.items() if tok == t)

    def reserved(self, token: str, spender: str) -> int:
        """Base units of ``token`` that broadcast, not yet mined swaps will pull via ``spender``."""
        return self._reserved.get((token.lower(), spender.lower()), 0)

    def track_pull(self, tx_hash: str, token: str, amount: int, nonce: int) -> None:
        """Remember that transaction ``tx_hash`` (signed at ``nonce``) will pull ``amount`` of
        ``token`` when mined."""
        self._pulls[tx_hash.lower()] = (token.lower(), amount, nonce)

    def forget_pull(self, tx_hash: str) -> None:
        """The transaction was mined, dropped, replaced or never sent."""
        self._pulls.pop(tx_hash.lower(), None)

    async def holdings(self, token: str) -> tuple[int, int]:
        """``(balance, pending)`` of ``token`` in one state of the chain: the wallet's balance
        and what the tracked swaps not mined in that state will still pull from it.

        "Mined" is read from the same state as the balance (the wallet's nonce), never from
        receipts or block numbers: a node can answer a read at the head block from the block
        it is mining (Anvil does), so a balance read "at block n" may already show a swap
        whose receipt, or block number, is not out yet; counted as spent *and* pending, it
        would be wrapped twice. The nonce is read before and after the balance; when they
        agree, the balance saw exactly the transactions below it (only our own transactions
        take from the wallet). A nonce that keeps moving raises
        :class:`~oms_chain.model.errors.VenueUnavailable` (retryable; nothing was sent).
        """
        t = token.lower()
        pulls = [(nonce, amount) for tok, amount, nonce in self._pulls.values() if tok == t]
        for _ in range(_HOLDINGS_ATTEMPTS):
            before = await self.executor.account_nonce()
            held = await erc20_balance(self.rpc, token, self.address)
            if await self.executor.account_nonce() == before:
                break
        else:
            raise VenueUnavailable(
                f"the nonce of {self.address} moved during each of {_HOLDINGS_ATTEMPTS} reads "
                f"of its {token} balance; try again when its transactions settle"
            )
        return held, sum(amount for nonce, amount in pulls if nonce >= before)

    async def reconcile_journaled(
        self,
        venue: SettlementListener,
        client_order_ids: Collection[ClientOrderId],
        current: Callable[[ClientOrderId], Awaitable[OrderStatusReport]],
        balances: Callable[[], Awaitable[Mapping[str, Decimal]]],
    ) -> ReconciliationReport:
        """``venue``'s reconciliation from its journal: after one :meth:`poll`, ``current`` of
        each asked id it journaled and of every one of its orders still pending (submitted or
        reorged), the asked ids it never journaled as unknown, and its ``balances``. Shared by
        every venue that trades through this account.

        Raises:
            VenueUnavailable: the node could not be reached for the poll.
        """
        try:
            await self.poll()
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{venue.venue_id}: cannot reconcile: {exc}") from exc
        reports: dict[ClientOrderId, OrderStatusReport] = {}
        unknown: list[ClientOrderId] = []
        for coid in client_order_ids:
            entry = self.journal.get(coid)
            if entry is None or entry.get("venue") != venue.venue_id:
                unknown.append(coid)
            else:
                reports[coid] = await current(coid)
        pending = (SettlementStatus.SUBMITTED, SettlementStatus.REORGED)
        for key, entry in self.journal.entries().items():
            coid = ClientOrderId(key)
            if entry.get("venue") != venue.venue_id or coid in reports:
                continue
            if not self.is_tracked(TxHash(entry["tx"]["hash"])):
                self.register(venue)
            if self.tracker.state(TxHash(entry["tx"]["hash"])).status in pending:
                reports[coid] = await current(coid)
        return ReconciliationReport(
            venue=venue.venue_id,
            orders=tuple(reports.values()),
            unknown=tuple(sorted(unknown)),
            balances=await balances(),
            ts_event=self.clock_ns(),
        )

    def reserve(self, token: str, spender: str, amount: int) -> None:
        """Add (or, negative, remove) an in-flight pull."""
        key = (token.lower(), spender.lower())
        self._reserved[key] = max(0, self._reserved.get(key, 0) + amount)

    # -- polling ---------------------------------------------------------------------------------

    async def cancel_journaled(
        self,
        venue: SettlementListener,
        venue_id: str,
        client_order_id: ClientOrderId,
        coid_of: dict[TxHash, ClientOrderId],
        timeout: float,
    ) -> None:
        """Cancel the journaled transaction of ``client_order_id`` (sent by ``venue``) while it
        is pending: a 0-value self-transfer at its nonce with higher fees, journaled before it
        is broadcast; then wait up to ``timeout`` seconds for one of the two to land. A mined
        transaction is left alone. Shared by every venue that trades through this account.

        Raises:
            VenueRejected: ``venue_id`` never sent such an order.
        """
        entry = self.journal.get(client_order_id)
        if entry is None or entry.get("venue") != venue_id:
            raise VenueRejected(
                f"{venue_id}: cannot cancel {client_order_id}: no such order was sent"
            )
        await self.poll()
        tx_hash = TxHash(entry["tx"]["hash"])
        pending = (SettlementStatus.SUBMITTED, SettlementStatus.REORGED)
        if self.tracker.state(tx_hash).status in pending and not entry.get("cancel"):

            async def journal(sent: SentTransaction) -> None:
                entry["cancel"] = tx_entry(sent)
                self.journal.put(client_order_id, entry)
                coid_of[sent.tx_hash] = client_order_id
                self.own(sent.tx_hash, venue)

            try:
                await self.sender.cancel(
                    sent_from(entry["tx"], self.signer.address), on_signed=journal
                )
            except BroadcastUncertain:
                pass
            except (BroadcastRejected, RpcError) as exc:
                _log.info("%s: cancellation of %s refused: %s", venue_id, client_order_id, exc)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.tracker.state(tx_hash).status in pending and loop.time() < end:
            await asyncio.sleep(self.poll_interval)
            await self.poll()

    def journaled_transactions(self, venue_id: str) -> list[tuple[TxHash, dict[str, Any]]]:
        """(hash, journaled tx) of every order transaction and cancellation ``venue_id``
        signed through this account."""
        out = []
        for entry in self.journal.entries().values():
            if entry.get("venue") != venue_id:
                continue
            out.append((TxHash(entry["tx"]["hash"]), entry["tx"]))
            if entry.get("cancel"):
                out.append((TxHash(entry["cancel"]["hash"]), entry["cancel"]))
        return out

    def journaled_state(self, venue: SettlementListener, coid: ClientOrderId) -> SettlementState:
        """The settlement state of the journaled order ``coid`` of ``venue`` (its transactions
        registered with the tracker first, after a restart)."""
        entry = self.journal.get(coid)
        assert entry is not None
        tx_hash = TxHash(entry["tx"]["hash"])
        if not self.is_tracked(tx_hash):
            self.register(venue)
        return self.tracker.state(tx_hash)

    def settle_journaled(
        self, coid_of: Mapping[TxHash, ClientOrderId], report: SettlementReport, spender: str
    ) -> tuple[ClientOrderId, dict[str, Any], SettlementState] | None:
        """Book one settlement move of an order transaction in the journal: the first move
        that says it no longer waits in the mempool releases what it reserved for ``spender``
        (one first seen already confirmed skips INCLUDED) and moves the entry to MINED; a final
        move (FINAL, DROPPED, REPLACED) forgets its pull and ends the entry. Returns the order,
        its entry and the new settlement state; ``None`` for a transaction that is not an
        order's own (unknown, or a cancellation: the order's REPLACED move reports that)."""
        coid = coid_of.get(report.tx_hash)
        if coid is None:
            return None
        entry = self.journal.get(coid)
        if entry is None or entry["tx"]["hash"] != report.tx_hash:
            return None
        s = SettlementStatus
        done = (s.INCLUDED, s.CONFIRMED, s.FINAL, s.DROPPED, s.REPLACED)
        ended = report.status in (s.FINAL, s.DROPPED, s.REPLACED)
        if ended:
            # until then holdings() asks the chain whether it was mined (a reorg can undo that)
            self.forget_pull(report.tx_hash)
        state = entry_state(entry)
        if state is AmmOrderState.PENDING and report.status in done:
            self.reserve(entry["token_in"], spender, -int(entry["spend"]))
        if ended and state is not AmmOrderState.ENDED:
            # from now on nothing moves: prune() drops it after its retention
            self.journal.advance(coid, AmmOrderState.ENDED, ended_ns=self.clock_ns())
        elif state is AmmOrderState.PENDING and report.status in done:
            self.journal.advance(coid, AmmOrderState.MINED)
        settlement = SettlementState(
            tx_hash=report.tx_hash,
            status=report.status,
            confirmations=report.confirmations,
            block_number=report.block_number,
        )
        return coid, entry, settlement

    async def poll(self) -> list[SettlementReport]:
        """One tracker pass; every move is handed to the venue owning the transaction."""
        async with self._poll_lock:
            reports = await self.tracker.poll()
            for report in reports:
                owner = self._owners.get(report.tx_hash)
                if owner is None:
                    continue
                try:
                    await owner.on_settlement(report)
                except Exception:  # one venue's bug must not stop settlement of the others
                    _log.exception("%s: settlement report %s failed", owner.venue_id, report)
            self.prune()
            return reports

    def prune(self) -> list[str]:
        """Drop journal entries whose transactions all settled more than
        ``journal_retention_s`` ago (and nothing waits on them, e.g. an unwrap running in this
        process), with their tracked transactions; returns the client order ids dropped. An
        unwrap left ``pending`` by an earlier process is marked failed (its outcome unknown,
        never sent again)."""
        horizon = self.clock_ns() - int(self.journal_retention_s * 1e9)
        dropped: list[str] = []
        for coid, entry in self.journal.entries().items():
            if unwrap_state(entry) is UnwrapState.PENDING and coid not in self.unwrapping:
                # started by a process that died before it knew the outcome: it may or may
                # not have been sent, never retried blindly; the wallet may hold the WETH
                self.journal.advance_unwrap(
                    coid, UnwrapState.FAILED, "interrupted by a restart; check the WETH balance"
                )
                _log.warning(
                    "%s: the unwrap after %s was interrupted by a restart", self.address, coid
                )
                entry = self.journal.get(coid) or entry
            if entry_state(entry) is not AmmOrderState.ENDED:
                continue
            if int(entry["ended_ns"]) > horizon or unwrap_state(entry) is UnwrapState.PENDING:
                continue
            hashes = [TxHash(entry["tx"]["hash"])]
            if entry.get("cancel"):
                hashes.append(TxHash(entry["cancel"]["hash"]))
            if any(self.is_tracked(h) and not self.tracker.is_settled(h) for h in hashes):
                continue
            for h in hashes:
                if self.is_tracked(h):
                    self.tracker.forget(h)
                owner = self._owners.pop(h, None)
                if owner is not None:
                    owner.forget_transaction(h)
            self.journal.remove(coid)
            dropped.append(coid)
        return dropped

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except OmsError as exc:
                _log.info("settlement poll on chain %s failed: %s", self.chain.chain_id, exc)
            except Exception:
                _log.exception("settlement poll on chain %s failed", self.chain.chain_id)
            await asyncio.sleep(self.poll_interval)

    def start(self) -> ChainAccount:
        """Start polling in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._loop(), name=f"settlement-{self.chain.chain_id}-{self.address[:10]}"
            )
        return self

    async def close(self) -> None:
        """Stop polling (the RPC client and the store are the caller's to close)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> ChainAccount:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
