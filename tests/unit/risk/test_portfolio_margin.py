"""Portfolio margin against a hand-computed scenario table; liquidation prices; config; venues."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _riskbook_fixtures import BTC_PERP, ETH, NOW, PERP, USDC, bs, option, years
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model import ConfigError, InvalidInput
from oms_chain.risk import (
    Holding,
    MarketSnapshot,
    PortfolioMarginConfig,
    VenueMarginRule,
    liquidation_price,
    liquidation_prices,
    portfolio_margin,
    position_liquidation_price,
    venue_margin,
)

D = Decimal
TOL = 1e-6  # USD per USD of maintenance (the liquidation module's stated tolerance)


def _market(**vols: Decimal) -> MarketSnapshot:
    return MarketSnapshot(now_ns=NOW, spots={"ETH": D(2000), "BTC": D(40000)}, vols=vols)


def test_a_long_perpetual_needs_the_16_percent_move_exactly():
    res = portfolio_margin([Holding(instrument=PERP, quantity=D(1))], _market())
    seg = res.segments["ETH"]
    assert float(res.maintenance) == pytest.approx(320.0, rel=1e-12)
    assert float(res.initial) == pytest.approx(400.0, rel=1e-12)
    assert (res.worst.move, res.worst.vol, res.worst.extended) == (D("-0.16"), "up", False)
    assert [float(m) for m in seg.moves] == pytest.approx(
        [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16], abs=1e-15
    )
    assert float(res.equity) == 0.0 and float(res.excess) == pytest.approx(-400.0)


def test_offsetting_perpetuals_on_two_venues_cost_only_the_contingency():
    holdings = [
        Holding(instrument=PERP, quantity=D(3), venue="deribit"),
        Holding(instrument=PERP, quantity=D(-3), venue="binance"),
    ]
    res = portfolio_margin(holdings, _market())
    assert res.segments["ETH"].scenario_loss == 0
    assert float(res.maintenance) == pytest.approx(0.01 * 3 * 2000, rel=1e-12)


def test_small_portfolio_requirement_equals_the_hand_computed_scenario_table():
    put = option("P", 1800, 10)
    holdings = [
        Holding(instrument=PERP, quantity=D(2), venue="deribit"),
        Holding(instrument=put, quantity=D(-1), venue="deribit"),
        Holding(instrument=USDC, quantity=D(1000), venue="deribit"),
    ]
    res = portfolio_margin(holdings, _market(**{put.id: D("0.6")}))

    # By hand: 10 days to expiry < 30, so the short-term power 0.3 scales the vol shocks.
    t, s0, vol = years(10), 2000.0, 0.6
    scale = (30 / 10) ** 0.3
    vols = {"up": max(vol * (1 + 0.5 * scale), 0.5), "same": vol, "down": vol * (1 - 0.25 * scale)}
    p0 = bs("P", s0, 1800, t, vol)

    def pnl(move: float, v: float) -> float:
        return 2 * s0 * move - (bs("P", s0 * (1 + move), 1800, t, v) - p0)

    moves = [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16]
    table = [[pnl(m, vols[state]) for state in ("up", "same", "down")] for m in moves]
    core = max(0.0, -min(min(row) for row in table))
    extended = 0.25 * max(0.0, -min(pnl(m, vols["up"]) for m in (-0.66, -0.33, 0.5, 1, 2, 3, 4, 5)))
    contingency = 0.01 * 1 * s0  # one net short option at strike 1800
    maintenance = max(core, extended) + contingency

    seg = res.segments["ETH"]
    got = [float(x) for row in seg.table for x in row]
    assert got == pytest.approx([x for row in table for x in row], rel=1e-9, abs=1e-9)
    assert float(seg.scenario_loss) == pytest.approx(core, rel=1e-9)
    assert float(seg.extended_loss) == pytest.approx(extended, rel=1e-9)
    assert float(seg.contingency) == pytest.approx(contingency, rel=1e-12)
    assert float(res.maintenance) == pytest.approx(maintenance, rel=1e-9)
    assert float(res.initial) == pytest.approx(1.25 * maintenance, rel=1e-9)
    assert float(res.equity) == pytest.approx(1000 - p0, rel=1e-9)
    assert float(res.excess) == pytest.approx(1000 - p0 - 1.25 * maintenance, rel=1e-9)
    # the worst is the extended -66 % move here (the short put deep in the money)
    assert res.worst is not None and res.worst.extended and res.worst.move == D("-0.66")


def test_segments_are_segregated_and_add_up():
    holdings = [
        Holding(instrument=PERP, quantity=D(1)),
        Holding(instrument=BTC_PERP, quantity=D(-1)),
    ]
    res = portfolio_margin(holdings, _market())
    assert float(res.maintenance) == pytest.approx(0.16 * 2000 + 0.16 * 40000, rel=1e-12)
    assert res.worst is not None and res.worst.underlying == "BTC" and res.worst.move == D("0.16")


def test_perpetual_liquidation_price_is_where_equity_meets_maintenance():
    holdings = [Holding(instrument=PERP, quantity=D(1)), Holding(instrument=USDC, quantity=D(500))]
    res = liquidation_price(holdings, _market(), "ETH")
    # 500 + (S - 2000) = 0.16 S  =>  S = 1500 / 0.84
    assert res.below is not None and float(res.below) == pytest.approx(1500 / 0.84, rel=1e-12)
    assert res.above is None and "no liquidation price above" in res.reason
    assert float(res.distance_pct) == pytest.approx((2000 - 1500 / 0.84) / 20, rel=1e-9)


@pytest.mark.parametrize(
    ("holdings", "side"),
    [
        (  # a short strangle: the extended table's +500 % move on the calls liquidates upwards
            [
                Holding(instrument=option("C", 2400, 20), quantity=D(-2)),
                Holding(instrument=option("P", 1700, 20), quantity=D(-2)),
                Holding(instrument=BTC_PERP, quantity=D("0.01")),
                Holding(instrument=USDC, quantity=D(6000)),
            ],
            "above",
        ),
        (  # long perpetuals and a short put: liquidated on the way down
            [
                Holding(instrument=PERP, quantity=D(3), entry_price=D(1900)),
                Holding(instrument=option("P", 1700, 20), quantity=D(-2)),
                Holding(instrument=USDC, quantity=D(1500)),
            ],
            "below",
        ),
    ],
)
def test_at_each_liquidation_price_equity_equals_maintenance(holdings: list[Holding], side: str):
    c, p = option("C", 2400, 20), option("P", 1700, 20)
    m = _market(**{c.id: D("0.7"), p.id: D("0.8")})
    res = liquidation_price(holdings, m, "ETH")
    assert not res.liquidatable_now
    price = res.above if side == "above" else res.below
    assert price is not None, res
    assert (price > D(2000)) == (side == "above")
    at = portfolio_margin(holdings, m.with_spots({"ETH": price}))
    gap = abs(float(at.equity - at.maintenance))
    assert gap <= TOL * max(1.0, float(at.maintenance)), (price, gap)


def test_no_liquidation_price_is_reported_as_none_with_the_reason():
    spot_only = [Holding(instrument=ETH, quantity=D(3))]
    res = liquidation_price(spot_only, _market(), "ETH")
    assert (res.below, res.above, res.liquidatable_now) == (None, None, False)
    assert "stays above maintenance" in res.reason and res.distance_pct is None
    broke = [Holding(instrument=PERP, quantity=D(1)), Holding(instrument=USDC, quantity=D(100))]
    now = liquidation_price(broke, _market(), "ETH")
    assert now.liquidatable_now and "already" in now.reason
    with pytest.raises(InvalidInput, match="no exposure to 'SOL'"):
        liquidation_price(spot_only, _market(), "SOL")


def test_config_defaults_are_deribits_documented_numbers_and_toml_is_strict():
    cfg = PortfolioMarginConfig()
    assert (cfg.price_range, cfg.price_steps, cfg.vol_range_up, cfg.vol_range_down) == (
        0.16,
        4,
        0.5,
        0.25,
    )
    assert (cfg.short_term_vega_power, cfg.long_term_vega_power) == (0.3, 0.13)
    assert cfg.extended_moves == (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
    loaded = PortfolioMarginConfig.from_toml("price_range = 0.2\nextended_moves = [-0.5, 1]\n")
    assert loaded.price_range == 0.2 and loaded.extended_moves == (-0.5, 1.0)
    with pytest.raises(ConfigError, match="price_rnage: unknown key"):
        PortfolioMarginConfig.from_toml("price_rnage = 0.2")
    with pytest.raises(ConfigError, match="vol_range_down: must be between"):
        PortfolioMarginConfig.from_toml("vol_range_down = 1.5")
    with pytest.raises(ConfigError, match=r"extended_moves\[1\]: must be a number"):
        PortfolioMarginConfig.from_toml('extended_moves = [1, "x"]')
    with pytest.raises(ConfigError, match="not valid TOML"):
        PortfolioMarginConfig.from_toml("price_range = ")


def test_config_loads_from_a_file(tmp_path):
    path = tmp_path / "pm.toml"
    path.write_text("initial_factor = 1.5\nprice_steps = 2\n")
    cfg = PortfolioMarginConfig.load(path)
    assert cfg.initial_factor == 1.5 and cfg.moves == (-0.16, -0.08, 0.0, 0.08, 0.16)
    with pytest.raises(ConfigError, match="cannot read"):
        PortfolioMarginConfig.load(tmp_path / "missing.toml")


@given(
    key=st.sampled_from(
        ["price_range", "price_steps", "vol_range_up", "initial_factor", "min_vol"]
    ),
    value=st.one_of(st.booleans(), st.text(max_size=3), st.floats(allow_nan=True), st.integers()),
)
def test_any_bad_config_value_names_its_key(key: str, value: object):
    try:
        PortfolioMarginConfig.from_mapping({key: value})
    except ConfigError as exc:
        assert str(exc).startswith(key)


def test_per_venue_margin_follows_the_venue_rule():
    call = option("C", 2200, 30)
    m = _market(**{call.id: D("0.6")})
    holdings = [
        Holding(instrument=PERP, quantity=D(-2), venue="binance"),
        Holding(instrument=call, quantity=D(-1), venue="deribit"),
        Holding(instrument=PERP, quantity=D(5), venue="elsewhere"),
    ]
    rules = {
        "binance": VenueMarginRule(perp_initial=D("0.1"), perp_maintenance=D("0.05")),
        "deribit": VenueMarginRule(perp_initial=D("0.1"), perp_maintenance=D("0.05")),
    }
    out = venue_margin(holdings, m, rules)
    assert set(out) == {"binance", "deribit"}
    assert float(out["binance"].initial) == pytest.approx(400.0)
    assert float(out["binance"].maintenance) == pytest.approx(200.0)
    mark = bs("C", 2000, 2200, years(30), 0.6)
    # OTM by 200: initial max(0.15 - 0.1, 0.1) x 2000 + mark; maintenance 0.075 x 2000 + mark
    assert float(out["deribit"].initial) == pytest.approx(200 + mark, rel=1e-9)
    assert float(out["deribit"].maintenance) == pytest.approx(150 + mark, rel=1e-9)
    with pytest.raises(InvalidInput, match="maintenance must not exceed initial"):
        VenueMarginRule(perp_initial=D("0.01"), perp_maintenance=D("0.02"))


def test_a_position_on_its_own_collateral_and_every_underlying_of_a_portfolio():
    short_btc = Holding(instrument=BTC_PERP, quantity=D(-1), venue="deribit")
    iso = position_liquidation_price(short_btc, D(10000), _market())
    # 10000 - (S - 40000) = 0.16 S  =>  S = 50000 / 1.16
    assert iso.above is not None and float(iso.above) == pytest.approx(50000 / 1.16, rel=1e-12)
    assert iso.below is None
    both = liquidation_prices(
        [
            short_btc,
            Holding(instrument=PERP, quantity=D(1)),
            Holding(instrument=USDC, quantity=D(10_000)),
        ],
        _market(),
    )
    assert set(both) == {"BTC", "ETH"}
    with pytest.raises(InvalidInput, match="collateral must be >= 0"):
        position_liquidation_price(short_btc, D(-1), _market())


_LEG = st.tuples(
    st.sampled_from(["C", "P", "perp", "spot"]),
    st.integers(min_value=1200, max_value=3000),  # strike
    st.sampled_from([1, 7, 30, 90]),  # days to expiry
    st.integers(min_value=-5, max_value=5).filter(bool),  # quantity
)


def _book(legs: list[tuple[str, int, int, int]]) -> tuple[list[Holding], MarketSnapshot]:
    holdings, vols = [], {}
    for kind, strike, days, qty in legs:
        if kind in ("C", "P"):
            c = option(kind, strike, days)
            vols[c.id] = D("0.75")
            holdings.append(Holding(instrument=c, quantity=D(qty)))
        else:
            # a perpetual without an entry price is marked at each snapshot's spot: give one so
            # that re-marking at the liquidation price keeps its PnL
            entry = D(2000) if kind == "perp" else None
            inst = PERP if kind == "perp" else ETH
            holdings.append(Holding(instrument=inst, quantity=D(qty), entry_price=entry))
    return holdings, _market(**vols)


@settings(max_examples=30)
@given(legs=st.lists(_LEG, min_size=1, max_size=6))
def test_margin_is_positively_homogeneous_and_order_free(legs: list[tuple[str, int, int, int]]):
    holdings, m = _book(legs)
    one = portfolio_margin(holdings, m)
    doubled, _ = _book([(k, s, d, 2 * q) for k, s, d, q in legs])
    two = portfolio_margin(doubled, m)
    backwards = portfolio_margin(holdings[::-1], m)
    assert one.maintenance >= 0
    assert float(two.maintenance) == pytest.approx(2 * float(one.maintenance), rel=1e-9, abs=1e-9)
    assert float(backwards.maintenance) == pytest.approx(float(one.maintenance), rel=1e-12)
    assert one.initial == pytest.approx(one.maintenance * D("1.25"))


@settings(max_examples=30)
@given(legs=st.lists(_LEG, min_size=1, max_size=4), cash=st.integers(min_value=0, max_value=20_000))
def test_every_reported_liquidation_price_is_a_root(
    legs: list[tuple[str, int, int, int]], cash: int
):
    holdings, m = _book(legs)
    holdings.append(Holding(instrument=USDC, quantity=D(cash)))
    res = liquidation_price(holdings, m, "ETH")
    for price in (res.below, res.above):
        if price is not None:
            at = portfolio_margin(holdings, m.with_spots({"ETH": price}))
            gap = abs(float(at.equity - at.maintenance))
            assert gap <= TOL * max(1.0, float(at.maintenance)), (price, gap)


@given(
    lower=st.one_of(st.floats(), st.integers(), st.booleans(), st.none()),
    upper=st.one_of(st.floats(), st.integers()),
)
def test_liquidation_search_bounds_are_checked(lower: object, upper: object):
    ok = (
        isinstance(lower, int | float)
        and not isinstance(lower, bool)
        and isinstance(upper, int | float)
        and not isinstance(upper, bool)
        and 0 < lower < 1 < upper <= 1000
    )
    holdings = [Holding(instrument=PERP, quantity=D(1)), Holding(instrument=USDC, quantity=D(500))]
    if ok:
        liquidation_price(holdings, _market(), "ETH", lower=lower, upper=upper)  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidInput):
            liquidation_price(holdings, _market(), "ETH", lower=lower, upper=upper)  # type: ignore[arg-type]
