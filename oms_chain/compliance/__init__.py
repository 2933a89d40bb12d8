"""Compliance: address screening for the risk gate and travel-rule style transfer records."""

from oms_chain.compliance.screening import (
    AddressScreen,
    BlockList,
    BlockListEntry,
    ScreeningMatch,
    match_events,
)
from oms_chain.compliance.transfers import BlockedTransfer, TransferLog

__all__ = [
    "AddressScreen",
    "BlockList",
    "BlockListEntry",
    "BlockedTransfer",
    "ScreeningMatch",
    "TransferLog",
    "match_events",
]
