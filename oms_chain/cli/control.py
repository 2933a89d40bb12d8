"""``oms cancel``, ``oms halt`` and ``oms resume-trading``: cancels and the kill switch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from oms_chain.cli._app import app
from oms_chain.cli._args import (
    ChainOption,
    ConfigOption,
    DryRunOption,
    JsonOption,
    KeyEnvOption,
    ReasonOption,
    TradeStoreOption,
    _identifier,
    _text,
)
from oms_chain.cli._output import _print_plan, console, print_json
from oms_chain.cli._session import (
    _default_store_url,
    _precheck,
    _require_existing_store,
    _trading_session,
)
from oms_chain.cli.views import _order_row
from oms_chain.model.errors import InvalidInput


@app.command("cancel")
def cancel_cmd(
    order_id: Annotated[
        str, typer.Argument(metavar="ORDER_ID", help="Parent or child order id (see `oms orders`).")
    ],
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also connect to the exchange.")
    ] = True,
    chain: ChainOption = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: DryRunOption = False,
) -> None:
    """Cancel an order through the engine: a parent (its algorithm stops, its open children are
    cancelled) or one child. Passes in every trading state, halted included."""
    import asyncio

    from oms_chain.model.errors import UnknownOrder
    from oms_chain.model.ids import OrderId

    oid = _identifier(order_id, "ORDER_ID")
    plan: dict[str, Any] = {"command": "cancel", "order_id": oid}
    _precheck(plan, [], None, config=config, chain=chain, exchange=exchange)
    url = _default_store_url(store, config)
    _require_existing_store(url)
    if dry_run:
        _print_plan({**plan, "store": url, "dry_run": True}, as_json)
        return
    session, url = _trading_session(
        chain=chain, store=url, key_env=key_env, config=config, exchange=exchange
    )

    async def run() -> Any:
        async with session:
            engine = session.engine
            try:
                order = engine.order(OrderId(oid))
            except UnknownOrder:
                raise InvalidInput(
                    f"no order {oid!r} in {url}; list them with `oms orders --store {url}`"
                ) from None
            if order.is_terminal:
                raise InvalidInput(
                    f"order {oid} is already {order.status.value}; nothing to cancel"
                )
            if order.parent_id is None and engine.projections.intent_data.get(order.intent_id):
                intent = engine.projections.intent_data[order.intent_id]
                if intent.algo != "direct":
                    return await engine.stop_algo(order.order_id, "cancelled by `oms cancel`")
            return await engine.cancel(order.order_id)

    parent = asyncio.run(run())
    row = _order_row(parent)
    if as_json:
        print_json(row)
        return
    console.print(
        f"{row['order_id']}: {row['status']} ({row['filled']} of {row['quantity']} "
        f"{row['instrument']} filled)",
        highlight=False,
    )


_STATES = {"halt": "halted", "reducing": "reducing", "resume": "active"}


def _switch_trading(
    state: str, reason: str, store: str | None, config: Path | None, as_json: bool, dry_run: bool
) -> None:
    """Record the kill switch ``state`` in the store (an engine event every later process
    replays); no venue is contacted and no order is worked."""
    import asyncio

    from oms_chain.engine import Engine
    from oms_chain.model import SystemClock
    from oms_chain.risk import RiskGate, RiskLimits, TradingState
    from oms_chain.store import open_store

    reason = _text(reason, "--reason")
    url = _default_store_url(store, config)
    if dry_run:
        _print_plan(
            {"command": "trading state", "state": state, "store": url, "dry_run": True}, as_json
        )
        return

    async def run() -> tuple[str, str]:
        clock = SystemClock()
        with open_store(url) as es:
            engine = Engine(
                store=es,
                venues=[],
                risk=RiskGate(RiskLimits(), clock=clock),
                clock=clock,
                resume_parents=False,
            )
            await engine.start()
            try:
                before = engine.trading_state.value
                if before != state:
                    engine.set_trading_state(TradingState(state), reason)
                return before, engine.trading_state.value
            finally:
                await engine.stop()

    before, after = asyncio.run(run())
    out = {"store": url, "previous": before, "state": after, "reason": reason}
    if as_json:
        print_json(out)
    else:
        what = {
            "halted": "halted: only cancels pass",
            "reducing": "reduce-only: only intents that reduce a position pass",
            "active": "active",
        }[after]
        console.print(f"trading is {what} (was {before}) in {url}", highlight=False)


@app.command("halt")
def halt_cmd(
    reducing: Annotated[
        bool,
        typer.Option("--reducing", help="Reduce-only instead of a full halt."),
    ] = False,
    reason: ReasonOption = "halted from the command line",
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Kill switch: from now on only cancels pass (--reducing: only position-reducing
    intents). Recorded in the event store, so every process that opens it sees it; algorithms
    already running in another process see it when that process restarts."""
    _switch_trading("reducing" if reducing else "halted", reason, store, config, as_json, dry_run)


@app.command("resume-trading")
def resume_trading_cmd(
    reason: ReasonOption = "resumed from the command line",
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Lift the kill switch (`oms halt`): new intents pass the risk gate again."""
    _switch_trading("active", reason, store, config, as_json, dry_run)
