"""The ``oms`` command line.

``oms devnet up``      start the local world (L1, optionally L2 or a fork) and keep it up
``oms devnet status``  show whether the world started by ``devnet up`` answers
``oms demo``           the end-to-end demo on a fresh world, through the engine
``oms swap``           one intent routed across pools and an exchange, followed to inclusion
``oms order``          an algorithmic order (TWAP, VWAP, Iceberg, Sniper) with progress; resumable
``oms route``          the best split of an order, plan only
``oms orders``         parent orders with their children, from the event store

Every error of ours is printed as one line (``error: …``) with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from oms_chain import __version__
from oms_chain.model.errors import InvalidInput, OmsError

__all__ = ["app", "main"]

app = typer.Typer(
    name="oms",
    help="oms-chain: non-custodial order management and execution across CEXs and AMMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
devnet_app = typer.Typer(help="The local world: Anvil L1 + L2 with real protocol bytecode.")
app.add_typer(devnet_app, name="devnet")
tx_app = typer.Typer(help="On-chain transactions.")
app.add_typer(tx_app, name="tx")
audit_app = typer.Typer(help="The tamper-evident audit log of the event store.")
app.add_typer(audit_app, name="audit")

StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="OMS_STORE_URL",
        help="Event store URL: sqlite:///path.db or postgresql://… (env OMS_STORE_URL).",
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
ChainOption = Annotated[int | None, typer.Option("--chain", help="Chain id (default: the RPC's).")]
RpcUrlOption = Annotated[
    str | None, typer.Option("--rpc-url", help="Chain RPC URL (default: the devnet L1).")
]
SellOption = Annotated[str, typer.Option("--sell", help="Token to sell (symbol, e.g. WETH).")]
BuyOption = Annotated[str, typer.Option("--buy", help="Token to buy (symbol, e.g. USDC).")]

console = Console()
err_console = Console(stderr=True)


def _runtime_file() -> Path:
    """Where ``devnet up`` records the running world for ``devnet status``."""
    from oms_chain.devnet.paths import build_dir

    return Path(os.environ.get("OMS_CHAIN_RUNTIME", build_dir() / "devnet-running.json"))


@app.command()
def version() -> None:
    """Print the oms-chain version."""
    console.print(__version__)


def _on_off(value: str) -> str:
    """``--agents`` accepts ``on``, ``off`` or ``still`` (any case)."""
    if value.lower() not in ("on", "off", "still"):
        raise typer.BadParameter(f"expected on, off or still, got {value!r}")
    return value.lower()


@devnet_app.command("up")
def devnet_up(
    l2: Annotated[
        bool, typer.Option("--l2/--no-l2", help="Also start the L2 (chain 31338).")
    ] = True,
    exchange: Annotated[
        bool,
        typer.Option("--exchange/--no-exchange", help="Also start the Binance-speaking simulator."),
    ] = True,
    fork_url: Annotated[
        str | None, typer.Option("--fork-url", help="Start the L1 as a fork of this RPC URL.")
    ] = None,
    fork_block: Annotated[
        int | None, typer.Option("--fork-block", help="Block number to fork at.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print URLs and addresses as JSON.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
    port: Annotated[int | None, typer.Option("--port", help="L1 RPC port (default: free).")] = None,
    l2_port: Annotated[
        int | None, typer.Option("--l2-port", help="L2 RPC port (default: free).")
    ] = None,
    load_state: Annotated[
        Path | None,
        typer.Option("--load-state", help="Start the L1 from a state file saved by --dump-state."),
    ] = None,
    dump_state: Annotated[
        Path | None, typer.Option("--dump-state", help="Save the L1 state to this file on exit.")
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, max=2**63 - 1, help="Seed of the exchange simulator's agents."
        ),
    ] = 0,
    volatility: Annotated[
        float,
        typer.Option(
            "--volatility",
            min=0.0,
            max=0.05,
            help="Exchange price volatility per agent step (0.1 s): the deviation from the "
            "pools' price, at most 25 bps (0 = quote exactly at the pools' price).",
        ),
    ] = 0.0005,
    agents: Annotated[
        str,
        typer.Option(
            "--agents",
            metavar="on|off|still",
            help="Exchange market makers and takers: on (default), off (an empty book) or "
            "still (they seed the book once, then wait: deterministic for a --seed).",
            callback=_on_off,
        ),
    ] = "on",
) -> None:
    """Start the devnet, print RPC URLs and the address book, stay up until Ctrl-C."""
    from oms_chain.devnet.world import Devnet, DevnetConfig

    config = DevnetConfig(
        exchange_seed=seed,
        exchange_volatility=volatility,
        exchange_agents={"on": "live"}.get(agents, agents),
        with_l2=l2,
        with_exchange=exchange,
        fork_url=fork_url,
        fork_block_number=fork_block,
        use_state_cache=not fresh,
        l1_port=port,
        l2_port=l2_port,
        l1_state=load_state,
    )
    with err_console.status("starting the devnet…") as status:
        world = Devnet(config, progress=lambda m: status.update(m)).start()
    runtime = _runtime_file()
    # Ctrl-C / SIGTERM only set a flag: shutdown then runs in normal control flow, never from
    # an exception raised in the middle of a subprocess call (which can leave its locks held).
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        summary = world.describe()
        runtime.parent.mkdir(parents=True, exist_ok=True)
        runtime.write_text(json.dumps({"pid": os.getpid(), "chains": summary}, indent=2))
        if as_json:
            print(json.dumps(summary, indent=2), flush=True)
        else:
            _print_world(summary)
            err_console.print("[dim]devnet is up; press Ctrl-C to stop[/]")
        while not stop.wait(0.5):
            if not all(c.process.is_running() for c in world.chains.values()):
                raise OmsError("a devnet node exited unexpectedly; see its log for why")
        err_console.print("stopping the devnet")
        if dump_state is not None:
            world.l1.process.dump_state_to(dump_state)
            err_console.print(f"L1 state saved to {dump_state}")
    finally:
        world.stop()
        runtime.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_world(summary: dict[str, Any]) -> None:
    chains = Table(title="devnet chains")
    for col in ("chain", "chain id", "RPC URL", "websocket", "block time"):
        chains.add_column(col)
    for name, c in summary.items():
        if name == "exchange":
            continue
        bt = "automine" if c["block_time"] is None else f"{c['block_time'] * 1000:g} ms"
        chains.add_row(name, str(c["chain_id"]), c["rpc_url"], c["ws_url"], bt)
    console.print(chains)
    if "exchange" in summary:
        ex = summary["exchange"]
        sim = Table(
            title="exchange simulator (speaks Binance spot REST + websockets; ccxt binance)"
        )
        for col in ("REST", "websocket", "API key", "secret"):
            sim.add_column(col)
        for acct in ex["accounts"]:
            sim.add_row(ex["rest_url"], ex["ws_url"], acct["api_key"], acct["secret"])
        console.print(sim)
    book = summary["l1"]["address_book"]
    table = Table(title=f"address book of {book['name']} (same layout on every devnet chain)")
    table.add_column("name")
    table.add_column("address")
    for name, addr in book["contracts"].items():
        table.add_row(name, addr)
    for sym, tok in book["tokens"].items():
        table.add_row(f"{sym} ({tok['decimals']} decimals)", tok["address"])
    for pool in book["pools"]:
        table.add_row(f"pool {pool['protocol']} fee {pool['fee'] / 10_000:g}%", pool["address"])
    console.print(table)


def _ping(exchange: dict[str, Any]) -> int | None:
    """Server time (ms) of the exchange simulator, ``None`` when it does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{exchange['rest_url']}/api/v3/time", timeout=2) as r:
            return int(json.loads(r.read())["serverTime"])
    except (OSError, ValueError, KeyError):
        return None


