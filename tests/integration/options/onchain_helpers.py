"""Helpers for the on-chain options venue tests: a venue for one devnet key on a store, the
maker agent, waiting for an order to settle, chain reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.ids import ClientOrderId, client_order_id
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.model.intent import Side
from oms_chain.store import open_store
from oms_chain.store.base import EventStore
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import OrderStatusReport, PlaceOrder, VenueOrderStatus
from oms_chain.venues.options import OnchainOptionsVenue, onchain_options_venue

MAX = 2**256 - 1


def store_at(tmp_path: Path, name: str = "oms.db") -> EventStore:
    return open_store(f"sqlite:///{tmp_path / name}")


@asynccontextmanager
async def onchain_venue(
    chain: DevnetChain,
    private_key: str,
    store: EventStore,
    makers: tuple[str, ...],
    executor: str | None = None,
) -> AsyncIterator[OnchainOptionsVenue]:
    """The options venue of ``chain`` for one key; no background polling (the venue polls)."""
    rpc = RpcClient([chain.rpc_url])
    account = ChainAccount(rpc, chain_info(chain.chain_id), LocalSigner(private_key), store)
    venue = onchain_options_venue(account, chain.book, makers, executor=executor)
    try:
        yield await venue.start()
    finally:
        await venue.close()
        await account.close()
        await rpc.close()


def put_of(
    venue: OnchainOptionsVenue, strike: int = 3000, underlying: str = "WETH"
) -> OptionContract:
    """The earliest-expiring listed put at ``strike``."""
    found = [
        c
        for c in venue.instruments()
        if c.option_kind is OptionKind.PUT
        and c.strike == strike
        and c.underlying.symbol == underlying
    ]
    assert found, [c.symbol for c in venue.instruments()]
    return min(found, key=lambda c: c.expiry_ns)


def call_of(venue: OnchainOptionsVenue, strike: int = 3000) -> OptionContract:
    found = [
        c
        for c in venue.instruments()
        if c.option_kind is OptionKind.CALL and c.strike == strike and c.underlying.symbol == "WETH"
    ]
    return min(found, key=lambda c: c.expiry_ns)


def order(
    contract: OptionContract,
    n: str,
    qty: str = "1",
    side: Side = Side.BUY,
    limit: str | None = None,
) -> PlaceOrder:
    return PlaceOrder(
        client_order_id=client_order_id(f"opt-{n}", 0),
        instrument=contract,
        side=side,
        quantity=Decimal(qty),
        limit_price=None if limit is None else Decimal(limit),
    )


async def settle(
    venue: OnchainOptionsVenue,
    coid: ClientOrderId,
    status: VenueOrderStatus = VenueOrderStatus.FILLED,
    seconds: float = 15.0,
) -> OrderStatusReport:
    """Ask until the order's report has ``status`` (the chain mines it)."""
    last = None
    for _ in range(int(seconds / 0.05)):
        last = await venue.status(coid)
        if last is not None and last.status is status:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{coid} did not reach {status}: {last}")


def erc20(chain: DevnetChain, symbol: str) -> Any:
    return chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)


def balance(chain: DevnetChain, symbol: str, who: str) -> int:
    return int(erc20(chain, symbol).functions.balanceOf(who).call())


def approve(chain: DevnetChain, symbol: str, owner: str, spender: str) -> None:
    tx = erc20(chain, symbol).functions.approve(spender, MAX).transact({"from": owner})
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def market(chain: DevnetChain) -> OptionsMarketClient:
    return OptionsMarketClient.from_book(chain.w3, chain.book)
