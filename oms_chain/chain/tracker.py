"""Settlement tracker: follows our transactions through inclusion, confirmations and reorgs.

Each :meth:`SettlementTracker.poll` reads the head (and the ``finalized`` block where the chain's
finality model uses it), all receipts in one batch, and moves every tracked transaction through
the settlement table of :mod:`oms_chain.model.orders`:

``submitted → included(block, hash) → confirmed(n) → final``

- a receipt whose block hash differs from the one recorded, or a receipt that disappeared, means
  the block left the canonical chain: ``reorged``, then ``included`` again at its new block, or
  ``submitted`` after we rebroadcast the same signed bytes;
- a submitted transaction that is neither mined nor in the node's pool is rebroadcast (it was
  dropped); if its nonce was used by another transaction it is ``replaced``; if the node refuses
  the bytes for good it is ``dropped``.

Every transition is returned as a :class:`SettlementReport` (our type; RPC payloads stop here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from oms_chain.chain.journal import SnapshotMap
from oms_chain.chain.registry import ChainInfo, FinalityModel
from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.types import MalformedReceipt, Receipt, receipt_status
from oms_chain.custody.base import SignedTransaction
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import TxHash
from oms_chain.model.orders import SettlementState, SettlementStatus
from oms_chain.store.base import EventStore

__all__ = [
    "MalformedReceipt",
    "Receipt",
    "SettlementReport",
    "SettlementTracker",
    "StoreTrackerJournal",
    "TrackerJournal",
    "lookup_settlement",
    "receipt_status",
]

_S = SettlementStatus
_TERMINAL = frozenset({_S.FINAL, _S.DROPPED, _S.REPLACED})

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SettlementReport:
    """One settlement transition of one transaction. ``ts_event`` in integer nanoseconds."""

    tx_hash: TxHash
    status: SettlementStatus
    confirmations: int
    block_number: int | None
    block_hash: str | None
    succeeded: bool | None
    detail: str
    ts_event: int


class TrackerJournal(Protocol):
    """Where a tracker keeps its transactions so a restarted process tracks them to the end."""

    def load(self, chain_id: int) -> list[dict[str, Any]]:
        """The entries saved last (empty when none)."""
        ...

    def save(self, chain_id: int, entries: list[dict[str, Any]]) -> None:
        """Write (insert or replace) these entries, keyed by their ``tx_hash``; the others stay."""
        ...

    def forget(self, chain_id: int, tx_hashes: list[str]) -> None:
        """Drop the entries of these transactions."""
        ...


def _legacy_txs(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Entries of a journal saved whole (``{"txs": [...]}``) by an earlier version."""
    return {str(e["tx_hash"]): e for e in state.get("txs", [])}


class StoreTrackerJournal:
    """A :class:`TrackerJournal` in the event store: one snapshot row per transaction plus an
    index (:class:`~oms_chain.chain.journal.SnapshotMap`), under ``settlement/<chain id>``
    followed by ``suffix`` (e.g. ``/<signer>``), so a poll writes only the transactions that
    moved."""

    def __init__(self, store: EventStore, *, suffix: str = "") -> None:
        self._store = store
        self._suffix = suffix
        self._maps: dict[int, SnapshotMap] = {}

    def _map(self, chain_id: int) -> SnapshotMap:
        found = self._maps.get(chain_id)
        if found is None:
            name = f"settlement/{chain_id}{self._suffix}"
            found = self._maps[chain_id] = SnapshotMap(self._store, name, legacy=_legacy_txs)
        return found

    @property
    def writes(self) -> int:
        """Snapshot rows written so far, all chains (monitoring and tests)."""
        return sum(m.writes for m in self._maps.values())

    def load(self, chain_id: int) -> list[dict[str, Any]]:
        return list(self._map(chain_id).load().values())

    def save(self, chain_id: int, entries: list[dict[str, Any]]) -> None:
        self._map(chain_id).put_many({str(e["tx_hash"]): e for e in entries})

    def forget(self, chain_id: int, tx_hashes: list[str]) -> None:
        self._map(chain_id).remove(tx_hashes)


