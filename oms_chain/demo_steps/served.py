"""What the demo's served API and dashboard run beside the store (the dashboard step and
``oms demo --serve``): the portfolio-risk step's book as the risk context (with alert rules),
the hedger step's policy as the hedger control, and a structure desk on the L1's
OptionsMarket (the deployer's BatchExecutor, an in-process RFQ maker).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.console import Console

from oms_chain.demo_steps._base import StepResult, _check, _erc20, _eth, _send
from oms_chain.demo_steps.atomic import ATOMIC_MAKER
from oms_chain.demo_steps.risk import DAILY_VOL, demo_portfolio
from oms_chain.demo_steps.story import HEDGE_VOL, jump_book, jump_policy, story_session
from oms_chain.devnet.world import Devnet
from oms_chain.risk import AlertRule, Holding, MarketSnapshot, Metric

__all__ = [
    "DEMO_ALERTS",
    "DemoBook",
    "dashboard_up",
    "demo_book",
    "put_spread",
    "serve_dashboard",
    "served_app",
]

#: the alert rules of the served risk context: |delta| over 100,000 USD, margin excess below 0
DEMO_ALERTS = (
    AlertRule(
        name="delta-100k",
        metric=Metric.ABS_DELTA_USD,
        threshold=Decimal(100_000),
        clear_at=Decimal(90_000),
    ),
    AlertRule(name="margin-excess", metric=Metric.MARGIN_EXCESS, threshold=Decimal(0)),
)
DESK_VOL = Decimal("0.6")  # the vol structures posted to the served desk are margined at
DESK_USDC = 5_000  # USDC the deployer adds to its BatchExecutor for the served desk


@dataclass(frozen=True, slots=True)
class DemoBook:
    """The portfolio-risk step's holdings and market (priced as that step priced them), and
    the hedger step's numbers (``None``: the step did not run)."""

    holdings: tuple[Holding, ...]
    market: MarketSnapshot
    greeks: dict[str, Any]
    hedge: dict[str, Any] | None


def demo_book(balances: dict[str, Decimal], steps: Sequence[StepResult]) -> DemoBook | None:
    """The book of the demo's steps so far; ``None`` before the portfolio-risk step."""
    by_name = {s.name: s for s in steps}
    risk = by_name.get("portfolio risk")
    if risk is None or risk.status != "ok":
        return None
    holdings, market = demo_portfolio(
        balances, by_name.get("deribit option"), risk.detail["spot"], risk.detail["now_ns"]
    )
    hedge = by_name.get("hedger on a price jump")
    return DemoBook(
        holdings=tuple(holdings),
        market=market,
        greeks=risk.detail["greeks"],
        hedge=hedge.detail if hedge is not None and hedge.status == "ok" else None,
    )


def _install_risk(app: Any, world: Devnet, session: Any, book: DemoBook) -> Any:
    from oms_chain.model.clock import SystemClock
    from oms_chain.model.instruments import OptionContract, OptionKind
    from oms_chain.risk import portfolio_risk
    from oms_chain.service.api.risk_routes import (
        HedgerControl,
        RiskContext,
        install_hedger,
        install_risk,
    )
    from oms_chain.service.hedger import Hedger

    async def market() -> MarketSnapshot:
        return book.market

    names = sorted(portfolio_risk(book.holdings, book.market).by_underlying)
    install_risk(
        app,
        RiskContext(
            market=market,
            holdings=lambda: book.holdings,
            daily_vols={n: DAILY_VOL for n in names},
            alerts=DEMO_ALERTS,
            with_engine=False,  # the balances already hold what the engine traded
        ),
    )
    if book.hedge is None:
        return None
    h = book.hedge
    inst = session.instrument("ETH/USDC", chain_id=world.l1.chain_id)
    call = OptionContract(
        underlying=inst.base,
        quote=inst.quote,
        strike=h["call_strike"],
        expiry_ns=h["call_expiry_ns"],
        option_kind=OptionKind.CALL,
    )
    held = jump_book(call)
    clock = SystemClock()

    async def hedge_market() -> MarketSnapshot:
        spot = Decimal(await session.best_price(inst, "sell", Decimal(1), h["venues"]))
        return MarketSnapshot(
            now_ns=clock.now_ns(), spots={held[0].underlying: spot}, vols={call.id: HEDGE_VOL}
        )

    hedger = Hedger(
        engine=session.engine,
        store=session.store,
        policy=jump_policy(held[0].underlying, h["venues"], h["target"]),
        instrument=inst,
        account="demo-hedger",
        clock=clock,
        holdings=lambda: held,
    )
    control = HedgerControl(hedger, hedge_market, interval_s=5.0)
    install_hedger(app, control)
    return control


