"""The amend endpoint's happy path over real HTTP: a session whose venue amends (the
:class:`~oms_chain.venues.PaperVenue`, given to the session as its own venue), an order amended
through the API (quantity and limit price), the venue's own record showing the new values, the
store's events showing the amend; then the amends that must be refused with a clear 4xx and
write nothing: an increase over the risk limit, a quantity below what is filled, an ended order,
and a worker's amend of a parent another worker holds (fenced: it never reaches the venue)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from oms_chain.custody.local import LocalSigner
from oms_chain.model import ManualClock
from oms_chain.model.ids import ClientOrderId, OrderId
from oms_chain.model.instruments import Asset, SpotPair
from oms_chain.risk import RiskLimits
from oms_chain.service import TradingSession
from oms_chain.service.api import ApiConfig, TokenStore, create_app
from oms_chain.store import Leases, SqliteEventStore
from oms_chain.venues import Fault, PaperVenue

pytestmark = [pytest.mark.timeout(120)]

PAIR = SpotPair(base=Asset.cex("paper", "ETH", 8), quote=Asset.cex("paper", "USDC", 6))
PRICE = Decimal(2000)
KEY = "0x" + "11" * 32  # the session's signer: a paper venue signs nothing


@dataclass
class Served:
    url: str
    http: aiohttp.ClientSession
    session: TradingSession
    venue: PaperVenue
    trade: str

    async def post(self, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.trade}"}
        async with self.http.post(f"{self.url}{path}", json=body, headers=headers) as r:
            return r.status, await r.json()

    async def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.trade}"}
        async with self.http.get(f"{self.url}{path}", headers=headers) as r:
            assert r.status == 200, await r.text()
            return await r.json()


def _session(tmp_path: Path, venue: PaperVenue, **kw: Any) -> TradingSession:
    return TradingSession(
        store_url=f"sqlite:///{tmp_path / 'oms.db'}",
        chains=[],
        signer=LocalSigner(KEY),
        venues=[venue],
        risk_limits=RiskLimits(max_order_notional=Decimal(20_000)),
        **kw,
    )


@contextlib.asynccontextmanager
async def _serve(
    session: TradingSession, venue: PaperVenue, tmp_path: Path
) -> AsyncIterator[Served]:
    async with session:
        tokens = TokenStore(f"sqlite:///{tmp_path / 'oms.db'}")
        trade, _ = tokens.create("trader", "trade")
        app = create_app(session, tokens, config=ApiConfig(burst=1_000_000), clock=ManualClock())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                yield Served(str(server.make_url("")).rstrip("/"), http, session, venue, trade)
        finally:
            await server.close()
            tokens.close()


def _paper(clock: ManualClock) -> PaperVenue:
    return PaperVenue("paper", clock=clock, prices={PAIR.id: PRICE}, instruments=[PAIR])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    venue = _paper(ManualClock(1_000_000_000))
    async with _serve(_session(tmp_path, venue), venue, tmp_path) as s:
        yield s


async def _until(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    """Poll ``check`` until it answers something truthy (a bounded wait on the engine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (found := await check()):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return found


async def _resting_child(s: Served, order_id: str) -> dict[str, Any]:
    async def child() -> dict[str, Any] | None:
        detail = await s.get(f"/api/v1/orders/{order_id}")
        kids = [k for k in detail["children"] if k["status"] in ("working", "partially_filled")]
        return kids[0] if kids else None

    return await _until(f"a working child of {order_id}", child)


async def test_an_order_amended_through_the_api_changes_at_the_venue_and_in_the_store(
    served: Served,
) -> None:
    s = served
    body = {
        "symbol": "ETH/USDC", "side": "buy", "quantity": "2", "limit_price": "1900",
        "venues": ["paper"], "intent_id": "amend-happy",
    }  # fmt: skip
    status, parent = await s.post("/api/v1/intents", body)
    assert status == 201, parent
    child = await _resting_child(s, parent["order_id"])
    coid = ClientOrderId(s.session.engine.order(child["order_id"]).client_order_id or "")
    before = await s.venue.status(coid)
    assert before is not None and (before.quantity, before.limit_price) == (2, 1900)

    status, amended = await s.post(
        f"/api/v1/orders/{parent['order_id']}/amend", {"quantity": "3", "limit_price": "1950"}
    )
    assert status == 200, amended
    assert (Decimal(amended["quantity"]), Decimal(amended["limit_price"])) == (3, 1950)
    assert amended["status"] == "working" and Decimal(amended["filled_quantity"]) == 0
    at_venue = await s.venue.status(coid)  # the venue's own record of the same order
    assert at_venue is not None
    assert (at_venue.quantity, at_venue.limit_price, at_venue.filled_quantity) == (3, 1950, 0)
    assert at_venue.status.value == "open"
    detail = await s.get(f"/api/v1/orders/{parent['order_id']}")
    (kid,) = detail["children"]
    assert (Decimal(kid["quantity"]), Decimal(kid["limit_price"])) == (3, 1950)

    page = await s.get("/api/v1/events?limit=1000")
    amends = [e for e in page["events"] if e["event_type"] == "OrderAmended"]
    assert [
        (e["payload"]["order_id"], Decimal(e["payload"]["quantity"]), e["payload"]["limit_price"])
        for e in amends
    ] == [(child["order_id"], 3, "1950")]  # the venue confirmed it: the child's event

    # a second amend to the market price crosses: the venue fills all 3 at 2,000
    status, crossed = await s.post(
        f"/api/v1/orders/{parent['order_id']}/amend", {"limit_price": "2000"}
    )
    assert status == 200, crossed
    filled = await _until(
        "the parent filled",
        lambda: _filled(s, parent["order_id"]),
    )
    assert Decimal(filled["filled_quantity"]) == 3 and Decimal(filled["avg_fill_price"]) == 2000
    fills = await s.get(f"/api/v1/fills?order_id={parent['order_id']}")
    assert [(Decimal(f["quantity"]), Decimal(f["price"])) for f in fills] == [(3, 2000)]


async def _filled(s: Served, order_id: str) -> dict[str, Any] | None:
    order = (await s.get(f"/api/v1/orders/{order_id}"))["order"]
    return order if order["status"] == "filled" else None


async def test_refused_amends_answer_4xx_name_the_reason_and_change_nothing(
    served: Served,
) -> None:
    s = served
    s.venue.inject(Fault.PARTIAL)  # the crossing buy fills only part; the rest rests
    body = {
        "symbol": "ETH/USDC", "side": "buy", "quantity": "2", "limit_price": "2000",
        "venues": ["paper"], "intent_id": "amend-partial",
    }  # fmt: skip
    status, parent = await s.post("/api/v1/intents", body)
    assert status == 201, parent
    oid = parent["order_id"]
    child = await _resting_child(s, oid)
    coid = ClientOrderId(s.session.engine.order(child["order_id"]).client_order_id or "")
    filled = Decimal((await s.get(f"/api/v1/orders/{oid}"))["order"]["filled_quantity"])
    assert 0 < filled < 2
    store = s.session.store
    position = store.last_position()
    url = f"/api/v1/orders/{oid}/amend"

    # the increase is gated: 11 more at 2,000 is 22,000 USDC > the 20,000 limit
    status, out = await s.post(url, {"quantity": "13"})
    assert (status, out["kind"]) == (422, "invalid_input"), out
    assert out["error"] == (
        "amend rejected by risk: limit 'max_notional' (20,000 USDC) exceeded by order of "
        "22,000 USDC"
    )
    status, out = await s.post(url, {"quantity": str(filled / 2)})
    assert (status, out["kind"]) == (422, "invalid_input"), out
    assert "below what is already filled" in out["error"]
    status, out = await s.post(url, {"quantity": "2", "limit_price": "-5"})
    assert (status, out["kind"]) == (422, "validation"), out
    assert store.last_position() == position  # nothing written
    at_venue = await s.venue.status(coid)
    assert at_venue is not None and (at_venue.quantity, at_venue.limit_price) == (2, 2000)

    status, cancelled = await s.post(f"/api/v1/orders/{oid}/cancel", None)
    assert status == 202, cancelled
    await _until("the cancel", lambda: _ended(s, oid))
    position = store.last_position()
    status, out = await s.post(url, {"limit_price": "1990"})
    assert (status, out["kind"]) == (409, "already_terminal"), out
    assert f"order {oid} is already cancelled; nothing to amend" == out["error"]
    assert store.last_position() == position
    status, out = await s.post("/api/v1/orders/o-none/amend", {"quantity": "1"})
    assert (status, out["kind"]) == (404, "unknown_order"), out


async def _ended(s: Served, order_id: str) -> bool:
    order = (await s.get(f"/api/v1/orders/{order_id}"))["order"]
    return order["status"] in ("cancelled", "filled")


async def test_a_workers_amend_of_a_parent_another_worker_holds_is_refused_and_stays_home(
    tmp_path: Path,
) -> None:
    """Two workers share the store and the venue; worker b claims and works the parent, the API
    of worker a is asked to amend it: the fence refuses it before the venue is asked."""
    clock = ManualClock(1_000_000_000)
    venue = _paper(clock)
    b = _session(tmp_path, venue, worker_id="b", clock=clock)
    async with (
        b,
        _serve(_session(tmp_path, venue, worker_id="a", clock=clock), venue, tmp_path) as a,
    ):
        intent = b.intent(
            "ETH/USDC", "buy", "2", venues=["paper"], intent_id="fenced", limit_price="1900"
        )
        store = b.store
        assert isinstance(store, SqliteEventStore)
        Leases(store).enqueue("fenced", intent.to_payload())
        assert await b.worker.step()  # b claims the intent and places its child
        (child,) = b.children(OrderId("o-fenced"))
        coid = child.client_order_id
        assert coid is not None and not child.is_terminal
        assert a.session.engine.catch_up() > 0  # a reads b's events: it knows the order
        position = a.session.store.last_position()

        status, out = await a.post("/api/v1/orders/o-fenced/amend", {"limit_price": "1950"})
        assert (status, out["kind"]) == (409, "failed"), out
        assert "holds no lease on parent o-fenced" in out["error"], out
        assert a.session.store.last_position() == position  # nothing written
        at_venue = await venue.status(coid)  # never asked
        assert at_venue is not None and (at_venue.quantity, at_venue.limit_price) == (2, 1900)

        b.engine.catch_up()
        amended = await b.engine.amend(OrderId("o-fenced"), limit_price=Decimal(1950))
        assert amended.limit_price == 1950  # its holder may
