"""The RFQ maker hedges the delta of what it wrote through the L1's Uniswap V2 pool or on the
Binance-protocol exchange simulator, whichever costs less (or the one configured), when asked
(deterministic: no background loop in these tests, the simulator's agents stand still)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from onchain_helpers import approve, balance, market

from oms_chain.devnet.exchange.simulator import SimulatorConfig, SimulatorThread, run_in_thread
from oms_chain.devnet.maker_hedge import CcxtHedge
from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import DevnetError, InvalidInput

D = Decimal


def _put_3000(l1: DevnetChain) -> int:
    weth = l1.book.token("WETH").address
    return min(
        (s for s in market(l1).all_series() if s.underlying == weth and not s.is_call),
        key=lambda s: (s.expiry, abs(s.strike - 3000 * 10**6)),
    ).series_id


def test_the_maker_sells_the_underlying_against_the_puts_it_wrote_once_past_the_band(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    maker_acct, taker = devnet_accounts[3], devnet_accounts[5]
    agent = OptionsMaker(
        market(l1),
        maker_acct.private_key,
        config=MakerConfig(max_size=10_000, hedge_band=D("0.05")),
        contracts=l1.book.contracts,
    )
    agent.prepare(wrap_eth=100 * 10**18)
    weth = l1.book.token("WETH").address
    assert agent.delta() == {} and agent.hedge() == []  # nothing written, nothing to hedge
    sid = _put_3000(l1)
    approve(l1, "USDC", taker.address, market(l1).address)
    q, sig = agent.quote(sid, True, 20, taker.address)  # taker buys 20 x 0.1 WETH puts
    market(l1).fill(q, sig, 20, taker=taker.address)
    delta = agent.delta()[weth]
    assert D("0") < delta < D("2")  # short 2 ETH of puts: long delta, below 2
    weth0 = balance(l1, "WETH", maker_acct.address)
    (trade,) = agent.hedge()
    assert trade.underlying == weth and trade.delta == delta and trade.target == -delta
    assert trade.quantity < 0 and abs(trade.quantity + delta) < D("0.00000001")
    sold = weth0 - balance(l1, "WETH", maker_acct.address)
    assert sold == int(-trade.quantity * 10**18) and agent.hedge_held[weth] == trade.quantity
    assert agent.hedge() == []  # within the band now
    # a small extra fill moves the delta by less than the band: still no trade
    q2, sig2 = agent.quote(sid, True, 1, taker.address)
    market(l1).fill(q2, sig2, 1, taker=taker.address)
    assert agent.hedge() == []


def test_a_bad_hedge_band_is_refused() -> None:
    with pytest.raises(InvalidInput, match="hedge_band"):
        MakerConfig(hedge_band=D(0))


@pytest.fixture
def cex() -> Iterator[SimulatorThread]:
    """A Binance-protocol simulator whose agents seeded the book once and then stay still."""
    sim = run_in_thread(SimulatorConfig(seed=11, agents_running=False))
    try:
        yield sim
    finally:
        sim.stop()


def _maker_short_puts(
    l1: DevnetChain, sim: SimulatorThread, accounts: tuple[DevAccount, ...], hedge_on: str, fee: str
) -> tuple[OptionsMaker, int]:
    """A maker (devnet account 3, an exchange account with taker fee ``fee``) that wrote 20 x
    0.1 WETH puts to account 5; and its WETH balance then, before any hedge."""
    maker_acct, taker = accounts[3], accounts[5]
    api = f"maker-{hedge_on}-{fee}"
    sim.call(
        lambda: sim.simulator.create_account(
            api, "s", {"USDC": 100_000, "ETH": 50}, taker_fee=D(fee)
        )
    )
    agent = OptionsMaker(
        market(l1),
        maker_acct.private_key,
        config=MakerConfig(hedge_band=D("0.05"), hedge_on=hedge_on),
        contracts=l1.book.contracts,
        exchange=CcxtHedge.binance_simulator(api, "s", sim.simulator.binance_urls),
    )
    agent.prepare(wrap_eth=100 * 10**18)
    sid = _put_3000(l1)
    approve(l1, "USDC", taker.address, market(l1).address)
    q, sig = agent.quote(sid, True, 20, taker.address)
    market(l1).fill(q, sig, 20, taker=taker.address)
    return agent, balance(l1, "WETH", maker_acct.address)


def test_the_maker_hedges_on_the_exchange_when_it_is_cheaper_than_the_pool(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], cex: SimulatorThread
) -> None:
    agent, weth0 = _maker_short_puts(l1, cex, devnet_accounts, "cheapest", "0.001")
    (trade,) = agent.hedge()
    # selling ~1 ETH: the exchange's 0.1 % beats the pool's 0.3 %, its impact and the gas
    assert set(trade.costs) == {"pool", "exchange"} and trade.quantity < 0
    assert trade.costs["exchange"] < trade.costs["pool"] < 0  # received more on the exchange
    assert trade.venue == "exchange" and trade.order_id and trade.tx_hash is None
    assert balance(l1, "WETH", agent.address) == weth0  # nothing swapped on chain
    x = agent.exchange._x  # type: ignore[union-attr]
    assert D(str(x.fetch_balance()["ETH"]["total"])) == 50 + trade.quantity
    assert agent.hedge_held[trade.underlying] == trade.quantity and agent.hedge() == []


def test_the_maker_hedges_on_the_pool_when_the_exchange_costs_more(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], cex: SimulatorThread
) -> None:
    agent, weth0 = _maker_short_puts(l1, cex, devnet_accounts, "cheapest", "0.02")  # 2 % fee
    (trade,) = agent.hedge()
    assert trade.costs["pool"] < trade.costs["exchange"] < 0  # the pool pays more for it
    assert trade.venue == "pool"
    assert trade.tx_hash is not None and trade.order_id is None
    assert weth0 - balance(l1, "WETH", agent.address) == int(-trade.quantity * 10**18)


def test_hedge_on_exchange_always_trades_there_and_bad_settings_are_refused(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], cex: SimulatorThread
) -> None:
    agent, _ = _maker_short_puts(l1, cex, devnet_accounts, "exchange", "0.02")
    (trade,) = agent.hedge()
    assert trade.venue == "exchange" and set(trade.costs) == {"exchange"}
    with pytest.raises(InvalidInput, match="hedge_on"):
        MakerConfig(hedge_on="dex")
    key = devnet_accounts[3].private_key
    lone = OptionsMaker(market(l1), key, config=MakerConfig(hedge_on="exchange"))
    with pytest.raises(DevnetError, match="no exchange account"):
        lone.hedge()