@contextlib.asynccontextmanager
async def _desk(world: Devnet, session: Any) -> AsyncIterator[Any]:
    """The structure desk on the L1's OptionsMarket: the deployer signs for its
    BatchExecutor (funded with :data:`DESK_USDC` more), an in-process RFQ maker quotes."""
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.local import LocalSigner
    from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
    from oms_chain.devnet.options_market import OptionsMarketClient
    from oms_chain.service.api.structure_routes import chain_desk
    from oms_chain.venues.amm.account import ChainAccount

    l1 = world.l1
    owner = l1.accounts[0]  # the world's BatchExecutor belongs to the deployer
    fund = _erc20(l1, "USDC").functions.transfer(
        l1.book.address("BatchExecutor"), DESK_USDC * 10**6
    )
    await asyncio.to_thread(_send, l1, fund, owner.address, "fund the BatchExecutor")
    maker = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        l1.accounts[ATOMIC_MAKER].private_key,
        config=MakerConfig(max_size=1_000_000),
    )
    await asyncio.to_thread(maker.prepare)
    rpc = RpcClient([l1.rpc_url])
    account = ChainAccount(
        rpc, chain_info(l1.chain_id), LocalSigner(owner.private_key), session.store
    )
    try:
        async with (
            maker,
            chain_desk(
                account,
                l1.book,
                (maker.url,),
                store=session.store,
                owner="demo-desk",
                vol=DESK_VOL,
                venue_id=f"options-{l1.chain_id}-desk",
            ) as desk,
        ):
            yield desk
    finally:
        await account.close()
        await rpc.close()


@contextlib.asynccontextmanager
async def served_app(
    world: Devnet,
    session: Any,
    tokens: Any,
    book: DemoBook | None,
    *,
    start_hedger: bool = False,
) -> AsyncIterator[Any]:
    """The API + dashboard application over ``session``: the risk context and hedger of
    ``book`` (none when ``None``; the hedger's loop started with ``start_hedger``) and the
    structure desk; the desk is closed and the hedger stopped on exit."""
    from oms_chain.service.api import create_app
    from oms_chain.service.api.structure_routes import install_structures

    app = create_app(session, tokens)
    control = None if book is None else _install_risk(app, world, session, book)
    async with _desk(world, session) as desk:
        install_structures(app, desk)
        try:
            if control is not None and start_hedger:
                await control.start()
            yield app
        finally:
            if control is not None:
                await control.stop()


def put_spread(world: Devnet, structure_id: str) -> dict[str, Any]:
    """A 1-lot WETH put spread (buy the 3,000 put, sell the 2,500 put of the earliest expiry
    at least an hour after the chain's time listing both: earlier steps warp the chain past
    the first expiry) as a ``POST /api/v1/structures`` body."""
    from datetime import UTC, datetime

    from oms_chain.devnet.options_market import OptionsMarketClient

    l1 = world.l1
    weth = l1.book.address("WETH")
    puts = [
        s
        for s in OptionsMarketClient.from_book(l1.w3, l1.book).all_series()
        if s.underlying == weth and not s.is_call and s.strike in (2500 * 10**6, 3000 * 10**6)
    ]
    now = int(_eth(l1).get_block("latest")["timestamp"])
    expiry = min(
        e
        for e in {s.expiry for s in puts}
        if e > now + 3600 and len({s.strike for s in puts if s.expiry == e}) == 2
    )
    day = datetime.fromtimestamp(expiry, UTC).strftime("%d%b%y").upper()
    return {
        "structure_id": structure_id,
        "kind": "put_spread",
        "legs": [
            {"instrument": f"WETH-{day}-3000-P", "side": "buy", "quantity": "1"},
            {"instrument": f"WETH-{day}-2500-P", "side": "sell", "quantity": "1"},
        ],
        "limits": {"max_loss": "1000", "max_net_premium": "500"},
    }


async def dashboard_up(
    world: Devnet, console: Console, session: Any, book: DemoBook | None = None
) -> StepResult:
    """Serve the API and the dashboard over the session on a free loopback port (with the
    risk context and hedger of ``book`` and the structure desk), then ask it what a person or
    a script would: the page, the health, the orders, the risk (the portfolio-risk step's
    Greeks to the digit), the alerts, the hedger, a put spread posted to the desk (ONE
    transaction), the OpenAPI, the docs."""
    import aiohttp
    from aiohttp import web

    from oms_chain.service.api import TokenStore

    name = "dashboard"
    result = StepResult(name)
    tokens = TokenStore(session.store_url)
    token, _ = tokens.create("demo", "read")
    trade, _ = tokens.create("demo-desk", "trade")
    try:
        async with served_app(world, session, tokens, book) as app:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                url = f"http://127.0.0.1:{runner.addresses[0][1]}"
                async with aiohttp.ClientSession() as http:
                    await _ask(world, http, url, token, trade, book, result)
            finally:
                await runner.cleanup()
    finally:
        tokens.close()
    console.print(
        f"dashboard [bold]{url}/[/] (API {url}/api/v1, docs {url}/docs): up for this step "
        f"with risk, alerts, the hedger and a structure desk; `oms demo --serve` keeps one up",
        highlight=False,
    )
    return result


