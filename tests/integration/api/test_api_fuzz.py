"""Schema-fuzzed bad requests (hypothesis): every one answers a JSON 4xx, never a 500, and
nothing is written to the store."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from api_client import Api
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

VALID: dict[str, Any] = {"symbol": "WETH/USDC", "side": "buy", "quantity": "0.01"}

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
NOT_AMOUNT = st.sampled_from(
    [
        0,
        -1,
        "0",
        "-0.5",
        "abc",
        "",
        "NaN",
        "Infinity",
        "1e999",
        "1" * 45,
        True,
        [],
        {},
        "0x10",
        "1.5.2",
        "\u0661",
        "1" + "0" * 30 + ".0000000000000000001",
    ]
)
#: One field of a valid intent replaced by a value its schema refuses.
BAD_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(
        [
            "",
            "ETH",
            "ETH/",
            "/USDC",
            "E T H/USDC",
            5,
            None,
            "A" * 50,
            "FOO/BAR",
            "ETH/USDC/DAI",
            "é/USDC",
        ]
    ),
    "side": st.sampled_from(["", "long", "BUY", "buy ", 1, None, True, ["buy"]]),
    "quantity": NOT_AMOUNT,
    "limit_price": NOT_AMOUNT,
    "notional": NOT_AMOUNT,
    "max_slippage_bps": st.sampled_from([-1, 10_001, "x", "NaN", True, []]),
    "venues": st.sampled_from([[], "uniswap", [""], [1], ["nope-venue"], ["a b"], ["x"] * 33]),
    "exchange": st.sampled_from(["yes", 1, 0, None, "true"]),
    "algo": st.sampled_from(["", "fast", "TWAP", 1, None]),
    "algo_params": st.sampled_from(
        ["x", [1], {"Bad": 1}, {"k": 1.5}, {"k": None}, {"slices": "many"}, {"k": {"a": 1}}]
    ),
    "intent_id": st.sampled_from(["", " ", "a b", "x" * 200, 1, True, "\n", "é"]),
    "deadline_ns": st.sampled_from([0, -1, 2**63, "1", 1.5, True, 1]),
    "reduce_only": st.sampled_from([1, "yes", None, 0]),
}


@st.composite
def bad_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["field", "extra", "missing", "raw", "json"]))
    body = dict(VALID)
    if kind == "field":
        name = draw(st.sampled_from(sorted(BAD_FIELD)))
        body[name] = draw(BAD_FIELD[name])
        if name in ("notional",):
            body.pop("quantity")
        if name == "algo_params":
            body["algo"] = "twap"
    elif kind == "extra":
        body[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in BAD_FIELD))] = draw(
            JSONISH
        )
    elif kind == "missing":
        body.pop(draw(st.sampled_from(sorted(body))))
    elif kind == "raw":
        return draw(st.binary(max_size=64))
    else:
        value = draw(JSONISH)
        return json.dumps(value).encode()
    return json.dumps(body).encode()


def _post(url: str, token: str, data: bytes) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _get(url: str, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_bad_intents_are_4xx_and_write_nothing(api: Api) -> None:
    store = api.session.store
    before = store.last_position()
    answers: dict[int, int] = {}

    @settings(
        max_examples=150,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bad_bodies())
    @example(body=b'{"symbol": "WETH/USDC", "side": "buy", "notional": "\\u0661"}')
    @example(body=b'{"symbol": "WETH/USDC", "side": "buy", "quantity": "\\uff11"}')
    def check(body: bytes) -> None:
        status, out = _post(f"{api.url}/api/v1/intents", api.trade, body)
        answers[status] = answers.get(status, 0) + 1
        assert 400 <= status < 500, (status, body, out)
        assert out["status"] == status and out["error"] and out["kind"]
        assert store.last_position() == before, body

    await asyncio.to_thread(check)
    assert set(answers) <= {400, 413, 422}
    assert not api.session.engine.orders()


QUERY_VALUES = st.one_of(
    st.text(max_size=12), st.integers().map(str), st.just("-1"), st.just("1e9999"), st.just("open")
)
PATHS = [
    "/api/v1/orders",
    "/api/v1/fills",
    "/api/v1/events",
    "/api/v1/positions",
    "/api/v1/settlements",
    "/api/v1/health",
]


async def test_bad_queries_and_ids_never_500(api: Api) -> None:
    before = api.session.store.last_position()

    @settings(
        max_examples=120,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        path=st.sampled_from(PATHS),
        params=st.dictionaries(
            st.sampled_from(["status", "limit", "after", "order_id", "x"]), QUERY_VALUES, max_size=3
        ),
        order_id=st.text(min_size=1, max_size=20),
    )
    def check(path: str, params: dict[str, str], order_id: str) -> None:
        from urllib.parse import quote, urlencode

        status, out = _get(f"{api.url}{path}?{urlencode(params)}", api.read)
        assert status in (200, 404, 422), (path, params, out)
        status, out = _get(f"{api.url}/api/v1/orders/{quote(order_id, safe='')}", api.read)
        assert status in (404, 422), (order_id, out)
        status, out = _post(
            f"{api.url}/api/v1/orders/{quote(order_id, safe='')}/cancel", api.trade, b""
        )
        assert status in (404, 422), (order_id, out)
        assert api.session.store.last_position() == before

    await asyncio.to_thread(check)
    status, out = await asyncio.to_thread(_get, f"{api.url}/api/v1/events?limit=0", api.read)
    assert status == 422 and out["details"][0]["loc"] == ["limit"]
    status, out = await asyncio.to_thread(
        _get, f"{api.url}/api/v1/orders?status=open&status=all", api.read
    )
    assert status == 422 and "more than once" in out["error"]
