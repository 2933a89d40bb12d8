"""The RFQ maker hedges the delta of what it wrote through the L1's Uniswap V2 pool, when asked
(deterministic: no background loop in these tests)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from onchain_helpers import approve, balance, market

from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput

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
