from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from oms_chain.model import Asset, Intent, InvalidInput, ManualClock, SpotPair
from oms_chain.risk import RiskGate, RiskLimits, TokenBucket, TradingState

ETH = Asset.erc20(1, "0x" + "e" * 40, "ETH", 18)
USDC = Asset.erc20(1, "0x" + "c" * 40, "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
ARB_PAIR = SpotPair(
    base=Asset.erc20(42161, "0x" + "e" * 40, "ETH", 18),
    quote=Asset.erc20(42161, "0x" + "c" * 40, "USDC", 6),
)


@dataclass
class View:
    price: Decimal | None = Decimal(2000)
    position: Decimal = Decimal(0)
    exposure: Decimal = Decimal(0)
    open_orders: int = 0
    pnl: Decimal = Decimal(0)
    calls: list[str] = field(default_factory=list)

    def reference_price(self, instrument_id):
        return self.price

    def net_position(self, account, instrument_id):
        return self.position

    def asset_exposure(self, account, symbol):
        return self.exposure

    def open_order_count(self):
        return self.open_orders

    def daily_realized_pnl(self, currency):
        return self.pnl


CLOCK = ManualClock()


def intent(**kw):
    base = dict(
        intent_id="i",
        account="a",
        instrument=PAIR,
        side="buy",
        venues=["binance"],
        now_ns=CLOCK.now_ns(),
        quantity="1",
        max_slippage_bps=20,
    )
    base.update(kw)
    return Intent.create(**base)


def gate(**limits) -> RiskGate:
    return RiskGate(RiskLimits(**limits), clock=CLOCK)


def test_notional_limit_reason_reads_like_a_sentence():
    d = gate(max_order_notional=Decimal(50_000)).check(
        intent(quantity="30.6", limit_price="2000", max_slippage_bps=None), View()
    )
    assert not d.accepted
    assert d.reason == "limit 'max_notional' (50,000 USDC) exceeded by order of 61,200 USDC"


def test_accepted_intent_lists_every_check_passed():
    d = gate(max_order_notional=Decimal(50_000), max_open_orders=5).check(intent(), View())
    assert d.accepted, d.reason
    assert {c.name for c in d.checks} >= {"trading_state", "max_notional", "max_open_orders"}
    assert all(c.passed for c in d.checks)
    assert d.quantity == Decimal(1)
    assert d.notional == Decimal(2000) * Decimal("1.002")  # worst price within slippage


def test_notional_intent_is_sized_from_the_worst_price():
    d = gate().check(
        intent(quantity=None, notional="1000", limit_price="2000", max_slippage_bps=None), View()
    )
    assert d.quantity == Decimal("0.5")


def test_position_limit_counts_exposure_across_venues_and_lets_reductions_through():
    g = gate(max_position={"ETH": Decimal(10)})
    d = g.check(intent(quantity="3"), View(exposure=Decimal(8), position=Decimal(8)))
    assert d.reason == "limit 'max_position' (10 ETH) exceeded: position would be 11 ETH"
    d = g.check(intent(side="sell", quantity="3"), View(exposure=Decimal(12), position=Decimal(12)))
    assert d.accepted


def test_daily_loss_blocks_new_risk_but_not_reductions():
    g = gate(max_daily_loss=Decimal(1000))
    d = g.check(intent(), View(pnl=Decimal(-1500)))
    assert "limit 'max_daily_loss' (1,000 USDC) reached" in d.reason
    d = g.check(intent(side="sell"), View(pnl=Decimal(-1500), position=Decimal(2)))
    assert d.accepted


def test_open_order_count_limit():
    d = gate(max_open_orders=3).check(intent(), View(open_orders=3))
    assert d.reason == "limit 'max_open_orders' (3) reached with 3 open orders"


def test_venue_and_chain_allow_lists():
    g = gate(allowed_venues=frozenset({"binance"}), allowed_chains=frozenset({1}))
    assert g.check(intent(), View()).accepted
    d = g.check(intent(venues=["binance", "shady"]), View())
    assert d.reason == "venue(s) shady not in allow-list (binance)"
    d = g.check(intent(instrument=ARB_PAIR), View())
    assert d.reason == "chain(s) 42161 not in allow-list (1)"


def test_slippage_bound_and_unbounded_market_intents():
    g = gate(max_slippage_bps=Decimal(50))
    assert (
        "exceeded by intent allowing 80 bps" in g.check(intent(max_slippage_bps=80), View()).reason
    )
    d = g.check(intent(max_slippage_bps=None), View())
    assert "market intent without limit_price or max_slippage_bps" in d.reason


def test_price_collar_against_the_reference_price():
    g = gate(price_collar_bps=Decimal(100))
    assert g.check(intent(limit_price="2010"), View()).accepted
    d = g.check(intent(limit_price="2100"), View())
    assert d.reason.startswith("limit 'price_collar' (100 bps) exceeded: limit price 2,100 is 500")
    d = g.check(intent(limit_price="2010"), View(price=None))
    assert "no reference price" in d.reason


def test_missing_reference_price_for_a_market_intent_is_a_clear_reject():
    d = gate().check(intent(), View(price=None))
    assert "cannot size or value the order" in d.reason


def test_kill_switch_halted_rejects_everything_but_cancels_pass():
    g = gate()
    g.set_trading_state(TradingState.HALTED, "operator pressed the button")
    d = g.check(intent(), View())
    assert d.reason == "trading is halted (operator pressed the button); only cancels pass"
    assert g.check_cancel().passed
    g.set_trading_state(TradingState.ACTIVE, "resumed")
    assert g.check(intent(), View()).accepted


def test_reducing_state_only_lets_position_reducing_intents_through():
    g = gate()
    g.set_trading_state(TradingState.REDUCING, "drawdown")
    long5 = View(position=Decimal(5), exposure=Decimal(5))
    assert not g.check(intent(side="buy"), long5).accepted
    assert g.check(intent(side="sell", quantity="5"), long5).accepted
    d = g.check(intent(side="sell", quantity="6"), long5)  # would flip short
    assert "reduce-only" in d.reason


def test_reduce_only_intent_in_active_state():
    d = gate().check(intent(reduce_only=True), View())
    assert d.reason == "intent is reduce-only but the position is 0 ETH"


def test_rate_limit_uses_the_injected_clock_and_only_spends_on_accepts():
    clock = ManualClock()
    g = RiskGate(
        RiskLimits(max_submits_per_second=Decimal(2), submit_burst=2, max_open_orders=1),
        clock=clock,
    )
    assert not g.check(intent(), View(open_orders=5)).accepted  # rejected: no token spent
    assert g.check(intent(), View()).accepted
    assert g.check(intent(), View()).accepted
    d = g.check(intent(), View())
    assert d.reason == "limit 'submit_rate' (2/s, burst 2) exceeded; retry later"
    clock.advance(500_000_000)
    assert g.check(intent(), View()).accepted


def test_token_bucket_never_exceeds_burst():
    b = TokenBucket(Decimal(10), 3, now_ns=0)
    assert [b.take(10**12) for _ in range(4)] == [True, True, True, False]


def test_deadline_passed_is_rejected():
    clock = ManualClock()
    it = intent(deadline_ns=clock.now_ns() + 10**9)
    g = RiskGate(RiskLimits(), clock=clock)
    clock.advance(2 * 10**9)
    assert g.check(it, View()).reason == "deadline passed 1.000 s ago"


def test_bad_limits_are_refused_naming_the_limit():
    with pytest.raises(InvalidInput, match="'max_order_notional'"):
        RiskLimits(max_order_notional=Decimal(-1))
    with pytest.raises(InvalidInput, match=r"max_position\.ETH"):
        RiskLimits(max_position={"ETH": Decimal(0)})


def test_gate_p99_latency_is_well_under_a_millisecond():
    import time

    g = gate(
        max_order_notional=Decimal(50_000),
        max_position={"ETH": Decimal(100)},
        max_daily_loss=Decimal(1000),
        max_open_orders=100,
        allowed_venues=frozenset({"binance"}),
        allowed_chains=frozenset({1}),
        max_slippage_bps=Decimal(50),
        price_collar_bps=Decimal(100),
    )
    it, view = intent(), View()
    samples = []
    for _ in range(3000):
        t0 = time.perf_counter_ns()
        g.check(it, view)
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    assert samples[int(len(samples) * 0.99)] < 1_000_000  # bench asserts the 200 µs target
