"""Re-submitting an intent id over the API: identical → 200 with the same order; any changed
field → 409 ``intent_conflict`` naming it, nothing written (hypothesis)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from api_client import Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BASE: dict[str, Any] = {
    "symbol": "WETH/USDC",
    "side": "buy",
    "quantity": "0.01",
    "intent_id": "resubmit-1",
    "limit_price": "5000",
}
#: A change of one field of BASE, as the API body spells it (the engine's field names match).
CHANGE: dict[str, st.SearchStrategy[Any]] = {
    "side": st.just("sell"),
    "quantity": st.sampled_from(["0.02", "0.011", "1"]),
    "limit_price": st.sampled_from(["4999", "5000.01", "100"]),
    "max_slippage_bps": st.integers(0, 10_000),
    "deadline_ns": st.integers(4 * 10**18, 5 * 10**18),
    "reduce_only": st.just(True),
}

#: The order in which the engine names differing fields (the Intent's field order).
ORDER = ("side", "quantity", "limit_price", "max_slippage_bps", "deadline_ns", "reduce_only")


def _post(url: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_a_changed_resubmission_is_409_naming_the_field_and_an_identical_one_200(
    api: Api,
) -> None:
    url = f"{api.url}/api/v1/intents"
    status, first = await asyncio.to_thread(_post, url, api.trade, BASE)
    assert status == 201, first
    await api.session.wait(first["order_id"], timeout=60, poll=0.05)
    store = api.session.store

    def parents() -> list[str]:  # settlement may still append events; no new order may appear
        inits = [r for r in store.read_all() if r.event_type == "OrderInitialized"]
        return [r.stream_id for r in inits]

    assert parents() == [first["order_id"]]

    @settings(
        max_examples=25,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(changes=st.fixed_dictionaries({}, optional=CHANGE).filter(bool))
    def check(changes: dict[str, Any]) -> None:
        status, out = _post(url, api.trade, {**BASE, **changes})
        assert status == 409, (changes, out)
        assert out["kind"] == "intent_conflict" and out["status"] == 409
        assert [d["loc"] for d in out["details"]] == [["body", f] for f in ORDER if f in changes]
        assert "resubmit-1" in out["error"] and "new intent id" in out["error"]
        assert parents() == [first["order_id"]]

    await asyncio.to_thread(check)
    # notional instead of quantity: both named
    body = {k: v for k, v in BASE.items() if k != "quantity"} | {"notional": "20"}
    status, out = await asyncio.to_thread(_post, url, api.trade, body)
    assert (status, [d["loc"][1] for d in out["details"]]) == (409, ["quantity", "notional"])
    # the identical body again (also "0.010" for "0.01"): the same order, 200
    for same in (BASE, {**BASE, "quantity": "0.010"}):
        status, again = await asyncio.to_thread(_post, url, api.trade, same)
        assert status == 200, again
        assert again["order_id"] == first["order_id"]
    assert parents() == [first["order_id"]]
    assert [o.order_id for o in api.session.engine.orders() if o.parent_id is None] == [
        first["order_id"]
    ]
