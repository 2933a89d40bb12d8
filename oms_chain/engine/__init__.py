"""The OMS engine: intents → risk gate → child orders → venues, with replay and reconciliation."""

from oms_chain.engine.config import (
    AccountConfig,
    ChainConfig,
    EngineConfig,
    OmsConfig,
    Secret,
    StoreConfig,
    VenueConfig,
    load_config,
    parse_config,
)
from oms_chain.engine.engine import ENGINE_STREAM, SNAPSHOT_NAME, Engine, EnginePhase
from oms_chain.engine.eventlog import EventLog, InMemoryEventLog
from oms_chain.engine.fence import SendFence

__all__ = [
    "ENGINE_STREAM",
    "SNAPSHOT_NAME",
    "AccountConfig",
    "ChainConfig",
    "Engine",
    "EngineConfig",
    "EnginePhase",
    "EventLog",
    "InMemoryEventLog",
    "OmsConfig",
    "Secret",
    "SendFence",
    "StoreConfig",
    "VenueConfig",
    "load_config",
    "parse_config",
]
