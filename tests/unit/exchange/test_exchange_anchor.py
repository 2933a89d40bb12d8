"""Anchored prices: the simulator's mid follows an anchor (the devnet's pools), stays within its
band whatever the volatility, and is deterministic by seed."""

from __future__ import annotations

import math
import random
import socket
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.devnet.deploy import sqrt_price_x96
from oms_chain.devnet.exchange import (
    AnchoredPath,
    ExchangeSimulator,
    SimulatorConfig,
    StaticAnchor,
    check_invariants,
)
from oms_chain.devnet.pool_anchor import AnchorPool, PoolAnchor, pool_price
from oms_chain.model.errors import DevnetError, InvalidInput


def mid(sim: ExchangeSimulator, symbol: str) -> D:
    bid, ask = sim.engine.best_bid_ask(symbol)
    assert bid is not None and ask is not None
    return (bid[0] + ask[0]) / 2


async def anchored(seed: int, anchor: StaticAnchor, sigma: float = 0.0005) -> ExchangeSimulator:
    sim = ExchangeSimulator(SimulatorConfig(seed=seed, anchor=anchor, price_sigma=sigma))
    await sim.refresh_anchor()
    return sim


def test_anchored_path_with_no_volatility_is_the_anchor_exactly() -> None:
    path = AnchoredPath(D(3000), sigma=0.0, rng=random.Random(1))
    assert [path.advance() for _ in range(3)] == [D(3000)] * 3
    path.set_anchor(D("2950.5"))
    assert path.current == D("2950.5") and path.advance() == D("2950.5")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    sigma=st.floats(0, 0.05),
    band=st.floats(0, 200),
    anchors=st.lists(st.decimals("0.01", "1000000", places=2), min_size=1, max_size=20),
)
def test_anchored_path_never_leaves_its_band_around_the_latest_anchor(
    seed: int, sigma: float, band: float, anchors: list[D]
) -> None:
    path = AnchoredPath(D(3000), sigma=sigma, band_bps=band, rng=random.Random(seed))
    limit = math.exp(band / 10_000) * (1 + 1e-9)
    for anchor in anchors:
        path.set_anchor(anchor)
        for _ in range(5):
            price = float(path.advance())  # 8 decimals: half a unit of rounding
            assert float(anchor) / limit - 5e-9 <= price <= float(anchor) * limit + 5e-9


def test_anchored_path_refuses_a_non_positive_anchor() -> None:
    path = AnchoredPath(D(3000), rng=random.Random(0))
    with pytest.raises(ValueError, match="must be > 0"):
        path.set_anchor(D(0))


async def test_the_simulator_quotes_around_the_anchor_and_follows_it_when_it_moves() -> None:
    anchor = StaticAnchor({"ETH": 3000, "BTC": 60000})
    sim = await anchored(3, anchor)
    sim.step_agents(20)
    for symbol, fair in (("ETHUSDC", D(3000)), ("BTCUSDC", D(60000)), ("ETHBTC", D("0.05"))):
        assert abs(mid(sim, symbol) / fair - 1) < D("0.004"), symbol  # band 25 bps + spread
    anchor.set("ETH", 2700)
    assert await sim.refresh_anchor() == {"ETH": D(2700), "BTC": D(60000)}
    sim.step_agents(2)
    assert abs(mid(sim, "ETHUSDC") / D(2700) - 1) < D("0.004")
    assert abs(mid(sim, "ETHBTC") / D("0.045") - 1) < D("0.004")
    assert check_invariants(sim.engine) == []


async def test_same_seed_and_anchors_give_the_same_book_and_another_seed_does_not() -> None:
    books = []
    for seed in (9, 9, 10):
        sim = await anchored(seed, StaticAnchor({"ETH": 3100, "BTC": 61000}))
        sim.step_agents(25)
        books.append(tuple(sim.engine.depth(s, 20) for s in sim.engine.markets))
    assert books[0] == books[1] and books[0] != books[2]


async def test_a_failing_anchor_read_keeps_the_last_anchor_and_is_counted() -> None:
    class Broken(StaticAnchor):
        async def prices_usd(self) -> dict[str, D]:
            raise ConnectionError("node down")

    sim = ExchangeSimulator(SimulatorConfig(seed=1, anchor=Broken({})))
    assert await sim.refresh_anchor() == {}
    assert sim.anchor_failures == 1
    assert sim.prices_usd()["ETH"] == D(3000)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price_sigma", -0.1),
        ("price_sigma", 0.06),
        ("anchor_interval_s", 0),
        ("anchor_band_bps", -1),
    ],
)
def test_bad_simulator_price_settings_are_invalid_input_naming_the_field(
    field: str, value: float
) -> None:
    with pytest.raises(InvalidInput, match=field):
        SimulatorConfig(**{field: value})


def test_an_anchor_with_its_own_price_paths_is_refused() -> None:
    from oms_chain.devnet.exchange import ListPath

    with pytest.raises(InvalidInput, match="anchor cannot be combined"):
        SimulatorConfig(anchor=StaticAnchor({}), price_paths={"ETH": ListPath([3000])})


def _pool(protocol: str, base_is_token0: bool) -> AnchorPool:
    return AnchorPool(
        protocol=protocol,
        address="0x" + "11" * 20,
        asset="ETH",
        base_is_token0=base_is_token0,
        base_decimals=18,
        quote_decimals=6,
        quote_token="0x" + "22" * 20,
    )


def test_v2_pool_price_is_the_reserve_ratio_in_whole_tokens_either_way_round() -> None:
    weth, usdc = 1_000 * 10**18, 3_000_000 * 10**6
    assert pool_price(_pool("uniswap-v2", True), (weth, usdc)) == 3000
    assert pool_price(_pool("uniswap-v2", False), (usdc, weth)) == 3000


def test_v3_pool_price_inverts_the_deployers_sqrt_price_within_its_flooring() -> None:
    for base_is_token0 in (True, False):
        prices = (D(3000), D(1)) if base_is_token0 else (D(1), D(3000))
        decimals = (18, 6) if base_is_token0 else (6, 18)
        sqrt_p = sqrt_price_x96(*prices, *decimals)
        price = pool_price(_pool("uniswap-v3", base_is_token0), (sqrt_p,))
        assert abs(price - 3000) < Fraction(1, 10**9)


def test_a_pool_without_reserves_or_an_unknown_protocol_is_a_devnet_error() -> None:
    with pytest.raises(DevnetError, match="no reserves"):
        pool_price(_pool("uniswap-v2", True), (0, 5))
    with pytest.raises(DevnetError, match="unknown protocol"):
        pool_price(_pool("curve", True), (1,))
    with pytest.raises(DevnetError, match="at least one"):
        PoolAnchor("http://127.0.0.1:1", [])


async def test_an_unreachable_node_counts_as_an_anchor_failure_and_prices_stay() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    anchor = PoolAnchor(dead, [_pool("uniswap-v3", True)], timeout_s=2)
    sim = ExchangeSimulator(SimulatorConfig(seed=1, anchor=anchor))
    try:
        assert await sim.refresh_anchor() == {}
        assert sim.anchor_failures == 1 and sim.prices_usd()["ETH"] == D(3000)
    finally:
        await anchor.close()
