"""AMM venues: exact Uniswap V2 / V3 math and pool state kept fresh from chain events."""

from oms_chain.venues.amm.v2_math import (
    InsufficientReserves,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
)
from oms_chain.venues.amm.v2_pool import V2PoolState, load_v2_pool
from oms_chain.venues.amm.v3_math import (
    InsufficientLiquidity,
    MathRevert,
    SwapResult,
    TickDataMissing,
    quote_exact_input_path,
    quote_exact_output_path,
)
from oms_chain.venues.amm.v3_pool import PoolLoadError, V3PoolState, load_v3_pool, v3_path_hops

__all__ = [
    "InsufficientLiquidity",
    "InsufficientReserves",
    "MathRevert",
    "PoolLoadError",
    "SwapResult",
    "TickDataMissing",
    "V2PoolState",
    "V3PoolState",
    "get_amount_in",
    "get_amount_out",
    "get_amounts_in",
    "get_amounts_out",
    "load_v2_pool",
    "load_v3_pool",
    "quote_exact_input_path",
    "quote_exact_output_path",
    "v3_path_hops",
]
