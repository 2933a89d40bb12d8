"""The exception tree of oms-chain.

Every error we raise derives from :class:`OmsError`; subclasses also inherit the matching builtin
so callers can catch ``ValueError`` or ``TimeoutError`` as usual. :class:`RetryableError` marks
conditions that may pass on their own (timeouts, rate limits, node hiccups); :class:`FinalError`
marks outcomes that will not change by retrying (rejected, reverted, insufficient funds).
"""

from __future__ import annotations

__all__ = [
    "AmountPrecisionError",
    "ConfigError",
    "DevnetError",
    "EngineNotReady",
    "FinalError",
    "IllegalTransition",
    "IntentConflict",
    "InvalidInput",
    "InvalidIntent",
    "OmsError",
    "PortInUse",
    "ReconciliationFailed",
    "RetryableError",
    "StateFileCorrupt",
    "ToolchainMissing",
    "UnknownEventType",
    "UnknownOrder",
    "UpstreamUnavailable",
    "VenueRejected",
    "VenueTimeout",
    "VenueUnavailable",
]


class OmsError(Exception):
    """Root of every error raised by oms-chain."""


class RetryableError(OmsError):
    """The operation may succeed if tried again later (timeouts, rate limits, node hiccups)."""


class FinalError(OmsError):
    """The outcome is settled; retrying the same request will not change it."""


class InvalidInput(OmsError, ValueError):
    """A caller passed a value that cannot be used; the message names it and what to do."""


class ConfigError(InvalidInput):
    """A configuration key is missing, unknown or has a bad value; the message names the key."""


class DevnetError(OmsError, RuntimeError):
    """The local devnet could not be started, deployed or stopped."""


class ToolchainMissing(DevnetError, FileNotFoundError):
    """A required tool (anvil, forge, solc, node) is not installed where we look for it."""


class PortInUse(DevnetError, OSError):
    """A requested loopback port is already taken by another process."""


class UpstreamUnavailable(DevnetError, ConnectionError):
    """An RPC endpoint we were told to use (for example a fork URL) does not answer."""


class StateFileCorrupt(DevnetError, ValueError):
    """A saved chain state file cannot be read; delete it to rebuild the world."""


class InvalidIntent(InvalidInput):
    """An intent failed validation; the message names the field and the accepted range."""


class IntentConflict(InvalidIntent):
    """An intent id was submitted again with different content; :attr:`fields` names what
    differs. Nothing was written: use a new intent id for a different order."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        #: The intent fields whose values differ from the stored intent, in field order.
        self.fields = fields


class AmountPrecisionError(InvalidInput):
    """A quantity has more fractional digits than its asset's decimals allow (never rounded)."""


class UnknownOrder(InvalidInput):
    """No order with the given id exists in this engine's state."""


class UnknownEventType(InvalidInput):
    """A stored event's (type, version) pair has no registered class to decode it."""


class IllegalTransition(FinalError, RuntimeError):
    """An order or settlement was asked to move along an edge its transition table does not have."""


class VenueRejected(FinalError):
    """The venue received the request and refused it; the message carries the venue's reason."""


class VenueTimeout(RetryableError, TimeoutError):
    """No answer from the venue in time. After a write this is an *ambiguous* outcome: the request
    may or may not have been executed, so it must be reconciled, never blindly retried."""


class VenueUnavailable(RetryableError, ConnectionError):
    """The venue could not be reached and the request provably did not leave this process."""


class ReconciliationFailed(OmsError, RuntimeError):
    """Reconciling our state with a venue failed; trading on that venue stays stopped."""


class EngineNotReady(OmsError, RuntimeError):
    """The engine has not finished replay and reconciliation (or refused to start); see message."""
