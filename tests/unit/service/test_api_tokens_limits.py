"""API tokens (stored only as SHA-256, scoped, revocable), the per-token rate limiter on a
manual clock, the intent body model, and the API's argument checks."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from oms_chain.model import InvalidInput, ManualClock
from oms_chain.service.api import ApiConfig, RateLimiter, Scope, TokenStore, UnknownToken
from oms_chain.service.api.models import SubmitIntent


def test_tokens_are_stored_hashed_scoped_and_revocable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    clock = ManualClock(1_800_000_000_000_000_000)
    with TokenStore(url, clock=clock) as tokens:
        token, info = tokens.create("bot 1", "trade")
        clock.advance(1)
        read, rinfo = tokens.create("viewer", Scope.READ)
        assert token.startswith(f"oms_{info.token_id}_") and len(token) == 4 + 8 + 1 + 43
        assert tokens.authenticate(token) == info
        assert tokens.authenticate(read) == rinfo and rinfo.scope is Scope.READ
        assert tokens.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert tokens.authenticate("") is None and tokens.authenticate(None) is None  # type: ignore[arg-type]
        clock.advance(5)
        revoked = tokens.revoke(info.token_id)
        assert revoked.revoked_ns == 1_800_000_000_000_000_006 and not revoked.active
        assert tokens.revoke(info.token_id).revoked_ns == revoked.revoked_ns  # first time kept
        assert tokens.authenticate(token) is None
        assert [t.name for t in tokens.list()] == ["bot 1", "viewer"]
        with pytest.raises(UnknownToken, match="oms token list"):
            tokens.revoke("00000000")
        for bad in ("", " x", "a" * 65, "semi;colon", 5):
            with pytest.raises(InvalidInput, match="token name"):
                tokens.create(bad, "read")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="'read' or 'trade'"):
            tokens.create("x", "admin")
        with pytest.raises(InvalidInput, match="8 hex digits"):
            tokens.revoke("xyz")
    rows = sqlite3.connect(tmp_path / "oms.db").execute("SELECT * FROM api_tokens").fetchall()
    dump = repr(rows)
    assert token not in dump and token.split("_")[2] not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump
    # the same table again (another process, `oms token list`)
    with TokenStore(url) as again:
        assert len(again.list()) == 2


def test_token_store_refuses_other_urls() -> None:
    for bad in ("mysql://x/y", "oms.db", ""):
        with pytest.raises(InvalidInput):
            TokenStore(bad)


def test_rate_limiter_refills_at_its_rate() -> None:
    clock = ManualClock(0)
    lim = RateLimiter(2.0, 3, clock)
    assert [lim.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.take("a") == pytest.approx(0.5)
    assert lim.take("b") == 0.0
    clock.advance(250_000_000)
    assert lim.take("a") == pytest.approx(0.25)  # half a request earned, not yet one
    clock.advance(250_000_000)
    assert lim.take("a") == 0.0
    clock.advance(10 * 1_000_000_000)
    assert [lim.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # capped at the burst
    assert lim.take("a") > 0
    for bad_rate in (0, -1, True, "1", float("nan")):
        with pytest.raises(InvalidInput, match="rate"):
            RateLimiter(bad_rate, 1, clock)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="burst"):
        RateLimiter(1.0, 0, clock)


def test_api_config_refuses_nonsense() -> None:
    with pytest.raises(InvalidInput, match="max_body_bytes"):
        ApiConfig(max_body_bytes=0)
    with pytest.raises(InvalidInput, match="rate_per_s"):
        ApiConfig(rate_per_s=float("inf"))


def test_submit_intent_model() -> None:
    m = SubmitIntent.model_validate_json(
        b'{"symbol":"WETH/USDC","side":"sell","quantity":0.1,"algo":"twap",'
        b'"algo_params":{"duration":"20m","slices":4}}'
    )
    assert m.quantity == Decimal("0.1") and m.algo_params == {"duration": "20m", "slices": 4}
    with pytest.raises(ValidationError, match="exactly one of quantity"):
        SubmitIntent.model_validate({"symbol": "A/B", "side": "buy"})
    with pytest.raises(ValidationError, match="exactly one of quantity"):
        SubmitIntent.model_validate({"symbol": "A/B", "side": "buy", "quantity": 1, "notional": 1})


@settings(max_examples=200, database=None)
@given(st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
def test_submit_intent_model_refuses_junk_with_validation_errors_only(raw: bytes) -> None:
    with contextlib.suppress(ValidationError):
        SubmitIntent.model_validate_json(raw)


def test_create_app_and_run_api_check_their_arguments() -> None:
    import asyncio

    from aiohttp import web

    from oms_chain.service.api import create_app, run_api

    with pytest.raises(InvalidInput, match="TradingSession"):
        create_app(object(), object())  # type: ignore[arg-type]
    app = web.Application()
    for host, port in (
        ("", 80),
        (None, 80),
        ("127.0.0.1", -1),
        ("127.0.0.1", 70_000),
        ("127.0.0.1", True),
    ):
        with pytest.raises(InvalidInput, match=r"host|port"):
            asyncio.run(run_api(app, host, port))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="Application"):
        asyncio.run(run_api(object(), "127.0.0.1", 0))  # type: ignore[arg-type]
