"""The vols the treasury values options with: the market's, from the makers' quotes.

:func:`market_marks` asks the makers for a one-contract bid and ask on every live series of the
exposure underlying, turns the premiums into Black-Scholes implied vols, and fits an SVI
surface (:class:`~oms_chain.risk.pricing.VolSurface`) per expiry that has at least five quoted
strikes; a series of an expiry with fewer gets the implied vol of its own mid quote. A series
no maker quotes, or a treasury without makers, falls back to the policy's flat
``instruments.vol``; :attr:`VolMarks.source` says which was used (the plan's explanation
repeats it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.model.intent import Side
from oms_chain.risk.pricing import VolSurface
from oms_chain.risk.pricing.convert import option_quote
from oms_chain.risk.pricing.iv import implied_vol
from oms_chain.risk.pricing.svi import OptionQuote
from oms_chain.treasury.options_book import OptionBook
from oms_chain.treasury.policy import TreasuryPolicy

__all__ = ["VolMarks", "market_marks"]

_MIN_QUOTES = 5  # what an SVI slice needs


@dataclass(frozen=True, slots=True)
class VolMarks:
    """Vols per option: a fitted ``surfaces[underlying symbol]``, else ``by_contract[id]``
    (one quote's implied vol), else ``flat`` (``instruments.vol``)."""

    flat: Decimal
    surfaces: Mapping[str, VolSurface] = field(default_factory=dict)
    by_contract: Mapping[str, Decimal] = field(default_factory=dict)
    source: str = "flat instruments.vol"

    def vol_of(self, contract: OptionContract) -> Decimal | None:
        """The explicit vol of ``contract`` (``None``: the surface of its underlying gives it)."""
        given = self.by_contract.get(str(contract.id))
        if given is not None:
            return given
        if contract.underlying.symbol in self.surfaces:
            return None
        return self.flat


def _iv(contract: OptionContract, premium: Decimal, spot: Decimal, t: float) -> float:
    res = implied_vol(
        float(premium),
        contract.option_kind is OptionKind.CALL,
        float(spot),
        float(contract.strike),
        t,
        0.0,
    )
    return float(res.vol)


async def market_marks(
    book: OptionBook | None, policy: TreasuryPolicy, spot: Decimal, now_ns: int
) -> VolMarks:
    """Vols implied by the makers' quotes on ``book`` at ``spot`` (see the module docstring);
    the flat ``instruments.vol`` when nothing is quoted."""
    flat = VolMarks(flat=policy.instruments.vol)
    if book is None:
        return flat
    under = policy.exposure.underlying
    moves = {a.symbol for a in policy.assets if a.underlying == under}
    by_t: dict[float, list[tuple[OptionContract, OptionQuote]]] = {}
    for listing in book.listings():
        c = listing.contract
        if c.underlying.symbol not in moves or c.expiry_ns <= now_ns:
            continue
        sides: dict[Side, Decimal] = {}
        for side in (Side.BUY, Side.SELL):
            try:
                q = await book.quote(listing, side, 1)
            except OmsError:
                continue
            sides[side] = c.quote.from_base_units(q.premium) / listing.unit
        if not sides:
            continue
        try:
            oq = option_quote(c, now_ns, sides.get(Side.SELL), sides.get(Side.BUY), kind="price")
        except InvalidInput:
            continue
        by_t.setdefault(oq.t, []).append((c, oq))
    if not by_t:
        return flat
    fit = [q for quotes in by_t.values() if len(quotes) >= _MIN_QUOTES for _, q in quotes]
    surfaces: dict[str, VolSurface] = {}
    if fit:
        try:
            surface = VolSurface.from_quotes(fit, forward=float(spot))
            for sym in moves:
                surfaces[sym] = surface
        except InvalidInput:
            surfaces = {}
    by_contract: dict[str, Decimal] = {}
    for t, quotes in by_t.items():
        if surfaces and len(quotes) >= _MIN_QUOTES:
            continue
        for c, known in quotes:
            sides_ = [x for x in (known.bid, known.ask) if x is not None]
            mid = Decimal(str(sum(sides_) / len(sides_)))
            vol = _iv(c, mid, spot, t)
            if math.isfinite(vol) and vol > 0:
                by_contract[str(c.id)] = Decimal(str(round(vol, 6)))
    if not surfaces and not by_contract:
        return flat
    n = sum(len(q) for q in by_t.values())
    parts = []
    if surfaces:
        parts.append(f"an SVI surface fitted to {len(fit)} quotes")
    if by_contract:
        parts.append(f"the implied vols of {len(by_contract)} quoted series")
    source = (
        f"market vols from {n} maker quotes ({' and '.join(parts)}); unquoted series at the "
        f"flat instruments.vol {policy.instruments.vol}"
    )
    return VolMarks(
        flat=policy.instruments.vol, surfaces=surfaces, by_contract=by_contract, source=source
    )
