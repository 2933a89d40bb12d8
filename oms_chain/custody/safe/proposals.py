"""Safe transaction proposals as events: who proposed what, which owners signed, what was sent.

One stream per Safe (``safe-proposals/<chain id>/<safe>``) holds
:class:`~oms_chain.model.events.SafeTransactionProposed`, ``...Signed`` and ``...Executed``
events in order. :class:`ProposalLog` appends them (with the stream version as optimistic
concurrency, so two writers cannot interleave a Safe's history) and folds them back into
:class:`Proposal` values for ``oms safe proposals list | show`` and for the executor's nonce
reconciliation after a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_utils import to_checksum_address

from oms_chain.custody.calls import Call
from oms_chain.custody.policy import _multisend_calls
from oms_chain.custody.safe.signatures import OwnerSignature, SignatureKind
from oms_chain.custody.safe.transaction import Operation, SafeTransaction
from oms_chain.model.errors import InvalidInput
from oms_chain.model.events import (
    Event,
    SafeSignaturesRequested,
    SafeSignatureSubmitted,
    SafeTransactionExecuted,
    SafeTransactionExpired,
    SafeTransactionProposed,
    SafeTransactionSigned,
    event_from_payload,
)
from oms_chain.model.ids import EventId
from oms_chain.store.base import EventStore
from oms_chain.store.errors import ConcurrencyConflict
from oms_chain.store.events import NewEvent

__all__ = ["Proposal", "ProposalLog", "proposal_stream", "read_proposals"]

_PREFIX = "safe-proposals/"
_SAFE_EVENTS = (
    SafeTransactionProposed,
    SafeTransactionSigned,
    SafeTransactionExecuted,
    SafeSignaturesRequested,
    SafeSignatureSubmitted,
    SafeTransactionExpired,
)
_LATER = _SAFE_EVENTS[1:]


def proposal_stream(chain_id: int, safe: str) -> str:
    """The event stream of ``safe``'s proposals on ``chain_id``."""
    return f"{_PREFIX}{chain_id}/{safe.lower()}"


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposed Safe transaction folded from its events. ``signers``: owners that signed,
    in signing order; ``execution``: the relayer's transaction hash once it signed one (``None``
    while the proposal waits for signatures or was abandoned before sending)."""

    proposed: SafeTransactionProposed
    signers: tuple[str, ...] = ()
    execution: SafeTransactionExecuted | None = None
    requested: SafeSignaturesRequested | None = None
    submitted: tuple[SafeSignatureSubmitted, ...] = ()
    expired: SafeTransactionExpired | None = None

    @property
    def awaiting(self) -> bool:
        """Signatures are being collected elsewhere: requested, not executed, not expired."""
        return self.requested is not None and self.execution is None and self.expired is None

    @property
    def state(self) -> str:
        """``executed`` (the relayer signed it), ``expired``, ``awaiting signatures`` or
        ``not sent`` (signed by the session's own owners, never executed)."""
        if self.execution is not None:
            return "executed"
        if self.expired is not None:
            return "expired"
        return "awaiting signatures" if self.requested is not None else "not sent"

    def transaction(self) -> SafeTransaction:
        """The proposed :class:`SafeTransaction`, rebuilt from the event (the executor's
        transactions pay no refund: gas fields 0); raises :class:`InvalidInput` when it does
        not give the recorded hash."""
        p = self.proposed
        tx = SafeTransaction(
            safe=to_checksum_address(p.safe),
            chain_id=p.chain_id,
            to=to_checksum_address(p.to),
            value=p.value,
            data=bytes.fromhex(p.data.removeprefix("0x")),
            operation=Operation(p.operation),
            nonce=p.nonce,
        )
        if "0x" + tx.safe_tx_hash.hex() != p.safe_tx_hash.lower():
            raise InvalidInput(
                f"proposal {p.safe_tx_hash} cannot be rebuilt from its event (it was not "
                "proposed by the engine's executor)"
            )
        return tx

    def calls_of(self) -> list[Call]:
        """The calls the proposal runs: its one CALL, or each call of its MultiSendCallOnly
        batch."""
        tx = self.transaction()
        if int(tx.operation) == 0:
            return [Call.to_address(tx.to, tx.data, tx.value)]
        return [
            Call.to_address(to, body, value) for _op, to, value, body in _multisend_calls(tx.data)
        ]

    def signatures(self) -> list[OwnerSignature]:
        """The owner signatures submitted for collection, in submission order."""
        return [
            OwnerSignature(
                owner=to_checksum_address(s.owner),
                kind=SignatureKind(s.kind),
                data=bytes.fromhex(s.signature[2:]),
            )
            for s in self.submitted
        ]

    @property
    def safe_tx_hash(self) -> str:
        """The SafeTx hash (0x hex)."""
        return self.proposed.safe_tx_hash

    @property
    def nonce(self) -> int:
        """The Safe nonce the proposal takes."""
        return self.proposed.nonce

    def to_row(self) -> dict[str, object]:
        """A JSON-ready summary (``oms safe proposals``)."""
        p = self.proposed
        return {
            "safe": p.safe,
            "chain_id": p.chain_id,
            "nonce": p.nonce,
            "safe_tx_hash": p.safe_tx_hash,
            "what": p.what,
            "proposer": p.proposer,
            "proposed_ns": p.ts_event,
            "to": p.to,
            "value": str(p.value),
            "operation": p.operation,
            "calls": list(p.calls),
            "data": p.data,
            "signers": list(self.signers),
            "tx_hash": None if self.execution is None else self.execution.tx_hash,
            "relayer": None if self.execution is None else self.execution.relayer,
            "sent_ns": None if self.execution is None else self.execution.ts_event,
            "state": self.state,
            "threshold": None if self.requested is None else self.requested.threshold,
            "deadline_ns": None if self.requested is None else self.requested.deadline_ns,
            "expired": None if self.expired is None else self.expired.reason,
        }


def _fold(events: Iterable[Event]) -> list[Proposal]:
    """One proposal per ``SafeTransactionProposed`` (the same SafeTx proposed again, after an
    attempt that was never sent or was cancelled, is a new entry); signatures and the execution
    go to the latest proposal of their hash."""
    out: list[Proposal] = []
    latest: dict[str, int] = {}
    for e in events:
        if isinstance(e, SafeTransactionProposed):
            latest[e.safe_tx_hash] = len(out)
            out.append(Proposal(e))
            continue
        if not isinstance(e, _LATER):
            continue
        i = latest.get(e.safe_tx_hash)
        if i is None:
            continue
        p = out[i]
        if isinstance(e, SafeTransactionSigned):
            if e.owner not in p.signers:
                out[i] = replace(p, signers=(*p.signers, e.owner))
        elif isinstance(e, SafeSignatureSubmitted):
            if e.owner not in {x.owner for x in p.submitted}:
                out[i] = replace(p, submitted=(*p.submitted, e))
        elif isinstance(e, SafeSignaturesRequested):
            out[i] = replace(p, requested=e)
        elif isinstance(e, SafeTransactionExpired):
            out[i] = replace(p, expired=e)
        else:
            assert isinstance(e, SafeTransactionExecuted)
            out[i] = replace(p, execution=e)
    return out


def read_proposals(
    store: EventStore, *, safe: str | None = None, chain_id: int | None = None
) -> list[Proposal]:
    """Every proposal in ``store`` (of ``safe`` / on ``chain_id`` only when given), oldest
    first. Reads the Safes' proposal streams only, not the whole log."""
    if chain_id is not None and (type(chain_id) is not int or chain_id < 1):
        raise InvalidInput(f"chain_id must be a positive int, not {chain_id!r}")
    if safe is not None and chain_id is not None:
        records = store.read_stream(proposal_stream(chain_id, safe))
    else:
        prefix = _PREFIX if chain_id is None else f"{_PREFIX}{chain_id}/"
        records = store.read_prefix(prefix)
        if safe is not None:
            records = [r for r in records if r.stream_id.endswith("/" + safe.lower())]
    events: list[Event] = []
    for rec in records:
        event = event_from_payload(rec.event_type, rec.version, rec.payload)
        if isinstance(event, _SAFE_EVENTS):
            events.append(event)
    return _fold(events)


class ProposalLog:
    """Appends one Safe's proposal events and keeps them folded in memory.

    An append that loses to another writer of the same stream raises
    :class:`~oms_chain.store.errors.ConcurrencyConflict` (nothing of it written) after the log
    re-read the stream, so a retry works from what the other writer recorded."""

    def __init__(self, store: EventStore, chain_id: int, safe: str, clock_ns: Callable[[], int]):
        self._store = store
        self._clock_ns = clock_ns
        self.stream = proposal_stream(chain_id, safe)
        self.chain_id = chain_id
        self.safe = safe
        self._events: list[Event] = []
        self._version = 0
        self._reload()

    def _reload(self) -> None:
        """Fold the stream from the store again (after another writer appended to it)."""
        events: list[Event] = []
        version = 0
        for rec in self._store.read_stream(self.stream):
            events.append(event_from_payload(rec.event_type, rec.version, rec.payload))
            version = rec.stream_version
        self._events, self._version = events, version

    def proposals(self) -> list[Proposal]:
        """This Safe's proposals, oldest first (as last read; :meth:`reload` for news)."""
        return _fold(self._events)

    def _append(self, events: Sequence[Event]) -> None:
        new: list[NewEvent] = []
        stamped: list[Event] = []
        for i, e in enumerate(events, start=1):
            eid = EventId(f"{self.stream}#{self._version + i}")
            e = replace(e, event_id=eid)
            stamped.append(e)
            new.append(
                NewEvent(
                    event_id=eid,
                    event_type=e.TYPE,
                    version=e.VERSION,
                    payload=e.to_payload(),
                    ts_event=e.ts_event,
                    ts_init=e.ts_init,
                    causation_id=e.causation_id,
                    correlation_id=e.correlation_id,
                )
            )
        try:
            recorded = self._store.append(self.stream, new, self._version)
        except ConcurrencyConflict:
            # another writer got there first: nothing of ours was written; take in what it
            # wrote so the next attempt (and the executor's nonce) sees it, then say so
            self._reload()
            raise
        self._version = recorded[-1].stream_version
        self._events.extend(stamped)

    def _envelope(self, tx: SafeTransaction) -> dict[str, Any]:
        now = self._clock_ns()
        h = "0x" + tx.safe_tx_hash.hex()
        return {"event_id": EventId(""), "ts_event": now, "ts_init": now, "correlation_id": h}

    def proposed(
        self, tx: SafeTransaction, *, proposer: str, what: str, calls: Sequence[str]
    ) -> None:
        """Record that ``tx`` was proposed by ``proposer``."""
        if tx.safe.lower() != self.safe.lower() or tx.chain_id != self.chain_id:
            raise InvalidInput(f"Safe tx for {tx.safe} is not for this log's Safe {self.safe}")
        env = self._envelope(tx)
        self._append(
            [
                SafeTransactionProposed(
                    **env,
                    safe=tx.safe,
                    chain_id=tx.chain_id,
                    nonce=tx.nonce,
                    safe_tx_hash=env["correlation_id"],
                    to=tx.to,
                    value=tx.value,
                    data="0x" + tx.data.hex(),
                    operation=int(tx.operation),
                    calls=tuple(calls),
                    proposer=proposer,
                    what=what,
                )
            ]
        )

    def signed(self, tx: SafeTransaction, signatures: Sequence[OwnerSignature]) -> None:
        """Record which owners signed ``tx`` (one event each; the bytes are not recorded)."""
        env = self._envelope(tx)
        h = env["correlation_id"]
        self._append(
            [
                SafeTransactionSigned(
                    **env, safe=tx.safe, safe_tx_hash=h, owner=s.owner, kind=s.kind.value
                )
                for s in signatures
            ]
        )

    def executed(self, tx: SafeTransaction, *, relayer: str, tx_hash: str) -> None:
        """Record the relayer's signed ``execTransaction`` (before it is broadcast)."""
        env = self._envelope(tx)
        self._append(
            [
                SafeTransactionExecuted(
                    **env,
                    safe=tx.safe,
                    safe_tx_hash=env["correlation_id"],
                    nonce=tx.nonce,
                    relayer=relayer,
                    tx_hash=tx_hash,
                )
            ]
        )

    def requested(self, tx: SafeTransaction, *, threshold: int, deadline_ns: int) -> None:
        """Record that ``tx`` waits for ``threshold`` signatures collected until
        ``deadline_ns``."""
        env = self._envelope(tx)
        self._append(
            [
                SafeSignaturesRequested(
                    **env,
                    safe=tx.safe,
                    safe_tx_hash=env["correlation_id"],
                    nonce=tx.nonce,
                    threshold=threshold,
                    deadline_ns=deadline_ns,
                )
            ]
        )

    def submitted(self, tx: SafeTransaction, signature: OwnerSignature) -> None:
        """Record one checked owner signature collected for ``tx`` (its bytes included)."""
        env = self._envelope(tx)
        self._append(
            [
                SafeSignatureSubmitted(
                    **env,
                    safe=tx.safe,
                    safe_tx_hash=env["correlation_id"],
                    owner=signature.owner,
                    kind=signature.kind.value,
                    signature="0x" + signature.data.hex(),
                )
            ]
        )

    def expired(self, tx: SafeTransaction, *, reason: str) -> None:
        """Record that ``tx`` ended without execution (its nonce is free again)."""
        env = self._envelope(tx)
        self._append(
            [
                SafeTransactionExpired(
                    **env,
                    safe=tx.safe,
                    safe_tx_hash=env["correlation_id"],
                    nonce=tx.nonce,
                    reason=reason,
                )
            ]
        )

    def reload(self) -> None:
        """Read events other processes appended to this Safe's stream (an owner's
        ``oms safe approve`` on the same store). Call it before deciding on what was read (a
        nonce): an append made on a stale view raises ``ConcurrencyConflict``, so two writers
        never interleave a Safe's history."""
        for rec in self._store.read_stream(self.stream, from_version=self._version):
            self._events.append(event_from_payload(rec.event_type, rec.version, rec.payload))
            self._version = rec.stream_version
