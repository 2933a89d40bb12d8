"""A PNG chart of a structure's payoff and P&L at expiry (matplotlib, Agg backend).

matplotlib is optional: install the ``charts`` extra (``pip install 'oms-chain[charts]'``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from oms_chain.model.errors import InvalidInput
from oms_chain.strategies.payoff import PayoffRow

__all__ = ["payoff_chart_png"]


def payoff_chart_png(
    rows: Sequence[PayoffRow], breakevens: Sequence[Decimal] = (), *, title: str = ""
) -> bytes:
    """PNG bytes of the P&L (solid) and payoff (dashed) of ``rows`` against the underlying's
    price, ``breakevens`` (e.g. ``PayoffSummary.breakevens``) marked. Raises
    :class:`InvalidInput` if matplotlib is not installed or there are fewer than two rows."""
    if len(rows) < 2 or not all(isinstance(r, PayoffRow) for r in rows):
        raise InvalidInput("a payoff chart needs at least two PayoffRow values")
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidInput(
            "the payoff chart needs matplotlib: pip install 'oms-chain[charts]'"
        ) from None
    xs = [float(r.price) for r in rows]
    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(xs, [float(r.pnl) for r in rows], label="P&L at expiry")
    ax.plot(xs, [float(r.payoff) for r in rows], linestyle="--", label="payoff")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    for b in breakevens:
        ax.axvline(float(b), color="green", linewidth=0.8, linestyle=":")
    ax.set_xlabel("underlying price at expiry")
    ax.set_ylabel("quote asset")
    ax.set_title(title)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
