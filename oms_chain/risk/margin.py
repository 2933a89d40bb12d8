"""Portfolio margin in the style of Deribit's segregated portfolio margin, and per-venue margin.

Each underlying is a segment of its own (segregated): its holdings are revalued under every move
of :attr:`PortfolioMarginConfig.moves` times volatility up / same / down (the shock scaled by each
option's time to expiry), and, when the segment holds short options, under the extended table of
large moves on volatility up. The segment's maintenance margin is the larger of the worst core
loss and the counted extended loss, plus contingencies; initial = maintenance x
``initial_factor``. Requirements add up over segments; equity is cash plus the mark value of
every holding. Parameters and their sources: :mod:`oms_chain.risk.margin_config`.

:func:`venue_margin` is the simple alternative where a venue defines its own per-position rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from oms_chain.model.checks import check_decimal, check_instance
from oms_chain.model.errors import InvalidInput
from oms_chain.risk._book import OPTION, PERP, Array, Book, compile_book, price_options
from oms_chain.risk.holdings import Holding
from oms_chain.risk.margin_config import PortfolioMarginConfig
from oms_chain.risk.market import MarketSnapshot
from oms_chain.risk.portfolio import to_decimal_float

__all__ = [
    "MarginResult",
    "Scenario",
    "SegmentMargin",
    "VenueMargin",
    "VenueMarginRule",
    "portfolio_margin",
    "venue_margin",
]

VOL_STATES = ("up", "same", "down")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One stress scenario of a segment and the segment's PnL (USD) under it."""

    underlying: str
    move: Decimal
    vol: str
    extended: bool
    pnl: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentMargin:
    """Margin of one underlying; ``table[i][j]`` is the PnL at ``moves[i]``, ``VOL_STATES[j]``."""

    underlying: str
    maintenance: Decimal
    initial: Decimal
    scenario_loss: Decimal
    extended_loss: Decimal
    contingency: Decimal
    worst: Scenario
    moves: tuple[Decimal, ...]
    table: tuple[tuple[Decimal, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginResult:
    """Requirement, equity and excess in USD; ``worst`` is the worst-loss segment's scenario."""

    equity: Decimal
    initial: Decimal
    maintenance: Decimal
    excess: Decimal
    maintenance_excess: Decimal
    worst: Scenario | None
    segments: Mapping[str, SegmentMargin]


class _Segments:
    """Precomputed per-segment arrays so a margin can be evaluated for many spots at once."""

    def __init__(self, book: Book, cfg: PortfolioMarginConfig) -> None:
        self.book, self.cfg = book, cfg
        self.moves = np.array(cfg.moves)
        self.ext_moves = np.array(cfg.extended_moves)
        b = book
        days = np.maximum(b.t * 365.0, cfg.dte_floor_days)
        power = np.where(
            days < cfg.vega_power_cutoff_days, cfg.short_term_vega_power, cfg.long_term_vega_power
        )
        scale = (30.0 / days) ** power
        up = np.maximum(b.vol * (1.0 + cfg.vol_range_up * scale), cfg.min_vol_for_shock_up)
        down = np.maximum(b.vol * (1.0 - cfg.vol_range_down * scale), cfg.min_vol)
        self.vols = np.stack([up, b.vol, down])  # (3, m)
        self.lin = np.array(
            [b.qty[(b.u == k) & (b.kind != OPTION)].sum() for k in range(b.n_underlyings)]
        )

    def _options_of(self, k: int) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.book.opt_u == k)

    def contingency(self, k: int, spot: Array) -> Array:
        """Contingency add-ons of segment ``k`` at spots ``spot`` (G,)."""
        b, cfg = self.book, self.cfg
        j = self._options_of(k)
        short = 0.0
        if j.size:
            keys = np.stack([b.t[j], b.strike[j]], axis=1)
            _, inv = np.unique(keys, axis=0, return_inverse=True)
            net = np.bincount(inv.ravel(), weights=b.qty[b.opt[j]])
            short = float(-net[net < 0].sum())
        perp = (b.u == k) & (b.kind == PERP)
        longs = float(b.qty[perp & (b.qty > 0)].sum())
        shorts = float(-b.qty[perp & (b.qty < 0)].sum())
        units = cfg.short_option_contingency * short + cfg.offsetting_perp_contingency * min(
            longs, shorts
        )
        return units * spot

    def pnl_grid(self, k: int, spot: Array, moves: Array, vols: Array) -> Array:
        """PnL of segment ``k`` relative to spot ``spot`` (G,): shape (G, len(moves), len(vols))."""
        b = self.book
        g = spot.shape[0]
        shocked = spot[:, None] * (1.0 + moves[None, :])  # (G, M)
        out = np.broadcast_to(
            (self.lin[k] * (shocked - spot[:, None]))[:, :, None], (g, moves.size, vols.shape[0])
        ).copy()
        j = self._options_of(k)
        if j.size:
            args = (b.is_call[j], b.strike[j], b.t[j], b.rate, b.q[j])
            qty = b.qty[b.opt[j]]
            base = (
                price_options(args[0], spot[:, None], args[1], args[2], args[3], args[4], b.vol[j])
                @ qty
            )  # (G,)
            s = shocked[:, :, None, None]  # (G, M, 1, 1)
            v = vols[:, j][None, None, :, :]  # (1, 1, V, m_k)
            prices = price_options(args[0], s, args[1], args[2], args[3], args[4], v)
            out += prices @ qty - base[:, None, None]
        return out

    def maintenance(self, k: int, spot: Array) -> tuple[Array, Array, Array, Array]:
        """(maintenance, core loss, extended loss, core table) of segment ``k`` at spots (G,)."""
        table = self.pnl_grid(k, spot, self.moves, self.vols)
        core = np.maximum(0.0, -table.min(axis=(1, 2)))
        ext = np.zeros_like(core)
        j = self._options_of(k)
        if j.size and np.any(self.book.qty[self.book.opt[j]] < 0) and self.ext_moves.size:
            e = self.pnl_grid(k, spot, self.ext_moves, self.vols[:1])[:, :, 0]
            counted = np.maximum(0.0, -e.min(axis=1)) * self.cfg.extended_fraction
            ext = np.maximum(0.0, counted - self.cfg.extended_dampener)
        mm = np.maximum(core, ext) + self.contingency(k, spot)
        return mm, core, ext, table

    def total_maintenance(self, spots: Array) -> Array:
        """Maintenance over all segments for rows of underlying spots ``spots`` (G, n_u)."""
        total = np.zeros(spots.shape[0])
        for k in range(self.book.n_underlyings):
            total += self.maintenance(k, spots[:, k])[0]
        return total


def _segment(seg: _Segments, k: int) -> SegmentMargin:
    book, cfg = seg.book, seg.cfg
    name = book.underlyings[k]
    spot = book.spot0[k : k + 1]
    mm, core, ext, table = seg.maintenance(k, spot)
    t = table[0]
    i, j = np.unravel_index(int(np.argmin(t)), t.shape)
    worst = Scenario(
        underlying=name,
        move=to_decimal_float(cfg.moves[i]),
        vol=VOL_STATES[j],
        extended=False,
        pnl=to_decimal_float(t[i, j]),
    )
    if ext[0] > core[0]:
        e = seg.pnl_grid(k, spot, seg.ext_moves, seg.vols[:1])[0, :, 0]
        w = int(np.argmin(e))
        worst = Scenario(
            underlying=name,
            move=to_decimal_float(cfg.extended_moves[w]),
            vol="up",
            extended=True,
            pnl=to_decimal_float(e[w]),
        )
    maint = float(mm[0])
    return SegmentMargin(
        underlying=name,
        maintenance=to_decimal_float(maint, f"{name} maintenance"),
        initial=to_decimal_float(maint * cfg.initial_factor, f"{name} initial"),
        scenario_loss=to_decimal_float(core[0]),
        extended_loss=to_decimal_float(ext[0]),
        contingency=to_decimal_float(float(seg.contingency(k, spot)[0])),
        worst=worst,
        moves=tuple(to_decimal_float(m) for m in cfg.moves),
        table=tuple(tuple(to_decimal_float(x) for x in row) for row in t),
    )


def _check(market: MarketSnapshot, config: PortfolioMarginConfig | None) -> PortfolioMarginConfig:
    check_instance(market, "market", MarketSnapshot, "a MarketSnapshot")
    if config is None:
        return PortfolioMarginConfig()
    return check_instance(config, "config", PortfolioMarginConfig, "a PortfolioMarginConfig")


def portfolio_margin(
    holdings: Sequence[Holding],
    market: MarketSnapshot,
    config: PortfolioMarginConfig | None = None,
) -> MarginResult:
    """Portfolio margin of ``holdings`` at ``market`` (see the module docstring).

    Raises:
        InvalidInput: bad holdings / market (see :func:`portfolio_risk`) or ``config`` not a
            :class:`PortfolioMarginConfig`.
    """
    cfg = _check(market, config)
    book = compile_book(holdings, market)
    seg = _Segments(book, cfg)
    segments = {book.underlyings[k]: _segment(seg, k) for k in range(book.n_underlyings)}
    equity = to_decimal_float(book.equity(), "equity")
    maint = sum((s.maintenance for s in segments.values()), Decimal(0))
    initial = sum((s.initial for s in segments.values()), Decimal(0))
    worst = min(segments.values(), key=lambda s: s.worst.pnl).worst if segments else None
    return MarginResult(
        equity=equity,
        initial=initial,
        maintenance=maint,
        excess=equity - initial,
        maintenance_excess=equity - maint,
        worst=worst,
        segments=MappingProxyType(segments),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueMarginRule:
    """A venue's own per-position margin, as fractions of the underlying's spot per unit.

    Perpetuals: ``perp_initial`` / ``perp_maintenance`` x |quantity| x spot. Short options
    (Deribit's standard-margin shape, on spot instead of BTC units): initial = max(
    ``option_initial`` - OTM amount / spot, ``option_initial_floor``) x spot + mark, maintenance
    = ``option_maintenance`` x spot + mark, per contract. Long options and balances need none.
    Deribit's documented values: 0.15, 0.10 and 0.075.

    Raises:
        InvalidInput: a rate is not a finite Decimal in [0, 1], or maintenance above initial.
    """

    perp_initial: Decimal
    perp_maintenance: Decimal
    option_initial: Decimal = Decimal("0.15")
    option_initial_floor: Decimal = Decimal("0.10")
    option_maintenance: Decimal = Decimal("0.075")

    def __post_init__(self) -> None:
        for name in (
            "perp_initial",
            "perp_maintenance",
            "option_initial",
            "option_initial_floor",
            "option_maintenance",
        ):
            value = check_decimal(getattr(self, name), f"venue margin rule {name}", ge=0, le=1)
            object.__setattr__(self, name, value)
        if self.perp_maintenance > self.perp_initial:
            raise InvalidInput(
                f"venue margin rule: perp_maintenance {self.perp_maintenance} is above "
                f"perp_initial {self.perp_initial}; maintenance must not exceed initial"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueMargin:
    """Initial and maintenance requirement (USD) of one venue's holdings under its rule."""

    venue: str
    initial: Decimal
    maintenance: Decimal


def venue_margin(
    holdings: Sequence[Holding],
    market: MarketSnapshot,
    rules: Mapping[str, VenueMarginRule],
) -> Mapping[str, VenueMargin]:
    """Per-venue margin of the holdings at venues that have a rule in ``rules``.

    Raises:
        InvalidInput: bad holdings / market, or ``rules`` not a mapping of venue to rule.
    """
    check_instance(market, "market", MarketSnapshot, "a MarketSnapshot")
    if not isinstance(rules, Mapping):
        raise InvalidInput(f"rules must map venue to VenueMarginRule, got {type(rules).__name__}")
    for venue, rule in rules.items():
        check_instance(rule, f"rules[{venue!r}]", VenueMarginRule, "a VenueMarginRule")
    book = compile_book(holdings, market)
    spot = book.spot0[book.u]
    im = np.zeros(len(book.labels))
    mm = np.zeros(len(book.labels))
    rate = {
        v: tuple(
            float(x)
            for x in (
                r.perp_initial,
                r.perp_maintenance,
                r.option_initial,
                r.option_initial_floor,
                r.option_maintenance,
            )
        )
        for v, r in rules.items()
    }
    marks = book.option_prices(book.spot0[book.opt_u]) if len(book.opt) else np.zeros(0)
    pos_to_opt = {int(p): j for j, p in enumerate(book.opt)}
    for i, venue in enumerate(book.venues):
        if venue not in rate:
            continue
        p_im, p_mm, o_im, o_floor, o_mm = rate[venue]
        qty = book.qty[i]
        if book.kind[i] == PERP:
            im[i], mm[i] = p_im * abs(qty) * spot[i], p_mm * abs(qty) * spot[i]
        elif book.kind[i] == OPTION and qty < 0:
            j = pos_to_opt[i]
            k, s = book.strike[j], spot[i]
            otm = max(k - s, 0.0) if book.is_call[j] else max(s - k, 0.0)
            im[i] = -qty * (max(o_im - otm / s, o_floor) * s + marks[j])
            mm[i] = -qty * (o_mm * s + marks[j])
    out: dict[str, VenueMargin] = {}
    for venue in rules:
        sel = np.array([v == venue for v in book.venues], dtype=bool)
        out[venue] = VenueMargin(
            venue=venue,
            initial=to_decimal_float(float(im[sel].sum()) if sel.size else 0.0),
            maintenance=to_decimal_float(float(mm[sel].sum()) if sel.size else 0.0),
        )
    return MappingProxyType(out)
