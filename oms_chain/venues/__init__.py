"""Venues: one adapter per venue behind the :class:`~oms_chain.venues.base.Venue` protocol."""

from oms_chain.venues.base import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    Venue,
    VenueOrderStatus,
    VenueReport,
)
from oms_chain.venues.paper import Fault, PaperVenue

__all__ = [
    "AmendOrder",
    "Fault",
    "FillReport",
    "LiquidityCurve",
    "LiquidityLevel",
    "OrderStatusReport",
    "PaperVenue",
    "PlaceOrder",
    "Quote",
    "ReconciliationReport",
    "Venue",
    "VenueOrderStatus",
    "VenueReport",
]
