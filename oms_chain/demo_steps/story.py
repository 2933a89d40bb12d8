"""The story of ``oms demo`` on one session over the demo's store: a TWAP on the L2, the hedger
on a price jump, an injected reorg; then the HTML report. (The dashboard step and ``--serve``
are in :mod:`.served`.)"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from oms_chain.demo_steps._base import (
    DAY_NS,
    StepResult,
    _check,
    _d,
    _until,
)
from oms_chain.devnet.world import Devnet
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.service import TradingSession

# --- 8-11. the story on one session: TWAP on the L2, the hedger, the dashboard; the report ---

TWAP_ETH = Decimal("0.3")
TWAP_SLICES = 3
HEDGE_CALLS = Decimal(-20)  # short 2-day ATM calls held outside the engine: gamma to hedge
HEDGE_VOL = Decimal("0.6")
HEDGE_BAND = Decimal(1)
JUMP_ETH = Decimal(60)  # sold into the L1 pools by the trader: the price jump


def story_session(world: Devnet, store_url: str, with_exchange: bool) -> TradingSession:
    """The session of the story's steps (and of ``--serve``) over the demo's store."""
    return TradingSession.from_devnet_runtime(
        world.describe(),
        store_url,
        world.l1.accounts[1].private_key,
        chain_ids=[world.l1.chain_id, world.l2.chain_id],
        with_exchange=with_exchange,
        account="demo-trader",
        poll_interval=0.1,
    )


async def twap_l2(world: Devnet, console: Console, session: Any) -> StepResult:
    """Sell a little ETH on the L2's pools by TWAP: every slice a child there, all filled."""
    name = "twap on the L2"
    result = StepResult(name)
    l2 = world.l2
    inst = session.instrument("ETH/USDC", chain_id=l2.chain_id)
    venues = session.venues_for(inst, exchange=False)
    intent = session.intent(
        inst,
        "sell",
        TWAP_ETH,
        venues=venues,
        algo="twap",
        algo_params={"duration": f"{TWAP_SLICES}s", "slices": TWAP_SLICES},
        max_slippage_bps=100,
    )
    parent = await session.submit(intent)
    parent = await session.wait(parent.order_id, timeout=120)
    kids = [k for k in session.children(parent.order_id) if k.filled_quantity > 0]
    _check(
        name,
        parent.status.value == "filled" and parent.filled_quantity == TWAP_ETH,
        f"the TWAP parent filled {TWAP_ETH} ETH",
        result,
        (parent.status.value, parent.filled_quantity),
    )
    _check(name, len(kids) == TWAP_SLICES, f"{TWAP_SLICES} slices, each a filled child", result,
           len(kids))  # fmt: skip
    on_l2 = all(str(k.venue).endswith(f"-{l2.chain_id}") for k in kids)
    _check(name, on_l2, f"every child traded on an L2 pool (chain {l2.chain_id})", result,
           [k.venue for k in kids])  # fmt: skip
    times = [k.ts_init for k in kids]
    _check(name, times == sorted(times) and len(set(times)) == len(times),
           "the slices were sent one after the other", result, times)  # fmt: skip
    table = Table(title=f"TWAP: sell {TWAP_ETH} ETH on the L2 in {TWAP_SLICES} slices")
    for col in ("child", "venue", "filled", "avg price", "tx"):
        table.add_column(col)
    for k in kids:
        tx = k.settlement.tx_hash[:12] + "…" if k.settlement is not None else ""
        price = "" if k.avg_fill_price is None else _d(k.avg_fill_price)
        table.add_row(
            k.order_id[-10:], str(k.venue), f"{k.filled_quantity.normalize():f}", price, tx
        )
    console.print(table)
    result.detail = {
        "order_id": parent.order_id,
        "filled": parent.filled_quantity,
        "children": len(kids),
        "venues": sorted({str(k.venue) for k in kids}),
    }
    return result


def jump_book(call: OptionContract) -> list[Any]:
    """The book the hedger step hedges: :data:`HEDGE_CALLS` of ``call``, held outside the
    engine."""
    from oms_chain.risk import Holding

    return [Holding(instrument=call, quantity=HEDGE_CALLS, venue="demo-book")]


def jump_policy(underlying: str, venues: list[str], target: Decimal) -> Any:
    """The hedge policy of the hedger step (``demo-jump``): ``target`` ± :data:`HEDGE_BAND`."""
    from oms_chain.risk import HedgePolicy

    return HedgePolicy(
        name="demo-jump",
        underlying=underlying,
        instrument="ETH/USDC",
        venues=tuple(venues),
        target=target,
        band=HEDGE_BAND,
        max_hedge=Decimal(20),
        max_slippage_bps=Decimal(300),
    )


