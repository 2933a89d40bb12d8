"""Venues: one adapter per venue behind the :class:`~oms_chain.venues.base.Venue` protocol."""

from oms_chain.venues.base import (
    AmendOrder,
    BoundedAcceptance,
    DeclaresCapabilities,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    QuantityGrid,
    Quote,
    ReconciliationReport,
    SendBudget,
    SpendableInventory,
    Venue,
    VenueCapabilities,
    VenueOrderStatus,
    VenueReport,
)
from oms_chain.venues.paper import Fault, PaperVenue

__all__ = [
    "AmendOrder",
    "BoundedAcceptance",
    "DeclaresCapabilities",
    "Fault",
    "FillReport",
    "LiquidityCurve",
    "LiquidityLevel",
    "OrderStatusReport",
    "PaperVenue",
    "PlaceOrder",
    "QuantityGrid",
    "Quote",
    "ReconciliationReport",
    "SendBudget",
    "SpendableInventory",
    "Venue",
    "VenueCapabilities",
    "VenueOrderStatus",
    "VenueReport",
]
