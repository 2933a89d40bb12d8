"""Agents: a moving two-sided book, determinism by seed, coherent cross prices."""

from __future__ import annotations

import random
from decimal import Decimal as D

from oms_chain.devnet.exchange import (
    ExchangeSimulator,
    GbmPath,
    ListPath,
    PriceBoard,
    SimulatorConfig,
    check_invariants,
)


def book_fingerprint(sim: ExchangeSimulator) -> tuple:
    return tuple(sim.engine.depth(symbol, 20) for symbol in sim.engine.markets)


def test_same_seed_same_book_different_seed_different_book() -> None:
    first, second, other = (ExchangeSimulator(SimulatorConfig(seed=s)) for s in (5, 5, 6))
    for sim in (first, second, other):
        sim.step_agents(30)
    assert book_fingerprint(first) == book_fingerprint(second)
    assert book_fingerprint(first) != book_fingerprint(other)


def test_books_stay_two_sided_around_the_path_and_trades_print() -> None:
    sim = ExchangeSimulator(SimulatorConfig(seed=2, price_sigma=0.002))
    for _ in range(20):
        sim.step_agents(10)
        prices = sim.prices_usd()
        for symbol, spec in sim.engine.markets.items():
            bid, ask = sim.engine.best_bid_ask(symbol)
            assert bid is not None and ask is not None and bid[0] < ask[0]
            fair = prices.get(spec.base, D(1)) / prices.get(spec.quote, D(1))
            assert abs((bid[0] + ask[0]) / 2 / fair - 1) < D("0.01")
    assert all(len(sim.engine.trades[s]) > 10 for s in sim.engine.markets)
    assert check_invariants(sim.engine) == []
    assert sim.prices_usd()["ETH"] != D(3000)  # the path moved


def test_list_path_and_board_mid() -> None:
    board = PriceBoard({"ETH": ListPath(["3000", "3100"]), "BTC": ListPath(["60000"])})
    assert board.mid("ETH", "BTC") == D("0.05")
    board.advance()
    board.advance()
    assert board.price("ETH") == D(3100) and board.price("USDC") == D(1)


def test_gbm_path_is_reproducible() -> None:
    a = GbmPath(D(3000), rng=random.Random(1))
    b = GbmPath(D(3000), rng=random.Random(1))
    assert [a.advance() for _ in range(5)] == [b.advance() for _ in range(5)]


def test_a_shared_price_board_is_followed_but_not_advanced_by_the_simulator() -> None:
    board = PriceBoard({"ETH": ListPath(["3000", "3300"]), "BTC": ListPath(["60000"])})
    sim = ExchangeSimulator(SimulatorConfig(seed=1, price_board=board))
    sim.step_agents(3)
    assert board.price("ETH") == D(3000)  # the owner moves it, not the simulator
    board.advance()
    sim.step_agents(5)
    bid, ask = sim.engine.best_bid_ask("ETHUSDC")
    assert bid is not None and ask is not None
    assert D(3250) < bid[0] < ask[0] < D(3350)
