"""What :mod:`oms_chain.store.leases` hands out and raises: leases with their fencing tokens,
claimed intents, recorded sends, the lease listing, and the lease errors (a stale token is final,
an expired lease retryable). Also exported by :mod:`oms_chain.store.leases`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oms_chain.model import FinalError, RetryableError
from oms_chain.store.errors import StoreError

__all__ = [
    "ClaimedIntent",
    "DuplicateIntent",
    "DuplicateSend",
    "Lease",
    "LeaseError",
    "LeaseExpired",
    "LeaseInfo",
    "LeaseLost",
    "SendRecord",
    "StaleFencingToken",
]


# -- values and errors -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease held on ``resource`` by ``owner``; ``token`` is the fencing token (the epoch).

    ``expires_at_ns`` is on the leases' clock (see the module docstring). ``taken_over_from``
    names the previous holder when this lease was taken after that holder's lease expired
    unreleased: the new holder must reconcile what the old one may have sent.
    """

    resource: str
    owner: str
    token: int
    expires_at_ns: int
    taken_over_from: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedIntent:
    """An intent taken from the queue, with the lease on its parent resource."""

    intent_id: str
    payload: dict[str, Any]
    lease: Lease


@dataclass(frozen=True, slots=True)
class SendRecord:
    """A send recorded under the lease of ``resource`` at epoch ``token``."""

    send_id: str
    resource: str
    token: int
    owner: str
    recorded_at_ns: int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """One row of the leases table, for listings (``oms workers``)."""

    resource: str
    owner: str
    token: int
    acquired_at_ns: int
    heartbeat_at_ns: int
    expires_at_ns: int
    released_at_ns: int | None
    live: bool
    """Held right now: not released and not past its expiry."""


class LeaseError(StoreError):
    """Root of the lease errors."""


class LeaseLost(LeaseError, PermissionError):
    """The caller's lease is no longer valid: stop working on the resource, send nothing."""

    def __init__(self, message: str, resource: str, token: int) -> None:
        super().__init__(message)
        self.resource = resource
        self.token = token


class StaleFencingToken(LeaseLost, FinalError):
    """Another worker holds the resource now (or the lease was released): the token is stale.

    ``current`` is the resource's epoch and ``holder`` its owner (``None`` if released).
    """

    def __init__(
        self, resource: str, token: int, current: int | None, holder: str | None, what: str
    ) -> None:
        self.current = current
        self.holder = holder
        if current is None:
            now = "has no lease at all"
        elif holder is None:
            now = f"was released at epoch {current}"
        else:
            now = f"is at epoch {current}, held by {holder!r}"
        super().__init__(
            f"{what} refused: fencing token {token} for {resource!r} is stale (the lease {now}); "
            f"this worker lost the lease (paused or partitioned past its expiry, or it was "
            f"released): stop working on {resource!r} and send nothing more for it",
            resource,
            token,
        )


class LeaseExpired(LeaseLost, RetryableError):
    """The token is still current but the lease expired and nobody took it yet.

    Renew it with :meth:`Leases.heartbeat` (which succeeds while nobody else took it) before
    sending; then check what you were about to do still holds.
    """


class DuplicateSend(LeaseError, ValueError):
    """A ``send_id`` is recorded already for another resource, epoch or payload."""


class DuplicateIntent(LeaseError, ValueError):
    """An ``intent_id`` is queued already with another payload."""
