"""Helpers of the treasury tests (imported by name: pytest puts this folder on the path)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import sign_safe_transaction
from oms_chain.devnet.options_market import set_feed_price
from oms_chain.devnet.world import DevnetChain
from oms_chain.treasury import TreasuryDesk


def jump(l1: DevnetChain, price: int) -> None:
    """The ETH feed jumps to ``price``."""
    set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal(price), sender=l1.accounts[0].address
    )


async def sign_all(desk: TreasuryDesk, run_id: str, keys: Sequence[str]) -> None:
    """Every owner key in ``keys`` signs every proposal of ``run_id``; the desk records it."""
    for p in desk.state(run_id).proposals:
        tx = p.safe_tx(desk.policy, desk.multisend)
        for key in keys:
            sig = await sign_safe_transaction(LocalSigner(key), tx)
            await desk.add_signature(run_id, p.proposal_id, f"{sig.owner}:0x{sig.data.hex()}")
