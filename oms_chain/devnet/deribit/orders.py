"""A Deribit order as the exchange keeps it, and the checks of a new order's terms.

:func:`order_terms` validates what ``private/buy`` / ``private/sell`` asks (direction, type,
time in force, amount and price steps, label, reduce-only against the position) and settles
how the matching engine is to take it: a post-only order that would cross is re-priced one tick
inside the book, as Deribit does, or refused with ``reject_post_only``. Margin is checked by
the exchange afterwards (:mod:`.margin`), matching by its engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from oms_chain.devnet.deribit.errors import DeribitApiError, invalid_params
from oms_chain.devnet.deribit.instruments import Instrument
from oms_chain.devnet.deribit.ledger import ZERO, DeribitAccount

__all__ = ["TIME_IN_FORCE", "OrderRecord", "order_terms"]

#: Deribit's time in force -> the matching engine's.
TIME_IN_FORCE = {
    "good_til_cancelled": "GTC",
    "good_til_day": "GTC",
    "immediate_or_cancel": "IOC",
    "fill_or_kill": "FOK",
}


@dataclass(slots=True, eq=False)
class OrderRecord:
    """One Deribit order. ``engine_key`` is its current engine order (an edit re-places it)."""

    order_id: str
    instrument: Instrument
    client_id: str
    direction: str
    order_type: str
    time_in_force: str
    amount: Decimal
    price: Decimal | None
    created_ms: int
    updated_ms: int
    label: str = ""
    post_only: bool = False
    reduce_only: bool = False
    filled: Decimal = ZERO
    value: Decimal = ZERO
    commission: Decimal = ZERO
    profit_loss: Decimal = ZERO
    state: str = "open"
    replaced: bool = False
    cancel_reason: str | None = None
    engine_key: tuple[str, int] | None = None
    trades: list[dict[str, object]] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        """Amount not yet filled."""
        return self.amount - self.filled

    @property
    def average_price(self) -> Decimal:
        """Average fill price (0 before any fill)."""
        return self.value / self.filled if self.filled else ZERO


def order_terms(
    account: DeribitAccount,
    instrument: Instrument,
    direction: str,
    amount: Decimal,
    *,
    order_type: str,
    price: Decimal | None,
    time_in_force: str,
    post_only: bool,
    reject_post_only: bool,
    reduce_only: bool,
    label: str,
    best_opposite: Callable[[], Decimal | None],
) -> tuple[Decimal | None, str]:
    """``(price, engine order type)`` of a new order: ``None`` for a market order, a post-only
    price moved inside the book; ``MARKET``, ``LIMIT`` or ``LIMIT_MAKER``. ``best_opposite``
    gives the best price the order would take from (``None``: an empty side).

    Raises :class:`~oms_chain.devnet.deribit.errors.DeribitApiError` (Deribit's code) for any
    term it refuses.
    """
    if direction not in ("buy", "sell"):
        raise invalid_params("direction", "must be buy or sell")
    if order_type not in ("limit", "market"):
        raise invalid_params("type", "supported order types are limit and market")
    if time_in_force not in TIME_IN_FORCE:
        raise invalid_params("time_in_force", f"must be one of {', '.join(TIME_IN_FORCE)}")
    instrument.check_amount(amount)
    if order_type == "limit":
        if price is None:
            raise invalid_params("price", "a limit order needs a price")
        instrument.check_price(price)
    else:
        price = None
        if post_only:
            raise invalid_params("post_only", "a market order cannot be post-only")
    if len(label) > 64:
        raise invalid_params("label", "at most 64 characters")
    sign = 1 if direction == "buy" else -1
    position = account.positions.get(instrument.name)
    held = position.size if position is not None else ZERO
    if reduce_only and (held == 0 or (held > 0) == (sign > 0) or amount > abs(held)):
        raise DeribitApiError(
            11030,
            "other_reject",
            {"reason": f"reduce_only order of {amount} would not reduce position {held}"},
        )
    if not post_only or price is None:
        return price, "MARKET" if order_type == "market" else "LIMIT"
    best = best_opposite()
    crosses = best is not None and (price >= best if sign > 0 else price <= best)
    if crosses and reject_post_only:
        raise DeribitApiError(11054, "post_only_reject", {"reason": "post-only order would take"})
    if crosses and best is not None:  # Deribit re-prices one tick inside the book
        fine = instrument.tick_size
        price = (
            instrument.round_price(best - fine, up=False)
            if sign > 0
            else instrument.round_price(best + fine, up=True)
        )
        if price <= 0:
            raise DeribitApiError(11054, "post_only_reject", {"reason": "no price left"})
    return price, "LIMIT_MAKER"
