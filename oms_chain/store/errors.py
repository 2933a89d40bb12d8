"""Errors raised by the event store.

All derive from :class:`oms_chain.model.OmsError`; those caused by a caller's bad value also
inherit :class:`ValueError` (through :class:`oms_chain.model.InvalidInput`).
"""

from __future__ import annotations

from oms_chain.model import ConfigError, FinalError, InvalidInput, OmsError, RetryableError

__all__ = [
    "ConcurrencyConflict",
    "DuplicateClientOrderId",
    "DuplicateEvent",
    "InvalidEvent",
    "InvalidStoreUrl",
    "StoreClosed",
    "StoreError",
    "StoreReadOnly",
    "StoreSchemaMismatch",
    "StoreTampered",
    "StoreUnavailable",
]


class StoreError(OmsError):
    """Root of the errors raised by :mod:`oms_chain.store`."""


class ConcurrencyConflict(StoreError):
    """``append`` was called with an ``expected_version`` that is not the stream's version.

    Another writer appended to the stream first. Reload the stream, decide again, and append with
    the new version; retrying blindly with the same ``expected_version`` can never succeed.
    """

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        wanted = "to be new (version 0)" if expected <= 0 else f"at version {expected}"
        super().__init__(
            f"concurrency conflict on stream {stream_id!r}: expected it {wanted}, "
            f"but it is at version {actual}; reload the stream and retry with "
            f"expected_version={actual}"
        )


class DuplicateClientOrderId(StoreError, ValueError):
    """A client order id was reserved before for a different order (ids are never reused)."""

    def __init__(self, client_order_id: str, order_id: str, owner: str) -> None:
        self.client_order_id = client_order_id
        self.order_id = order_id
        self.owner = owner
        super().__init__(
            f"client order id {client_order_id!r} is already reserved by order {owner!r} and "
            f"cannot be used for order {order_id!r}; client order ids are unique for the life "
            f"of the store"
        )


class DuplicateEvent(StoreError, ValueError):
    """An ``event_id`` is already recorded with different content, stream or batch.

    Re-appending exactly the events of an earlier successful append (same ids, same stream, same
    content) is not an error: the store returns the events already recorded.
    """


class InvalidEvent(InvalidInput, StoreError):
    """An event, snapshot or argument cannot be stored (bad type, non-JSON payload, bad id)."""


class InvalidStoreUrl(ConfigError, StoreError):
    """A store URL cannot be opened: unknown scheme, bad path or unknown option."""


class StoreUnavailable(RetryableError, StoreError, ConnectionError):
    """The database could not be reached or stayed locked past the timeout.

    If this interrupts an ``append`` the outcome is unknown: append the same events again (same
    event ids) — appends are idempotent on ``event_id`` so a retry never duplicates.
    """


class StoreClosed(StoreError, RuntimeError):
    """The store was used after :meth:`close`."""


class StoreSchemaMismatch(FinalError, StoreError):
    """The database holds a store schema of another version than this code understands."""


class StoreReadOnly(StoreError, PermissionError):
    """A write was attempted on a store opened with ``read_only=True`` (``oms audit verify``)."""


class StoreTampered(FinalError, StoreError):
    """State the store keeps beside the hash chain (a snapshot, a client order id) does not
    match the chain or the events: someone edited the database outside oms-chain.

    ``table`` and ``row`` name what is wrong (e.g. ``snapshots`` / ``amm-orders/31337/0xab...``).
    Nothing was loaded from it; restore the store from a backup or investigate with
    ``oms audit verify``.
    """

    def __init__(self, table: str, row: str, problem: str) -> None:
        self.table = table
        self.row = row
        self.problem = problem
        super().__init__(
            f"store tampered: table {table!r}, row {row!r}: {problem}; nothing was loaded from "
            f"it — restore the store from a backup, or run `oms audit verify` to investigate"
        )
