"""Pure domain values: instruments, orders and their state machine, fills, events, positions.

No I/O, no web3, no ccxt: everything here can be constructed and tested in isolation.
"""

from oms_chain.model.errors import (
    ConfigError,
    DevnetError,
    FinalError,
    InvalidInput,
    OmsError,
    PortInUse,
    RetryableError,
    StateFileCorrupt,
    ToolchainMissing,
    UpstreamUnavailable,
)

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
