"""Finding the Uniswap pools of a chain from its factories (for books that list no pools).

The committed address books (mainnet, Arbitrum, Optimism, Base) name the factories, not the pools.
:func:`discover_pools` asks the V2 factory ``getPair(a, b)`` and the V3 factory
``getPool(a, b, fee)`` for each fee tier in :data:`FEE_TIERS`, then reads each pool's liquidity
(V2: ``getReserves``, reported as ``isqrt(reserve0 * reserve1)``; V3: ``liquidity()``, the
in-range liquidity) at one block and leaves empty pools out. :func:`with_discovered_pools` gives
the address book with those pools, which is what the quote, route and swap paths consume.

A book that lists pools is *pinned*: its pools are used as they are and nothing is discovered
(the devnet's books list every pool they deployed). Pass ``discover=True`` to discover anyway.

What the factories answered (pool address or "no pool", per pair and tier) is cached per chain
and factory in a small JSON file under :func:`pool_cache_dir` (``$OMS_CHAIN_HOME/cache/pools``,
else ``$XDG_CACHE_HOME/oms-chain/pools``, else ``~/.cache/oms-chain/pools``), checked against
the chain's genesis block hash (a new devnet with the same chain id starts a new cache). The
cache saves the factory look-ups; liquidity is read afresh every time. ``refresh=True`` asks the
factories again (a pool created since the last look-up).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from oms_chain.chain.addressbook import AddressBook, PoolEntry
from oms_chain.chain.rpc import RpcClient, RpcError
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm._calls import encode_call

__all__ = [
    "FEE_TIERS",
    "HUB_TOKENS",
    "V2_FEE",
    "DiscoveredPool",
    "discover_pools",
    "pair_candidates",
    "pool_cache_dir",
    "with_discovered_pools",
]

_log = logging.getLogger(__name__)

#: Uniswap V3 fee tiers asked of the factory, in hundredths of a basis point.
FEE_TIERS: tuple[int, ...] = (100, 500, 3000, 10000)
#: The V2 pair fee (0.3 %), in the same unit as :attr:`PoolEntry.fee`.
V2_FEE = 3000
#: Tokens a two-hop path may pass through when a pair has no direct pool.
HUB_TOKENS: tuple[str, ...] = ("WETH", "USDC")

_CACHE_FORMAT = 1
_BATCH = 50  # calls per JSON-RPC batch (public providers cap batch sizes)
_ZERO = "0x" + "00" * 20
_FACTORIES = (("uniswap-v2", "UniswapV2Factory"), ("uniswap-v3", "UniswapV3Factory"))


@dataclass(frozen=True, slots=True)
class DiscoveredPool:
    """A pool a factory knows, with its liquidity at ``block``: V3 in-range ``liquidity()``,
    V2 ``isqrt(reserve0 * reserve1)``. ``0`` means empty (no swap can go through it)."""

    pool: PoolEntry
    liquidity: int
    block: int

    @property
    def is_empty(self) -> bool:
        """True when no swap can go through the pool at ``block``."""
        return self.liquidity <= 0


def pool_cache_dir() -> Path:
    """Folder of the pool caches: ``$OMS_CHAIN_HOME/cache/pools``, else
    ``$XDG_CACHE_HOME/oms-chain/pools``, else ``~/.cache/oms-chain/pools``."""
    home = os.environ.get("OMS_CHAIN_HOME")
    if home:
        return Path(home).expanduser() / "cache" / "pools"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "oms-chain" / "pools"


def pair_candidates(
    book: AddressBook, sell: str | None = None, buy: str | None = None
) -> list[tuple[str, str]]:
    """Token pairs (symbols) worth asking the factories about.

    With ``sell`` and ``buy``: the pair itself and each of them with every hub token of the book
    (:data:`HUB_TOKENS`: two-hop paths and gas pricing need those). Without: every pair of the
    book's tokens. Raises :class:`InvalidInput` (``UnknownAddress``) for a token the book lacks.
    """
    if sell is None or buy is None:
        return list(combinations(sorted(book.tokens), 2))
    book.token(sell)
    book.token(buy)
    if sell == buy:
        raise InvalidInput(f"sell and buy are both {sell}")
    wanted = {frozenset((sell, buy))}
    for hub in HUB_TOKENS:
        if hub in book.tokens:
            wanted |= {frozenset((t, hub)) for t in (sell, buy) if t != hub}
    return sorted(tuple(sorted(p)) for p in wanted)  # type: ignore[misc]


def _sorted_pair(a: str, b: str) -> tuple[ChecksumAddress, ChecksumAddress]:
    x, y = to_checksum_address(a), to_checksum_address(b)
    return (x, y) if x.lower() < y.lower() else (y, x)


def _lookup_key(token0: str, token1: str, fee: int) -> str:
    return f"{token0.lower()}-{token1.lower()}-{fee}"


class _Cache:
    """The factory answers of one (chain, factory), as stored on disk."""

    def __init__(self, path: Path | None, chain_id: int, factory: str, genesis: str) -> None:
        self.path = path
        self.chain_id = chain_id
        self.factory = factory
        self.genesis = genesis
        self.lookups: dict[str, str | None] = {}
        self.liquidity: dict[str, list[int]] = {}  # pool -> [liquidity, block], informative
        self.dirty = False
        if path is not None:
            self._read(path)

    def _read(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            _log.warning("pool cache %s unreadable (%s); asking the factory again", path, exc)
            return
        if (
            not isinstance(data, dict)
            or data.get("format") != _CACHE_FORMAT
            or data.get("chain_id") != self.chain_id
            or str(data.get("factory", "")).lower() != self.factory.lower()
            or data.get("genesis") != self.genesis
        ):
            return  # another chain behind the same id (a new devnet), or an old format
        lookups = data.get("lookups")
        if isinstance(lookups, dict):
            self.lookups = {
                str(k): (str(v) if isinstance(v, str) else None) for k, v in lookups.items()
            }

    def write(self) -> None:
        if self.path is None or not self.dirty:
            return
        data = {
            "format": _CACHE_FORMAT,
            "chain_id": self.chain_id,
            "factory": self.factory,
            "genesis": self.genesis,
            "lookups": dict(sorted(self.lookups.items())),
            "liquidity": dict(sorted(self.liquidity.items())),
        }
        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=1)
            os.replace(tmp, self.path)
        except OSError as exc:
            _log.warning("cannot write pool cache %s: %s", self.path, exc)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


async def _batch(rpc: RpcClient, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
    """Answers of ``calls`` in order: JSON-RPC batches of :data:`_BATCH`, or one call at a time
    for a node that refuses batches (its refusal is an error object, not a list)."""
    out: list[Any] = []
    for start in range(0, len(calls), _BATCH):
        chunk = calls[start : start + _BATCH]
        try:
            out += await rpc.batch(chunk)
        except RpcError:
            out += [await rpc.call(method, params) for method, params in chunk]
    return out


def _decode(raw: Any, types: list[str]) -> tuple[Any, ...] | None:
    """ABI-decode an ``eth_call`` answer; ``None`` for no code there (``0x``) or garbage."""
    if not isinstance(raw, str) or len(raw) <= 2:
        return None
    try:
        return tuple(abi_decode(types, bytes.fromhex(raw[2:])))
    except (DecodingError, ValueError):
        return None


async def discover_pools(
    rpc: RpcClient,
    book: AddressBook,
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    refresh: bool = False,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> list[DiscoveredPool]:
    """Every Uniswap V2 pair and V3 pool (each of :data:`FEE_TIERS`) of ``pairs`` (token symbols
    of ``book``; default: every pair of its tokens) that the book's ``UniswapV2Factory`` /
    ``UniswapV3Factory`` know, with its liquidity at the latest block, empty ones included
    (see :attr:`DiscoveredPool.is_empty`). Sorted by protocol, fee, then address.

    Factory answers are cached (see the module docs); ``refresh`` asks again, ``use_cache=False``
    neither reads nor writes the cache, ``cache_dir`` overrides :func:`pool_cache_dir`.

    Raises:
        InvalidInput: the node is another chain than ``book``, or a token is not in the book.
        RpcUnavailable / RpcError: the node does not answer or refuses a call.
    """
    wanted = list(pairs) if pairs is not None else pair_candidates(book)
    for a, b in wanted:
        book.token(a)
        book.token(b)
    factories = [(p, book.contracts[n]) for p, n in _FACTORIES if n in book.contracts]
    if not factories or not wanted:
        return []
    chain_hex, block_hex, genesis = await _batch(
        rpc,
        [("eth_chainId", []), ("eth_blockNumber", []), ("eth_getBlockByNumber", ["0x0", False])],
    )
    chain_id, block = int(chain_hex, 16), int(block_hex, 16)
    if chain_id != book.chain_id:
        raise InvalidInput(
            f"the node is chain {chain_id} but the address book {book.name!r} is for chain "
            f"{book.chain_id}; point the RPC URL at chain {book.chain_id}"
        )
    genesis_hash = str(genesis.get("hash")) if isinstance(genesis, dict) else ""
    folder = cache_dir or pool_cache_dir()
    tag = hex(block)

    # 1. factory look-ups (cached)
    caches: dict[str, _Cache] = {}
    todo: list[tuple[_Cache, str, str, tuple[str, str, int]]] = []  # cache, protocol, key, args
    for protocol, factory in factories:
        path = folder / f"pools-{chain_id}-{factory.lower()}.json" if use_cache else None
        cache = caches[protocol] = _Cache(path, chain_id, factory, genesis_hash)
        fees = (V2_FEE,) if protocol == "uniswap-v2" else FEE_TIERS
        for a, b in wanted:
            t0, t1 = _sorted_pair(book.token(a).address, book.token(b).address)
            for fee in fees:
                key = _lookup_key(t0, t1, fee)
                if refresh or key not in cache.lookups:
                    todo.append((cache, protocol, key, (t0, t1, fee)))
    calls = []
    for cache, protocol, _key, (x, y, tier) in todo:
        data = (
            encode_call("getPair(address,address)", x, y)
            if protocol == "uniswap-v2"
            else encode_call("getPool(address,address,uint24)", x, y, tier)
        )
        calls.append(("eth_call", [{"to": cache.factory, "data": "0x" + data.hex()}, tag]))
    for (cache, _protocol, key, _args), raw in zip(todo, await _batch(rpc, calls), strict=True):
        got = _decode(raw, ["address"])
        address = None if got is None or str(got[0]).lower() == _ZERO else str(got[0])
        cache.lookups[key] = None if address is None else to_checksum_address(address)
        cache.dirty = True

    # 2. liquidity of every pool found, at one block
    found: list[PoolEntry] = []
    for protocol, cache in caches.items():
        fees = (V2_FEE,) if protocol == "uniswap-v2" else FEE_TIERS
        for a, b in wanted:
            t0, t1 = _sorted_pair(book.token(a).address, book.token(b).address)
            for fee in fees:
                address = cache.lookups.get(_lookup_key(t0, t1, fee))
                if address is not None:
                    found.append(PoolEntry(protocol, to_checksum_address(address), t0, t1, fee))
    found = list(dict.fromkeys(found))
    reads = [
        encode_call("getReserves()" if p.protocol == "uniswap-v2" else "liquidity()") for p in found
    ]
    answers = await _batch(
        rpc,
        [
            ("eth_call", [{"to": p.address, "data": "0x" + d.hex()}, tag])
            for p, d in zip(found, reads, strict=True)
        ],
    )
    out = []
    for pool, raw in zip(found, answers, strict=True):
        if pool.protocol == "uniswap-v2":
            got = _decode(raw, ["uint112", "uint112", "uint32"])
            liquidity = 0 if got is None else math.isqrt(int(got[0]) * int(got[1]))
        else:
            got = _decode(raw, ["uint128"])
            liquidity = 0 if got is None else int(got[0])
        out.append(DiscoveredPool(pool, liquidity, block))
        cache = caches[pool.protocol]
        cache.liquidity[pool.address] = [liquidity, block]
        cache.dirty = True
    for cache in caches.values():
        cache.write()
    return sorted(out, key=lambda d: (d.pool.protocol, d.pool.fee, d.pool.address.lower()))


async def with_discovered_pools(
    rpc: RpcClient,
    book: AddressBook,
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    discover: bool | None = None,
    refresh: bool = False,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> AddressBook:
    """``book`` with the non-empty pools the factories know for ``pairs`` (default: every pair
    of its tokens) in place of its pool list.

    ``discover``: ``None`` (default) discovers only when the book lists no pools (a book that
    lists pools is pinned and returned as it is, without a call); ``True`` always, replacing
    the list; ``False`` never. Other arguments and errors as :func:`discover_pools`.
    """
    if discover is False or (discover is None and book.pools):
        return book
    found = await discover_pools(
        rpc, book, pairs, refresh=refresh, cache_dir=cache_dir, use_cache=use_cache
    )
    pools = tuple(d.pool for d in found if not d.is_empty)
    _log.info(
        "discovered %d pools (%d empty ones left out) on %s",
        len(pools),
        len(found) - len(pools),
        book.name,
    )
    return replace(book, pools=pools)
