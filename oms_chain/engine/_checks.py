"""Argument checks for the engine's public entry points.

Every check runs before anything is written or sent and raises
:class:`~oms_chain.model.errors.InvalidInput` naming the argument, what was wrong and what to pass
instead. Money is ``Decimal`` only: a float or a str is refused, never converted (a float has
already lost digits; a str may be a locale's "1,5").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms_chain.model.errors import InvalidInput

__all__ = ["MAX_AMOUNT", "check_amount", "check_id", "check_int", "check_text"]

#: Largest quantity or price accepted (base or quote units): above any real market, below
#: where Decimal's default context would start rounding sums of such amounts.
MAX_AMOUNT = Decimal(10) ** 18
_MAX_ID = 200
_MAX_TEXT = 1_000


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def check_amount(name: str, value: Any, *, optional: bool = False) -> Decimal | None:
    """``value`` as a positive, finite ``Decimal`` no larger than :data:`MAX_AMOUNT`."""
    if value is None and optional:
        return None
    if not isinstance(value, Decimal):
        raise InvalidInput(
            f"{name} must be a Decimal (e.g. Decimal('1.5')), got {_kind(value)}"
            + ("; pass None to leave it unchanged" if optional else "")
        )
    if not value.is_finite():
        raise InvalidInput(f"{name} must be a finite Decimal, got {value}")
    if value <= 0:
        raise InvalidInput(f"{name} must be positive, got {value}")
    if value > MAX_AMOUNT:
        raise InvalidInput(f"{name} {value} is out of range (at most {MAX_AMOUNT:.0e})")
    return value


def check_id(name: str, value: Any) -> str:
    """``value`` as a non-empty identifier string of at most 200 characters."""
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise InvalidInput(
            f"{name} must be a non-empty string of at most {_MAX_ID} characters, got {_kind(value)}"
        )
    return value


def check_text(name: str, value: Any) -> str:
    """``value`` as a string of at most 1,000 characters (a reason, a note)."""
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise InvalidInput(
            f"{name} must be a string of at most {_MAX_TEXT} characters, got {_kind(value)}"
        )
    return value


def check_int(name: str, value: Any, *, low: int, high: int) -> int:
    """``value`` as an int (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an int in [{low}, {high}], got {_kind(value)}")
    return value
