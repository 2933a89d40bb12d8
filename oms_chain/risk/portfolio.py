"""Portfolio Greeks: every balance and position valued and aggregated by underlying and in total.

Conventions (per underlying, in USD unless the name says otherwise):

* ``delta``: units of the underlying the portfolio is equivalent to (options: BSM delta times
  contracts; balances, spot pairs and perpetuals: their quantity); ``delta_usd`` = delta x spot.
* ``gamma_1pct``: change of ``delta`` (underlying units) for a +1 % move, gamma x spot / 100;
  ``gamma_1pct_usd`` = gamma x spot² / 100, the change of ``delta_usd`` for that move.
* ``vega_1pt``: value change for +1 vol point (vega / 100).
* ``theta_day``: value change for one calendar day (theta / 365).
* ``value``: mark value (balances at spot, perpetuals their unrealized PnL, options their BSM
  price times contracts, short options negative).

Floats are used inside (vectorized); every reported number is a ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import numpy as np

from oms_chain.model.errors import InvalidInput
from oms_chain.risk._book import Book, compile_book, sum_by
from oms_chain.risk.holdings import Holding
from oms_chain.risk.market import MarketSnapshot

__all__ = ["PortfolioRisk", "UnderlyingRisk", "portfolio_risk"]


def to_decimal_float(x: float, what: str = "risk value") -> Decimal:
    """The exact shortest decimal of a finite float (``0.1`` -> ``Decimal('0.1')``).

    Raises:
        InvalidInput: ``x`` is NaN or infinite (the inputs produced a non-number).
    """
    f = float(x)
    if not np.isfinite(f):
        raise InvalidInput(f"{what} is not a finite number ({f}); check the market inputs")
    return Decimal(repr(f)) + 0  # + 0 turns -0.0 into 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingRisk:
    """Greeks and value of everything that moves with one underlying (see module docstring)."""

    underlying: str
    spot: Decimal
    delta: Decimal
    delta_usd: Decimal
    gamma_1pct: Decimal
    gamma_1pct_usd: Decimal
    vega_1pt: Decimal
    theta_day: Decimal
    value: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioRisk:
    """Per-underlying :class:`UnderlyingRisk` and USD totals; ``cash`` is the USD cash held."""

    by_underlying: Mapping[str, UnderlyingRisk]
    delta_usd: Decimal
    gamma_1pct_usd: Decimal
    vega_1pt: Decimal
    theta_day: Decimal
    value: Decimal
    cash: Decimal

    @property
    def equity(self) -> Decimal:
        """Cash plus the mark value of every position."""
        return self.cash + self.value


def _aggregate(book: Book, market: MarketSnapshot) -> PortfolioRisk:
    n_u = book.n_underlyings
    delta = book.linear_exposure()
    gamma = np.zeros(n_u)
    vega = np.zeros(n_u)
    theta = np.zeros(n_u)
    if len(book.opt):
        g = book.greeks()
        qty = book.qty[book.opt]
        ou = book.opt_u
        delta += sum_by(ou, qty * g.delta, n_u)
        gamma = sum_by(ou, qty * g.gamma, n_u)
        vega = sum_by(ou, qty * g.vega, n_u)
        theta = sum_by(ou, qty * g.theta, n_u)
    values = sum_by(book.u, book.position_values(book.spot0), n_u)
    s = book.spot0
    cols = {
        "delta": delta,
        "delta_usd": delta * s,
        "gamma_1pct": gamma * s / 100.0,
        "gamma_1pct_usd": gamma * s * s / 100.0,
        "vega_1pt": vega / 100.0,
        "theta_day": theta / 365.0,
        "value": values,
    }
    by: dict[str, UnderlyingRisk] = {}
    for k, name in enumerate(book.underlyings):
        fields = {c: to_decimal_float(v[k], f"{name} {c}") for c, v in cols.items()}
        by[name] = UnderlyingRisk(underlying=name, spot=market.spots[name], **fields)
    total = {
        c: to_decimal_float(float(cols[c].sum()), f"total {c}")
        for c in ("delta_usd", "gamma_1pct_usd", "vega_1pt", "theta_day", "value")
    }
    return PortfolioRisk(
        by_underlying=MappingProxyType(by), cash=to_decimal_float(book.cash, "cash"), **total
    )


def portfolio_risk(holdings: Sequence[Holding], market: MarketSnapshot) -> PortfolioRisk:
    """Greeks and values of ``holdings`` at ``market``, by underlying and in total.

    Raises:
        InvalidInput: a holding is not a :class:`Holding`, an underlying has no spot, an option
            has no vol (neither per contract nor from a surface), or a quote is not cash.
    """
    return _aggregate(compile_book(holdings, market), market)
