"""Building the Uniswap venues of one chain from its address book, for one signer.

:func:`uniswap_venues` is what the CLI (``oms swap``) and scripts use: one V2 venue and one V3
venue per fee tier, sharing one :class:`~oms_chain.venues.amm.account.ChainAccount`.
:func:`open_uniswap_venues` does the same after discovering the pools of a book that lists none
(a live chain or a fork of one; see :mod:`oms_chain.venues.amm.discovery`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from oms_chain.chain.addressbook import AddressBook, load_address_book
from oms_chain.chain.executor import CallExecutor
from oms_chain.chain.fees import FeePolicy
from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.base import Signer
from oms_chain.model.assets import Asset
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import Instrument, SpotPair
from oms_chain.store.base import EventStore
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.amm.approvals import ApprovalPolicy
from oms_chain.venues.amm.discovery import with_discovered_pools
from oms_chain.venues.amm.venue import AmmVenueConfig, UniswapV2Venue, UniswapV3Venue

__all__ = [
    "QUOTE_PREFERENCE",
    "UniswapVenues",
    "book_routes",
    "open_uniswap_venues",
    "uniswap_venues",
]


#: Preferred quote assets, best first: the other token of a pair is its base.
QUOTE_PREFERENCE = ("USDC", "USDT", "DAI", "WETH")


@dataclass
class UniswapVenues:
    """The Uniswap venues of one chain for one signer, sharing one :class:`ChainAccount`.

    ``venues`` holds one V2 venue and one V3 venue per fee tier. Use ``async with`` (starts the
    account's settlement polling, closes it and the RPC client at the end) or call
    :meth:`close`.
    """

    account: ChainAccount
    venues: list[UniswapV2Venue | UniswapV3Venue]

    def venue(self, venue_id: str) -> UniswapV2Venue | UniswapV3Venue:
        """The venue named ``venue_id``; raises :class:`InvalidInput` listing the known ones."""
        for v in self.venues:
            if v.venue_id == venue_id:
                return v
        known = ", ".join(v.venue_id for v in self.venues)
        raise InvalidInput(f"no venue {venue_id!r}; known: {known}")

    async def close(self) -> None:
        """Stop polling, wait for background work, close the RPC client."""
        for v in self.venues:
            await v.close()
        await self.account.close()
        await self.account.rpc.close()

    async def __aenter__(self) -> UniswapVenues:
        self.account.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _pair_assets(book: AddressBook, a: str, b: str, native_symbol: str, native: bool) -> SpotPair:
    rank = {s: i for i, s in enumerate(QUOTE_PREFERENCE)}
    # the better quote asset (earlier in QUOTE_PREFERENCE) is the quote; unknown tokens are bases
    base_sym, quote_sym = sorted((a, b), key=lambda s: (-rank.get(s, len(rank)), s))

    def asset(symbol: str) -> Asset:
        if native and symbol == "WETH":
            return Asset.native(book.chain_id, native_symbol)
        tok = book.token(symbol)
        return Asset.erc20(book.chain_id, tok.address, symbol, tok.decimals)

    return SpotPair(base=asset(base_sym), quote=asset(quote_sym))


def book_routes(
    book: AddressBook, protocol: str, fee: int | None = None, *, native_symbol: str = "ETH"
) -> dict[Instrument, tuple[str, ...]]:
    """Instrument -> pool route for every pool of ``protocol`` (and V3 ``fee`` tier) in ``book``,
    plus two-hop routes for token pairs without a direct pool. Pairs with WETH are also listed
    on the native asset (``ETH/USDC`` next to ``WETH/USDC``)."""
    symbol_of = {t.address.lower(): s for s, t in book.tokens.items()}
    pools = [
        p
        for p in book.pools
        if p.protocol == protocol
        and (fee is None or p.fee == fee)
        and p.token0.lower() in symbol_of
        and p.token1.lower() in symbol_of
    ]
    direct: dict[frozenset[str], str] = {}
    for p in pools:
        direct.setdefault(
            frozenset({symbol_of[p.token0.lower()], symbol_of[p.token1.lower()]}), p.address
        )
    routes: dict[frozenset[str], tuple[str, ...]] = {k: (v,) for k, v in direct.items()}
    for ab, p1 in direct.items():
        for bc, p2 in direct.items():
            shared = ab & bc
            if ab == bc or len(shared) != 1:
                continue
            ends = frozenset((ab | bc) - shared)
            if len(ends) == 2 and ends not in routes:
                routes[ends] = (p1, p2)
    out: dict[Instrument, tuple[str, ...]] = {}
    for pair, route in sorted(routes.items(), key=lambda kv: sorted(kv[0])):
        a, b = sorted(pair)
        for native in (False, True) if "WETH" in pair else (False,):
            inst = _pair_assets(book, a, b, native_symbol, native)
            # order the pools from base to quote
            first = {
                symbol_of[t.lower()]
                for p in book.pools
                if p.address == route[0]
                for t in (p.token0, p.token1)
            }
            base_sym = "WETH" if inst.base.is_native else inst.base.symbol
            out[inst] = route if base_sym in first else tuple(reversed(route))
    return out


def uniswap_venues(
    chain_id: int,
    rpc_url: str | Sequence[str],
    signer: Signer,
    store: EventStore,
    *,
    book: AddressBook | None = None,
    config: AmmVenueConfig | None = None,
    approvals: ApprovalPolicy | None = None,
    fee_policy: FeePolicy | None = None,
    poll_interval: float | None = None,
    executor: Callable[[TxSender], CallExecutor] | None = None,
) -> UniswapVenues:
    """Every Uniswap venue of chain ``chain_id`` for ``signer``, from the chain's address book:
    ``uniswap-v2-<chain id>`` and ``uniswap-v3-<fee>-<chain id>`` per V3 fee tier, each routing
    the pairs of its pools (and two-hop pairs), all sharing one :class:`ChainAccount` whose
    journals live in ``store``. ``executor``: trade from a contract account (a Safe) with
    ``signer`` as the relayer that pays gas (see :class:`ChainAccount`).

    Raises :class:`InvalidInput` for an unknown chain or an address book without Uniswap.
    """
    book = book or load_address_book(chain_id)
    chain = chain_info(chain_id)
    urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    rpc = RpcClient(urls)
    account = ChainAccount(
        rpc,
        chain,
        signer,
        store,
        weth=book.contracts.get("WETH"),
        fee_policy=fee_policy,
        approvals=approvals,
        poll_interval=poll_interval,
        executor=executor,
    )
    venues: list[UniswapV2Venue | UniswapV3Venue] = []
    if "UniswapV2Router02" in book.contracts:
        routes = book_routes(book, "uniswap-v2", native_symbol=chain.native_symbol)
        if routes:
            venues.append(
                UniswapV2Venue(
                    account,
                    venue_id=f"uniswap-v2-{chain_id}",
                    router=book.contracts["UniswapV2Router02"],
                    routes=routes,
                    config=config,
                )
            )
    if "SwapRouter" in book.contracts:
        for fee in sorted({p.fee for p in book.pools if p.protocol == "uniswap-v3"}):
            routes = book_routes(book, "uniswap-v3", fee, native_symbol=chain.native_symbol)
            if routes:
                venues.append(
                    UniswapV3Venue(
                        account,
                        venue_id=f"uniswap-v3-{fee}-{chain_id}",
                        router=book.contracts["SwapRouter"],
                        routes=routes,
                        config=config,
                    )
                )
    if not venues:
        raise InvalidInput(
            f"the address book of chain {chain_id} has no Uniswap router with pools (none listed "
            "and none found from its factories); add UniswapV2Router02 / SwapRouter and the "
            "factories to the address book, or list pools in it"
        )
    return UniswapVenues(account, venues)


async def open_uniswap_venues(
    chain_id: int,
    rpc_url: str | Sequence[str],
    signer: Signer,
    store: EventStore,
    *,
    book: AddressBook | None = None,
    discover: bool | None = None,
    refresh_pools: bool = False,
    pool_cache_dir: Path | None = None,
    config: AmmVenueConfig | None = None,
    approvals: ApprovalPolicy | None = None,
    fee_policy: FeePolicy | None = None,
    poll_interval: float | None = None,
    executor: Callable[[TxSender], CallExecutor] | None = None,
) -> UniswapVenues:
    """:func:`uniswap_venues` over the pools of the book (default: the chain's address book):
    the pools it lists (pinned), or, when it lists none, the non-empty pools its factories know
    for every pair of its tokens (:func:`~oms_chain.venues.amm.discovery.with_discovered_pools`;
    ``discover`` / ``refresh_pools`` / ``pool_cache_dir`` as its ``discover`` / ``refresh`` /
    ``cache_dir``). Raises like :func:`uniswap_venues`, and ``RpcUnavailable`` when discovery
    cannot reach the node."""
    book = book or load_address_book(chain_id)
    urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    async with RpcClient(urls) as rpc:
        book = await with_discovered_pools(
            rpc, book, discover=discover, refresh=refresh_pools, cache_dir=pool_cache_dir
        )
    return uniswap_venues(
        chain_id,
        urls,
        signer,
        store,
        book=book,
        config=config,
        approvals=approvals,
        fee_policy=fee_policy,
        poll_interval=poll_interval,
        executor=executor,
    )
