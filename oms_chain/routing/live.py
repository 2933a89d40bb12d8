"""Liquidity sources from live venues: every Uniswap pool of a pair in a chain's address book
(V2, each V3 fee tier, and two-hop paths through any other token of the book), loaded exactly at
one block through our async :class:`~oms_chain.chain.rpc.RpcClient`, and a CEX book side
through a :class:`~oms_chain.venues.cex.CcxtVenue`.

On a chain whose address book lists no pools (mainnet, an L2, a fork of one), pass the book
returned by :func:`~oms_chain.venues.amm.discovery.with_discovered_pools` for the pairs of
:func:`~oms_chain.venues.amm.discovery.pair_candidates` (the pair, and each side with WETH and
USDC: the two-hop paths and the WETH pools that price gas), as ``oms route`` does.

Gas is the router's fixed cost per swap (:data:`~oms_chain.venues.amm.quotes.GAS_MODEL`, per
hop for a path) times the gas price, converted into the output token (``fixed_cost``) and the
input token (``input_fixed_cost``, for exact-output routing) at the mid price of a WETH pool of
that token. The per-tick part of the V3 gas model is left out: it depends on the size a leg gets.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

from oms_chain.chain.addressbook import AddressBook, PoolEntry
from oms_chain.model.errors import InvalidInput
from oms_chain.model.intent import Side
from oms_chain.routing.sources import LiquiditySource
from oms_chain.venues.amm.quotes import GAS_MODEL
from oms_chain.venues.amm.v2_pool import V2PoolState, fetch_v2_pool
from oms_chain.venues.amm.v3_pool import V3PoolState, fetch_v3_pool

if TYPE_CHECKING:
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.venues.cex.venue import CcxtVenue

__all__ = ["CEX_ASSETS", "pool_venue_id", "source_from_exchange_book", "sources_for_pair"]

#: On-chain token symbol -> the asset a CEX lists for it (wrapped tokens trade unwrapped).
CEX_ASSETS: dict[str, str] = {"WETH": "ETH", "WBTC": "BTC"}

_NATIVE_WRAPPED = "WETH"


def pool_venue_id(pool: PoolEntry) -> str:
    """A short, stable venue id for a pool: ``v3-500-0xff5e89`` (protocol, fee, address)."""
    version = "v2" if pool.protocol == "uniswap-v2" else "v3"
    return f"{version}-{pool.fee}-{pool.address[:8].lower()}"


class _Loader:
    """Pool states of one chain at one block, each read once."""

    def __init__(self, rpc: RpcClient, block: int, word_radius: int | None) -> None:
        self.rpc = rpc
        self.block = block
        self.word_radius = word_radius
        self.states: dict[str, V2PoolState | V3PoolState] = {}

    async def state(self, pool: PoolEntry) -> V2PoolState | V3PoolState:
        got = self.states.get(pool.address)
        if got is None:
            if pool.protocol == "uniswap-v2":
                got = await fetch_v2_pool(
                    self.rpc, pool.address, fee_bps=pool.fee // 100, block_identifier=self.block
                )
            elif pool.protocol == "uniswap-v3":
                got = await fetch_v3_pool(
                    self.rpc,
                    pool.address,
                    word_radius=self.word_radius,
                    block_identifier=self.block,
                )
            else:
                raise InvalidInput(f"pool {pool.address}: unknown protocol {pool.protocol!r}")
            self.states[pool.address] = got
        return got

    async def hop(self, pool: PoolEntry, token_in: str) -> LiquiditySource:
        """One pool, selling ``token_in`` (address), without fixed cost."""
        state = await self.state(pool)
        venue = pool_venue_id(pool)
        if isinstance(state, V2PoolState):
            reserve_in, reserve_out = state.reserves_for(token_in)
            return LiquiditySource.from_v2_reserves(
                venue, reserve_in, reserve_out, fee_bps=state.fee_bps
            )
        return LiquiditySource.from_v3_pool(venue, state, token_in)

    async def eth_price(self, book: AddressBook, symbol: str) -> Fraction:
        """Base units of ``symbol`` per wei, at the mid price of its first WETH pool."""
        if symbol == _NATIVE_WRAPPED:
            return Fraction(1)
        weth = book.token(_NATIVE_WRAPPED).address.lower()
        for pool in book.pools_for(_NATIVE_WRAPPED, symbol):
            state = await self.state(pool)
            if isinstance(state, V2PoolState):
                per_token0 = Fraction(state.reserve1, state.reserve0)  # token1 per token0
            else:
                per_token0 = Fraction(state.sqrt_price_x96**2, 2**192)
            return per_token0 if pool.token0.lower() == weth else 1 / per_token0
        raise InvalidInput(
            f"cannot price gas in {symbol} on {book.name}: no {_NATIVE_WRAPPED}/{symbol} pool"
        )


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


async def sources_for_pair(
    rpc: RpcClient,
    book: AddressBook,
    sell: str,
    buy: str,
    *,
    gas_price_wei: int | None = None,
    block_identifier: int | str = "latest",
    inventory: int | None = None,
    inventory_group: str | None = None,
    paths: bool = True,
    word_radius: int | None = None,
) -> list[LiquiditySource]:
    """One :class:`LiquiditySource` per pool trading ``sell`` for ``buy`` and, with ``paths``,
    per two-hop path ``sell → X → buy`` through any other token ``X`` of the book, every pool
    read exactly at one block through ``rpc`` (JSON-RPC batches, with its failover).

    ``gas_price_wei`` defaults to the node's ``eth_gasPrice``. ``inventory`` (base units of
    ``sell``, e.g. the wallet's balance) is shared by all these sources through one
    ``inventory_group`` (default ``"<chain id>:wallet:<sell>"``); pass it to
    :func:`~oms_chain.routing.route` as ``inventories={group: inventory}`` or rely on each
    source's own ``inventory`` (which alone does not stop the split from spending it twice).

    Raises:
        InvalidInput: unknown tokens, no pool or path for the pair, or no WETH pool to price gas.
        PoolLoadError / RpcUnavailable: the node failed a read or did not answer (retryable).
    """
    token_in = book.token(sell)
    book.token(buy)
    if gas_price_wei is not None and gas_price_wei < 0:
        raise InvalidInput(f"gas_price_wei must be >= 0, got {gas_price_wei}")
    block = await rpc.block_number() if isinstance(block_identifier, str) else int(block_identifier)
    gas_price = await rpc.gas_price() if gas_price_wei is None else gas_price_wei
    loader = _Loader(rpc, block, word_radius)
    group = inventory_group or f"{book.chain_id}:wallet:{sell}"
    out_per_wei = await loader.eth_price(book, buy)
    in_per_wei = await loader.eth_price(book, sell)

    routes: list[tuple[str, list[LiquiditySource], int]] = []  # (venue, hops, gas units)
    for pool in book.pools_for(sell, buy):
        routes.append(
            (
                pool_venue_id(pool),
                [await loader.hop(pool, token_in.address)],
                GAS_MODEL[pool.protocol][0],
            )
        )
    if paths:
        for mid in book.tokens:
            if mid in (sell, buy):
                continue
            mid_address = book.token(mid).address
            for first in book.pools_for(sell, mid):
                for second in book.pools_for(mid, buy):
                    hops = [
                        await loader.hop(first, token_in.address),
                        await loader.hop(second, mid_address),
                    ]
                    gas = GAS_MODEL[first.protocol][0] + GAS_MODEL[second.protocol][0]
                    venue = f"{pool_venue_id(first)}>{mid}>{pool_venue_id(second)}"
                    routes.append((venue, hops, gas))
    if not routes:
        raise InvalidInput(
            f"no Uniswap pool or path trades {sell}/{buy} on {book.name} "
            f"({len(book.pools)} pools known; none for the pair or a two-hop path)"
        )
    sources = []
    for venue, hops, gas_units in routes:
        wei = gas_units * gas_price
        fixed_out, fixed_in = _ceil(wei * out_per_wei), _ceil(wei * in_per_wei)
        if len(hops) == 1:
            sources.append(
                replace(
                    hops[0],
                    fixed_cost=fixed_out,
                    input_fixed_cost=fixed_in,
                    inventory=inventory,
                    inventory_group=group,
                )
            )
        else:
            sources.append(
                LiquiditySource.from_path(
                    venue,
                    hops,
                    fixed_cost=fixed_out,
                    input_fixed_cost=fixed_in,
                    inventory=inventory,
                    inventory_group=group,
                )
            )
    return sources


async def source_from_exchange_book(
    venue: CcxtVenue,
    sell: str,
    buy: str,
    *,
    sell_decimals: int,
    buy_decimals: int,
    inventory: int | None = None,
    inventory_group: str | None = None,
) -> LiquiditySource:
    """The book side of a started :class:`~oms_chain.venues.cex.CcxtVenue` that sells ``sell``
    for ``buy`` (on-chain symbols; WETH/WBTC trade as ETH/BTC), in the on-chain tokens' base
    units so it competes with the pools. ``inventory``: the exchange balance of ``sell`` (base
    units), in group ``"<venue>:<asset>"`` by default. A CEX order has no fixed cost.

    Raises:
        InvalidInput: the exchange lists no market for the pair.
    """
    a, b = CEX_ASSETS.get(sell, sell), CEX_ASSETS.get(buy, buy)
    for symbol, side, base_dec, quote_dec in (
        (f"{a}/{b}", Side.SELL, sell_decimals, buy_decimals),
        (f"{b}/{a}", Side.BUY, buy_decimals, sell_decimals),
    ):
        try:
            market = venue.market(symbol)
        except InvalidInput:
            continue
        curve = await venue.liquidity(market.instrument, side)
        return LiquiditySource.from_curve(
            curve,
            base_decimals=base_dec,
            quote_decimals=quote_dec,
            fixed_cost=0,
            input_fixed_cost=0,
            inventory=inventory,
            inventory_group=inventory_group or f"{venue.venue_id}:{a}",
        )
    raise InvalidInput(f"{venue.venue_id} lists no market {a}/{b} or {b}/{a}")
