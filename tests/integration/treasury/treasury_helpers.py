"""Helpers of the treasury tests (imported by name: pytest puts this folder on the path)."""

from __future__ import annotations

from decimal import Decimal

from oms_chain.devnet.options_market import set_feed_price
from oms_chain.devnet.world import DevnetChain


def jump(l1: DevnetChain, price: int) -> None:
    """The ETH feed jumps to ``price``."""
    set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal(price), sender=l1.accounts[0].address
    )