@dataclass
class _Tracked:
    signed: SignedTransaction
    state: SettlementState
    block_hash: str | None = None
    succeeded: bool | None = None
    missing_since: float | None = None
    rebroadcasts: int = 0
    replaced_by: TxHash | None = None
    history: list[SettlementStatus] = field(default_factory=list)

    def to_entry(self) -> dict[str, Any]:
        return {
            "raw": self.signed.raw.hex(),
            "tx_hash": self.signed.tx_hash,
            "sender": self.signed.sender,
            "nonce": self.signed.nonce,
            "status": self.state.status.value,
            "confirmations": self.state.confirmations,
            "block_number": self.state.block_number,
            "block_hash": self.block_hash,
            "succeeded": self.succeeded,
            "rebroadcasts": self.rebroadcasts,
            "replaced_by": self.replaced_by,
            "history": [h.value for h in self.history],
        }

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> _Tracked:
        tx_hash = TxHash(entry["tx_hash"])
        signed = SignedTransaction(
            raw=bytes.fromhex(entry["raw"]),
            tx_hash=tx_hash,
            sender=entry["sender"],
            nonce=int(entry["nonce"]),
        )
        state = SettlementState(
            tx_hash=tx_hash,
            status=SettlementStatus(entry["status"]),
            confirmations=int(entry["confirmations"]),
            block_number=entry["block_number"],
        )
        return cls(
            signed,
            state,
            block_hash=entry["block_hash"],
            succeeded=entry["succeeded"],
            rebroadcasts=int(entry["rebroadcasts"]),
            replaced_by=entry["replaced_by"],
            history=[SettlementStatus(h) for h in entry["history"]],
        )


