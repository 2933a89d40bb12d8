"""Quote a swap on every Uniswap pool of a pair, off-chain and exact.

Each pool's state is read once (:func:`load_v2_pool` / :func:`load_v3_pool`) and the swap is
simulated with the exact integer math, so the amounts equal what the router would pay at that
block to the wei. Price impact is measured against the pool's mid price net of its fee. Gas is a
model of the router's cost (fixed cost per swap plus a cost per initialized tick crossed),
calibrated on the devnet; :func:`verify_with_quoter` compares amounts (and shows QuoterV2's gas
figure) on chain when a user wants the round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oms_chain.chain.addressbook import AddressBook, PoolEntry
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.v2_pool import load_v2_pool
from oms_chain.venues.amm.v3_math import InsufficientLiquidity, MathRevert, TickDataMissing
from oms_chain.venues.amm.v3_pool import load_v3_pool

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["GAS_MODEL", "PoolQuote", "quote_pools"]

#: Router gas model: (fixed gas per single-hop swap, gas per initialized tick crossed).
GAS_MODEL: dict[str, tuple[int, int]] = {
    "uniswap-v2": (105_000, 0),
    "uniswap-v3": (118_000, 30_000),
}


@dataclass(frozen=True, slots=True)
class PoolQuote:
    """Exact output of selling ``amount_in`` (base units) on one pool."""

    protocol: str
    pool: str
    fee: int
    amount_in: int
    amount_out: int
    mid_price: Decimal  # output base units per input base unit, before fee and impact
    price_impact_bps: Decimal
    ticks_crossed: int
    gas_estimate: int
    block_number: int | None
    filled_in: int  # less than amount_in when the pool ran out of liquidity

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (integers stay integers, decimals become strings)."""
        return {
            "protocol": self.protocol,
            "pool": self.pool,
            "fee": self.fee,
            "amount_in": self.amount_in,
            "amount_out": self.amount_out,
            "price_impact_bps": str(self.price_impact_bps.quantize(Decimal("0.01"))),
            "ticks_crossed": self.ticks_crossed,
            "gas_estimate": self.gas_estimate,
            "block_number": self.block_number,
            "partial": self.filled_in < self.amount_in,
        }


def _impact(amount_in: int, amount_out: int, mid: Decimal, fee_fraction: Decimal) -> Decimal:
    if amount_in == 0 or mid == 0:
        return Decimal(0)
    executed = Decimal(amount_out) / Decimal(amount_in)
    return (1 - executed / (mid * (1 - fee_fraction))) * 10_000


def quote_pools(
    w3: Web3, book: AddressBook, sell: str, buy: str, amount_in: int
) -> list[PoolQuote]:
    """Exact quotes for selling ``amount_in`` base units of ``sell`` for ``buy`` on every pool
    of the pair in ``book``, best output first.

    Raises :class:`InvalidInput` for a non-positive amount, unknown tokens or a pair with no pool.
    """
    if not isinstance(amount_in, int) or amount_in <= 0:
        raise InvalidInput(f"amount must be a positive number of base units, got {amount_in!r}")
    token_in = book.token(sell).address
    book.token(buy)
    pools = book.pools_for(sell, buy)
    if not pools:
        raise InvalidInput(f"no Uniswap pool trades {sell}/{buy} on {book.name}")
    quotes = [_quote_pool(w3, pool, token_in, amount_in) for pool in pools]
    return sorted(quotes, key=lambda q: (-q.amount_out, q.gas_estimate))


def _quote_pool(w3: Web3, pool: PoolEntry, token_in: str, amount_in: int) -> PoolQuote:
    fixed, per_tick = GAS_MODEL[pool.protocol]
    if pool.protocol == "uniswap-v2":
        v2 = load_v2_pool(w3, pool.address)
        reserve_in, reserve_out = v2.reserves_for(token_in)
        out = v2.amount_out(token_in, amount_in)
        mid = Decimal(reserve_out) / Decimal(reserve_in)
        fee_fraction = Decimal(v2.fee_bps) / 10_000
        return PoolQuote(
            pool.protocol,
            pool.address,
            pool.fee,
            amount_in,
            out,
            mid,
            _impact(amount_in, out, mid, fee_fraction),
            0,
            fixed,
            v2.block_number,
            amount_in,
        )
    v3 = load_v3_pool(w3, pool.address)
    zero_for_one = v3.zero_for_one(token_in)
    price = (Decimal(v3.sqrt_price_x96) / Decimal(2**96)) ** 2
    mid = price if zero_for_one else 1 / price
    try:
        result = v3.quote_exact_input(token_in, amount_in)
    except (InsufficientLiquidity, MathRevert, TickDataMissing) as exc:
        raise InvalidInput(f"pool {pool.address} cannot quote {amount_in}: {exc}") from exc
    filled = result.amount0 if zero_for_one else result.amount1
    out = -(result.amount1 if zero_for_one else result.amount0)
    fee_fraction = Decimal(pool.fee) / 1_000_000
    return PoolQuote(
        pool.protocol,
        pool.address,
        pool.fee,
        amount_in,
        out,
        mid,
        _impact(filled, out, mid, fee_fraction),
        result.ticks_crossed,
        fixed + per_tick * result.ticks_crossed,
        v3.block_number,
        filled,
    )
