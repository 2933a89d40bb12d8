"""Settings of an AMM venue and the values its pricing passes around (a route, a priced swap,
the path a router sees)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.model.instruments import SpotPair
from oms_chain.model.intent import Side

__all__ = ["AmmVenueConfig", "SwapPath"]

_BPS = Decimal(10_000)
_PREC = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class AmmVenueConfig:
    """Settings of one AMM venue.

    ``slippage_bps``: allowance against the exact quote for orders with neither a limit price nor
    ``max_slippage_bps``. ``deadline_s``: router deadline after the latest block's timestamp
    when the order has no ``deadline_ns``. ``wrap_native`` / ``unwrap_native``: wrap ETH before
    spending it, unwrap bought WETH after the swap, for instruments on the native asset.
    ``cancel_timeout``: seconds :meth:`cancel` waits for the cancellation to land.
    ``gas_reserve``: native asset (whole units) :meth:`spendable` leaves for gas.
    ``word_radius``: V3 tick-bitmap words loaded around the price (``None``: all).
    ``follow_pools``: quote from a :class:`~oms_chain.venues.amm.follower.PoolFollower` of the
    venue's pools (started on first use, checked to be at the node's latest block) instead of
    reloading every pool per quote; ``follow_timeout``: seconds to wait for it before loading.
    ``curve_sizes``: cumulative base quantities (in units of one base token) of the liquidity
    curve's levels. ``min_quote_amount``: orders whose quote side (received by a sell, paid by
    a buy; whole quote tokens) is below it are refused before sending; an order whose quote
    side floors to 0 base units is always refused (dust).
    """

    slippage_bps: Decimal = Decimal(50)
    deadline_s: int = 300
    wrap_native: bool = True
    unwrap_native: bool = False
    cancel_timeout: float = 10.0
    gas_reserve: Decimal = Decimal("0.05")
    word_radius: int | None = None
    follow_pools: bool = True
    follow_timeout: float = 5.0
    curve_sizes: tuple[Decimal, ...] = tuple(Decimal(2) ** k for k in range(-6, 9))
    min_quote_amount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not Decimal(0) <= Decimal(self.slippage_bps) < _BPS:
            raise InvalidInput(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if self.deadline_s <= 0:
            raise InvalidInput(f"deadline_s must be > 0 seconds, got {self.deadline_s}")
        if self.gas_reserve < 0:
            raise InvalidInput(f"gas_reserve must be >= 0, got {self.gas_reserve}")
        if not self.follow_timeout > 0:
            raise InvalidInput(f"follow_timeout must be > 0 seconds, got {self.follow_timeout}")
        if self.cancel_timeout < 0:
            raise InvalidInput(f"cancel_timeout must be >= 0 seconds, got {self.cancel_timeout}")
        if not self.curve_sizes or any(s <= 0 for s in self.curve_sizes):
            raise InvalidInput("curve_sizes must be positive quantities")
        if not isinstance(self.min_quote_amount, Decimal) or not (
            self.min_quote_amount.is_finite() and self.min_quote_amount >= 0
        ):
            raise InvalidInput(
                f"min_quote_amount must be a finite Decimal >= 0, got {self.min_quote_amount!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapPath:
    """What a router sees of one venue for (instrument, side), read at one block: the pool
    states in trading order (``V2PoolState`` / ``V3PoolState``), the tokens along the path
    (``tokens[0]`` is spent, ``tokens[-1]`` received), and one swap's gas cost in the
    instrument's quote (``0`` when the native asset cannot be priced)."""

    venue: VenueId
    protocol: str
    instrument: SpotPair
    side: Side
    states: tuple[Any, ...]
    tokens: tuple[str, ...]
    gas_cost_quote: Decimal


@dataclass(frozen=True, slots=True)
class _Route:
    instrument: SpotPair
    pools: tuple[str, ...]


@dataclass(slots=True)
class _Swap:
    """A priced swap: tokens, the exact side, the bound and the quote at the loaded block."""

    token_in: str
    token_out: str
    exact_in: bool
    amount: int  # exact input (sell) or exact output (buy), base units
    bound: int  # minimum output or maximum input
    quoted: int  # the other side, from the exact math
    spend: int = 0  # what the router may pull: amount (exact in) or bound (exact out)
    path: list[str] = field(default_factory=list)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))