class SettlementTracker:
    """Tracks signed transactions of one chain until they are final, dropped or replaced.

    ``missing_grace`` is how long (seconds, on ``clock``) a submitted transaction may be absent
    from both the chain and the node's pool before it is rebroadcast; ``max_rebroadcasts`` bounds
    how often. ``clock`` returns seconds and is injected for tests.
    """

    def __init__(
        self,
        rpc: RpcClient,
        chain: ChainInfo,
        *,
        missing_grace: float = 0.0,
        max_rebroadcasts: int = 5,
        clock: Callable[[], float] = time.monotonic,
        clock_ns: Callable[[], int] = time.time_ns,
        journal: TrackerJournal | None = None,
    ) -> None:
        if missing_grace < 0 or max_rebroadcasts < 0:
            raise InvalidInput("missing_grace and max_rebroadcasts must be >= 0")
        self._rpc = rpc
        self.chain = chain
        self.missing_grace = missing_grace
        self.max_rebroadcasts = max_rebroadcasts
        self._clock = clock
        self._clock_ns = clock_ns
        self._txs: dict[TxHash, _Tracked] = {}
        self._dirty: set[TxHash] = set()
        self._journal = journal
        if journal is not None:  # a restart: pick up where the last process left off
            for entry in journal.load(chain.chain_id):
                tracked = _Tracked.from_entry(entry)
                self._txs[tracked.signed.tx_hash] = tracked

    def _persist(self) -> None:
        """Write the transactions that changed since the last write (only those)."""
        dirty, self._dirty = self._dirty, set()
        if self._journal is not None and dirty:
            entries = [self._txs[h].to_entry() for h in dirty if h in self._txs]
            self._journal.save(self.chain.chain_id, entries)

    def is_settled(self, tx_hash: TxHash) -> bool:
        """True when a tracked transaction is final, dropped or replaced (no more moves)."""
        return self.state(tx_hash).status in _TERMINAL

    def forget(self, tx_hash: TxHash) -> None:
        """Stop tracking a transaction that is final, dropped or replaced, and drop it from the
        journal (its owner keeps what it needs). Raises :class:`InvalidInput` for one that is
        not tracked or not settled yet."""
        tracked = self._txs.get(tx_hash)
        if tracked is None:
            raise InvalidInput(f"transaction {tx_hash} is not tracked")
        if tracked.state.status not in _TERMINAL:
            raise InvalidInput(
                f"transaction {tx_hash} is {tracked.state.status.value}: only a final, dropped "
                "or replaced transaction can be forgotten"
            )
        del self._txs[tx_hash]
        self._dirty.discard(tx_hash)
        if self._journal is not None:
            self._journal.forget(self.chain.chain_id, [tx_hash])

    def track(self, signed: SignedTransaction, *, replaces: TxHash | None = None) -> None:
        """Start tracking a broadcast (or possibly broadcast) transaction.

        ``replaces`` names an earlier transaction of ours at the same nonce (speed-up or cancel);
        when the replacement lands, the earlier one is reported ``replaced``.
        """
        if signed.tx_hash in self._txs:
            return
        self._txs[signed.tx_hash] = _Tracked(signed, SettlementState(tx_hash=signed.tx_hash))
        self._dirty.add(signed.tx_hash)
        if replaces is not None and replaces in self._txs:
            self._txs[replaces].replaced_by = signed.tx_hash
            self._dirty.add(replaces)
        self._persist()

    def state(self, tx_hash: TxHash) -> SettlementState:
        """Current settlement state of a tracked transaction."""
        try:
            return self._txs[tx_hash].state
        except KeyError:
            raise InvalidInput(f"transaction {tx_hash} is not tracked") from None

    def history(self, tx_hash: TxHash) -> list[SettlementStatus]:
        """Every status the transaction has been through, in order."""
        return list(self._txs[tx_hash].history)

    @property
    def open(self) -> list[TxHash]:
        """Transactions not yet final, dropped or replaced."""
        return [h for h, t in self._txs.items() if t.state.status not in _TERMINAL]

    async def poll(self) -> list[SettlementReport]:
        """One pass over every open transaction; returns the transitions it made."""
        hashes = self.open
        if not hashes:
            return []
        calls: list[tuple[str, list[Any]]] = [("eth_blockNumber", [])]
        calls += [("eth_getTransactionReceipt", [h]) for h in hashes]
        if self.chain.finality is FinalityModel.FINALIZED_TAG:
            calls.append(("eth_getBlockByNumber", ["finalized", False]))
        answers = await self._rpc.batch(calls)
        head = int(answers[0], 16)
        finalized: int | None = None
        if self.chain.finality is FinalityModel.FINALIZED_TAG and isinstance(answers[-1], dict):
            finalized = int(answers[-1]["number"], 16)
        reports: list[SettlementReport] = []
        for tx_hash, raw in zip(hashes, answers[1 : 1 + len(hashes)], strict=True):
            tracked = self._txs[tx_hash]
            try:
                receipt = (
                    Receipt.from_rpc(raw)
                    if isinstance(raw, dict) and raw.get("blockHash")
                    else None
                )
            except MalformedReceipt as exc:
                # unknown outcome: no transition (neither mined-and-succeeded nor missing)
                _log.warning("settlement of %s left as it is: %s", tx_hash, exc)
                continue
            if receipt is not None:
                self._on_receipt(tracked, receipt, head, finalized, reports)
            else:
                await self._on_missing(tracked, reports)
        self._persist()  # what moved (and rebroadcast counts, which make no report)
        return reports

    # -- transitions ---------------------------------------------------------------------------

    def _move(
        self,
        tracked: _Tracked,
        to: SettlementStatus,
        reports: list[SettlementReport],
        detail: str,
        **kw: Any,
    ) -> None:
        tracked.state = tracked.state.advance(to, **kw)
        tracked.history.append(to)
        self._dirty.add(tracked.signed.tx_hash)
        reports.append(
            SettlementReport(
                tx_hash=tracked.signed.tx_hash,
                status=to,
                confirmations=tracked.state.confirmations,
                block_number=tracked.state.block_number,
                block_hash=tracked.block_hash if to not in (_S.REORGED, _S.SUBMITTED) else None,
                succeeded=tracked.succeeded,
                detail=detail,
                ts_event=self._clock_ns(),
            )
        )

    def _on_receipt(
        self,
        tracked: _Tracked,
        receipt: Receipt,
        head: int,
        finalized: int | None,
        reports: list[SettlementReport],
    ) -> None:
        tracked.missing_since = None
        status = tracked.state.status
        if status in (_S.INCLUDED, _S.CONFIRMED) and receipt.block_hash != tracked.block_hash:
            self._move(
                tracked,
                _S.REORGED,
                reports,
                f"block {tracked.state.block_number} {tracked.block_hash} left the chain",
            )
            status = _S.REORGED
        if status in (_S.SUBMITTED, _S.REORGED):
            tracked.block_hash = receipt.block_hash
            tracked.succeeded = receipt.status == 1
            self._move(
                tracked,
                _S.INCLUDED,
                reports,
                f"in block {receipt.block_number} "
                f"({'success' if tracked.succeeded else 'reverted'})",
                block_number=receipt.block_number,
                confirmations=0,
            )
        confirmations = max(0, head - receipt.block_number)
        is_final = (
            finalized is not None and receipt.block_number <= finalized
        ) or confirmations >= self.chain.final_confirmations
        if is_final:
            self._move(
                tracked,
                _S.FINAL,
                reports,
                f"final with {confirmations} blocks on top",
                confirmations=confirmations,
            )
        elif confirmations >= 1 and confirmations > tracked.state.confirmations:
            self._move(
                tracked,
                _S.CONFIRMED,
                reports,
                f"{confirmations} blocks on top",
                confirmations=confirmations,
            )

    async def _on_missing(self, tracked: _Tracked, reports: list[SettlementReport]) -> None:
        signed = tracked.signed
        if tracked.state.status in (_S.INCLUDED, _S.CONFIRMED):
            self._move(
                tracked,
                _S.REORGED,
                reports,
                f"receipt in block {tracked.state.block_number} vanished: reorged out",
            )
            tracked.block_hash = None
        # Not mined (any more). Is it still in the node's pool?
        in_pool = await self._rpc.call("eth_getTransactionByHash", [signed.tx_hash])
        if in_pool:
            tracked.missing_since = None
            if tracked.state.status is _S.REORGED:
                self._move(tracked, _S.SUBMITTED, reports, "back in the pool after the reorg")
            return
        chain_nonce = await self._rpc.nonce(signed.sender, "latest")
        if chain_nonce > signed.nonce:
            by = tracked.replaced_by or "another transaction"
            self._move(tracked, _S.REPLACED, reports, f"nonce {signed.nonce} was used by {by}")
            return
        now = self._clock()
        if tracked.missing_since is None:
            tracked.missing_since = now
        if (
            now - tracked.missing_since < self.missing_grace
            and tracked.state.status is _S.SUBMITTED
        ):
            return
        if tracked.rebroadcasts >= self.max_rebroadcasts:
            self._move(
                tracked,
                _S.DROPPED,
                reports,
                f"not in the pool after {tracked.rebroadcasts} rebroadcasts",
            )
            return
        try:
            await self._rpc.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
        except RpcError as exc:
            self._move(
                tracked, _S.DROPPED, reports, f"node refused the rebroadcast: {exc.rpc_message}"
            )
            return
        except RpcUnavailable:
            return  # try again on the next poll
        tracked.rebroadcasts += 1
        self._dirty.add(signed.tx_hash)
        tracked.missing_since = None
        if tracked.state.status is _S.REORGED:
            self._move(tracked, _S.SUBMITTED, reports, "rebroadcast after the reorg")


