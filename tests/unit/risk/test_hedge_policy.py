"""Hedger policies: delta band, cool-down, caps, gamma-scalping trigger and its PnL ledger."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.risk import HedgePolicy, HedgeState, ScalpLedger, decide_hedge

NS = 1_000_000_000


def policy(**kw: object) -> HedgePolicy:
    args: dict[str, object] = dict(
        name="eth-band",
        underlying="ETH",
        instrument="ETH/USDC",
        venues=("paper",),
        band=D(2),
        max_hedge=D(10),
    )
    args.update(kw)
    return HedgePolicy(**args)  # type: ignore[arg-type]


def test_delta_inside_band_does_nothing():
    d = decide_hedge(policy(), delta=D("1.9"), spot=D(2000), now_ns=0)
    assert d.action == "none"
    assert d.quantity == 0


def test_delta_above_band_sells_back_to_target():
    d = decide_hedge(policy(target=D(1)), delta=D("4.5"), spot=D(2000), now_ns=0)
    assert (d.action, d.side, d.quantity, d.delta_after, d.capped) == (
        "hedge",
        "sell",
        D("3.5000"),
        D("1.0000"),
        False,
    )
    assert "delta 4.5 outside 1 ± 2" in d.reason


def test_delta_below_band_buys_and_is_capped_at_max_hedge():
    d = decide_hedge(policy(), delta=D(-25), spot=D(2000), now_ns=0)
    assert (d.side, d.quantity, d.delta_after, d.capped) == ("buy", D(10), D(-15), True)
    assert "capped at max_hedge 10" in d.reason


def test_hedge_delta_scales_the_quantity():
    d = decide_hedge(policy(hedge_delta=D("0.5")), delta=D(3), spot=D(2000), now_ns=0)
    assert (d.side, d.quantity, d.delta_after) == ("sell", D(6), D(0))


def test_cool_down_skips_with_the_time_left():
    p = policy(cooldown_s=30)
    state = HedgeState(last_hedge_ns=100 * NS, last_hedge_spot=D(2000))
    d = decide_hedge(p, delta=D(5), spot=D(2000), now_ns=110 * NS, state=state)
    assert d.action == "skip"
    assert d.reason.endswith("cool-down: 20 s left")
    d = decide_hedge(p, delta=D(5), spot=D(2000), now_ns=130 * NS, state=state)
    assert d.action == "hedge"


def test_below_min_hedge_is_skipped():
    d = decide_hedge(policy(band=D(0), min_hedge=D(1)), delta=D("0.5"), spot=D(1), now_ns=0)
    assert d.action == "skip"
    assert "below the minimum 1" in d.reason


def test_gamma_scalp_rehedges_on_a_move_of_the_given_size_inside_the_band():
    p = policy(mode="gamma_scalp", scalp_move_pct=D(2), band=D(5))
    state = HedgeState(last_hedge_ns=0, last_hedge_spot=D(2000))
    assert decide_hedge(p, delta=D(1), spot=D(2039), now_ns=1, state=state).action == "none"
    d = decide_hedge(p, delta=D(1), spot=D(2040), now_ns=1, state=state)
    assert (d.action, d.side, d.quantity) == ("hedge", "sell", D(1))
    assert "spot 2040 moved 2.00 % from the last hedge at 2000" in d.reason
    d = decide_hedge(p, delta=D(-1), spot=D(1960), now_ns=1, state=state)
    assert (d.action, d.side, d.quantity) == ("hedge", "buy", D(1))


def test_scalp_ledger_reports_the_pnl_of_the_hedge_trades():
    # long gamma: sell 1 after a rise to 2100, buy it back after the fall to 2000
    ledger = ScalpLedger().add(D(-1), D(2100)).add(D(1), D(2000))
    assert ledger.position == 0
    assert ledger.pnl(D(5000)) == D(100)
    ledger = ledger.add(D(-2), D(2050))
    assert ledger.pnl(D(2000)) == D(100) + D(100)


@settings(max_examples=300, deadline=None)
@given(
    delta=st.decimals(min_value=-1000, max_value=1000, places=4),
    target=st.decimals(min_value=-10, max_value=10, places=2),
    band=st.decimals(min_value=0, max_value=20, places=2),
    max_hedge=st.decimals(min_value="0.01", max_value=50, places=2),
    hedge_delta=st.sampled_from([D(1), D("0.5"), D(2)]),
)
def test_after_a_hedge_delta_is_in_the_band_unless_capped(
    delta, target, band, max_hedge, hedge_delta
):
    p = policy(target=target, band=band, max_hedge=max_hedge, hedge_delta=hedge_delta)
    d = decide_hedge(p, delta=delta, spot=D(2000), now_ns=0)
    if abs(delta - target) <= band:
        assert d.action == "none"
        return
    if d.action == "skip":  # rounding left nothing to send
        assert abs(delta - target) / hedge_delta < p.quantity_step
        return
    assert d.action == "hedge"
    assert 0 < d.quantity <= max_hedge
    # the hedge never overshoots the target
    assert abs(d.delta_after - target) <= abs(delta - target)
    assert (d.delta_after - target) * (delta - target) >= 0
    if d.capped:
        assert d.quantity == max_hedge
    else:
        assert abs(d.delta_after - target) <= max(band, p.quantity_step * hedge_delta)


def test_policy_loads_from_toml_and_refuses_unknown_keys(tmp_path):
    text = """
