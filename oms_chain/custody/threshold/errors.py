"""Errors of threshold signing (all :class:`~oms_chain.model.errors.OmsError`)."""

from __future__ import annotations

from oms_chain.model.errors import FinalError, OmsError, RetryableError

__all__ = [
    "FrostError",
    "ParticipantAuthError",
    "ShareStoreError",
    "ThresholdError",
    "ThresholdRefused",
    "ThresholdUnavailable",
]


class ThresholdError(OmsError):
    """Something in a threshold (FROST) key generation or signing round went wrong."""


class FrostError(ThresholdError, FinalError, ValueError):
    """frost-rs refused its input (a malformed package, an invalid signature share)."""


class ThresholdUnavailable(ThresholdError, RetryableError, ConnectionError):
    """Fewer than t participants answered: no signature (start more participants, retry)."""


class ParticipantAuthError(ThresholdError, FinalError, PermissionError):
    """A request or response was not signed by the key the group roster names, or was stale."""


class ShareStoreError(ThresholdError, FinalError, ValueError):
    """A key-share file cannot be read: wrong passphrase, corrupt, or an unknown version."""


class ThresholdRefused(ThresholdError, FinalError, PermissionError):
    """Too many participants refused the request (their own policy, or a digest that is not the
    request's) for t of them to sign it. ``refusals`` maps participant names to their reasons."""

    def __init__(self, message: str, refusals: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.refusals = dict(refusals or {})