async def hedger_jump(world: Devnet, console: Console, session: Any) -> StepResult:
    """Short gamma held outside the engine, a delta band, a price jump on the L1 pools: the
    hedger fires once, through the engine, and delta is back inside its band."""
    from oms_chain.model.clock import SystemClock
    from oms_chain.model.events import HedgeDecided, event_from_payload
    from oms_chain.model.ids import IntentId
    from oms_chain.risk import HedgePolicy, MarketSnapshot
    from oms_chain.service.hedger import Hedger

    name = "hedger on a price jump"
    result = StepResult(name)
    l1 = world.l1
    inst = session.instrument("ETH/USDC", chain_id=l1.chain_id)
    venues = session.venues_for(inst, exchange=False)
    clock = SystemClock()

    async def spot() -> Decimal:
        return Decimal(await session.best_price(inst, "sell", Decimal(1), venues))

    spot0 = await spot()
    call = OptionContract(
        underlying=inst.base,
        quote=inst.quote,
        strike=spot0.quantize(Decimal(1)),
        expiry_ns=clock.now_ns() + 2 * DAY_NS,
        option_kind=OptionKind.CALL,
    )
    held = jump_book(call)
    underlying = held[0].underlying

    def market(price: Decimal) -> MarketSnapshot:
        return MarketSnapshot(
            now_ns=clock.now_ns(), spots={underlying: price}, vols={call.id: HEDGE_VOL}
        )

    probe = Hedger(
        engine=session.engine,
        store=session.store,
        policy=HedgePolicy(
            name="demo-probe", underlying=underlying, instrument="ETH/USDC",
            venues=tuple(venues), band=HEDGE_BAND, max_hedge=Decimal(1),
        ),
        instrument=inst, account="demo-hedger", clock=clock, holdings=lambda: held,
    )  # fmt: skip
    target = probe.delta(market(spot0)).quantize(Decimal("0.01"))
    policy = jump_policy(underlying, venues, target)
    hedger = Hedger(
        engine=session.engine,
        store=session.store,
        policy=policy,
        instrument=inst,
        account="demo-hedger",
        clock=clock,
        holdings=lambda: held,
    )
    hedger.start()
    before = await hedger.step(market(spot0))
    _check(name, before.decision.action != "hedge", f"delta {before.delta:.2f} starts inside "
           f"{target} ± {HEDGE_BAND}: no hedge", result, before.decision.reason)  # fmt: skip
    jump = session.intent(inst, "sell", JUMP_ETH, venues=venues, max_slippage_bps=2000)
    jumped = await session.wait((await session.submit(jump)).order_id, timeout=120)
    _check(name, jumped.status.value == "filled", f"a {JUMP_ETH} ETH sale moved the pools",
           result, jumped.status.value)  # fmt: skip
    spot1 = await spot()
    move = (spot1 / spot0 - 1) * 100
    st = await hedger.step(market(spot1))
    d = st.decision
    _check(name, d.action == "hedge", f"after a {move:.1f} % jump delta {st.delta:.2f} left "
           "its band: the hedger decided a hedge", result, d.reason)  # fmt: skip
    oid = session.engine.projections.intents.get(IntentId(f"hedge-{policy.name}-1"))
    _check(name, oid is not None, "the hedge is an intent of the engine (risk gate, router)",
           result)  # fmt: skip
    hedge = await session.wait(oid, timeout=120)
    _check(name, hedge.status.value == "filled", f"the hedge ({d.side} {d.quantity} ETH) filled",
           result, hedge.status.value)  # fmt: skip
    after = hedger.delta(market(spot1))
    _check(name, abs(after - target) <= HEDGE_BAND, f"delta {after:.2f} is back inside "
           f"{target} ± {HEDGE_BAND}", result, after)  # fmt: skip
    decided = [
        event_from_payload(r.event_type, r.version, r.payload)
        for r in session.store.read_all(0)
        if r.stream_id == hedger.stream and r.event_type == "HedgeDecided"
    ]
    _check(name, len(decided) == 1 and isinstance(decided[0], HedgeDecided)
           and bool(decided[0].reason), "one HedgeDecided event, with its reason", result,
           len(decided))  # fmt: skip
    table = Table(title=f"hedger {policy.name}: {HEDGE_CALLS} calls K={call.strike}, 2 days")
    for col in ("", "spot", "delta", "band", "action"):
        table.add_column(col)
    table.add_row("before", _d(spot0), f"{before.delta:.2f}", f"{target} ± {HEDGE_BAND}", "none")
    table.add_row("jump", _d(spot1), f"{st.delta:.2f}", "", f"{d.side} {d.quantity}")
    table.add_row("after", _d(spot1), f"{after:.2f}", "", "in band")
    console.print(table)
    result.detail = {
        "spot_before": spot0,
        "spot_after": spot1,
        "move_pct": move.quantize(Decimal("0.01")),
        "delta_before": before.delta,
        "delta_jump": st.delta,
        "delta_after": after,
        "target": target,
        "band": HEDGE_BAND,
        "hedge": {"side": d.side, "quantity": d.quantity, "order_id": oid},
        "reason": d.reason,
        "call_strike": call.strike,
        "call_expiry_ns": call.expiry_ns,
        "venues": list(venues),
    }
    return result


REORG_ETH = Decimal("0.1")