[hedge]
name = "eth-band"
underlying = "ETH"
instrument = "ETH/USDC"
venues = ["binance", "uniswap-v3:31337"]
target = 0
band = 2.5
max_hedge = 5
cooldown_s = 10
"""
    f = tmp_path / "p.toml"
    f.write_text(text)
    p = HedgePolicy.load(f)
    assert p.venues == ("binance", "uniswap-v3:31337")
    assert (p.band, p.max_hedge, p.cooldown_s, p.mode) == (D("2.5"), D(5), 10.0, "delta_band")
    with pytest.raises(ConfigError, match="bandd: unknown key"):
        HedgePolicy.from_toml(text + "bandd = 3\n")
    with pytest.raises(ConfigError, match="max_hedge: missing"):
        HedgePolicy.from_toml('name="a"\nunderlying="ETH"\ninstrument="X"\nvenues=["v"]\nband=1')
    with pytest.raises(ConfigError, match="cannot read hedge policy"):
        HedgePolicy.load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        HedgePolicy.from_toml("name = ")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"band": D(-1)}, "band: must be >= 0"),
        ({"max_hedge": D(0)}, "max_hedge: must be > 0"),
        ({"venues": ()}, "venues: expected a non-empty list"),
        ({"venues": "paper"}, "venues: expected a non-empty list"),
        ({"mode": "yolo"}, "mode: expected one of"),
        ({"mode": "gamma_scalp"}, "scalp_move_pct: required"),
        ({"scalp_move_pct": D(1)}, "only used in gamma_scalp"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"cooldown_s": True}, "cooldown_s"),
        ({"band": "nan"}, "band: must be finite"),
        ({"band": True}, "band: expected a number"),
        ({"name": ""}, "name: expected a non-empty name"),
        ({"name": "a b"}, "name: 'a b' may contain only"),
        ({"min_hedge": D(20)}, "min_hedge: 20 is above max_hedge"),
    ],
)
def test_bad_policy_values_name_the_key(kw, match):
    with pytest.raises(ConfigError, match=match):
        policy(**kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"delta": 1.5}, "delta must be a finite Decimal"),
        ({"delta": D("inf")}, "delta must be a finite Decimal"),
        ({"spot": D(0)}, "spot must be > 0"),
        ({"now_ns": -1}, "now_ns must be an int"),
    ],
)
def test_bad_decide_input_is_refused(kw, match):
    args: dict[str, object] = {"delta": D(1), "spot": D(2000), "now_ns": 0}
    args.update(kw)
    with pytest.raises(InvalidInput, match=match):
        decide_hedge(policy(), **args)  # type: ignore[arg-type]