async def _ask(
    world: Devnet,
    http: Any,
    url: str,
    token: str,
    trade: str,
    book: DemoBook | None,
    result: StepResult,
) -> None:
    name = result.name
    auth = {"Authorization": f"Bearer {token}"}

    async def get(path: str, headers: dict[str, str] | None = auth) -> tuple[int, Any]:
        async with http.get(f"{url}{path}", headers=headers) as r:
            return r.status, await r.json() if r.content_type == "application/json" else None

    async with http.get(f"{url}/") as r:
        page = await r.text()
        _check(name, r.status == 200 and "<html" in page.lower(),
               f"{url}/ serves the dashboard", result, r.status)  # fmt: skip
    status, health = await get("/api/v1/health")
    _check(name, status == 200 and health.get("phase") == "ready",
           "/api/v1/health answers the token: ready", result, health)  # fmt: skip
    status, _ = await get("/api/v1/orders", headers=None)
    _check(name, status == 401, "no token: 401", result, status)
    status, orders = await get("/api/v1/orders")
    _check(name, status == 200 and len(orders) >= 3,
           f"/api/v1/orders lists the story's {len(orders)} parents", result, status)  # fmt: skip
    detail: dict[str, Any] = {"url": url, "parents": len(orders)}
    if book is not None:
        status, greeks = await get("/api/v1/risk/greeks")
        served = {u["underlying"]: Decimal(u["delta_usd"]) for u in greeks["underlyings"]}
        want = {n: Decimal(g["delta_usd"]) for n, g in book.greeks.items()}
        _check(name, status == 200 and served == want, "/api/v1/risk/greeks: the portfolio-"
               "risk step's delta (USD) per underlying, to the digit", result,
               (served, want))  # fmt: skip
        status, alerts = await get("/api/v1/risk/alerts")
        rules = [r["name"] for r in alerts.get("rules", ())] if status == 200 else []
        _check(name, rules == [r.name for r in DEMO_ALERTS],
               f"/api/v1/risk/alerts evaluates {len(rules)} rules", result, alerts)  # fmt: skip
        detail["alerts_active"] = alerts["active"]
        if book.hedge is not None:
            status, hedger = await get("/api/v1/hedger")
            ok = status == 200 and hedger["policy"] == "demo-jump"
            ok = ok and Decimal(hedger["target"]) == book.hedge["target"]
            _check(name, ok and Decimal(hedger["band"]) == book.hedge["band"],
                   "/api/v1/hedger: the hedger step's policy, target and band", result,
                   hedger)  # fmt: skip
            detail["hedger"] = {"policy": hedger["policy"], "running": hedger["running"]}
    owner = world.l1.accounts[0].address
    nonce0 = await asyncio.to_thread(_eth(world.l1).get_transaction_count, owner)
    spread = await asyncio.to_thread(put_spread, world, "demo-served-spread")
    async with http.post(
        f"{url}/api/v1/structures", json=spread, headers={"Authorization": f"Bearer {trade}"}
    ) as r:
        opened = await r.json()
        ok = r.status == 201 and opened.get("status") == "open"
    nonce1 = await asyncio.to_thread(_eth(world.l1).get_transaction_count, owner)
    _check(name, ok and nonce1 == nonce0 + 1, "POST /api/v1/structures: a put spread opened in "
           "ONE BatchExecutor transaction", result, (opened, nonce1 - nonce0))  # fmt: skip
    status, listed = await get("/api/v1/structures")
    ids = [s["structure_id"] for s in listed] if status == 200 else []
    _check(name, "demo-served-spread" in ids, f"/api/v1/structures lists {len(ids)} "
           "structures", result, ids)  # fmt: skip
    detail["structures"] = ids
    detail["spread_tx"] = opened.get("tx_hash")
    status, doc = await get("/openapi.json", headers=None)
    _check(name, doc.get("openapi") == "3.1.0", "/openapi.json is OpenAPI 3.1", result)
    async with http.get(f"{url}/docs") as r:
        detail["docs"] = r.status
    if r.status == 200:
        result.checks.append("/docs serves Swagger UI from this server")
    result.detail = detail


async def serve_dashboard(
    world: Devnet,
    console: Console,
    store_url: str,
    with_exchange: bool,
    book: DemoBook | None = None,
) -> None:
    """``--serve``: the API and the dashboard over a session on the demo's store (the risk
    context, the hedger running and the structure desk of :func:`served_app`), on a free
    loopback port, until SIGINT / SIGTERM; then everything is stopped."""
    import signal

    from aiohttp import web

    from oms_chain.service.api import TokenStore

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tokens = TokenStore(store_url)
    token, _ = tokens.create("demo-serve", "trade")
    try:
        async with (
            story_session(world, store_url, with_exchange) as session,
            served_app(world, session, tokens, book, start_hedger=True) as app,
        ):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                url = f"http://127.0.0.1:{runner.addresses[0][1]}"
                console.print(
                    f"\n[bold]dashboard kept up at {url}/[/] (API {url}/api/v1, docs {url}/docs)"
                    f"\ntrading token (devnet only): {token}\nrisk, alerts, the hedger "
                    "(running) and structures are served; Ctrl-C stops the dashboard and the "
                    "devnet.",
                    highlight=False,
                )
                await stop.wait()
            finally:
                await runner.cleanup()
    finally:
        tokens.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    console.print("dashboard stopped; stopping the devnet", highlight=False)
