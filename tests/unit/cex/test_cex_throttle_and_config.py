"""Token bucket, backoff, configuration and the public API of oms_chain.venues.cex."""

from __future__ import annotations

import random

import pytest

import oms_chain.venues.cex as cex
from oms_chain.model import ConfigError
from oms_chain.venues.cex import Backoff, CcxtVenue, CcxtVenueConfig, TokenBucket


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    clock = FakeMonotonic()
    bucket = TokenBucket(10.0, 3, monotonic=clock)
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_acquire() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket.try_acquire() == 0.0
    clock.now += 60
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]  # capped at burst
    assert bucket.try_acquire() > 0


async def test_token_bucket_acquire_waits_for_a_token() -> None:
    bucket = TokenBucket(100.0, 1)
    await bucket.acquire()
    await bucket.acquire()  # about 10 ms later


def test_backoff_grows_exponentially_capped_with_jitter_in_the_upper_half() -> None:
    b = Backoff(0.1, 1.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    ceilings = [min(1.0, 0.1 * 2**n) for n in range(8)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    b.reset()
    assert b.next_delay() <= 0.1
    again = Backoff(0.1, 1.0, rng=random.Random(1))
    assert [again.next_delay() for _ in range(8)] == delays  # seeded: deterministic


def test_config_rejects_unknown_keys_and_bad_values_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="apikey"):
        CcxtVenueConfig.from_mapping({"exchange": "binance", "apikey": "x"})
    with pytest.raises(ConfigError, match="rate_per_s"):
        CcxtVenueConfig(exchange="binance", rate_per_s=0)
    with pytest.raises(ConfigError, match="exchange"):
        CcxtVenueConfig(exchange="")
    cfg = CcxtVenueConfig.from_mapping(
        {"exchange": "binance", "venue_id": "binance-main", "symbols": ["ETH/USDC"]}
    )
    assert cfg.name == "binance-main" and cfg.symbols == ("ETH/USDC",)


def test_unknown_exchange_id_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not a ccxt\.pro exchange id"):
        CcxtVenue(CcxtVenueConfig(exchange="no-such-exchange"))


def test_public_api_is_explicit() -> None:
    assert set(cex.__all__) == {
        "Backoff",
        "CcxtMarket",
        "CcxtVenue",
        "CcxtVenueConfig",
        "DepthBook",
        "DiffResult",
        "TokenBucket",
        "balances_from_ccxt",
        "exact_decimal",
        "fill_report_from_ccxt",
        "levels_from_ccxt",
        "order_report_from_ccxt",
    }
    assert all(hasattr(cex, name) for name in cex.__all__)


def test_book_source_defaults_to_our_book_for_binance_and_ccxt_elsewhere() -> None:
    assert CcxtVenueConfig(exchange="binance").native_book
    assert CcxtVenueConfig(exchange="binanceus").native_book
    assert not CcxtVenueConfig(exchange="kraken").native_book
    assert not CcxtVenueConfig(exchange="binance", book_source="ccxt").native_book
    assert CcxtVenueConfig.from_mapping(
        {"exchange": "binance", "book_source": "native"}
    ).native_book


def test_book_source_and_depth_are_checked_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'book_source' must be one of"):
        CcxtVenueConfig(exchange="binance", book_source="fast")
    with pytest.raises(ConfigError, match="'book_source': 'native' reads Binance"):
        CcxtVenueConfig(exchange="kraken", book_source="native")
    with pytest.raises(ConfigError, match="book_depth"):
        CcxtVenueConfig(exchange="binance", book_depth=0)


def test_the_acceptance_window_is_ccxts_recv_window_plus_the_skew_margin() -> None:
    from oms_chain.venues.base import BoundedAcceptance

    default = CcxtVenue(CcxtVenueConfig(exchange="binance"))
    assert isinstance(default, BoundedAcceptance)
    # ccxt's binance sends recvWindow 10 000 ms; our default margin is 1 s
    assert default.acceptance_window_ns == 11_000_000_000
    told = CcxtVenue(
        CcxtVenueConfig(exchange="binance", options={"recvWindow": 2500}, clock_skew_margin_s=0.25)
    )
    assert told.acceptance_window_ns == 2_750_000_000
    fixed = CcxtVenue(CcxtVenueConfig(exchange="binance", receive_window_s=30.0))
    assert fixed.acceptance_window_ns == 31_000_000_000
    # an exchange without a receive window option: Binance's longest, 60 s
    other = CcxtVenue(CcxtVenueConfig(exchange="kraken", clock_skew_margin_s=0))
    assert other.acceptance_window_ns == 60_000_000_000


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("receive_window_s", 0),
        ("receive_window_s", 4000),
        ("receive_window_s", float("nan")),
        ("clock_skew_margin_s", -1),
        ("clock_skew_margin_s", float("inf")),
    ],
)
def test_receive_window_keys_are_checked_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=key):
        CcxtVenueConfig(exchange="binance", **{key: value})
