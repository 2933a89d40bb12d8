"""The public API of oms_chain.venues.amm is exactly what ``__all__`` lists."""

from __future__ import annotations

import oms_chain.venues.amm as amm
from oms_chain.venues.amm import (
    account,
    approvals,
    factory,
    follower,
    journal,
    v2_math,
    v2_pool,
    v2_venue,
    v3_math,
    v3_pool,
    v3_venue,
    venue,
    weth,
)


def test_public_api() -> None:
    assert set(amm.__all__) == {
        "AmmOrderJournal",
        "AmmVenueConfig",
        "ApprovalPolicy",
        "ChainAccount",
        "FollowerLagging",
        "FollowerStopped",
        "UniswapV2Venue",
        "UniswapV3Venue",
        "UniswapVenues",
        "book_routes",
        "ensure_allowance",
        "ensure_wrapped",
        "fetch_v2_pool",
        "fetch_v3_pool",
        "unwrap",
        "uniswap_venues",
        "wrap",
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
    }
    for name in amm.__all__:
        assert getattr(amm, name) is not None


def test_every_module_declares_its_public_names() -> None:
    for module in (
        v2_math,
        v2_pool,
        v3_math,
        v3_pool,
        account,
        approvals,
        factory,
        follower,
        journal,
        venue,
        v2_venue,
        v3_venue,
        weth,
    ):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
            assert not name.startswith("_")
