"""The exchange simulator's prices anchored to the devnet's Uniswap pools.

:class:`PoolAnchor` reads, over JSON-RPC, the spot price of every pool that trades a
simulator asset against USDC (WETH -> ETH, WBTC -> BTC): ``slot0().sqrtPriceX96`` of a V3 pool,
``getReserves()`` of a V2 pair. An asset's anchor is the mean of its pools' prices weighted by
the USDC each pool holds (so the deep pools count most, and a swap on any pool moves the
anchor in proportion). It only reads the chain: it never sends a transaction, so it cannot
change what the pools quote. The simulator applies it every ``anchor_interval_s`` (see
:class:`~oms_chain.devnet.exchange.simulator.SimulatorConfig`), and its market makers then quote
around it within ``anchor_band_bps``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import aiohttp

from oms_chain.chain.addressbook import AddressBook
from oms_chain.model.errors import DevnetError

__all__ = ["AnchorPool", "PoolAnchor", "anchor_pools", "pool_price"]

#: Simulator asset of each devnet token quoted against USDC.
TOKEN_ASSETS: Mapping[str, str] = {"WETH": "ETH", "WBTC": "BTC"}
QUOTE_TOKEN = "USDC"

# 4-byte selectors (keccak of the signature; checked against web3 in the tests)
_SLOT0 = "0x3850c7bd"  # slot0()
_GET_RESERVES = "0x0902f1ac"  # getReserves()
_BALANCE_OF = "0x70a08231"  # balanceOf(address)
_Q192 = 2**192
_PRICE_QUANT = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class AnchorPool:
    """A pool that prices ``asset`` in USDC: which token is token0, and both decimals."""

    protocol: str
    address: str
    asset: str
    base_is_token0: bool
    base_decimals: int
    quote_decimals: int
    quote_token: str


def anchor_pools(book: AddressBook) -> list[AnchorPool]:
    """The pools of ``book`` that trade WETH or WBTC against USDC, in address-book order."""
    by_address = {t.address.lower(): t for t in book.tokens.values()}
    out: list[AnchorPool] = []
    for pool in book.pools:
        t0, t1 = by_address.get(pool.token0.lower()), by_address.get(pool.token1.lower())
        if t0 is None or t1 is None:
            continue
        for base, quote, base_is_token0 in ((t0, t1, True), (t1, t0, False)):
            if base.symbol in TOKEN_ASSETS and quote.symbol == QUOTE_TOKEN:
                out.append(
                    AnchorPool(
                        protocol=pool.protocol,
                        address=pool.address,
                        asset=TOKEN_ASSETS[base.symbol],
                        base_is_token0=base_is_token0,
                        base_decimals=base.decimals,
                        quote_decimals=quote.decimals,
                        quote_token=quote.address,
                    )
                )
    return out


def pool_price(pool: AnchorPool, state: Sequence[int]) -> Fraction:
    """USDC per whole base token from a pool's raw state: ``(sqrtPriceX96,)`` for V3,
    ``(reserve0, reserve1)`` for V2. Exact (a :class:`~fractions.Fraction`)."""
    if pool.protocol == "uniswap-v3":
        (sqrt_price,) = state
        token1_per_token0 = Fraction(sqrt_price * sqrt_price, _Q192)
    elif pool.protocol == "uniswap-v2":
        reserve0, reserve1 = state
        if reserve0 == 0 or reserve1 == 0:
            raise DevnetError(f"pool {pool.address} has no reserves")
        token1_per_token0 = Fraction(reserve1, reserve0)
    else:
        raise DevnetError(f"pool {pool.address}: unknown protocol {pool.protocol!r}")
    if token1_per_token0 == 0:
        raise DevnetError(f"pool {pool.address} is not initialized")
    dec0, dec1 = (
        (pool.base_decimals, pool.quote_decimals)
        if pool.base_is_token0
        else (pool.quote_decimals, pool.base_decimals)
    )
    human = token1_per_token0 * Fraction(10**dec0, 10**dec1)  # token1 per whole token0
    return human if pool.base_is_token0 else 1 / human


class PoolAnchor:
    """A :class:`~oms_chain.devnet.exchange.agents.PriceAnchor` reading pools over JSON-RPC."""

    def __init__(self, rpc_url: str, pools: Sequence[AnchorPool], *, timeout_s: float = 5.0):
        if not pools:
            raise DevnetError("a pool anchor needs at least one WETH/USDC or WBTC/USDC pool")
        self.rpc_url = rpc_url
        self.pools = list(pools)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = 0

    async def _call(self, to: str, data: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._ids += 1
        body = {
            "jsonrpc": "2.0",
            "id": self._ids,
            "method": "eth_call",
            "params": [{"to": to, "data": data}, "latest"],
        }
        async with self._session.post(self.rpc_url, json=body) as response:
            answer = await response.json(content_type=None)
        if "error" in answer:
            raise DevnetError(f"eth_call to {to} failed: {answer['error']}")
        return bytes.fromhex(str(answer["result"]).removeprefix("0x"))

    async def pool_state(self, pool: AnchorPool) -> tuple[Fraction, int]:
        """``(USDC per base token, USDC base units the pool holds)`` of one pool now."""
        raw = await self._call(
            pool.address, _SLOT0 if pool.protocol == "uniswap-v3" else _GET_RESERVES
        )
        words = [int.from_bytes(raw[i : i + 32], "big") for i in range(0, 64, 32)]
        state = words[:1] if pool.protocol == "uniswap-v3" else words[:2]
        held = await self._call(
            pool.quote_token, _BALANCE_OF + pool.address.lower().removeprefix("0x").rjust(64, "0")
        )
        return pool_price(pool, state), int.from_bytes(held[:32], "big")

    async def prices_usd(self) -> dict[str, Decimal]:
        """USD price per asset: the pools' prices weighted by the USDC each holds."""
        sums: dict[str, tuple[Fraction, int]] = {}
        for pool in self.pools:
            price, weight = await self.pool_state(pool)
            weighted, total = sums.get(pool.asset, (Fraction(0), 0))
            sums[pool.asset] = (weighted + price * max(weight, 1), total + max(weight, 1))
        return {
            asset: (Decimal(w.numerator) / Decimal(w.denominator) / total).quantize(_PRICE_QUANT)
            for asset, (w, total) in sums.items()
        }

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
