"""Bad algo params are rejected with an InvalidIntent naming the param."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from algo_fakes import START, FakeEngine, make_intent

from oms_chain.algos import ManualSleeper, parse_duration, scheduler_for
from oms_chain.engine.algo_runner import runner_for
from oms_chain.model import ManualClock
from oms_chain.model.errors import InvalidIntent

_LIMIT = {"limit_price": "2000"}


@pytest.mark.parametrize(
    ("algo", "params", "extra", "named"),
    [
        ("twap", {"duration": "1h", "slices": 0}, {}, "slices"),
        ("twap", {"duration": "1h", "slices": True}, {}, "slices"),
        ("twap", {"duration": "1h", "slices": 2, "interval": "5m"}, {}, "interval"),
        ("twap", {"duration": "soon"}, {}, "duration"),
        ("twap", {"duration": -5}, {}, "duration"),
        ("twap", {"slices": 3}, {}, "duration"),
        ("twap", {"duration": "1h", "randomize": Decimal("0.9")}, {}, "randomize"),
        ("twap", {"duration": "1h", "randomize": "lots"}, {}, "randomize"),
        ("twap", {"duration": "1h", "slcies": 4}, {}, "slcies"),
        ("twap", {"duration": "1h", "catch_up": "yes"}, {}, "catch_up"),
        ("twap", {"duration": "1h", "min_slice": -1}, {}, "min_slice"),
        ("twap", {"duration": "1h", "max_participation": 0}, {}, "max_participation"),
        ("twap", {"duration": "1h", "max_participation": "1.5"}, {}, "max_participation"),
        ("twap", {"duration": "1h", "venue": "nowhere"}, {}, "venue"),
        ("twap", {"duration": 10, "slices": 20}, {}, "slices"),
        ("vwap", {"duration": "1h", "profile": "1,x,2"}, {}, "profile"),
        ("vwap", {"duration": "1h", "profile": "0,0"}, {}, "profile"),
        ("vwap", {"duration": "1h", "profile": "1,2", "slices": 3}, {}, "slices"),
        ("vwap", {"duration": "1h", "randomize": Decimal("0.1")}, {}, "randomize"),
        ("iceberg", {}, _LIMIT, "display_quantity"),
        ("iceberg", {"display_quantity": 0}, _LIMIT, "display_quantity"),
        ("iceberg", {"display_quantity": 500}, _LIMIT, "display_quantity"),
        ("iceberg", {"display_quantity": "0.000000001"}, _LIMIT, "display_quantity"),
        ("iceberg", {"display_quantity": 10}, {}, "limit_price"),
        ("sniper", {}, {}, "limit_price"),
        ("sniper", {"poll_interval": "0s"}, _LIMIT, "poll_interval"),
        ("sniper", {"child_ttl": "fast"}, _LIMIT, "child_ttl"),
    ],
)
def test_bad_algo_param_is_rejected_naming_it(
    algo: str, params: dict[str, Any], extra: dict[str, Any], named: str
) -> None:
    intent = make_intent(algo, params, **extra)
    with pytest.raises(InvalidIntent, match=named):
        scheduler_for(intent)


def test_algos_need_a_base_quantity() -> None:
    intent = make_intent("twap", {"duration": "1h"}, quantity=None, notional="1000")
    with pytest.raises(InvalidIntent, match="quantity"):
        scheduler_for(intent)


def test_direct_intents_have_no_scheduler() -> None:
    with pytest.raises(InvalidIntent, match="direct"):
        scheduler_for(make_intent("direct"))


@pytest.mark.parametrize(
    ("raw", "ns"),
    [
        ("90s", 90 * 10**9),
        ("30m", 1800 * 10**9),
        ("1.5h", 5400 * 10**9),
        ("250ms", 250 * 10**6),
        (42, 42),
        ("1d", 86_400 * 10**9),
    ],
)
def test_durations_parse_to_integer_nanoseconds(raw: Any, ns: int) -> None:
    assert parse_duration("duration", raw) == ns


def test_a_deadline_is_enough_for_a_horizon() -> None:
    s = scheduler_for(make_intent("twap", {"slices": 2}, deadline_ns=START + 10**12))
    assert s.decide is not None


def test_runner_for_refuses_algos_that_need_market_data_without_it() -> None:
    clock = ManualClock(START)
    intent = make_intent("sniper", {}, limit_price="2000")
    engine = FakeEngine(intent, clock)
    with pytest.raises(InvalidIntent, match="market data"):
        runner_for(engine, engine.parent, intent, sleeper=ManualSleeper(clock), market=None)
    vwap = make_intent("vwap", {"duration": "1h"})
    with pytest.raises(InvalidIntent, match="market data"):
        runner_for(engine, engine.parent, vwap, sleeper=ManualSleeper(clock), market=None)
    ok = make_intent("vwap", {"duration": "1h", "profile": "1,2"})
    assert runner_for(engine, engine.parent, ok, sleeper=ManualSleeper(clock), market=None)


def test_algos_package_exports_what_it_lists() -> None:
    import oms_chain.algos as algos
    import oms_chain.engine.algo_runner as runner

    for module in (algos, runner):
        assert all(hasattr(module, name) for name in module.__all__)
    assert {"scheduler_for", "Scheduler", "Sleeper", "ManualSleeper", "MarketData"} <= set(
        algos.__all__
    )
