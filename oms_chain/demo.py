"""The end-to-end demo behind ``oms demo`` / ``make demo``: the main job, through the engine.

Starts the local world (L1 + L2 with the Uniswap pools, and the exchange simulator speaking
Binance's API), opens a :class:`~oms_chain.service.TradingSession` for a trader with a local key
(the L1's pools and the exchange account), shows the route plan for selling ETH for USDC (per
venue amounts, expected output, gain over the best single venue), submits ONE intent that the
engine splits across the exchange and the pools, follows every on-chain child to final and
prints children, fills and balances. Then it checks:

* each AMM child received exactly what the protocol's own quoter (QuoterV2 for V3, Router02's
  ``getAmountsOut`` for V2) says for its amount, called at the block just before the swap's —
  the state the swap executed on — to the wei;
* the fills the engine recorded add up to the intent's quantity;
* the event store's hash-chained audit log verifies.

Then the checked steps of :mod:`oms_chain.demo_steps` run on the same world, in order: an iron
condor priced before trading and then opened atomically on our OptionsMarket (one BatchExecutor
transaction through the StructureRunner), a put bought on our OptionsMarket by RFQ and settled,
one option on the Deribit-protocol exchange through ccxt, the portfolio risk of what the demo
holds, a Safe 2-of-3 MultiSend and one engine trade from the Safe, a FROST 2-of-3 transfer and
one engine trade from the group's account; then, on one session over both chains and the
exchange, a TWAP on the L2, the hedger firing on a price jump, an injected reorg (the fill
reversed and recorded again), the API and dashboard answering
on a loopback port; the HTML report of the store; the audit log check closes the story. A step
whose extra is not installed is skipped with the reason. ``serve=True`` (``oms demo --serve``)
keeps the devnet and the dashboard up after the story until SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from web3 import Web3

from oms_chain.demo_steps import (
    DemoCheckFailed,
    StepResult,
    atomic_iron_condor,
    dashboard_up,
    demo_book,
    deribit_option,
    hedger_jump,
    html_report,
    iron_condor_preview,
    onchain_put,
    portfolio_risk_step,
    reorg_step,
    safe_multisend,
    serve_dashboard,
    story_session,
    threshold_transfer,
    timed,
    timed_async,
    twap_l2,
)
from oms_chain.demo_steps._base import _usdc
from oms_chain.demo_steps.route_plan import _plan_dict, _print_plan
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.paths import build_dir
from oms_chain.devnet.world import Devnet, DevnetChain, DevnetConfig
from oms_chain.engine.split import amm_source
from oms_chain.model.errors import DevnetError, InvalidInput
from oms_chain.model.instruments import Instrument
from oms_chain.model.intent import Side
from oms_chain.model.orders import Order, SettlementStatus
from oms_chain.routing import LiquiditySource, route
from oms_chain.service import TradingSession
from oms_chain.store import open_store, verify_audit

__all__ = ["DemoCheckFailed", "DemoResult", "StepResult", "run_demo"]

SLIPPAGE_BPS = 50
_TRANSFER = Web3.keccak(text="Transfer(address,address,uint256)")


@dataclass
class DemoResult:
    """What the demo did: the plan, the children with their fills and checks, balances."""

    amount_in: int = 0
    plan: dict[str, Any] = field(default_factory=dict)
    children: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    balances_before: dict[str, Decimal] = field(default_factory=dict)
    balances_after: dict[str, Decimal] = field(default_factory=dict)
    parent_status: str = ""
    filled: Decimal = Decimal(0)
    audit: str = ""
    audit_ok: bool = False
    store_url: str = ""
    order_id: str = ""
    with_exchange: bool = True
    #: the checked steps after the sale, in order (``status`` ok / skipped)
    steps: list[StepResult] = field(default_factory=list)

    @property
    def amm_children(self) -> list[dict[str, Any]]:
        return [c for c in self.children if c["kind"] == "amm"]

    @property
    def exact(self) -> bool:
        """Every AMM child received exactly its quote at the block before its swap."""
        return all(c["received"] == c["quoted"] for c in self.amm_children)


def _wallet(chain: DevnetChain, address: str) -> dict[str, Decimal]:
    w3 = chain.w3
    wei = w3.eth.get_balance(address)  # type: ignore[arg-type]
    out = {"wallet ETH": Decimal(wei).scaleb(-18)}
    for symbol in ("WETH", "USDC"):
        token = chain.book.token(symbol)
        c = w3.eth.contract(address=token.address, abi=ERC20_ABI)
        units = c.functions.balanceOf(address).call()
        out[f"wallet {symbol}"] = Decimal(units).scaleb(-token.decimals)
    return out


async def _exchange(session: TradingSession) -> dict[str, Decimal]:
    if session.exchange is None:
        return {}
    got = await session.exchange.balances()
    return {f"exchange {a}": got.get(a, Decimal(0)) for a in ("ETH", "USDC")}


async def _plan(session: TradingSession, inst: Instrument, venues: list[str], units: int) -> Any:
    """The router's plan over the same liquidity the engine's splitter reads (exact pool math,
    the exchange's book), for display: the engine sizes its legs again when it sends them."""
    sources: list[LiquiditySource] = []
    all_venues = session.venues()
    for vid in venues:
        venue = all_venues[vid]
        found = await amm_source(venue, inst, Side.SELL)
        if found is None:
            curve = await venue.liquidity(inst, Side.SELL)
            found = LiquiditySource.from_curve(
                curve, base_decimals=inst.base.decimals, quote_decimals=inst.quote.decimals
            )
        sources.append(found)
    return route(sources, units)


def _received(chain: DevnetChain, tx_hash: str, token: str, to: str) -> tuple[int, int]:
    """(amount of ``token`` transferred to ``to`` in the transaction, its block number)."""
    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        raise DevnetError(f"transaction {tx_hash} reverted")
    total = 0
    for log in receipt["logs"]:
        topics = log["topics"]
        if (
            log["address"].lower() == token.lower()
            and len(topics) == 3
            and bytes(topics[0]) == bytes(_TRANSFER)
            and bytes(topics[2])[-20:] == bytes.fromhex(to[2:])
        ):
            total += int.from_bytes(bytes(log["data"]), "big")
    return total, int(receipt["blockNumber"])


def _quote_at(chain: DevnetChain, venue_id: str, amount_in: int, block: int) -> int:
    """The protocol's own quote for selling ``amount_in`` WETH for USDC at ``block``."""
    book, w3 = chain.book, chain.w3
    weth, usdc = book.address("WETH"), book.address("USDC")
    if venue_id.startswith("uniswap-v3-"):
        fee = int(venue_id.split("-")[2])
        quoter = w3.eth.contract(
            address=book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
        )
        out = quoter.functions.quoteExactInputSingle((weth, usdc, amount_in, fee, 0)).call(
            block_identifier=block
        )[0]
        return int(out)
    router = w3.eth.contract(
        address=book.address("UniswapV2Router02"),
        abi=load_protocol_artifact("UniswapV2Router02").abi,
    )
    amounts = router.functions.getAmountsOut(amount_in, [weth, usdc]).call(block_identifier=block)
    return int(amounts[-1])


def _child_row(chain: DevnetChain, child: Order, trader: str) -> dict[str, Any]:
    st = child.settlement
    row: dict[str, Any] = {
        "order_id": child.order_id,
        "venue": child.venue,
        "kind": "amm" if st is not None else "exchange",
        "quantity": child.quantity,
        "filled": child.filled_quantity,
        "avg_price": child.avg_fill_price,
        "status": child.status.value,
        "tx_hash": None if st is None else st.tx_hash,
        "settlement": "-" if st is None else st.status.value,
        "confirmations": 0 if st is None else st.confirmations,
    }
    if st is not None and child.filled_quantity > 0:
        amount_in = int(child.filled_quantity.scaleb(18))
        received, block = _received(chain, st.tx_hash, chain.book.address("USDC"), trader)
        row.update(
            amount_in=amount_in,
            block=block,
            received=received,
            quoted=_quote_at(chain, str(child.venue), amount_in, block - 1),
        )
    return row


async def _trade(
    world: Devnet, console: Console, amount_eth: Decimal, result: DemoResult, with_exchange: bool
) -> None:
    l1 = world.l1
    trader = l1.accounts[1]
    db = build_dir() / "demo" / "oms.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in db.parent.glob("oms.db*"):
        stale.unlink()
    result.store_url = f"sqlite:///{db}"
    session = TradingSession.from_devnet_runtime(
        world.describe(),
        result.store_url,
        trader.private_key,
        chain_ids=[l1.chain_id],
        with_exchange=with_exchange,
        account="demo-trader",
        poll_interval=0.1,
    )
    async with session:
        inst = session.instrument("ETH/USDC")
        venues = session.venues_for(inst)
        result.balances_before = _wallet(l1, trader.address) | await _exchange(session)
        title = "exchange book + L1 pools" if with_exchange else "L1 pools"
        result.amount_in = int(amount_eth.scaleb(18))
        plan = await _plan(session, inst, venues, result.amount_in)
        result.plan = _plan_dict(plan)
        _print_plan(console, plan, amount_eth, title)

        intent = session.intent(
            inst, "sell", amount_eth, venues=venues, max_slippage_bps=SLIPPAGE_BPS
        )
        parent = await session.submit(intent)
        if parent.is_terminal and parent.filled_quantity == 0:
            raise DevnetError(f"the engine did not take the intent: {parent.reason}")
        final_after = 3  # devnet L1 (automine): final after 3 blocks on top

        async def mine() -> None:  # the devnet's "other traffic": blocks on top of ours
            while True:
                await asyncio.sleep(0.2)
                await asyncio.to_thread(l1.process.mine, 1)

        miner = asyncio.create_task(mine())
        try:
            with console.status("executing…") as status:

                def progress(p: Order, kids: list[Order]) -> None:
                    done = sum(
                        1
                        for k in kids
                        if k.settlement is None or k.settlement.status is SettlementStatus.FINAL
                    )
                    status.update(
                        f"{p.status.value}: filled {p.filled_quantity.normalize()} of "
                        f"{p.quantity.normalize()} ETH, {len(kids)} children, {done} settled"
                    )

                parent = await session.wait(
                    parent.order_id,
                    confirmations=final_after,
                    timeout=120,
                    on_progress=progress,
                )
        finally:
            miner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await miner
        result.parent_status = parent.status.value
        result.order_id = parent.order_id
        result.filled = parent.filled_quantity
        kids = session.children(parent.order_id)
        result.children = [_child_row(l1, k, trader.address) for k in kids]
        ids = {k.order_id for k in kids}
        result.fills = [
            {
                "order_id": f.order_id,
                "venue": f.venue,
                "quantity": f.quantity,
                "price": f.price,
                "fee": f"{f.fee:.6g} {f.fee_currency}",
            }
            for f in session.engine.projections.fills.values()
            if f.order_id in ids
        ]
        result.balances_after = _wallet(l1, trader.address) | await _exchange(session)
        report = verify_audit(session.store)
        result.audit, result.audit_ok = str(report), bool(report.ok)


def run_demo(
    console: Console | None = None,
    *,
    fresh: bool = False,
    amount_eth: Decimal = Decimal(25),
    with_exchange: bool = True,
    with_deribit: bool = True,
    serve: bool = False,
) -> DemoResult:
    """Sell ``amount_eth`` ETH for USDC through the engine, split across the exchange simulator
    (unless ``with_exchange=False``: the pools only) and the L1's Uniswap pools; print the plan,
    children, fills and balances; then run the checked steps of :mod:`oms_chain.demo_steps`
    (the Deribit-protocol exchange's step only ``with_deribit``). With ``serve`` the devnet, a
    session and the API + dashboard stay up after the story until SIGINT / SIGTERM.

    Returns the numbers for tests and scripts. Raises :class:`InvalidInput` for a bad amount,
    :class:`DevnetError` when the order does not fill, an AMM child's output differs from the
    quote at its block, or the audit log does not verify, and :class:`DemoCheckFailed` (a
    ``DevnetError``) naming the step when a step's check does not hold.
    """
    if not isinstance(amount_eth, Decimal) or not amount_eth.is_finite() or amount_eth <= 0:
        raise InvalidInput(f"amount_eth must be a positive Decimal, got {amount_eth!r}")
    if amount_eth > 100_000:
        raise InvalidInput(f"amount_eth {amount_eth} exceeds the demo account's 100,000 ETH cap")
    if amount_eth != amount_eth.quantize(Decimal("0.0001"), rounding=ROUND_DOWN):
        raise InvalidInput(f"amount_eth {amount_eth} has more than 4 decimals (exchange step)")
    for name, flag in (
        ("with_exchange", with_exchange),
        ("with_deribit", with_deribit),
        ("serve", serve),
    ):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be True or False, got {flag!r}")
    console = console or Console()
    result = DemoResult(with_exchange=with_exchange)
    started = time.perf_counter()
    what = "L1 + L2 + exchange simulator" if with_exchange else "L1 + L2"
    if with_deribit:
        what += " + Deribit-protocol exchange"
    with console.status(f"starting the devnet ({what})…") as status:
        world = Devnet(
            # a still exchange book (seeded once by the agents): the same plan and fills each run
            DevnetConfig(
                use_state_cache=not fresh,
                with_exchange=with_exchange,
                exchange_agents="still",
                with_deribit=with_deribit,
            ),
            progress=lambda m: status.update(m),
        ).start()
    try:
        console.print(
            f"[bold]devnet up[/] in {time.perf_counter() - started:.1f} s: "
            + ", ".join(
                f"{c.name} chain {c.chain_id} at {c.rpc_url}" for c in world.chains.values()
            )
            + (f", exchange simulator at {world.exchange.url}" if world.exchange else "")
            + (f", Deribit-protocol exchange at {world.deribit.url}" if world.deribit else "")
        )
        _header(console, 1, "route one sale across the exchange and the pools")
        sale_started = time.perf_counter()
        asyncio.run(_trade(world, console, amount_eth, result, with_exchange))
        _print(console, result, Path(result.store_url.removeprefix("sqlite:///")))
        _check_sale(result, amount_eth)
        result.steps.append(_sale_step(result, time.perf_counter() - sale_started))
        _steps(world, console, result)
        _summary(console, result)
        if serve:
            book = demo_book(result.balances_after, result.steps)
            asyncio.run(
                serve_dashboard(world, console, result.store_url, result.with_exchange, book)
            )
    finally:
        world.stop()
    return result


def _check_sale(result: DemoResult, amount_eth: Decimal) -> None:
    if result.filled != amount_eth:
        raise DevnetError(
            f"the order ended {result.parent_status} with {result.filled} of {amount_eth} ETH "
            f"filled; see `oms orders --store {result.store_url}`"
        )
    bad = [c for c in result.amm_children if c["received"] != c["quoted"]]
    if bad:
        c = bad[0]
        raise DevnetError(
            f"child {c['order_id']} on {c['venue']} received {c['received']} USDC base units but "
            f"the quote at block {c['block'] - 1} is {c['quoted']}; they must be equal"
        )
    if not result.audit_ok:
        raise DevnetError(f"audit log does not verify: {result.audit}")


def _sale_step(result: DemoResult, seconds: float) -> StepResult:
    checks = [f"filled {result.filled.normalize():f} ETH of the intent"]
    if result.amm_children:
        checks.append(f"{len(result.amm_children)} AMM children == the protocol quote, to the wei")
    return StepResult(
        "routed sale",
        checks=checks,
        detail={
            "order_id": result.order_id,
            "filled": result.filled,
            "vs_best_single_bps": result.plan.get("vs_best_single_bps"),
            "best_single": result.plan.get("best_single"),
        },
        seconds=round(seconds, 2),
    )


#: What issue 20's demo story also names that this demo does not run yet.
NOT_IN_DEMO: tuple[tuple[str, str], ...] = ()


def _header(console: Console, n: int, title: str) -> None:
    console.print(f"\n[bold]── step {n}: {title}[/]", highlight=False)


def _steps(world: Devnet, console: Console, result: DemoResult) -> None:
    """Steps 2-8, in order; each prints its tables and raises DemoCheckFailed on a bad check."""
    plan: list[tuple[str, Any]] = [
        ("an iron condor priced before trading", lambda: iron_condor_preview(console)),
        ("the iron condor opened atomically: one BatchExecutor transaction",
         lambda: atomic_iron_condor(world, console, result.store_url)),
        ("a put on the OptionsMarket: RFQ, expiry, settle, redeem",
         lambda: onchain_put(world, console)),
        ("one option on the Deribit-protocol exchange via ccxt",
         lambda: deribit_option(world, console)),
        ("portfolio risk of what the demo holds", lambda: _risk(console, result)),
        ("a Safe 2-of-3: a MultiSend, then one engine trade from the Safe",
         lambda: safe_multisend(world, console)),
        ("a FROST 2-of-3 group: a transfer, then one engine trade from its account",
         lambda: threshold_transfer(world, console)),
    ]  # fmt: skip
    for n, (title, run) in enumerate(plan, start=2):
        _header(console, n, title)
        step = timed(run)
        result.steps.append(step)
        _verdict(console, step)
    n = 2 + len(plan)
    n = asyncio.run(_story(world, console, result, n))
    _header(console, n, "the HTML report of the store")
    step = timed(lambda: html_report(console, result.store_url, build_dir() / "demo"))
    result.steps.append(step)
    _verdict(console, step)
    _header(console, n + 1, "audit log verified")
    with open_store(result.store_url) as es:  # again: the story's events are in it too
        report = verify_audit(es)
    result.audit, result.audit_ok = str(report), bool(report.ok)
    audit = StepResult("audit log", detail={"report": result.audit})
    if not result.audit_ok:
        raise DemoCheckFailed(f"demo step 'audit log': does not verify: {result.audit}")
    audit.checks.append("the hash chain of every event verifies")
    console.print(f"[green]{result.audit}[/]", highlight=False)
    result.steps.append(audit)


async def _story(world: Devnet, console: Console, result: DemoResult, n: int) -> int:
    """The steps on one session over the demo's store (both chains, the exchange): a TWAP on
    the L2, the hedger on a price jump, the dashboard answering (serving the risk of the
    portfolio-risk step, the hedger's policy and a structure desk). Returns the next step
    number."""
    session = story_session(world, result.store_url, result.with_exchange)

    async def dashboard(world: Devnet, console: Console, session: Any) -> StepResult:
        book = demo_book(result.balances_after, result.steps)  # the steps' book so far
        return await dashboard_up(world, console, session, book)

    story = (
        ("a TWAP on the L2", twap_l2),
        ("the hedger fires on a price jump", hedger_jump),
        ("an injected reorg: the fill rolled back and recorded again", reorg_step),
        ("the dashboard URL answers", dashboard),
    )
    async with session:
        for title, fn in story:
            _header(console, n, title)
            step = await timed_async(lambda fn=fn: fn(world, console, session))  # type: ignore[misc]
            result.steps.append(step)
            _verdict(console, step)
            n += 1
    return n


def _risk(console: Console, result: DemoResult) -> StepResult:
    deribit = next((s for s in result.steps if s.name == "deribit option"), None)
    if deribit is not None and deribit.status == "ok":
        spot = Decimal(deribit.detail["index"])
    else:
        total = sum((f["quantity"] for f in result.fills), Decimal(0))
        spot = sum((f["quantity"] * f["price"] for f in result.fills), Decimal(0)) / total
    return portfolio_risk_step(console, result.balances_after, deribit, spot)


def _verdict(console: Console, step: StepResult) -> None:
    if step.status == "skipped":
        console.print(f"[yellow]{step.name}: skipped[/] ({step.reason})", highlight=False)
    else:
        console.print(
            f"[green]{step.name}: {len(step.checks)} checks hold[/] in {step.seconds:.1f} s",
            highlight=False,
        )


def _summary(console: Console, result: DemoResult) -> None:
    table = Table(title="oms demo: every step")
    for col in ("#", "step", "result", "checks", "s"):
        table.add_column(col, justify="right" if col in ("#", "checks", "s") else "left")
    for n, step in enumerate(result.steps, start=1):
        verdict = "[green]ok[/]" if step.status == "ok" else f"[yellow]skipped[/]: {step.reason}"
        table.add_row(str(n), step.name, verdict, str(len(step.checks)), f"{step.seconds:.1f}")
    console.print(table)
    for name, why in NOT_IN_DEMO:
        console.print(f"[dim]{name}: skipped ({why})[/]", highlight=False)


def _filled(filled: Decimal, quantity: Decimal) -> str:
    if filled == quantity:
        return f"{quantity.normalize():f}"
    return f"{filled.normalize():f} of {quantity.normalize():f}"


def _short(order_id: str) -> str:
    """``#n`` for child ``n`` of the demo's parent."""
    return "#" + order_id.rsplit("/", 1)[-1]


def _print(console: Console, result: DemoResult, db: Path) -> None:
    kids = Table(
        title=f"Children of {result.order_id} ({result.parent_status}, "
        f"{result.filled.normalize():f} ETH sold)"
    )
    for col in ("child", "venue", "ETH filled", "avg price", "status", "tx", "settlement"):
        kids.add_column(col, justify="right" if col in ("ETH filled", "avg price") else "left")
    for c in result.children:
        tx = "-" if c["tx_hash"] is None else f"{c['tx_hash'][:10]}… #{c.get('block', '?')}"
        kids.add_row(
            _short(c["order_id"]),
            str(c["venue"]),
            _filled(c["filled"], c["quantity"]),
            "-" if c["avg_price"] is None else f"{c['avg_price']:,.4f}",
            c["status"],
            tx,
            c["settlement"],
        )
    console.print(kids)

    fills = Table(title="Fills recorded by the engine")
    for col in ("order", "venue", "qty ETH", "price", "fee"):
        fills.add_column(col, justify="right" if col in ("qty ETH", "price") else "left")
    for f in result.fills:
        fills.add_row(
            _short(f["order_id"]),
            str(f["venue"]),
            f"{f['quantity'].normalize():f}",
            f"{f['price']:,.6f}",
            f["fee"],
        )
    console.print(fills)

    checks = Table(title="AMM children: USDC received vs the protocol quote at the block before")
    for col in ("child", "venue", "ETH in", "received", "quoted", "check"):
        checks.add_column(col, justify="left" if col in ("child", "venue", "check") else "right")
    for c in result.amm_children:
        ok = c["received"] == c["quoted"]
        checks.add_row(
            _short(c["order_id"]),
            str(c["venue"]),
            f"{Decimal(c['amount_in']).scaleb(-18):,.4f}",
            _usdc(c["received"]),
            _usdc(c["quoted"]),
            "[green]exact to the wei[/]" if ok else "[red]MISMATCH[/]",
        )
    console.print(checks)

    where = "wallet on the L1" + (", account on the exchange" if result.with_exchange else "")
    bal = Table(title=f"Trader balances ({where})")
    for col in ("asset", "before", "after", "change"):
        bal.add_column(col, justify="right" if col != "asset" else "left")
    for asset, before in result.balances_before.items():
        after = result.balances_after.get(asset, before)
        bal.add_row(asset, f"{before:,.6f}", f"{after:,.6f}", f"{after - before:+,.6f}")
    console.print(bal)
    console.print(
        ("[green]" if result.audit_ok else "[red]") + f"audit log: {result.audit}[/]",
        highlight=False,
    )
    if result.amm_children:
        verdict = "exact to the wei" if result.exact else "MISMATCH"
        console.print(f"AMM children vs quote at their block: {verdict}")
    else:
        console.print("no AMM child in this split: the exchange took it all (nothing to quote)")
    console.print(f"[dim]events: oms orders --store sqlite:///{db}[/]", highlight=False)
