"""The Decimal boundary: OptionContract + Decimal in, arrays for pricing, Decimal out."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from oms_chain.model import Asset, OptionContract, OptionKind
from oms_chain.model.errors import InvalidInput
from oms_chain.risk.pricing import (
    NS_PER_YEAR,
    bsm,
    contract_arrays,
    implied_vol,
    option_quote,
    to_decimals,
)

WETH = Asset.erc20(42161, "0x" + "1" * 40, "WETH", 18)
USDC = Asset.erc20(42161, "0x" + "2" * 40, "USDC", 6)
NOW = 1_767_225_600 * 10**9


def _option(strike, days, kind):
    return OptionContract(
        underlying=WETH,
        quote=USDC,
        strike=Decimal(strike),
        expiry_ns=NOW + days * 86_400 * 10**9,
        option_kind=kind,
    )


def test_contracts_become_aligned_arrays_in_act_365_years():
    book = [_option("3500", 73, OptionKind.CALL), _option("3000", 365, OptionKind.PUT)]
    arr = contract_arrays(book, NOW, [Decimal("2.5"), "-1"])
    assert arr.is_call.tolist() == [True, False]
    assert arr.strike.tolist() == [3500.0, 3000.0]
    assert arr.t.tolist() == [0.2, 1.0]
    assert arr.quantity.tolist() == [2.5, -1.0]
    g = bsm(arr.is_call, 3200.0, arr.strike, arr.t, 0.0, 0.0, 0.7)
    assert to_decimals(g.price * arr.quantity, "0.01") == [Decimal("708.70"), Decimal("-751.81")]
    expired = contract_arrays([_option("3500", 1, OptionKind.CALL)], NOW + 2 * 86_400 * 10**9)
    assert expired.t.tolist() == [0.0]
    assert NS_PER_YEAR == 31_536_000 * 10**9


def test_decimal_quotes_feed_the_surface_and_results_come_back_rounded_half_even():
    c = _option("3500", 73, OptionKind.CALL)
    q = option_quote(c, NOW, Decimal("150.5"), "152.5", kind="price")
    assert (q.strike, q.t, q.is_call, q.bid, q.ask, q.kind) == (
        3500.0,
        0.2,
        True,
        150.5,
        152.5,
        "price",
    )
    res = implied_vol(q.bid, q.is_call, 3200.0, q.strike, q.t, 0.0)
    assert to_decimals(res.vol, "0.0001") == [Decimal("0.4610")]
    assert to_decimals([0.125, 0.135, -2.5], "0.01") == [
        Decimal("0.12"),
        Decimal("0.14"),
        Decimal("-2.50"),
    ]


def test_bad_boundary_input_is_rejected():
    c = _option("3500", 73, OptionKind.CALL)
    with pytest.raises(InvalidInput, match="not an OptionContract"):
        contract_arrays([c, "BTC-CALL"], NOW)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="2 contracts but 1 quantities"):
        contract_arrays([c, c], NOW, [Decimal(1)])
    with pytest.raises(InvalidInput, match="float"):
        contract_arrays([c], NOW, [1.5])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="has expired"):
        option_quote(c, c.expiry_ns, Decimal(1), None)
    with pytest.raises(InvalidInput, match="only finite floats"):
        to_decimals(np.array([1.0, np.nan]), "0.01")
