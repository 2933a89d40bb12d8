"""AMM venues: exact Uniswap V2 / V3 math, pool state kept fresh from chain events, and the
Uniswap V2 / V3 venues that execute through the real routers."""

from oms_chain.venues.amm.account import AmmOrderJournal, ChainAccount
from oms_chain.venues.amm.approvals import ApprovalPolicy, ensure_allowance
from oms_chain.venues.amm.factory import UniswapVenues, book_routes, uniswap_venues
from oms_chain.venues.amm.follower import (
    FollowerLagging,
    FollowerStopped,
    PoolFollower,
    PoolFollowerConfig,
    PoolState,
)
from oms_chain.venues.amm.v2_math import (
    InsufficientReserves,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
)
from oms_chain.venues.amm.v2_pool import V2PoolState, fetch_v2_pool, load_v2_pool
from oms_chain.venues.amm.v3_math import (
    InsufficientLiquidity,
    MathRevert,
    SwapResult,
    TickDataMissing,
    quote_exact_input_path,
    quote_exact_output_path,
)
from oms_chain.venues.amm.v3_pool import (
    PoolLoadError,
    V3PoolState,
    fetch_v3_pool,
    load_v3_pool,
    v3_path_hops,
)
from oms_chain.venues.amm.venue import (
    AmmVenueConfig,
    SwapPath,
    UniswapV2Venue,
    UniswapV3Venue,
)
from oms_chain.venues.amm.weth import ensure_wrapped, unwrap, wrap

__all__ = [
    "AmmOrderJournal",
    "AmmVenueConfig",
    "ApprovalPolicy",
    "ChainAccount",
    "FollowerLagging",
    "FollowerStopped",
    "InsufficientLiquidity",
    "InsufficientReserves",
    "MathRevert",
    "PoolFollower",
    "PoolFollowerConfig",
    "PoolLoadError",
    "PoolState",
    "SwapPath",
    "SwapResult",
    "TickDataMissing",
    "UniswapV2Venue",
    "UniswapV3Venue",
    "UniswapVenues",
    "V2PoolState",
    "V3PoolState",
    "book_routes",
    "ensure_allowance",
    "ensure_wrapped",
    "fetch_v2_pool",
    "fetch_v3_pool",
    "get_amount_in",
    "get_amount_out",
    "get_amounts_in",
    "get_amounts_out",
    "load_v2_pool",
    "load_v3_pool",
    "quote_exact_input_path",
    "quote_exact_output_path",
    "uniswap_venues",
    "unwrap",
    "v3_path_hops",
    "wrap",
]
