"""Pool discovery rules that need no chain: which pairs are asked about, where the cache lives,
and that a pinned book or a book without factories makes no call at all."""

from __future__ import annotations

import asyncio
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.chain.addressbook import AddressBook, PoolEntry, TokenEntry
from oms_chain.chain.rpc import RpcClient
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.discovery import (
    HUB_TOKENS,
    discover_pools,
    pair_candidates,
    pool_cache_dir,
    with_discovered_pools,
)

SYMBOLS = ("WETH", "USDC", "WBTC", "DAI", "LINK", "UNI")
#: a port nothing listens on: any call through this client fails with RpcUnavailable
DEAD = "http://127.0.0.1:9"


def _book(symbols: tuple[str, ...] = SYMBOLS, **contracts: str) -> AddressBook:
    tokens = {
        s: TokenEntry(s, f"0x{i + 1:040x}", 18)  # type: ignore[arg-type]
        for i, s in enumerate(symbols)
    }
    return AddressBook(chain_id=1, name="test", contracts=contracts, tokens=tokens)  # type: ignore[arg-type]


@given(st.sampled_from(SYMBOLS), st.sampled_from(SYMBOLS))
def test_the_pairs_asked_for_a_trade_are_the_pair_and_each_side_with_every_hub(
    sell: str, buy: str
) -> None:
    book = _book()
    if sell == buy:
        with pytest.raises(InvalidInput, match="both"):
            pair_candidates(book, sell, buy)
        return
    pairs = pair_candidates(book, sell, buy)
    assert tuple(sorted((sell, buy))) in pairs
    assert all(a < b for a, b in pairs) and len(set(pairs)) == len(pairs)
    for a, b in pairs:
        assert {a, b} == {sell, buy} or ({a, b} & set(HUB_TOKENS) and {a, b} & {sell, buy})
    for hub in HUB_TOKENS:
        for side in (sell, buy):
            if side != hub:
                assert tuple(sorted((side, hub))) in pairs


def test_without_a_trade_every_pair_of_tokens_is_asked() -> None:
    assert pair_candidates(_book()) == list(combinations(sorted(SYMBOLS), 2))


@given(st.text(min_size=1, max_size=6).filter(lambda s: s not in SYMBOLS))
def test_an_unknown_token_is_refused_naming_it(symbol: str) -> None:
    with pytest.raises(InvalidInput, match="no token"):
        pair_candidates(_book(), symbol, "USDC")


def test_the_cache_folder_follows_oms_chain_home_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMS_CHAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pool_cache_dir() == tmp_path / "home" / "cache" / "pools"
    monkeypatch.delenv("OMS_CHAIN_HOME")
    assert pool_cache_dir() == tmp_path / "xdg" / "oms-chain" / "pools"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert pool_cache_dir() == tmp_path / "user" / ".cache" / "oms-chain" / "pools"


def test_a_pinned_book_and_a_book_without_factories_make_no_call(tmp_path: Path) -> None:
    pool = PoolEntry("uniswap-v2", f"0x{99:040x}", f"0x{1:040x}", f"0x{2:040x}", 3000)  # type: ignore[arg-type]
    pinned = AddressBook(
        chain_id=1, name="pinned", tokens=_book().tokens, pools=(pool,), contracts={}
    )

    async def run() -> None:
        async with RpcClient([DEAD], timeout=1.0) as rpc:
            assert await with_discovered_pools(rpc, pinned, cache_dir=tmp_path) is pinned
            assert await with_discovered_pools(rpc, _book(), discover=False) == _book()
            assert await discover_pools(rpc, _book(), cache_dir=tmp_path) == []
            got = await with_discovered_pools(rpc, _book(), cache_dir=tmp_path)
            assert got.pools == ()

    asyncio.run(run())
    assert list(tmp_path.iterdir()) == []


def test_discovery_asks_about_tokens_of_the_book_only() -> None:
    book = _book(UniswapV2Factory=f"0x{77:040x}")

    async def run() -> None:
        async with RpcClient([DEAD], timeout=1.0) as rpc:
            with pytest.raises(InvalidInput, match="no token 'PEPE'"):
                await discover_pools(rpc, book, [("PEPE", "USDC")])

    asyncio.run(run())
