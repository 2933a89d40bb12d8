"""Signatures against Binance's documented examples, timestamp windows, request weight."""

from __future__ import annotations

import pytest

from oms_chain.devnet.exchange.errors import ExchangeApiError
from oms_chain.devnet.exchange.security import (
    ApiKey,
    KeyRing,
    WeightLimiter,
    check_timestamp,
    hmac_hex,
    strip_signature,
    verify,
)

# Key, secret and signatures from "SIGNED Endpoint Examples for POST /api/v3/order" in
# Binance's spot REST API documentation.
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PARAMS = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_signature_matches_binance_documentation_example() -> None:
    assert hmac_hex(DOC_SECRET, DOC_PARAMS) == DOC_SIGNATURE


def test_mixed_query_and_body_are_concatenated_without_separator() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = (
        "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature="
        + DOC_MIXED_SIGNATURE
    )
    query_payload, query_sig = strip_signature(query)
    body_payload, body_sig = strip_signature(body)
    verify(DOC_SECRET, query_payload + body_payload, query_sig or body_sig)
    assert body_sig == DOC_MIXED_SIGNATURE


def test_signature_is_case_insensitive_and_a_wrong_one_is_minus_1022() -> None:
    verify(DOC_SECRET, DOC_PARAMS, DOC_SIGNATURE.upper())
    with pytest.raises(ExchangeApiError) as info:
        verify(DOC_SECRET, DOC_PARAMS + "&x=1", DOC_SIGNATURE)
    assert info.value.code == -1022


@pytest.mark.parametrize(
    ("timestamp", "window", "ok"),
    [
        (10_000, None, True),
        (5_000, None, True),  # exactly recvWindow old
        (4_999, None, False),
        (10_999, None, True),  # less than 1 s ahead
        (11_000, None, False),
        (1_000, 9_000, True),
    ],
)
def test_timing_security(timestamp: int, window: int | None, ok: bool) -> None:
    if ok:
        check_timestamp(timestamp, window, now_ms=10_000)
    else:
        with pytest.raises(ExchangeApiError) as info:
            check_timestamp(timestamp, window, now_ms=10_000)
        assert info.value.code == -1021


def test_recv_window_above_60000_is_rejected() -> None:
    with pytest.raises(ExchangeApiError) as info:
        check_timestamp(10_000, 60_001, now_ms=10_000)
    assert info.value.code == -1131


def test_key_ring_codes() -> None:
    ring = KeyRing()
    ring.add(ApiKey("k", "s", "acct"))
    assert ring.lookup("k").account_id == "acct"
    with pytest.raises(ExchangeApiError) as missing:
        ring.lookup(None)
    with pytest.raises(ExchangeApiError) as unknown:
        ring.lookup("nope")
    assert (missing.value.code, unknown.value.code) == (-2014, -2015)
    assert missing.value.http_status == unknown.value.http_status == 401


def test_weight_limiter_uses_fixed_minute_windows() -> None:
    now = [60_000 * 10 + 45_000]
    limiter = WeightLimiter(10, lambda: now[0])
    assert limiter.consume("ip", 6) is None
    assert limiter.consume("ip", 4) is None
    assert limiter.consume("ip", 1) == 15  # seconds to the next minute
    assert limiter.consume("other", 10) is None  # per IP
    now[0] += 15_000
    assert limiter.consume("ip", 10) is None and limiter.used("ip") == 10


def test_repeated_429s_get_the_ip_banned_with_418_for_a_while() -> None:
    now = [60_000 * 10]
    limiter = WeightLimiter(5, lambda: now[0], ban_after_429s=3, ban_ms=120_000)
    assert limiter.consume("ip", 5) is None
    for _ in range(3):
        assert limiter.consume("ip", 1) is not None
    assert limiter.banned_for("ip") == 120
    assert limiter.banned_for("other") is None
    now[0] += 120_000
    assert limiter.banned_for("ip") is None
