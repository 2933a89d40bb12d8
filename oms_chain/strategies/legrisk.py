"""Leg risk of a structure worked leg by leg across venues: the order to send the legs in and the
unintended exposure a partial structure leaves. Pure, no I/O.

The exposure of a partial structure is its open delta in USD (signed quantities filled x delta
per unit x spot) for as long as the structure is partial: :class:`ExposureMeter` integrates
``|delta_usd|`` over time (USD x seconds) from the observations it is given, piecewise constant
between them, and keeps the largest ``|delta_usd|`` and the time spent partial.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from oms_chain.model.checks import check_decimal, check_int
from oms_chain.model.errors import InvalidInput

__all__ = ["ExposureMeter", "order_by_liquidity_risk"]

_NS = Decimal(1_000_000_000)


def order_by_liquidity_risk(risks: Sequence[Decimal]) -> tuple[int, ...]:
    """Leg indices, the riskiest to fill first (``risks[i]`` of leg ``i``: higher is harder to
    fill, e.g. a wider spread or a venue that refuses more); ties keep the legs' order. A
    structure whose riskiest leg misses has nothing to unwind."""
    checked = [check_decimal(r, f"risks[{i}]", ge=0) for i, r in enumerate(risks)]
    if not checked:
        raise InvalidInput("risks: a structure has at least one leg")
    return tuple(sorted(range(len(checked)), key=lambda i: (-checked[i], i)))


class ExposureMeter:
    """Unintended exposure of one structure (see the module doc)."""

    __slots__ = ("_last", "exposure_usd_s", "legged_ns", "max_delta_usd")

    def __init__(self) -> None:
        self._last: tuple[int, Decimal, bool] | None = None
        #: |delta| in USD integrated over the time the structure was partial (USD x s)
        self.exposure_usd_s = Decimal(0)
        #: the largest |delta| in USD seen while partial
        self.max_delta_usd = Decimal(0)
        #: ns spent partial
        self.legged_ns = 0

    def observe(self, ts_ns: int, delta_usd: Decimal, *, partial: bool) -> None:
        """From ``ts_ns`` on the structure's open delta is ``delta_usd``; ``partial`` says
        whether some legs are filled and others not (a complete or flat structure is not
        partial: its delta is intended).

        Raises:
            InvalidInput: time going backwards, or a bad value.
        """
        check_int(ts_ns, "ts_ns", minimum=0)
        d = check_decimal(delta_usd, "delta_usd")
        if self._last is not None:
            t0, d0, p0 = self._last
            if ts_ns < t0:
                raise InvalidInput(f"ts_ns {ts_ns} is before the last observation ({t0})")
            if p0:
                self.exposure_usd_s += abs(d0) * Decimal(ts_ns - t0) / _NS
                self.legged_ns += ts_ns - t0
        if partial:
            self.max_delta_usd = max(self.max_delta_usd, abs(d))
        self._last = (ts_ns, d, partial)
