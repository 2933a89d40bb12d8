"""Bad input on the JSON-RPC surface (HTTP and websocket): always a JSON-RPC answer with a
Deribit error object, never a 500 or a traceback."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from oms_chain.devnet.deribit import DeribitThread, run_deribit_in_thread
from oms_chain.devnet.deribit.rpc import METHODS

KEY, SECRET = "fuzz-key", "fuzz-secret"
PARAM_NAMES = [
    "instrument_name", "amount", "price", "type", "time_in_force", "post_only",
    "reject_post_only", "reduce_only", "label", "order_id", "currency", "kind", "depth",
    "count", "sorting", "start_timestamp", "expired", "grant_type", "client_id",
    "client_secret", "refresh_token", "timestamp", "nonce", "signature", "data", "channels",
    "index_name", "access_token",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["ETH", "BTC", "any", "option", "future", "ETH-PERPETUAL", "1e999999", "-0", "NaN",
         "Infinity", "0.00000001", "limit", "market", "true", "ETH-1", "book.ETH-PERPETUAL.raw"]
    ),
)  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
PARAMS = st.dictionaries(st.sampled_from(PARAM_NAMES) | st.text(max_size=8), VALUES, max_size=6)
METHOD_NAMES = st.sampled_from(
    [*METHODS, "public/auth", "public/subscribe", "private/subscribe", "public/nope"]
) | st.text(max_size=20)


@pytest.fixture(scope="module")
def server() -> Iterator[DeribitThread]:
    handle = run_deribit_in_thread(seed=5, agents_running=False)
    handle.create_account(KEY, SECRET, {"ETH": Decimal(50), "BTC": Decimal(5)})
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def token(server: DeribitThread) -> str:
    query = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": KEY, "client_secret": SECRET}
    )
    with urllib.request.urlopen(f"{server.url}/api/v2/public/auth?{query}", timeout=5) as r:
        return str(json.load(r)["result"]["access_token"])


def _request(url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _assert_jsonrpc(status: int, body: Any) -> None:
    assert status in (200, 400, 401, 429), status
    assert body["jsonrpc"] == "2.0"
    if status == 200:
        assert "result" in body and "error" not in body
    else:
        error = body["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str)
        assert "Traceback" not in json.dumps(body)


def _query_value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ
@given(method=st.sampled_from([*METHODS, "public/auth", "public/nope"]), params=PARAMS,
       authed=st.booleans())  # fmt: skip
def test_http_get_with_any_query_answers_a_jsonrpc_object(
    server: DeribitThread, token: str, method: str, params: dict[str, Any], authed: bool
) -> None:
    query = urllib.parse.urlencode({k: _query_value(v) for k, v in params.items()})
    headers = {"Authorization": f"Bearer {token}"} if authed else {}
    _assert_jsonrpc(*_request(f"{server.url}/api/v2/{method}?{query}", None, headers))


@_FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=60),
        st.builds(
            lambda m, p, i: json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}),
            METHOD_NAMES, PARAMS | VALUES, st.integers() | st.text(max_size=5) | st.none(),
        ).map(str.encode),
    ),
    authed=st.booleans(),
)  # fmt: skip
def test_http_post_with_any_body_answers_a_jsonrpc_object(
    server: DeribitThread, token: str, body: bytes, authed: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    if authed:
        headers["Authorization"] = f"Bearer {token}"
    _assert_jsonrpc(*_request(f"{server.url}/api/v2/private/buy", body, headers))


@pytest.fixture(scope="module")
def ws(server: DeribitThread, token: str) -> Iterator[ClientConnection]:
    with connect(server.ws_url, open_timeout=5) as connection:
        yield connection


@_FUZZ
@given(
    method=METHOD_NAMES, params=PARAMS | VALUES, with_token=st.booleans(),
    rid=st.integers(min_value=1, max_value=2**31),
)  # fmt: skip
def test_websocket_requests_with_any_params_answer_their_id(
    ws: ClientConnection, token: str, method: str, params: Any, with_token: bool, rid: int
) -> None:
    if with_token and isinstance(params, dict):
        params = {**params, "access_token": token}
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
    while True:
        answer = json.loads(ws.recv(timeout=5))
        if answer.get("method") == "subscription":  # a book snapshot of an accepted channel
            continue
        assert answer["id"] == rid
        assert ("result" in answer) != ("error" in answer)
        if "error" in answer:
            assert isinstance(answer["error"]["code"], int)
        return


def test_websocket_garbage_frames_get_parse_errors(ws: ClientConnection) -> None:
    for frame in ("{", "[]", "null", '{"method": 5}', "x" * 1000):
        ws.send(frame)
        while True:
            answer = json.loads(ws.recv(timeout=5))
            if answer.get("method") != "subscription":
                break
        assert answer["error"]["code"] in (-32700, -32600)
