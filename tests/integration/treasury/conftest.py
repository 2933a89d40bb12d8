"""A devnet treasury: a 2-of-3 Safe with 100 ETH and 450k USDC, its BatchExecutor, the RFQ
maker of the options market (quotes valid an hour, so owners have time to sign)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from oms_chain.devnet.options_maker import MakerConfig, OptionsMakerThread, run_maker_in_thread
from oms_chain.devnet.options_market import OptionsMarketClient, set_feed_price
from oms_chain.devnet.treasury import DevTreasury, create_treasury
from oms_chain.devnet.world import DevnetChain


@pytest.fixture
def maker(l1: DevnetChain) -> Iterator[OptionsMakerThread]:
    thread = run_maker_in_thread(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        l1.accounts[3].private_key,
        config=MakerConfig(ttl_s=3600, max_size=1_000_000),
    )
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def treasury(l1: DevnetChain) -> DevTreasury:
    set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal(3000), sender=l1.accounts[0].address
    )
    keys = tuple(a.private_key for a in l1.accounts[5:8])
    return create_treasury(l1, keys, 2, eth=100, usdc=450_000)
