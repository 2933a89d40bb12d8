"""``oms swap`` and ``oms order``: trading through the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from oms_chain.cli._app import app
from oms_chain.cli._args import (
    MAX_SLICES,
    ConfigOption,
    DryRunOption,
    KeyEnvOption,
    RefreshPoolsOption,
    TradeStoreOption,
    YesOption,
    _bounded_int,
    _bps,
    _chain_id_parser,
    _duration,
    _identifier,
    _pair,
    _parser,
    _positive_decimal,
    _seconds,
    _sell_buy,
    _shown,
    _venue_ids,
)
from oms_chain.cli._errors import _Refused
from oms_chain.cli._output import err_console
from oms_chain.cli._profile import _kline_profile, _read_profile
from oms_chain.cli._session import (
    _canonical_venues,
    _child_rows,
    _default_store_url,
    _order_outcome,
    _plan_gate,
    _precheck,
    _require_existing_store,
    _resolve_pair,
    _session_symbol,
    _trading_session,
)
from oms_chain.model.errors import InvalidInput


@app.command()
def swap(
    sell: Annotated[
        str, typer.Option("--sell", metavar="SYMBOL", help="Asset to sell (ETH, WETH, USDC, ...).")
    ],
    buy: Annotated[str, typer.Option("--buy", metavar="SYMBOL", help="Asset to buy.")],
    amount: Annotated[
        str, typer.Option("--amount", metavar="AMOUNT", help="Amount of --sell, in whole units.")
    ],
    chain: Annotated[
        int | None,
        typer.Option(
            "--chain",
            help="Chain id (default: the devnet's L1).",
            metavar="ID",
            parser=_chain_id_parser,
        ),
    ] = None,
    venue: Annotated[
        list[str] | None,
        typer.Option(
            "--venue",
            metavar="VENUE",
            help="Venue id (repeat for several: the router splits across them). Default: every "
            "venue trading the pair (the chain's Uniswap pools and the exchange).",
        ),
    ] = None,
    slippage_bps: Annotated[
        str, typer.Option("--slippage-bps", metavar="BPS", help="Worst price vs the plan, in bps.")
    ] = "50",
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations",
            help="Wait until each transaction has this many blocks on top (0: included; "
            "final always ends the wait; at most 1000).",
            metavar="N",
            parser=_parser(_bounded_int, "--confirmations", 0, 1000),
        ),
    ] = 0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds to wait (at most 7 days).",
            metavar="SECONDS",
            parser=_parser(_seconds, "--timeout"),
        ),
    ] = 120.0,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    refresh_pools: RefreshPoolsOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """Swap through the engine: one intent routed across the pools and the exchange.

    Several venues make a split (one child per venue, sent concurrently); swaps are signed by
    your key and followed until the children are filled and their transactions included (or
    --confirmations deep), then a table of the children is printed. Selling the quote asset
    (--sell USDC --buy ETH) buys the ETH that --amount USDC pays for at the best single venue's
    price for that size (the split does at least as well: at most about --amount is spent).

    Default: the devnet of `oms devnet up` (its runtime file) and its first funded key (account
    0 of the public devnet mnemonic); --key-env for your own key, --config for real chains.
    """
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn

    sell, buy = _sell_buy(sell, buy)
    qty = _positive_decimal(amount, "--amount")
    slip = _bps(slippage_bps, "--slippage-bps")
    venue = _venue_ids(venue)
    if confirmations < 0:
        raise InvalidInput(f"--confirmations must be >= 0, got {confirmations}")
    if timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    plan = {
        "command": "swap",
        "sell": sell,
        "buy": buy,
        "amount": str(qty),
        "venues": venue or "every venue trading the pair",
        "exchange": exchange,
        "max_slippage_bps": str(slip),
        "confirmations": confirmations,
    }
    _precheck(plan, [sell, buy], venue, config=config, chain=chain, exchange=exchange)
    if _plan_gate(plan, dry_run=dry_run, yes=yes, as_json=as_json):
        return
    session, url = _trading_session(
        chain=chain,
        store=store,
        key_env=key_env,
        config=config,
        exchange=exchange,
        refresh_pools=refresh_pools,
        resume_parents=False,
    )

    async def run() -> tuple[Any, list[dict[str, Any]]]:
        async with session:
            inst, side = _resolve_pair(session, sell, buy)
            venues = _canonical_venues(session, venue)
            if side == "buy":  # spend --amount of the quote: size the base at the best price
                qty_base = await session.quantity_for_notional(inst, side, qty, venues)
            else:
                qty_base = qty
            intent = session.intent(
                inst,
                side,
                qty_base,
                venues=venues,
                exchange=exchange,
                max_slippage_bps=slip,
            )
            parent = await session.submit(intent)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[detail]}"),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task(f"{side} {inst.symbol}", total=1, detail="")

                def show(p: Any, kids: list[Any]) -> None:
                    done = sum(1 for k in kids if k.is_terminal)
                    progress.update(
                        task,
                        total=float(p.quantity),
                        completed=float(p.filled_quantity),
                        detail=f"{p.status.value}, {done}/{len(kids)} children done",
                    )

                parent = await session.wait(
                    parent.order_id, confirmations=confirmations, timeout=timeout, on_progress=show
                )
            return parent, _child_rows(session, parent.order_id)

    parent, rows = asyncio.run(run())
    _order_outcome(parent, rows, as_json, url)


_ALGOS = ("twap", "vwap", "iceberg", "sniper")


@app.command("order")
def order_cmd(
    side: Annotated[str | None, typer.Option("--side", metavar="SIDE", help="buy or sell.")] = None,
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", metavar="PAIR", help="Pair, base/quote (e.g. ETH/USDC)."),
    ] = None,
    quantity: Annotated[
        str | None, typer.Option("--quantity", metavar="QTY", help="Base quantity (e.g. 200 ETH).")
    ] = None,
    algo: Annotated[
        str, typer.Option("--algo", metavar="ALGO", help="twap, vwap, iceberg or sniper.")
    ] = "twap",
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Horizon, e.g. 90s, 30m, 2h (1s to 30d).", metavar="TIME"),
    ] = None,
    slices: Annotated[
        int | None,
        typer.Option(
            "--slices",
            help="Number of slices (1-10000).",
            metavar="N",
            parser=_parser(_bounded_int, "--slices", 1, MAX_SLICES),
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="VWAP: a file of volume weights, one per slice (numbers separated by commas, "
            "spaces or lines). Default: the exchange's klines over the last --duration.",
            metavar="FILE",
        ),
    ] = None,
    venues: Annotated[
        list[str] | None,
        typer.Option(
            "--venues", metavar="VENUE", help="Venue id (repeat). Default: every venue of the pair."
        ),
    ] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", metavar="PRICE", help="Limit price (quote per base).")
    ] = None,
    display: Annotated[
        str | None, typer.Option("--display", metavar="QTY", help="Iceberg: the visible quantity.")
    ] = None,
    slippage_bps: Annotated[
        str,
        typer.Option(
            "--slippage-bps", metavar="BPS", help="Worst price per child vs its plan, in bps."
        ),
    ] = "50",
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", metavar="ORDER_ID", help="Resume an order interrupted with Ctrl-C (its id)."
        ),
    ] = None,
    chain: Annotated[
        int | None,
        typer.Option(
            "--chain",
            help="Chain id (default: the devnet's L1).",
            metavar="ID",
            parser=_chain_id_parser,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait (default: no limit; at most 7 days).",
            metavar="SECONDS",
            parser=_parser(_seconds, "--timeout"),
        ),
    ] = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """An algorithmic order (TWAP, VWAP, Iceberg, Sniper) through the engine, with progress.

    Each child is routed across the venues when it is due; a progress bar shows filled /
    quantity until the order is done. Ctrl-C pauses the order in the store and stops cleanly
    (open children are reconciled on the next start); `oms order --resume ORDER_ID` with the
    same --store resumes it and catches up with the schedule. Only the process that placed an
    order, or `oms order --resume`, works it: another command on the same store never does.

    Default: the devnet of `oms devnet up` (its runtime file) and its first funded key (account
    0 of the public devnet mnemonic); --key-env for your own key, --config for real chains.
    """
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    params: dict[str, Any] = {}
    if resume is None:
        missing = [
            n
            for n, v in (("--side", side), ("--symbol", symbol), ("--quantity", quantity))
            if v is None
        ]
        if missing:
            raise InvalidInput(f"{', '.join(missing)} required (or --resume ORDER_ID)")
        assert side is not None and symbol is not None and quantity is not None
        side = side.strip(" ").lower()
        if side not in ("buy", "sell"):
            raise InvalidInput(f"--side must be buy or sell, got {_shown(side)}")
        algo = algo.strip(" ").lower()
        if algo not in _ALGOS:
            raise InvalidInput(f"--algo must be one of {', '.join(_ALGOS)}, got {_shown(algo)}")
        symbol = _pair(symbol)
        qty = _positive_decimal(quantity, "--quantity")
        if algo in ("twap", "vwap") and duration is None:
            raise InvalidInput(f"--algo {algo} needs --duration (e.g. 90s, 30m, 2h)")
        if duration is not None:
            params["duration"] = _duration(duration)
        if slices is not None:
            if slices <= 0:
                raise InvalidInput(f"--slices must be positive, got {slices}")
            params["slices"] = slices
        if display is not None:
            params["display_quantity"] = str(_positive_decimal(display, "--display"))
        if profile is not None:
            if algo != "vwap":
                raise InvalidInput("--profile is for --algo vwap only")
            params.pop("slices", None)
            params["profile"] = _read_profile(profile, slices)
        px = None if limit is None else _positive_decimal(limit, "--limit")
        slip = _bps(slippage_bps, "--slippage-bps")
        venues = _venue_ids(venues)
        plan: dict[str, Any] = {
            "command": "order",
            "side": side,
            "symbol": symbol,
            "quantity": str(qty),
            "algo": algo,
            "algo_params": params,
            "limit_price": None if px is None else str(px),
            "venues": venues or "every venue trading the pair",
            "exchange": exchange,
            "max_slippage_bps": str(slip),
        }
        _precheck(plan, symbol.split("/"), venues, config=config, chain=chain, exchange=exchange)
    else:
        resume = _identifier(resume, "--resume")
        plan = {"command": "order", "resume": resume}
        _precheck(plan, [], None, config=config, chain=chain, exchange=exchange)
        _require_existing_store(_default_store_url(store, config))
    if timeout is not None and timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    if resume is None and algo == "vwap" and "profile" not in params:
        params.pop("slices", None)
        params["profile"] = _kline_profile(
            str(symbol),
            int(params["duration"][:-2]),
            slices or 10,
            config=config,
            exchange=exchange,
        )
    if _plan_gate(plan, dry_run=dry_run, yes=yes, as_json=as_json):
        return
    session, url = _trading_session(
        chain=chain,
        store=store,
        key_env=key_env,
        config=config,
        exchange=exchange,
        venue_market_data=algo == "sniper",
        resume_parents=False if resume is None else [resume],
    )
    order_id: list[str] = []

    async def run() -> tuple[Any, list[dict[str, Any]]]:
        async with session:
            engine = session.engine
            if resume is not None:
                from oms_chain.model.errors import UnknownOrder
                from oms_chain.model.ids import OrderId

                try:
                    parent = engine.order(OrderId(resume))
                except UnknownOrder:
                    raise InvalidInput(
                        f"no order {resume!r} in {url}; list them with `oms orders --store {url}`"
                    ) from None
                if parent.parent_id is not None:
                    raise InvalidInput(f"{resume} is a child order; resume its parent")
                if not parent.is_terminal and engine.algo_state(parent.order_id) == "paused":
                    engine.resume(parent.order_id, "resumed by `oms order --resume`")
            else:
                intent = session.intent(
                    _session_symbol(session, symbol),  # type: ignore[arg-type]
                    side,  # type: ignore[arg-type]
                    qty,
                    venues=_canonical_venues(session, venues),
                    exchange=exchange,
                    algo=algo,
                    algo_params=params,
                    limit_price=px,
                    max_slippage_bps=slip,
                )
                parent = await session.submit(intent)
            order_id.append(parent.order_id)
            if parent.is_terminal and parent.filled_quantity == 0:
                return parent, _child_rows(session, parent.order_id)
            err_console.print(f"order {parent.order_id} ({url}); Ctrl-C pauses it", highlight=False)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:g}/{task.total:g}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task(parent.instrument.symbol, total=1, detail="")

                polls = [0]

                def show(p: Any, kids: list[Any]) -> None:
                    progress.update(
                        task,
                        total=float(p.quantity),
                        completed=float(p.filled_quantity),
                        detail=f"{p.status.value}, {len(kids)} children",
                    )
                    polls[0] += 1
                    if polls[0] % 5 == 0 and not p.is_terminal:
                        _stop_if_halted_elsewhere(session, p.order_id, url)

                try:
                    parent = await session.wait(
                        parent.order_id, timeout=timeout, poll=0.2, on_progress=show
                    )
                except asyncio.CancelledError:
                    current = engine.order(parent.order_id)
                    if not current.is_terminal:
                        engine.pause(parent.order_id, "interrupted (Ctrl-C)")
                    raise
            return parent, _child_rows(session, parent.order_id)

    try:
        parent, rows = asyncio.run(run())
    except KeyboardInterrupt:
        if order_id:
            err_console.print(
                f"interrupted: order {order_id[0]} is paused in {url}; resume it with "
                f"`oms order --resume {order_id[0]} --store {url}`",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(130) from None
    _order_outcome(parent, rows, as_json, url)


def _stop_if_halted_elsewhere(session: Any, parent_id: str, url: str) -> None:
    """``oms halt`` in another process recorded the kill switch in the store this order runs
    on: pause the order here and stop (exit code 4). This process's engine read the trading
    state when it started; the store is the one place every process shares."""
    from oms_chain.engine import ENGINE_STREAM

    changes = [
        r for r in session.store.read_stream(ENGINE_STREAM) if r.event_type == "TradingStateChanged"
    ]
    if not changes:
        return
    state = str(changes[-1].payload.get("state"))
    if state == "active" or state == session.engine.trading_state.value:
        return
    reason = str(changes[-1].payload.get("reason") or "no reason given")
    session.engine.pause(parent_id, f"trading {state} by another process: {reason}")
    raise _Refused(
        f"trading was switched to {state} in {url} ({reason}): order {parent_id} is paused; "
        f"after `oms resume-trading` resume it with `oms order --resume {parent_id} --store {url}`"
    )
