"""The events of Safe transactions proposed, signed and executed through the toolkit (also
exported by :mod:`oms_chain.model.events`)."""

from __future__ import annotations

import dataclasses

from oms_chain.model._event_base import Event, register_event

__all__ = [
    "SafeSignatureSubmitted",
    "SafeSignaturesRequested",
    "SafeTransactionExecuted",
    "SafeTransactionExpired",
    "SafeTransactionProposed",
    "SafeTransactionSigned",
]


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransactionProposed(Event):
    """A Safe transaction was proposed for ``safe`` at Safe ``nonce``: ``safe_tx_hash`` is what
    its owners sign; ``to`` / ``value`` (wei) / ``data`` (hex) / ``operation`` (0 CALL, 1
    DELEGATECALL into MultiSendCallOnly) are its fields; ``calls``: ``to:value:selector`` of each
    call it runs; ``proposer``: who proposed it (the relayer's address for the engine)."""

    safe: str
    chain_id: int
    nonce: int
    safe_tx_hash: str
    to: str
    value: int
    data: str
    operation: int
    calls: tuple[str, ...]
    proposer: str
    what: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransactionSigned(Event):
    """Owner ``owner`` signed Safe transaction ``safe_tx_hash`` (``kind``: eoa, eth_sign,
    contract, approved_hash). Signatures themselves are not recorded."""

    safe: str
    safe_tx_hash: str
    owner: str
    kind: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SafeSignaturesRequested(Event):
    """Safe transaction ``safe_tx_hash`` (Safe ``nonce``) waits for ``threshold`` owner
    signatures collected elsewhere until ``deadline_ns`` (unix ns); its nonce stays taken."""

    safe: str
    safe_tx_hash: str
    nonce: int
    threshold: int
    deadline_ns: int


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SafeSignatureSubmitted(Event):
    """Owner ``owner`` submitted a checked signature of ``safe_tx_hash`` (``kind``: eoa or
    eth_sign; ``signature``: its 65 bytes, hex: public once executed, kept so that whoever
    holds the relayer can execute after a restart)."""

    safe: str
    safe_tx_hash: str
    owner: str
    kind: str
    signature: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransactionExpired(Event):
    """Safe transaction ``safe_tx_hash`` ended without execution (``reason``: deadline
    passed, nonce used by another transaction); its Safe ``nonce`` is free again."""

    safe: str
    safe_tx_hash: str
    nonce: int
    reason: str


@register_event()
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransactionExecuted(Event):
    """``relayer`` signed the ``execTransaction`` of ``safe_tx_hash`` (Safe ``nonce``) as
    transaction ``tx_hash``, recorded before it is broadcast; the settlement tracker follows it
    from there (it may still be dropped or replaced: the Safe's nonce says what ran)."""

    safe: str
    safe_tx_hash: str
    nonce: int
    relayer: str
    tx_hash: str
