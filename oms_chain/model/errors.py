"""The exception tree of oms-chain.

Every error we raise derives from :class:`OmsError`; subclasses also inherit the matching builtin
so callers can catch ``ValueError`` or ``TimeoutError`` as usual. :class:`RetryableError` marks
conditions that may pass on their own (timeouts, rate limits, node hiccups); :class:`FinalError`
marks outcomes that will not change by retrying (rejected, reverted, insufficient funds).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DevnetError",
    "FinalError",
    "InvalidInput",
    "OmsError",
    "PortInUse",
    "RetryableError",
    "StateFileCorrupt",
    "ToolchainMissing",
    "UpstreamUnavailable",
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