async def reorg_step(world: Devnet, console: Console, session: Any) -> StepResult:
    """A swap's block is reorged out (``anvil_reorg``): the engine reverses its fill, then
    records it again from the block the swap is mined in anew; the position ends as before."""
    name = "injected reorg"
    result = StepResult(name)
    l1 = world.l1
    inst = session.instrument("ETH/USDC", chain_id=l1.chain_id)
    venue = session.venues_for(inst, exchange=False)[0]
    intent = session.intent(inst, "sell", REORG_ETH, venues=[venue], max_slippage_bps=200)
    parent = await session.wait((await session.submit(intent)).order_id, timeout=60)
    (child,) = session.children(parent.order_id)
    _check(name, child.settlement is not None and child.settlement.block_number is not None,
           f"the swap sold {REORG_ETH} ETH on {venue} and was included", result,
           child.settlement)  # fmt: skip
    included = child.settlement.block_number
    first_fills = {
        k for k, f in session.engine.projections.fills.items() if f.order_id == child.order_id
    }
    mark = session.store.last_position()
    depth = l1.process.block_number() - included + 1
    await asyncio.to_thread(l1.process.rpc, "anvil_reorg", [depth, []])

    def types() -> list[str]:
        return [r.event_type for r in session.store.read_all(from_position=mark)]

    reversed_ = lambda: "FillReversed" in types()  # noqa: E731
    await _until("'injected reorg': the reversal of the reorged fill", reversed_)
    _check(name, True, f"a reorg of {depth} block(s) from block {included}: the fill was "
           "reversed (FillReversed)", result)  # fmt: skip

    def again() -> bool:
        fills = {
            k for k, f in session.engine.projections.fills.items() if f.order_id == child.order_id
        }
        return bool(fills) and fills != first_fills

    await _until("'injected reorg': the swap's fill from its new block", again)
    now = session.engine.order(child.order_id)
    _check(name, now.status.value == "filled" and now.filled_quantity == REORG_ETH,
           "the swap was mined again and its fill recorded again from the new block", result,
           (now.status.value, now.filled_quantity))  # fmt: skip
    new_block = now.settlement.block_number if now.settlement is not None else None
    _check(name, session.engine.order(parent.order_id).status.value == "filled",
           "the parent is filled again", result)  # fmt: skip
    seen = types()
    _check(name, seen.count("FillReversed") == 1 and seen.count("FillRecorded") == 1,
           "exactly one reversal and one new fill were recorded", result, seen)  # fmt: skip
    console.print(
        f"child {child.order_id[-10:]}: included at block {included}, reorged out "
        f"(depth {depth}), fill reversed, mined again at block {new_block}, fill recorded again",
        highlight=False,
    )
    result.detail = {
        "order_id": parent.order_id,
        "included": included,
        "depth": depth,
        "included_again": new_block,
        "events": seen,
    }
    return result


def html_report(console: Console, store_url: str, out: Path) -> StepResult:
    """Write the execution and risk report of the demo's store as one offline HTML page (and
    CSV); check it holds the sale against its arrival price, the TWAP and the hedge."""
    import re

    from oms_chain.service.report import render_html, report_from_store, write_csv
    from oms_chain.store import open_store

    name = "html report"
    result = StepResult(name)
    with open_store(store_url) as es:
        rep = report_from_store(es)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "report.html"
    page.write_text(render_html(rep, title="oms demo: execution and risk"), encoding="utf-8")
    csvs = write_csv(rep, out)
    text = page.read_text(encoding="utf-8")
    algos = {p.algo for p in rep.parents}
    arrival = [p for p in rep.parents if p.arrival_source == "arrival"]
    _check(name, len(rep.parents) >= 3, f"{len(rep.parents)} parents reported", result,
           len(rep.parents))  # fmt: skip
    _check(name, bool(arrival), f"slippage of {len(arrival)} parents is against the arrival "
           "price recorded at submit", result, [p.arrival_source for p in rep.parents])  # fmt: skip
    _check(name, "twap" in algos, "the TWAP parent is in it", result, sorted(algos))
    _check(name, any(r.kind == "hedge" for r in rep.risk), "the hedge is on the risk timeline",
           result, [r.kind for r in rep.risk])  # fmt: skip
    external = re.findall(r'(?:src|href)\s*=\s*"(?:https?:)?//[^"]*"', text)
    _check(name, not external, "the page loads nothing from the network", result, external)
    sale = max(rep.parents, key=lambda p: p.filled_quantity)
    console.print(
        f"report [bold]{page}[/] ({page.stat().st_size:,} bytes, {len(csvs)} CSV): the largest "
        f"parent, {sale.filled_quantity.normalize():f} ETH, {sale.slippage_bps} bps vs arrival "
        f"{sale.arrival_price:.2f} ({sale.arrival_source})",
        highlight=False,
    )
    result.detail = {
        "path": str(page),
        "bytes": page.stat().st_size,
        "parents": len(rep.parents),
        "sale_slippage_bps": sale.slippage_bps,
        "sale_arrival": sale.arrival_price,
        "sale_arrival_source": sale.arrival_source,
    }
    return result
