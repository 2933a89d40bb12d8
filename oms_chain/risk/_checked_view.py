"""A risk view whose answers are checked before the gate computes with them.

The gate compares Decimals; a NaN, a float or a negative price from the view would raise
``decimal.InvalidOperation`` or ``TypeError`` deep inside a check, or pass a limit it should
not. :class:`CheckedView` turns such an answer into :class:`InvalidInput` naming the view
method and the value, so an engine bug surfaces as one clear error and no intent is gated on it.
"""

from __future__ import annotations

from decimal import Decimal

from oms_chain.model.checks import check_decimal, check_int, shown
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import AccountId, InstrumentId

__all__ = ["CheckedView"]


_METHODS = (
    "reference_price",
    "net_position",
    "asset_exposure",
    "open_order_count",
    "daily_realized_pnl",
)
#: View classes already seen to have every method.
_CHECKED_TYPES: set[type] = set()
#: Magnitudes the fast path takes without the full check (the rest go through check_decimal).
_SANE_MIN = Decimal("1e-60")
_SANE_MAX = Decimal("1e60")


def _finite(value: object, method: str, *args: object) -> Decimal:
    # fast path first (this runs on every gate check); the message is built only on failure
    if type(value) is Decimal and value.is_finite() and _SANE_MIN < abs(value) < _SANE_MAX:
        return value
    if type(value) is Decimal and not value:
        return value
    return check_decimal(value, f"risk view {method}({', '.join(map(str, args))})")


class CheckedView:
    """Wraps a ``RiskView``; each answer is checked (a finite Decimal, an int count)."""

    __slots__ = ("_view",)

    def __init__(self, view: object) -> None:
        if isinstance(view, type):
            raise InvalidInput(f"view must be a RiskView instance, got the class {view.__name__}")
        if type(view) not in _CHECKED_TYPES:
            for name in _METHODS:
                if not callable(getattr(view, name, None)):
                    raise InvalidInput(
                        f"view must be a RiskView with {name}(), got {type(view).__name__}"
                    )
            _CHECKED_TYPES.add(type(view))
        self._view = view

    def reference_price(self, instrument_id: InstrumentId) -> Decimal | None:
        value = self._view.reference_price(instrument_id)  # type: ignore[attr-defined]
        if value is None:
            return None
        if type(value) is not Decimal or not value.is_finite() or value <= 0:
            raise InvalidInput(
                f"risk view reference_price({instrument_id}) returned {shown(value)}; it must "
                "be a finite Decimal > 0, or None when unknown"
            )
        if not _SANE_MIN < value < _SANE_MAX:
            check_decimal(value, f"risk view reference_price({instrument_id})")
        return value

    def net_position(self, account: AccountId, instrument_id: InstrumentId) -> Decimal:
        value = self._view.net_position(account, instrument_id)  # type: ignore[attr-defined]
        return _finite(value, "net_position", account, instrument_id)

    def asset_exposure(self, account: AccountId, symbol: str) -> Decimal:
        value = self._view.asset_exposure(account, symbol)  # type: ignore[attr-defined]
        return _finite(value, "asset_exposure", account, symbol)

    def open_order_count(self) -> int:
        value = self._view.open_order_count()  # type: ignore[attr-defined]
        if type(value) is int and value >= 0:
            return value
        return check_int(value, "risk view open_order_count()", minimum=0)

    def daily_realized_pnl(self, currency: str) -> Decimal:
        value = self._view.daily_realized_pnl(currency)  # type: ignore[attr-defined]
        return _finite(value, "daily_realized_pnl", currency)
