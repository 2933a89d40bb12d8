"""Option pricing: Black-Scholes-Merton and Black-76 prices and Greeks, implied volatility.

Pure, vectorized numpy, no I/O: every function takes broadcastable float64 arrays (``is_call`` a
boolean array) and returns arrays. Floats live here; :mod:`oms_chain.risk.pricing.convert` turns
``Decimal`` contracts and quotes into arrays at the boundary.
"""

from oms_chain.risk.pricing.black import Greeks, black76, black76_price, bsm, bsm_price
from oms_chain.risk.pricing.convert import (
    NS_PER_YEAR,
    ContractArrays,
    contract_arrays,
    option_quote,
    to_decimals,
)
from oms_chain.risk.pricing.iv import IVReason, IVResult, implied_vol
from oms_chain.risk.pricing.svi import (
    ArbitrageReport,
    ButterflyViolation,
    CalendarViolation,
    OptionQuote,
    SVIFit,
    SVIParams,
    VolSurface,
    fit_svi,
)

__all__ = [
    "NS_PER_YEAR",
    "ArbitrageReport",
    "ButterflyViolation",
    "CalendarViolation",
    "ContractArrays",
    "Greeks",
    "IVReason",
    "IVResult",
    "OptionQuote",
    "SVIFit",
    "SVIParams",
    "VolSurface",
    "black76",
    "black76_price",
    "bsm",
    "bsm_price",
    "contract_arrays",
    "fit_svi",
    "implied_vol",
    "option_quote",
    "to_decimals",
]
