"""Bad values by kind, and the case table the validation tests run over.

A :class:`Case` is one argument of one public entry point: how to call it with valid arguments,
which argument to spoil, with what (a hypothesis strategy of values that argument must refuse),
the exact error class expected and the words the message must contain (the argument's name).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.checks import MAX_NS, MAX_UINT256
from oms_chain.model.errors import InvalidInput, OmsError

NAN_INF: list[object] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    Decimal("NaN"),
    Decimal("-NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
]
#: Strings that are not decimal numbers we accept: empty, words, non-finite, unicode digits
#: (Arabic-Indic, Devanagari, full-width: ``Decimal()`` itself would take them), huge.
BAD_NUMBER_STRINGS = [
    "",
    " ",
    "abc",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "sNaN",
    "1e999999",
    "-1e400",
    "1.5.2",
    "0x10",
    "\u0661\u0662\u0663",
    "\u0967",
    "\uff11\uff12",
    "1\u00a0000",
]
#: Values of no numeric type we accept.
ODD_OBJECTS: list[object] = [None, [], {}, (), b"1", bytearray(b"1"), object(), 1j, {1}]
HUGE_DECIMALS = [Decimal("1e78"), Decimal("-1e100"), Decimal("9" * 90), Decimal("1e-101")]
#: Not valid as a name or identifier: wrong types, empty, whitespace, control characters,
#: non-ASCII letters and digits, far too long.
BAD_NAMES: list[object] = [
    None,
    1,
    1.5,
    True,
    b"abc",
    ["a"],
    "",
    " ",
    "a b",
    "abc\n",
    "a\x00b",
    "\u00e9t\u00e9",
    "\u0661\u0662",
    "x" * 300,
]


def floats() -> st.SearchStrategy[float]:
    """Any float, NaN and infinities included: never a Decimal or an exact int."""
    return st.floats(allow_nan=True, allow_infinity=True)


def not_int() -> st.SearchStrategy[object]:
    """Values that are not an ``int``: bools, floats (integral ones too), Decimals, strings."""
    return st.one_of(
        st.booleans(),
        floats(),
        st.integers(-(10**6), 10**6).map(float),
        st.integers(-(10**6), 10**6).map(Decimal),
        st.integers(-(10**6), 10**6).map(str),
        st.sampled_from([*NAN_INF, *BAD_NUMBER_STRINGS, *ODD_OBJECTS]),
    )


def bad_int(lo: int | None = None, hi: int | None = None) -> st.SearchStrategy[object]:
    """Not an int, or an int outside ``[lo, hi]`` (huge ones included)."""
    parts: list[st.SearchStrategy[object]] = [not_int()]
    if lo is not None:
        parts.append(st.integers(max_value=lo - 1))
        parts.append(st.just(lo - 2**300))
    if hi is not None:
        parts.append(st.integers(min_value=hi + 1))
        parts.append(st.just(hi + 2**300))
    return st.one_of(*parts)


def _decimals(
    lo: Decimal | None, hi: Decimal | None, *, open_lo: bool, open_hi: bool
) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=lo,
        max_value=hi,
        allow_nan=False,
        allow_infinity=False,
        places=6,
    ).filter(lambda d: not ((open_lo and d == lo) or (open_hi and d == hi)))


def bad_decimal(
    *,
    gt: Decimal | int | None = None,
    ge: Decimal | int | None = None,
    lt: Decimal | int | None = None,
    le: Decimal | int | None = None,
    strings: bool = False,
) -> st.SearchStrategy[object]:
    """Not a finite Decimal (or int; or decimal string when ``strings``) within the bounds:
    floats, bools, odd objects, NaN / infinities, huge magnitudes, out-of-range values and,
    unless ``strings``, every string."""
    parts: list[st.SearchStrategy[object]] = [
        floats(),
        st.booleans(),
        st.sampled_from([*NAN_INF, *ODD_OBJECTS, *HUGE_DECIMALS]),
        st.sampled_from(BAD_NUMBER_STRINGS),
    ]
    if not strings:
        parts.append(st.integers(-(10**6), 10**6).map(str))
        parts.append(st.sampled_from(["1", "0.5", "100"]))
    if gt is not None:
        parts.append(_decimals(None, Decimal(gt), open_lo=False, open_hi=False))
    if ge is not None:
        parts.append(_decimals(None, Decimal(ge), open_lo=False, open_hi=True))
    if lt is not None:
        parts.append(_decimals(Decimal(lt), None, open_lo=False, open_hi=False))
    if le is not None:
        parts.append(_decimals(Decimal(le), None, open_lo=True, open_hi=False))
    return st.one_of(*parts)


def bad_name() -> st.SearchStrategy[object]:
    return st.sampled_from(BAD_NAMES)


def bad_text() -> st.SearchStrategy[object]:
    """Not a non-empty str (any non-empty text is fine where no pattern applies)."""
    return st.sampled_from([None, 1, 1.5, True, b"x", ["a"], Decimal(1), ""])


def given_(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """``strategy`` without ``None``, for arguments where ``None`` is a valid choice."""
    return strategy.filter(lambda v: v is not None)


def not_a(*extra: object) -> st.SearchStrategy[object]:
    """Values that are not an instance of a required class (plus ``extra`` look-alikes)."""
    return st.sampled_from([None, 1, 1.5, "x", "", True, Decimal(1), object(), [], {}, *extra])


def anything() -> st.SearchStrategy[object]:
    """Every kind of value above, plus plain valid-looking ones, for the 'only OmsError comes
    out' property."""
    return st.one_of(
        not_int(),
        st.integers(),
        st.just(MAX_UINT256 + 1),
        st.just(MAX_NS + 1),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from([*BAD_NAMES, *HUGE_DECIMALS]),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


@dataclass(frozen=True)
class Case:
    """One argument of one entry point: ``call(**{**valid, argument: bad})`` must raise exactly
    ``error`` with ``names`` (default: the argument) in its message."""

    entry: str
    call: Callable[..., object]
    valid: Mapping[str, Any]
    argument: str
    bad: st.SearchStrategy[object]
    error: type[Exception] = InvalidInput
    names: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fragment(self) -> str:
        return self.names or self.argument

    def __str__(self) -> str:
        return f"{self.entry}-{self.argument}"


def cases(
    entry: str,
    call: Callable[..., object],
    valid: Mapping[str, Any],
    bad: Mapping[str, st.SearchStrategy[object]],
    *,
    error: type[Exception] = InvalidInput,
    names: Mapping[str, str] | None = None,
) -> list[Case]:
    """One :class:`Case` per spoilt argument of ``entry``."""
    names = names or {}
    return [
        Case(entry, call, valid, arg, strategy, error, names.get(arg, ""))
        for arg, strategy in bad.items()
    ]


def case_tests(cases: list[Case]) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two tests every case table runs: a bad value of the argument is refused with exactly
    the case's error naming it; any value at all gives a result or an ``OmsError``, never a
    builtin error. Bind them to ``test_*`` names in the test module."""

    @pytest.mark.parametrize("case", cases, ids=str)
    @settings(max_examples=40)
    @given(data=st.data())
    def refused(case: Case, data: Any) -> None:
        bad = data.draw(case.bad, label=case.argument)
        with pytest.raises(OmsError) as info:
            case.call(**{**case.valid, case.argument: bad})
        assert type(info.value) is case.error, f"{type(info.value).__name__}: {info.value}"
        assert case.fragment in str(info.value)

    @pytest.mark.parametrize("case", cases, ids=str)
    @settings(max_examples=25)
    @given(data=st.data())
    def never_builtin(case: Case, data: Any) -> None:
        value = data.draw(anything(), label=case.argument)
        with contextlib.suppress(OmsError):
            case.call(**{**case.valid, case.argument: value})

    return refused, never_builtin