@devnet_app.command("status")
def devnet_status(
    as_json: JsonOption = False,
) -> None:
    """Show the chains started by ``oms devnet up`` and whether they answer."""
    from oms_chain.devnet.anvil import json_rpc

    runtime = _runtime_file()
    if not runtime.is_file():
        raise OmsError("no devnet is running (start one with `oms devnet up`)")
    try:
        info = json.loads(runtime.read_text())
    except ValueError as exc:
        raise OmsError(f"{runtime} is unreadable ({exc}); delete it and start the devnet") from exc
    rows = []
    for name, c in info["chains"].items():
        if name == "exchange":
            rows.append(
                {"name": name, "chain_id": None, "rpc_url": c["rest_url"], "block": _ping(c)}
            )
            continue
        try:
            block: int | None = int(json_rpc(c["rpc_url"], "eth_blockNumber", timeout=2.0), 16)
        except OmsError:
            block = None
        rows.append(
            {"name": name, "chain_id": c["chain_id"], "rpc_url": c["rpc_url"], "block": block}
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title=f"devnet (pid {info.get('pid')})")
        for col in ("chain", "chain id", "URL", "latest block / server time", "status"):
            table.add_column(col)
        for r in rows:
            up = r["block"] is not None
            table.add_row(
                r["name"],
                str(r["chain_id"] or "-"),
                r["rpc_url"],
                str(r["block"] if up else "-"),
                "[green]up[/]" if up else "[red]not answering[/]",
            )
        console.print(table)
    if any(r["block"] is None for r in rows):
        raise typer.Exit(1)


