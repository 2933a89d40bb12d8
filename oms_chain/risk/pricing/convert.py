"""The Decimal boundary of the pricing room: contracts and quotes in, Decimal values out.

Pricing runs on float64 arrays; our model holds money as ``Decimal`` and times as integer
nanoseconds. :func:`contract_arrays` turns :class:`~oms_chain.model.OptionContract` values
(plus Decimal quantities) into the arrays :func:`~oms_chain.risk.pricing.bsm` and friends take,
:func:`option_quote` makes an :class:`OptionQuote` for a surface, and :func:`to_decimals`
brings results back as ``Decimal`` at a stated precision. Time to expiry is ACT/365 (what
Deribit uses), clipped at 0 for an expired contract (which then prices at intrinsic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

from oms_chain.model.amounts import to_decimal
from oms_chain.model.checks import check_ns
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.risk.pricing.svi import OptionQuote

__all__ = ["NS_PER_YEAR", "ContractArrays", "contract_arrays", "option_quote", "to_decimals"]

NS_PER_YEAR = 365 * 24 * 3600 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class ContractArrays:
    """Float arrays of a batch of option contracts, index-aligned with the input sequence."""

    is_call: npt.NDArray[np.bool_]
    strike: npt.NDArray[np.float64]
    t: npt.NDArray[np.float64]
    quantity: npt.NDArray[np.float64]


def _years(expiry_ns: int, now_ns: int) -> float:
    return max(expiry_ns - now_ns, 0) / NS_PER_YEAR


def contract_arrays(
    contracts: Sequence[OptionContract],
    now_ns: int,
    quantities: Sequence[Decimal | int | str] | None = None,
) -> ContractArrays:
    """Arrays of kind, strike, time to expiry (years, ACT/365) and quantity (default 1 each).

    Raises :class:`InvalidInput` for something that is not an ``OptionContract``, a bad
    ``now_ns``, a quantity that is not a finite decimal, or lengths that differ.
    """
    check_ns(now_ns, "now_ns")
    n = len(contracts)
    if quantities is not None and len(quantities) != n:
        raise InvalidInput(f"got {n} contracts but {len(quantities)} quantities; pass one each")
    is_call = np.empty(n, dtype=bool)
    strike = np.empty(n)
    t = np.empty(n)
    qty = np.ones(n)
    for i, c in enumerate(contracts):
        if not isinstance(c, OptionContract):
            raise InvalidInput(f"contract {i} is a {type(c).__name__}, not an OptionContract")
        is_call[i] = c.option_kind is OptionKind.CALL
        strike[i] = float(c.strike)
        t[i] = _years(c.expiry_ns, now_ns)
        if quantities is not None:
            qty[i] = float(to_decimal(quantities[i], what=f"quantity {i}"))
    return ContractArrays(is_call=is_call, strike=strike, t=t, quantity=qty)


def option_quote(
    contract: OptionContract,
    now_ns: int,
    bid: Decimal | str | None,
    ask: Decimal | str | None,
    kind: Literal["iv", "price"] = "iv",
) -> OptionQuote:
    """An :class:`OptionQuote` for a surface from a contract and Decimal bid / ask.

    IV quotes are fractions per year (``Decimal("0.65")``); price quotes premiums in the
    contract's quote asset. Raises :class:`InvalidInput` for an expired contract.
    """
    if not isinstance(contract, OptionContract):
        raise InvalidInput(f"option_quote takes an OptionContract, got {type(contract).__name__}")
    check_ns(now_ns, "now_ns")
    t = _years(contract.expiry_ns, now_ns)
    if t <= 0:
        raise InvalidInput(f"{contract.symbol} has expired; quote only live contracts")
    b = None if bid is None else float(to_decimal(bid, what="bid"))
    a = None if ask is None else float(to_decimal(ask, what="ask"))
    return OptionQuote(
        strike=float(contract.strike),
        t=t,
        is_call=contract.option_kind is OptionKind.CALL,
        bid=b,
        ask=a,
        kind=kind,
    )


def to_decimals(values: npt.ArrayLike, quantum: Decimal | str) -> list[Decimal]:
    """Float results as ``Decimal`` rounded half-even to ``quantum`` (e.g. ``"0.0001"``).

    Raises :class:`InvalidInput` for NaN or infinite values: check an IV result's ``ok`` mask
    before converting.
    """
    qd = to_decimal(quantum, what="quantum")
    if not (qd.is_finite() and qd > 0):
        raise InvalidInput(f"quantum must be a positive decimal like '0.01', got {quantum}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidInput(f"value {i} is {arr[i]}; only finite floats convert to Decimal")
    return [Decimal(repr(float(v))).quantize(qd, rounding=ROUND_HALF_EVEN) for v in arr]
