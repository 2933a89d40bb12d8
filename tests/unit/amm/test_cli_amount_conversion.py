"""``oms quote`` / ``oms route`` turn ``--amount`` into base units exactly (never under Decimal's
default 28 digits) or refuse it with the reason."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.cli._args import _exact_base_units, _positive_decimal
from oms_chain.model.errors import InvalidInput


def test_a_31_digit_amount_is_converted_exactly() -> None:
    human = _positive_decimal("1234567890123.456789012345678901", "--amount")
    assert _exact_base_units(human, 18, "--amount", "x") == 1234567890123456789012345678901


@given(
    st.integers(min_value=1, max_value=10**45),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=24),
)
def test_any_amount_with_at_most_the_tokens_decimals_is_exact(
    digits: int, scale: int, decimals: int
) -> None:
    # the CLI's parser bounds what a user may type; the conversion itself is exact for any value
    human = Decimal((0, tuple(int(c) for c in str(digits)), -scale))  # exact, no context
    text = str(human)
    exact = Fraction(digits, 10**scale) * 10**decimals
    if exact.denominator != 1:
        with pytest.raises(InvalidInput, match=f"more than {decimals} decimals"):
            _exact_base_units(human, decimals, "--amount", text)
    elif len(str(exact.numerator)) > 78:
        with pytest.raises(InvalidInput, match="too large"):
            _exact_base_units(human, decimals, "--amount", text)
    else:
        assert _exact_base_units(human, decimals, "--amount", text) == exact.numerator


@pytest.mark.parametrize("text", ["1e-7", "0.0000001", "1E-999999999"])
def test_more_decimals_than_the_token_has_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="more than 6 decimals"):
        _exact_base_units(Decimal(text), 6, "--amount", text)


@pytest.mark.parametrize("text", ["1e60", "1E+999999999"])
def test_an_amount_beyond_uint256_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="too large"):
        _exact_base_units(Decimal(text), 18, "--amount", text)
