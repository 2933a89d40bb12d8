"""Argument checks for public constructors and functions (model, risk, routing, and anyone else).

Each check returns the value (converted only where the conversion is exact, e.g. ``int`` to
``Decimal``) or raises :class:`~oms_chain.model.errors.InvalidInput` with a message that names the
argument, says what is allowed and shows what was given. They are cheap (an ``isinstance`` and a
comparison or two), so values are checked once, where they enter, never per inner-loop step.

Rules shared by every check: ``bool`` is never an ``int``; a ``float`` is never a ``Decimal``
(binary floats cannot hold most decimal amounts); NaN and infinities are refused; strings are
parsed only where the caller says so (:func:`check_decimal` with ``strings=True``), ASCII digits
only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from oms_chain.model.errors import InvalidInput

__all__ = [
    "MAX_NS",
    "MAX_UINT256",
    "check_bool",
    "check_callable",
    "check_decimal",
    "check_instance",
    "check_int",
    "check_ns",
    "check_str",
    "shown",
]

#: The largest unsigned 256-bit integer: no on-chain amount is larger.
MAX_UINT256 = (1 << 256) - 1
#: The largest timestamp in integer nanoseconds that a signed 64-bit column holds (year 2262).
MAX_NS = (1 << 63) - 1
#: Decimals at or above 10**78 (uint256 is below 1.2e77) and with more than 100 fractional digits
#: are refused: no amount, price or rate of ours needs them, and they make arithmetic slow.
_MAX_ADJUSTED = 77
_MIN_EXPONENT = -100

_T = TypeVar("_T")


def shown(value: object) -> str:
    """A short, safe ``repr`` of ``value`` for an error message (huge ints are summarized)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an int of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: object) -> str:
    return type(value).__name__


def check_int(
    value: object, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int`` within ``[minimum, maximum]`` (bounds optional, inclusive).

    Raises:
        InvalidInput: not an ``int`` (``bool``, ``float``, ``str``, ``Decimal`` included) or
            out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{name} must be an int, got {_type_name(value)} {shown(value)}"
            + (" (a float is not an exact integer)" if isinstance(value, float) else "")
        )
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {shown(value)}")
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{name} must be <= {shown(maximum)}, got {shown(value)}")
    return value


def check_ns(value: object, name: str, *, positive: bool = False) -> int:
    """A timestamp or duration in integer nanoseconds: ``0`` (``1`` if ``positive``) to
    :data:`MAX_NS`."""
    return check_int(value, name, minimum=1 if positive else 0, maximum=MAX_NS)


def _parse(value: str, name: str) -> Decimal:
    text = value.strip().replace("_", "")
    if not text.isascii():
        raise InvalidInput(f"{name} {shown(value)} must be written with ASCII digits 0-9")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{name} {shown(value)} is not a decimal number") from None


def check_decimal(
    value: object,
    name: str,
    *,
    gt: Decimal | int | None = None,
    ge: Decimal | int | None = None,
    lt: Decimal | int | None = None,
    le: Decimal | int | None = None,
    strings: bool = False,
) -> Decimal:
    """``value`` as a finite ``Decimal`` (an ``int`` converts exactly; with ``strings`` a decimal
    string is parsed) within the bounds given (``gt`` / ``ge`` / ``lt`` / ``le``).

    Raises:
        InvalidInput: a ``float``, ``bool``, other type, string (unless ``strings``), NaN,
            infinity, a magnitude of 1e78 or more, more than 100 fractional digits, or out of
            range.
    """
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    elif strings and isinstance(value, str):
        d = _parse(value, name)
    else:
        allowed = "a Decimal, int or decimal string" if strings else "a Decimal or int"
        hint = ""
        if isinstance(value, float):
            hint = f"; floats are inexact, pass Decimal('{value!r}') or a string"
        raise InvalidInput(
            f"{name} must be {allowed}, not {shown(value)} ({_type_name(value)}){hint}"
        )
    if not d.is_finite():
        raise InvalidInput(f"{name} must be a finite number, got {shown(value)}")
    if d:
        if d.adjusted() > _MAX_ADJUSTED:
            raise InvalidInput(f"{name} {shown(value)} is too large (must be below 1e78)")
        if d.as_tuple().exponent < _MIN_EXPONENT:  # type: ignore[operator]
            raise InvalidInput(
                f"{name} {shown(value)} has more than {-_MIN_EXPONENT} fractional digits"
            )
    elif d.as_tuple().exponent < _MIN_EXPONENT:  # type: ignore[operator]
        d = Decimal(0)
    if gt is not None and not d > gt:
        raise InvalidInput(f"{name} must be > {gt}, got {d}")
    if ge is not None and not d >= ge:
        raise InvalidInput(f"{name} must be >= {ge}, got {d}")
    if lt is not None and not d < lt:
        raise InvalidInput(f"{name} must be < {lt}, got {d}")
    if le is not None and not d <= le:
        raise InvalidInput(f"{name} must be <= {le}, got {d}")
    return d


def check_str(
    value: object, name: str, *, pattern: re.Pattern[str] | None = None, rule: str = ""
) -> str:
    """``value`` as a ``str``, non-empty, matching ``pattern`` in full if given (``rule`` says
    in words what the pattern allows, for the message)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, got {_type_name(value)} {shown(value)}")
    if not value:
        raise InvalidInput(f"{name} must not be empty" + (f": {rule}" if rule else ""))
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInput(f"{name} {shown(value)} is not valid" + (f": {rule}" if rule else ""))
    return value


def check_bool(value: object, name: str) -> bool:
    """``value`` as a ``bool`` (``0`` / ``1`` / strings are refused)."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be True or False, got {_type_name(value)} {shown(value)}")
    return value


def check_instance(value: object, name: str, cls: type[_T] | tuple[type, ...], what: str) -> _T:
    """``value`` if it is an instance of ``cls`` (``what`` names it in words)."""
    if not isinstance(value, cls):
        raise InvalidInput(f"{name} must be {what}, got {_type_name(value)} {shown(value)}")
    return value  # type: ignore[return-value]


def check_callable(value: object, name: str, what: str) -> Callable[..., Any]:
    """``value`` if it can be called (``what`` says what it should compute)."""
    if not callable(value):
        raise InvalidInput(f"{name} must be {what}, got {_type_name(value)} {shown(value)}")
    return value