def _open_existing_store(url: str) -> Any:
    from oms_chain.store import open_store

    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InvalidInput(f"no event store at {path} (check --store)")
    return open_store(url)


@audit_app.command("verify")
def audit_verify(store: StoreOption) -> None:
    """Recompute the hash chain; names the first edited, deleted or reordered row."""
    from oms_chain.store import verify_audit

    with _open_existing_store(store) as es:
        report = verify_audit(es)
    if report.ok:
        console.print(f"[green]{report}[/]")
        return
    err_console.print(f"[red]{report}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(3)


@audit_app.command("export")
def audit_export(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
) -> None:
    """Write every event with its hash-chain columns to a JSONL or CSV file."""
    from oms_chain.store import export_audit

    if fmt not in ("jsonl", "csv"):
        raise InvalidInput(f"--format must be jsonl or csv, got {fmt!r}")
    with _open_existing_store(store) as es:
        count = export_audit(es, out, fmt)  # type: ignore[arg-type]
    console.print(f"wrote {count:,} events to {out}")


def _order_row(o: Any, algo: str | None = None) -> dict[str, Any]:
    st = o.settlement
    return {
        "order_id": o.order_id,
        "instrument": o.instrument.symbol,
        "side": o.side.value,
        "quantity": str(o.quantity),
        "filled": str(o.filled_quantity),
        "avg_price": None if o.avg_fill_price is None else str(o.avg_fill_price),
        "status": o.status.value,
        "venue": o.venue,
        "client_order_id": o.client_order_id,
        "settlement": None
        if st is None
        else {
            "status": st.status.value,
            "tx_hash": st.tx_hash,
            "block": st.block_number,
            "confirmations": st.confirmations,
        },
        "algo": algo,
        "reason": o.reason,
    }


@app.command()
def orders(
    store: StoreOption,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only parents that are still working.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="Show the last N parents.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Parent orders with their children (venue, fills, settlement), from the event store."""
    from oms_chain.model.events import event_from_payload
    from oms_chain.store.projections import Projections

    if limit <= 0:
        raise InvalidInput(f"--limit must be positive, got {limit}")
    proj = Projections()
    with _open_existing_store(store) as es:
        for rec in es.read_all():
            proj.apply(event_from_payload(rec.event_type, rec.version, rec.payload))
    parents = [o for o in proj.orders.values() if o.parent_id is None]
    if open_only:
        parents = [o for o in parents if not o.is_terminal]
    parents = parents[-limit:]
    rows = []
    for p in parents:
        intent = proj.intent_data.get(p.intent_id)
        algo = intent.algo if intent is not None else None
        row = _order_row(p, algo)
        row["algo_state"] = proj.algo_states.get(p.order_id)
        row["children"] = [_order_row(proj.orders[c]) for c in p.children]
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} parent orders" + (" (open)" if open_only else ""))
    for col in ("order", "side", "instrument", "qty", "filled", "avg px", "status", "venue / algo"):
        table.add_column(col, justify="right" if col in ("qty", "filled", "avg px") else "left")
    for row in rows:
        algo = row["algo"] or ""
        if row["algo_state"] and algo != "direct":
            algo += f" ({row['algo_state']})"
        table.add_row(
            f"[bold]{row['order_id']}[/]",
            row["side"],
            row["instrument"],
            row["quantity"],
            row["filled"],
            _short_price(row["avg_price"]),
            row["status"],
            algo,
        )
        for child in row["children"]:
            st = child["settlement"]
            where = child["venue"] or ""
            if st is not None:
                where += f" tx {st['status']}"
                if st["confirmations"]:
                    where += f"({st['confirmations']})"
            table.add_row(
                f"  └ {child['order_id']}",
                "",
                "",
                child["quantity"],
                child["filled"],
                _short_price(child["avg_price"]),
                child["status"],
                where,
            )
    console.print(table)


def _short_price(p: str | None) -> str:
    if p is None:
        return "-"
    from decimal import Decimal

    return f"{Decimal(p):,.6f}".rstrip("0").rstrip(".")


def _devnet_url(chain_id: int | None) -> str:
    """RPC URL of the running devnet's chain ``chain_id`` (default: its L1)."""
    runtime = _runtime_file()
    try:
        chains = json.loads(runtime.read_text())["chains"]
    except (OSError, ValueError, KeyError):
        raise InvalidInput(
            "no --rpc-url given and no devnet running (start one with `oms devnet up`)"
        ) from None
    for name, c in chains.items():
        if name != "exchange" and (
            (chain_id is None and name == "l1") or c["chain_id"] == chain_id
        ):
            return str(c["rpc_url"])
    raise InvalidInput(f"the running devnet has no chain {chain_id}; pass --rpc-url")


@tx_app.command("status")
def tx_status(
    tx_hash: Annotated[str, typer.Argument(help="Transaction hash (0x + 64 hex).")],
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Settlement state of a transaction: pending, included, confirmed(n) or final."""
    import asyncio

    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.tracker import lookup_settlement
    from oms_chain.model.ids import TxHash

    url = rpc_url or _devnet_url(None)

    async def lookup() -> Any:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            return info, await lookup_settlement(rpc, info, TxHash(tx_hash))

    info, report = asyncio.run(lookup())
    row = {
        "tx_hash": report.tx_hash,
        "chain": f"{info.name} ({info.chain_id})",
        "status": report.status.value,
        "confirmations": report.confirmations,
        "final_after": info.final_confirmations,
        "block": report.block_number,
        "succeeded": report.succeeded,
        "detail": report.detail,
    }
    if as_json:
        print(json.dumps(row, indent=2))
        return
    table = Table(title="transaction settlement")
    table.add_column("field")
    table.add_column("value")
    for key, value in row.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def quote(
    sell: SellOption,
    buy: BuyOption,
    amount: Annotated[str, typer.Option("--amount", help="Amount to sell, in whole tokens.")],
    chain: ChainOption = None,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Exact amount out, price impact and gas on every Uniswap pool of the pair (off-chain)."""
    from decimal import Decimal

    from oms_chain.venues.amm.quotes import quote_pools

    human = _positive_decimal(amount, "--amount")
    w3, chain_id, book = _chain_client(rpc_url, chain)
    token_in, token_out = book.token(sell), book.token(buy)
    base_units = human * 10**token_in.decimals
    if base_units != base_units.to_integral_value():
        raise InvalidInput(f"--amount {amount} has more than {token_in.decimals} decimals")
    quotes = quote_pools(w3, book, sell, buy, int(base_units))
    if as_json:
        print(
            json.dumps(
                {
                    "chain_id": chain_id,
                    "sell": sell,
                    "buy": buy,
                    "amount_in": int(base_units),
                    "decimals_out": token_out.decimals,
                    "quotes": [q.as_dict() for q in quotes],
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"sell {human} {sell} for {buy} on {book.name} (exact, off-chain)")
    for col in ("venue", "fee", "pool", f"{buy} out", "impact (bps)", "ticks", "gas (model)"):
        table.add_column(col, justify="left" if col in ("venue", "pool") else "right")
    for q in quotes:
        out = Decimal(q.amount_out) / Decimal(10**token_out.decimals)
        table.add_row(
            "Uniswap V3" if q.protocol == "uniswap-v3" else "Uniswap V2",
            f"{q.fee / 10_000:g}%",
            q.pool,
            f"{out:,.{token_out.decimals}f}" + (" (partial)" if q.filled_in < q.amount_in else ""),
            f"{q.price_impact_bps:.2f}",
            str(q.ticks_crossed),
            f"{q.gas_estimate:,}",
        )
    console.print(table)


def _local_exchange_urls(urls: Any, rest_url: str) -> Any:
    """ccxt's ``urls['api']`` pointed at the local exchange ``rest_url`` (``--exchange-url``)."""
    from oms_chain.service import local_exchange_urls

    try:
        return local_exchange_urls(urls, rest_url)
    except InvalidInput:
        raise InvalidInput(
            f"--exchange-url must be http(s)://host:port, got {rest_url!r}"
        ) from None


@app.command("route")
def route_cmd(
    sell: SellOption,
    buy: BuyOption,
    amount: Annotated[
        str,
        typer.Option("--amount", help="Whole tokens: to sell, or to buy with --exact-output."),
    ],
    exact_output: Annotated[
        bool,
        typer.Option("--exact-output", help="Buy exactly --amount of --buy for the least input."),
    ] = False,
    chain: ChainOption = None,
    rpc_url: RpcUrlOption = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url", help="REST URL of an exchange speaking --exchange's API (its book)."
        ),
    ] = None,
    exchange: Annotated[
        str, typer.Option("--exchange", help="ccxt exchange id for --exchange-url.")
    ] = "binance",
    gas_price_gwei: Annotated[
        str | None, typer.Option("--gas-price-gwei", help="Gas price (default: the node's).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The best split of an order across the pair's Uniswap pools, two-hop paths and an exchange
    book (exact, off-chain; nothing is executed), compared with the best single venue and the
    5 % greedy split."""
    import asyncio
    from decimal import Decimal, InvalidOperation

    from oms_chain.routing import route, route_exact_output
    from oms_chain.routing.live import source_from_exchange_book, sources_for_pair

    human = _positive_decimal(amount, "--amount")
    gas_price_wei: int | None = None
    if gas_price_gwei is not None:
        try:
            gwei = Decimal(gas_price_gwei)
        except InvalidOperation:
            raise InvalidInput(f"--gas-price-gwei {gas_price_gwei!r} is not a number") from None
        if not gwei.is_finite() or gwei < 0:
            raise InvalidInput(f"--gas-price-gwei must be >= 0, got {gas_price_gwei}")
        gas_price_wei = int(gwei * 10**9)
    w3, chain_id, book = _chain_client(rpc_url, chain)
    token_in, token_out = book.token(sell), book.token(buy)
    sized = token_out if exact_output else token_in
    base_units = human * 10**sized.decimals
    if base_units != base_units.to_integral_value():
        raise InvalidInput(f"--amount {amount} has more than {sized.decimals} decimals")
    block = int(w3.eth.block_number)
    gas_price = int(w3.eth.gas_price) if gas_price_wei is None else gas_price_wei
    sources = sources_for_pair(w3, book, sell, buy, gas_price_wei=gas_price, block_identifier=block)
    if exchange_url is not None:
        import ccxt.pro as ccxt_pro

        from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig

        try:
            api_urls = getattr(ccxt_pro, exchange)().urls["api"]
        except AttributeError:
            raise InvalidInput(f"--exchange {exchange!r} is not a ccxt exchange id") from None

        async def book_source() -> Any:
            config = CcxtVenueConfig(
                exchange=exchange,
                options={
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]},
                },
                urls=_local_exchange_urls(api_urls, exchange_url),
                book_timeout_s=3.0,
            )
            venue = CcxtVenue(config)
            try:
                await venue.start(user_stream=False)
                return await source_from_exchange_book(
                    venue,
                    sell,
                    buy,
                    sell_decimals=token_in.decimals,
                    buy_decimals=token_out.decimals,
                )
            finally:
                await venue.close()

        sources.append(asyncio.run(book_source()))
    if exact_output:
        plan = route_exact_output(sources, int(base_units))
    else:
        plan = route(sources, int(base_units))
    data = plan.to_dict()
    if as_json:
        print(
            json.dumps(
                {
                    "chain_id": chain_id,
                    "block": block,
                    "sell": sell,
                    "buy": buy,
                    "mode": plan.mode,
                    "decimals_in": token_in.decimals,
                    "decimals_out": token_out.decimals,
                    "gas_price_wei": gas_price,
                    "sources": [str(s.venue) for s in sources],
                    "plan": data,
                },
                indent=2,
            )
        )
        return

    def tokens(value: int, decimals: int) -> str:
        return f"{Decimal(value) / Decimal(10**decimals):,.{min(decimals, 6)}f}"

    gas_decimals = token_in.decimals if exact_output else token_out.decimals
    gas_symbol = sell if exact_output else buy
    what = f"buy {human} {buy} with {sell}" if exact_output else f"sell {human} {sell} for {buy}"
    table = Table(title=f"route: {what} on {book.name}, block {block} (plan only)")
    for col in ("venue", "kind", f"{sell} in", f"{buy} out", f"gas ({gas_symbol})", "impact bps"):
        table.add_column(col, justify="left" if col in ("venue", "kind") else "right")
    for leg in plan.legs:
        table.add_row(
            str(leg.venue),
            leg.kind,
            tokens(leg.amount_in, token_in.decimals),
            tokens(leg.amount_out, token_out.decimals),
            tokens(leg.fixed_cost, gas_decimals),
            f"{leg.price_impact_bps}",
        )
    table.add_section()
    table.add_row(
        "total",
        plan.mode,
        tokens(plan.amount_in, token_in.decimals),
        tokens(plan.expected_output, token_out.decimals),
        tokens(plan.gas_cost, gas_decimals),
        f"{plan.price_impact_bps}",
    )
    console.print(table)
    if exact_output:
        console.print(f"net input (swaps + gas): {tokens(plan.net_input or 0, token_in.decimals)}")
    else:
        console.print(f"net output (after gas): {tokens(plan.net_output, token_out.decimals)}")
    console.print(f"venue fees (est.): {tokens(plan.fees, token_out.decimals)} {buy}")
    if plan.best_single is not None:
        console.print(
            f"vs best single venue ({plan.best_single.name}): {plan.vs_best_single_bps:+} bps"
        )
    if plan.greedy is not None:
        console.print(f"vs 5 % greedy split: {plan.vs_greedy_bps:+} bps")


# --- trading through the engine: oms swap / oms order ----------------------------------------

KeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--key-env",
        help="Environment variable holding the signing key (hex). Default on the devnet: its "
        "first funded key.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="OMS TOML config (chains, exchange, account) instead of the devnet."
    ),
]
TradeStoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="OMS_STORE_URL",
        help="Event store URL (env OMS_STORE_URL). Default: the config's, or one store per "
        "running devnet next to its runtime file.",
    ),
]


def _trading_session(
    *,
    chain: int | None,
    store: str | None,
    key_env: str | None,
    config: Path | None,
    exchange: bool,
    venue_market_data: bool = False,
) -> tuple[Any, str]:
    """The TradingSession for a trading command and the store URL it uses (not yet opened)."""
    from oms_chain.custody.local import LocalSigner
    from oms_chain.engine import load_config
    from oms_chain.service import TradingSession

    if config is not None:
        cfg = load_config(config)
        if chain is not None:
            cfg = replace_chains(cfg, chain)
        kw: dict[str, Any] = {"venue_market_data": venue_market_data}
        if store is not None:
            kw["store_url"] = store
        session = TradingSession.from_config(cfg, os.environ, with_exchange=exchange, **kw)
        return session, session.store_url
    runtime = _runtime_file()
    try:
        info = json.loads(runtime.read_text())
        chains = info["chains"]
    except (OSError, ValueError, KeyError):
        raise InvalidInput(
            "no devnet is running (start one with `oms devnet up`), or pass --config for a real "
            "chain"
        ) from None
    from oms_chain.devnet.anvil import json_rpc

    l1 = chains.get("l1", {})
    try:
        json_rpc(l1["rpc_url"], "eth_chainId", timeout=2.0)
    except (OmsError, KeyError):
        raise InvalidInput(
            f"the devnet recorded in {runtime} does not answer (stopped?); start one with "
            "`oms devnet up`"
        ) from None
    chain_id = int(l1["chain_id"]) if chain is None else chain
    if key_env is not None:
        signer = LocalSigner.from_env(key_env)
    else:
        from oms_chain.devnet.anvil import DEFAULT_MNEMONIC
        from oms_chain.devnet.world import derive_accounts

        signer = LocalSigner(derive_accounts(DEFAULT_MNEMONIC, 1)[0].private_key)
    pid = info.get("pid", 0)
    url = store or f"sqlite:///{runtime.parent / f'oms-devnet-{pid}.db'}"
    session = TradingSession.from_devnet_runtime(
        info,
        url,
        signer,
        chain_ids=[chain_id],
        with_exchange=exchange,
        poll_interval=0.1,
        venue_market_data=venue_market_data,
    )
    return session, url


def replace_chains(cfg: Any, chain: int) -> Any:
    """``cfg`` with only the chain ``chain`` (``--chain`` with ``--config``)."""
    from dataclasses import replace

    kept = tuple(c for c in cfg.chains if c.chain_id == chain)
    if not kept:
        known = [c.chain_id for c in cfg.chains]
        raise InvalidInput(f"--chain {chain} is not in the config's chains {known}")
    return replace(cfg, chains=kept)


def _chain_client(rpc_url: str | None, chain: int | None) -> tuple[Any, int, Any]:
    """``(web3, chain id, address book)`` of ``--rpc-url`` (default: the devnet's ``--chain``),
    checking that the node is the chain asked for."""
    from web3 import Web3

    from oms_chain.chain.addressbook import load_address_book

    url = rpc_url or _devnet_url(chain)
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise InvalidInput(f"{url} does not answer eth_chainId: {exc}") from None
    if chain is not None and chain != chain_id:
        raise InvalidInput(f"--chain {chain} but {url} is chain {chain_id}")
    return w3, chain_id, load_address_book(chain_id)


def _positive_decimal(value: str, option: str) -> Any:
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"{option} {value!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise InvalidInput(f"{option} must be positive, got {value}")
    return d


def _child_rows(session: Any, parent_id: str) -> list[dict[str, Any]]:
    rows = []
    for k in session.children(parent_id):
        st = k.settlement
        rows.append(
            {
                "order_id": k.order_id,
                "venue": k.venue,
                "quantity": str(k.quantity),
                "filled": str(k.filled_quantity),
                "avg_price": None if k.avg_fill_price is None else str(k.avg_fill_price),
                "status": k.status.value,
                "tx_hash": None if st is None else st.tx_hash,
                "settlement": None if st is None else st.status.value,
                "confirmations": None if st is None else st.confirmations,
                "reason": k.reason,
            }
        )
    return rows


def _print_children(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for col in ("child", "venue", "quantity", "avg price", "status", "tx", "settlement"):
        table.add_column(col, justify="right" if col in ("quantity", "avg price") else "left")
    for r in rows:
        settle = "-"
        if r["settlement"] is not None:
            settle = r["settlement"]
            if r["confirmations"]:
                settle += f" ({r['confirmations']} conf)"
        table.add_row(
            "#" + r["order_id"].rsplit("/", 1)[-1],
            r["venue"] or "-",
            _short_price(r["filled"]),
            _short_price(r["avg_price"]),
            r["status"],
            r["tx_hash"] or "-",
            settle,
        )
    console.print(table)


def _order_outcome(parent: Any, rows: list[dict[str, Any]], as_json: bool, store: str) -> None:
    from oms_chain.model.orders import OrderStatus

    summary = {
        "order_id": parent.order_id,
        "instrument": parent.instrument.symbol,
        "side": parent.side.value,
        "quantity": str(parent.quantity),
        "filled": str(parent.filled_quantity),
        "avg_price": None if parent.avg_fill_price is None else str(parent.avg_fill_price),
        "status": parent.status.value,
        "reason": parent.reason,
        "store": store,
        "children": rows,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_children(
            f"{parent.order_id}: {parent.side.value} {_short_price(str(parent.filled_quantity))}"
            f" of {_short_price(str(parent.quantity))} {parent.instrument.symbol} "
            f"({parent.status.value}, avg {_short_price(summary['avg_price'])})",
            rows,
        )
        err_console.print(f"[dim]events: oms orders --store {store}[/]", highlight=False)
    if parent.status is not OrderStatus.FILLED:
        raise OmsError(
            f"order {parent.order_id} ended {parent.status.value} with "
            f"{parent.filled_quantity} of {parent.quantity} filled: {parent.reason or 'no reason'}"
        )


def _resolve_pair(session: Any, sell: str, buy: str) -> tuple[Any, str]:
    """(instrument, side) for selling ``sell`` for ``buy``."""
    sell, buy = sell.strip().upper(), buy.strip().upper()
    if sell == buy:
        raise InvalidInput(f"--sell and --buy are both {sell}")
    try:
        return session.instrument(f"{sell}/{buy}"), "sell"
    except InvalidInput:
        pass
    try:
        return session.instrument(f"{buy}/{sell}"), "buy"
    except InvalidInput as exc:
        known = str(exc).split("known pairs: ", 1)[-1]
        raise InvalidInput(f"no venue trades {sell} for {buy}; known pairs: {known}") from None


@app.command()
def swap(
    sell: Annotated[str, typer.Option("--sell", help="Asset to sell (ETH, WETH, USDC, ...).")],
    buy: Annotated[str, typer.Option("--buy", help="Asset to buy.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount of --sell, in whole units.")],
    chain: Annotated[
        int | None, typer.Option("--chain", help="Chain id (default: the devnet's L1).")
    ] = None,
    venue: Annotated[
        list[str] | None,
        typer.Option(
            "--venue",
            help="Venue id (repeat for several: the router splits across them). Default: every "
            "venue trading the pair (the chain's Uniswap pools and the exchange).",
        ),
    ] = None,
    slippage_bps: Annotated[
        str, typer.Option("--slippage-bps", help="Worst price vs the plan, in bps.")
    ] = "50",
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations",
            help="Wait until each transaction has this many blocks on top (0: included; "
            "final always ends the wait).",
        ),
    ] = 0,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 120.0,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
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

    qty = _positive_decimal(amount, "--amount")
    slip = _positive_decimal(slippage_bps, "--slippage-bps") if slippage_bps != "0" else 0
    if confirmations < 0:
        raise InvalidInput(f"--confirmations must be >= 0, got {confirmations}")
    if timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    session, url = _trading_session(
        chain=chain, store=store, key_env=key_env, config=config, exchange=exchange
    )

    async def run() -> tuple[Any, list[dict[str, Any]]]:
        async with session:
            inst, side = _resolve_pair(session, sell, buy)
            if side == "buy":  # spend --amount of the quote: size the base at the best price
                qty_base = await session.quantity_for_notional(inst, side, qty, venue or None)
            else:
                qty_base = qty
            intent = session.intent(
                inst,
                side,
                qty_base,
                venues=venue or None,
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
    side: Annotated[str | None, typer.Option("--side", help="buy or sell.")] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Pair, base/quote (e.g. ETH/USDC).")
    ] = None,
    quantity: Annotated[
        str | None, typer.Option("--quantity", help="Base quantity (e.g. 200 ETH).")
    ] = None,
    algo: Annotated[str, typer.Option("--algo", help="twap, vwap, iceberg or sniper.")] = "twap",
    duration: Annotated[
        str | None, typer.Option("--duration", help="Horizon, e.g. 90s, 30m, 2h.")
    ] = None,
    slices: Annotated[int | None, typer.Option("--slices", help="Number of slices.")] = None,
    venues: Annotated[
        list[str] | None,
        typer.Option("--venues", help="Venue id (repeat). Default: every venue of the pair."),
    ] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", help="Limit price (quote per base).")
    ] = None,
    display: Annotated[
        str | None, typer.Option("--display", help="Iceberg: the visible quantity.")
    ] = None,
    slippage_bps: Annotated[
        str, typer.Option("--slippage-bps", help="Worst price per child vs its plan, in bps.")
    ] = "50",
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Resume an order interrupted with Ctrl-C (its id)."),
    ] = None,
    chain: Annotated[
        int | None, typer.Option("--chain", help="Chain id (default: the devnet's L1).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait (default: no limit).")
    ] = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """An algorithmic order (TWAP, VWAP, Iceberg, Sniper) through the engine, with progress.

    Each child is routed across the venues when it is due; a progress bar shows filled /
    quantity until the order is done. Ctrl-C pauses the order in the store and stops cleanly
    (open children are reconciled on the next start); `oms order --resume ORDER_ID` with the
    same --store resumes it and catches up with the schedule. Another trading command on the
    same store resumes only running (not paused) orders.

    Default: the devnet of `oms devnet up` (its runtime file) and its first funded key (account
    0 of the public devnet mnemonic); --key-env for your own key, --config for real chains.
    """
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if resume is None:
        missing = [
            n
            for n, v in (("--side", side), ("--symbol", symbol), ("--quantity", quantity))
            if v is None
        ]
        if missing:
            raise InvalidInput(f"{', '.join(missing)} required (or --resume ORDER_ID)")
        assert side is not None and symbol is not None and quantity is not None
        if side.lower() not in ("buy", "sell"):
            raise InvalidInput(f"--side must be buy or sell, got {side!r}")
        if algo not in _ALGOS:
            raise InvalidInput(f"--algo must be one of {', '.join(_ALGOS)}, got {algo!r}")
        qty = _positive_decimal(quantity, "--quantity")
        if algo in ("twap", "vwap") and duration is None:
            raise InvalidInput(f"--algo {algo} needs --duration (e.g. 90s, 30m, 2h)")
        params: dict[str, Any] = {}
        if duration is not None:
            params["duration"] = duration
        if slices is not None:
            if slices <= 0:
                raise InvalidInput(f"--slices must be positive, got {slices}")
            params["slices"] = slices
        if display is not None:
            params["display_quantity"] = str(_positive_decimal(display, "--display"))
        px = None if limit is None else _positive_decimal(limit, "--limit")
        slip = _positive_decimal(slippage_bps, "--slippage-bps") if slippage_bps != "0" else 0
    if timeout is not None and timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    session, url = _trading_session(
        chain=chain,
        store=store,
        key_env=key_env,
        config=config,
        exchange=exchange,
        venue_market_data=algo == "sniper",
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
                    symbol,
                    side.lower(),  # type: ignore[union-attr]
                    qty,
                    venues=venues or None,
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

                def show(p: Any, kids: list[Any]) -> None:
                    progress.update(
                        task,
                        total=float(p.quantity),
                        completed=float(p.filled_quantity),
                        detail=f"{p.status.value}, {len(kids)} children",
                    )

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


@app.command()
def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
) -> None:
    """Start the devnet and sell 25 ETH for USDC through the engine, end to end.

    The devnet runs with the exchange simulator; the route plan, the split across the exchange
    and the pools, settlement to final, fills, balances, the per-swap exactness check and the
    audit log are printed.
    """
    from oms_chain.demo import run_demo

    run_demo(console, fresh=fresh)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oms`` console script; returns the process exit code."""
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int):  # click returns the code of typer.Exit in this mode
            return code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except OmsError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2 if isinstance(exc, InvalidInput) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
