"""The AMM order journal: client order id -> order and signed transaction, per (chain, signer).

Written between signing and broadcasting a swap, so a crashed process can always tell what it
sent. Kept in the event store as one snapshot row per order plus an index
(:class:`~oms_chain.chain.journal.SnapshotMap`): a change writes that order's row only, and a
pruned order's row is deleted. An entry's state (:class:`~oms_chain.model.amm_orders.AmmOrderState`)
moves only along :data:`~oms_chain.model.amm_orders.AMM_ORDER_TRANSITIONS`, through
:meth:`AmmOrderJournal.advance`; its unwrap step (:class:`~oms_chain.model.amm_orders.UnwrapState`)
along :data:`~oms_chain.model.amm_orders.UNWRAP_TRANSITIONS`, through
:meth:`AmmOrderJournal.advance_unwrap`. Both are stored as they always were (``state``; ``unwrap``:
absent, ``"pending"``, the transaction hash or ``"failed: <reason>"``), so stores written by
earlier versions load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms_chain.chain.fees import FeeQuote
from oms_chain.chain.journal import SnapshotMap
from oms_chain.chain.sender import SentTransaction
from oms_chain.custody.base import SignedTransaction
from oms_chain.model.amm_orders import (
    AmmOrderState,
    UnwrapState,
    check_amm_order_transition,
    check_unwrap_transition,
)
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import TxHash
from oms_chain.store.base import EventStore

__all__ = ["AmmOrderJournal", "entry_state", "sent_from", "tx_entry", "unwrap_state"]

_FAILED = "failed: "


def _legacy_orders(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Entries of a journal saved whole (``{"orders": {...}}``) by an earlier version."""
    return dict(state.get("orders", {}))


def entry_state(entry: Mapping[str, Any]) -> AmmOrderState:
    """The state of a journal entry (entries journaled before states existed carried a
    ``settled`` flag and an ``ended_ns`` time instead)."""
    found = entry.get("state")
    if found is not None:
        return AmmOrderState(found)
    if entry.get("ended_ns") is not None:
        return AmmOrderState.ENDED
    return AmmOrderState.MINED if entry.get("settled") else AmmOrderState.PENDING


def unwrap_state(entry: Mapping[str, Any]) -> UnwrapState:
    """The state of a journal entry's unwrap step, read from its stored ``unwrap`` field."""
    found = entry.get("unwrap")
    if found is None:
        return UnwrapState.NOT_STARTED
    if found == UnwrapState.PENDING.value:
        return UnwrapState.PENDING
    if str(found).startswith(_FAILED):
        return UnwrapState.FAILED
    return UnwrapState.SENT


class AmmOrderJournal:
    """Client order id -> order and signed transaction, in the event store per (chain, signer).
    Entries are JSON-safe dicts written by the venues; their state moves through
    :meth:`advance`; ended ones are pruned by
    :meth:`~oms_chain.venues.amm.account.ChainAccount.prune`."""

    def __init__(self, store: EventStore, chain_id: int, address: str) -> None:
        self._map = SnapshotMap(
            store, f"amm-orders/{chain_id}/{address.lower()}", legacy=_legacy_orders
        )
        self._entries: dict[str, dict[str, Any]] = self._map.load()

    @property
    def writes(self) -> int:
        """Snapshot rows written since this journal was opened (monitoring and tests)."""
        return self._map.writes

    def get(self, client_order_id: str) -> dict[str, Any] | None:
        """The entry of ``client_order_id``, ``None`` if it was never journaled (or pruned)."""
        return self._entries.get(client_order_id)

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every entry by client order id (a copy)."""
        return dict(self._entries)

    def state(self, client_order_id: str) -> AmmOrderState:
        """The journal state of an entry. Raises :class:`InvalidInput` for an unknown id."""
        entry = self._entries.get(client_order_id)
        if entry is None:
            raise InvalidInput(f"client_order_id {client_order_id!r} is not in the AMM journal")
        return entry_state(entry)

    def advance(self, client_order_id: str, to: AmmOrderState, **fields: Any) -> None:
        """Move an entry to ``to`` (with ``fields`` set beside it) and write it; durable when
        this returns.

        Raises:
            InvalidInput: unknown id.
            IllegalTransition: the move is not in ``AMM_ORDER_TRANSITIONS``.
        """
        current = self.state(client_order_id)
        check_amm_order_transition(client_order_id, current, to)
        entry = self._entries[client_order_id]
        entry.pop("settled", None)  # the flag of entries journaled before states existed
        entry.update(fields, state=to.value)
        self._map.put(client_order_id, entry)

    def advance_unwrap(self, client_order_id: str, to: UnwrapState, detail: str = "") -> None:
        """Move an entry's unwrap step to ``to`` and write it: ``detail`` is the transaction
        hash for ``SENT``, the reason for ``FAILED``.

        Raises:
            InvalidInput: unknown id, or ``SENT`` without a transaction hash.
            IllegalTransition: the move is not in ``UNWRAP_TRANSITIONS``.
        """
        entry = self._entries.get(client_order_id)
        if entry is None:
            raise InvalidInput(f"client_order_id {client_order_id!r} is not in the AMM journal")
        check_unwrap_transition(client_order_id, unwrap_state(entry), to)
        if to is UnwrapState.SENT and not detail.startswith("0x"):
            raise InvalidInput(f"AMM order {client_order_id}: a sent unwrap needs its tx hash")
        stored = {
            UnwrapState.PENDING: UnwrapState.PENDING.value,
            UnwrapState.SENT: detail,
            UnwrapState.FAILED: _FAILED + detail,
        }
        entry["unwrap"] = stored[to]
        self._map.put(client_order_id, entry)

    def remove(self, client_order_id: str) -> None:
        """Forget an entry: its transaction provably never left (the node refused it), or it
        ended long enough ago to be pruned."""
        if self._entries.pop(client_order_id, None) is not None:
            self._map.remove([client_order_id])

    def put(self, client_order_id: str, entry: dict[str, Any]) -> None:
        """Write (or replace) an entry's fields; durable when this returns. A new entry starts
        ``PENDING``; the state of a known one only moves through :meth:`advance`."""
        known = self._entries.get(client_order_id)
        state = AmmOrderState.PENDING if known is None else entry_state(known)
        if "state" in entry and AmmOrderState(entry["state"]) is not state:
            raise InvalidInput(
                f"AMM order {client_order_id}: put() cannot move its state from {state.value} "
                f"to {entry['state']}; use advance()"
            )
        if known is not None and unwrap_state(entry) is not unwrap_state(known):
            raise InvalidInput(
                f"AMM order {client_order_id}: put() cannot move its unwrap from "
                f"{unwrap_state(known).value} to {unwrap_state(entry).value}; use advance_unwrap()"
            )
        entry["state"] = state.value
        self._entries[client_order_id] = entry
        self._map.put(client_order_id, entry)


def tx_entry(sent: SentTransaction) -> dict[str, Any]:
    """A journal record of a signed transaction (raw bytes, nonce, fields, fees)."""
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


def sent_from(tx: dict[str, Any], sender: str) -> SentTransaction:
    """The :class:`SentTransaction` back from a :func:`tx_entry` record."""
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