async def lookup_settlement(rpc: RpcClient, chain: ChainInfo, tx_hash: TxHash) -> SettlementReport:
    """One-shot settlement status of any transaction (ours or not), e.g. for ``oms tx status``.

    Returns ``submitted`` for a transaction in the node's pool, and raises :class:`InvalidInput`
    when the node knows nothing of it.
    """
    if not (isinstance(tx_hash, str) and tx_hash.startswith("0x") and len(tx_hash) == 66):
        raise InvalidInput(f"{tx_hash!r} is not a transaction hash (0x + 64 hex digits)")
    calls: list[tuple[str, list[Any]]] = [
        ("eth_blockNumber", []),
        ("eth_getTransactionReceipt", [tx_hash]),
        ("eth_getTransactionByHash", [tx_hash]),
    ]
    if chain.finality is FinalityModel.FINALIZED_TAG:
        calls.append(("eth_getBlockByNumber", ["finalized", False]))
    answers = await rpc.batch(calls)
    head = int(answers[0], 16)
    now = time.time_ns()
    if isinstance(answers[1], dict) and answers[1].get("blockHash"):
        receipt = Receipt.from_rpc(answers[1])
        confirmations = max(0, head - receipt.block_number)
        finalized = (
            int(answers[3]["number"], 16)
            if len(answers) > 3 and isinstance(answers[3], dict)
            else None
        )
        final = confirmations >= chain.final_confirmations or (
            finalized is not None and receipt.block_number <= finalized
        )
        status = _S.FINAL if final else _S.CONFIRMED if confirmations else _S.INCLUDED
        return SettlementReport(
            tx_hash=tx_hash,
            status=status,
            confirmations=confirmations,
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            succeeded=receipt.status == 1,
            detail=f"gas used {receipt.gas_used:,}",
            ts_event=now,
        )
    if answers[2]:
        return SettlementReport(tx_hash, _S.SUBMITTED, 0, None, None, None, "in the pool", now)
    raise InvalidInput(f"chain {chain.chain_id} does not know transaction {tx_hash}")
