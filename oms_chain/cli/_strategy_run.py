"""What ``oms strategy`` does besides the preview: execute a structure on the on-chain options
market (all legs in one BatchExecutor transaction, through
:class:`~oms_chain.service.structures.StructureRunner`), and ``list`` / ``show`` the structures
of an event store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms_chain.cli._args import _shown
from oms_chain.cli._errors import _Refused
from oms_chain.cli._output import console, err_console, print_json, say, table
from oms_chain.model.errors import InvalidInput

_UNDERLYING_ON_CHAIN = {"ETH": "WETH", "BTC": "WBTC"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OnchainTarget:
    """Where and as whom a structure is executed."""

    rpc_url: str
    makers: tuple[str, ...]
    executor: str | None
    private_key: str
    store_url: str
    structure_id: str
    policy: str
    limits: dict[str, Decimal | None]
    vol: Decimal
    yes: bool
    as_json: bool


def execute_onchain(
    target: OnchainTarget,
    underlying: str,
    build: Callable[[Any], Any],
) -> int:
    """Build the structure from the market's listed series (``build(series)``), quote it, ask
    for confirmation (unless ``--yes``), then run it; returns the exit code."""
    return asyncio.run(_execute(target, underlying, build))


async def _execute(target: OnchainTarget, underlying: str, build: Callable[[Any], Any]) -> int:
    from oms_chain.chain.addressbook import load_address_book
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient, RpcUnavailable
    from oms_chain.custody.local import LocalSigner
    from oms_chain.model.clock import SystemClock
    from oms_chain.model.ids import client_order_id
    from oms_chain.risk import MarketSnapshot
    from oms_chain.service.structures import StructureRequest, StructureRunner
    from oms_chain.store import open_store
    from oms_chain.strategies import OptionSeries, StructureLimits
    from oms_chain.venues.amm.account import ChainAccount
    from oms_chain.venues.options import onchain_options_venue
    from oms_chain.venues.options.batch import AtomicOptionsBatch

    limits = StructureLimits(**target.limits)  # type: ignore[arg-type]
    rpc = RpcClient([target.rpc_url])
    store = open_store(target.store_url)
    try:
        try:
            chain_id = int(await rpc.call("eth_chainId", []), 16)
        except RpcUnavailable:
            raise InvalidInput(f"--rpc-url {target.rpc_url} does not answer") from None
        book = load_address_book(chain_id)
        executor = target.executor or book.address("BatchExecutor")
        account = ChainAccount(rpc, chain_info(chain_id), LocalSigner(target.private_key), store)
        venue = onchain_options_venue(account, book, target.makers, executor=executor)
        async with venue:
            wanted = _UNDERLYING_ON_CHAIN[underlying]
            listed = [c for c in venue.instruments() if c.underlying.symbol == wanted]
            if not listed:
                raise InvalidInput(f"the on-chain market lists no {wanted} options")
            c0 = listed[0]
            series = OptionSeries(
                underlying=c0.underlying,
                quote=c0.quote,
                settlement=c0.settlement,
                size_decimals=c0.size_decimals,
            )
            structure = build(series)
            structure.check_listed(venue.instruments())
            batch = AtomicOptionsBatch(venue)
            spot = await venue.index_price(c0)
            now_ns = (await venue.chain_time()) * 10**9
            request = StructureRequest(
                structure_id=target.structure_id,
                structure=structure,
                account=account.address,
                limits=limits,
                market=MarketSnapshot(
                    now_ns=now_ns,
                    spots={structure.underlying_symbol: spot},
                    vols={leg.contract.id: target.vol for leg in structure.legs},
                ),
                policy=target.policy,
            )
            preview = await batch.prepare(
                client_order_id(target.structure_id, 0, prefix="sxp"),  # type: ignore[arg-type]
                _orders(structure),
                max_net_premium=Decimal(10) ** 30,
            )
            plan = _plan(structure, preview, target, venue.venue_id, executor, spot)
            _confirm(plan, yes=target.yes, as_json=target.as_json)

            def progress(step: str) -> None:
                if not target.as_json:
                    err_console.print(f"[dim]structure {target.structure_id}: {step}[/dim]")

            runner = StructureRunner(
                store=store, clock=SystemClock(), batch=batch, on_step=progress
            )
            rec = await runner.run(request)
    finally:
        await rpc.close()
        store.close()
    doc = rec.to_json()
    if target.as_json:
        print_json(doc)
    else:
        _print_record(doc)
    return 0 if rec.status == "open" else 1


def _orders(structure: Any) -> list[Any]:
    from oms_chain.model.ids import IntentId, client_order_id
    from oms_chain.model.intent import Side
    from oms_chain.venues.base import PlaceOrder

    return [
        PlaceOrder(
            client_order_id=client_order_id(IntentId("preview"), i, prefix="sxp"),
            instrument=leg.contract,
            side=Side(leg.side.value),
            quantity=leg.quantity,
            limit_price=None,
        )
        for i, leg in enumerate(structure.legs)
    ]


def _plan(
    structure: Any, prepared: Any, target: OnchainTarget, venue: str, executor: str, spot: Decimal
) -> dict[str, Any]:
    quote = structure.legs[0].contract.quote
    return {
        "structure_id": target.structure_id,
        "kind": structure.kind,
        "policy": target.policy,
        "venue": venue,
        "executor": executor,
        "spot": str(spot),
        "legs": [
            {
                "leg": i,
                "side": leg.order.side.value,
                "quantity": str(leg.order.quantity),
                "contract": leg.listing.contract.symbol,
                "premium": str(Decimal(leg.premium).scaleb(-quote.decimals)),
            }
            for i, leg in enumerate(prepared.legs)
        ],
        "net_premium": str(Decimal(prepared.net_premium).scaleb(-quote.decimals)),
        "limits": {k: None if v is None else str(v) for k, v in target.limits.items()},
    }


def _confirm(plan: dict[str, Any], *, yes: bool, as_json: bool) -> None:
    import typer

    if not as_json:
        t = table(
            f"{plan['kind']} {plan['structure_id']}: one transaction on {plan['venue']} "
            f"(executor {plan['executor']}, spot {plan['spot']})",
            ("leg", "side", "qty", "contract", "premium"),
            right=("qty", "premium"),
        )
        for leg in plan["legs"]:
            t.add_row(
                str(leg["leg"]), leg["side"], leg["quantity"], leg["contract"], leg["premium"]
            )
        err_console.print(t)
        err_console.print(
            f"net premium {plan['net_premium']} (positive: paid); limits {plan['limits']}"
        )
    if yes:
        return
    if not sys.stdin.isatty():
        raise _Refused("nothing sent; confirm with --yes (stdin is not a terminal)")
    if not typer.confirm("send these legs as one transaction?", default=False, err=True):
        raise _Refused("not confirmed; nothing was sent")


def _signed_decimal(value: str) -> Decimal:
    try:
        d = Decimal(value.strip(" "))
    except (ArithmeticError, AttributeError, ValueError):
        d = Decimal("NaN")
    if not d.is_finite() or abs(d) > Decimal(10) ** 15:
        raise InvalidInput(
            f"--max-premium must be a number (negative: a credit), got {_shown(value)}"
        )
    return d


def store_command(command: str, structure_id: str | None, store: str | None, as_json: bool) -> None:
    """``oms strategy list`` / ``oms strategy show ID`` on ``--store`` (default: the devnet's)."""
    from oms_chain.cli._session import _default_store_url

    url = _default_store_url(store, None)
    if command == "list":
        if structure_id is not None:
            raise InvalidInput(f"list takes no ID, got {_shown(structure_id)}")
        list_command(url, as_json)
        return
    if structure_id is None:
        raise InvalidInput("show needs the structure's ID (see `oms strategy list`)")
    show_command(url, structure_id, as_json)


def run_onchain(
    build: Callable[[Any], Any],
    und: str,
    sid: str,
    vol: Decimal,
    makers: list[str],
    executor: str | None,
    rpc_url: str | None,
    key_env: str | None,
    store: str | None,
    limits: dict[str, Decimal | None],
    yes: bool,
    as_json: bool,
) -> None:
    """Execute the structure ``build(series)`` builds on the on-chain market (see
    :func:`execute_onchain`); exits non-zero unless every leg filled."""
    import os

    import typer

    from oms_chain.cli._app import _devnet_url
    from oms_chain.cli._session import _default_store_url

    if key_env is not None:
        key = os.environ.get(key_env)
        if not key:
            raise InvalidInput(f"--key-env {key_env}: the variable is not set")
    else:
        from oms_chain.devnet.anvil import DEFAULT_MNEMONIC
        from oms_chain.devnet.world import derive_accounts

        key = derive_accounts(DEFAULT_MNEMONIC, 1)[0].private_key  # owns the devnet executor
    target = OnchainTarget(
        rpc_url=rpc_url or _devnet_url(None),
        makers=tuple(makers),
        executor=executor,
        private_key=key,
        store_url=_default_store_url(store, None),
        structure_id=sid,
        policy="atomic",
        limits=limits,
        vol=vol,
        yes=yes,
        as_json=as_json,
    )
    code = execute_onchain(target, und, build)
    if code:
        raise typer.Exit(code)


# --- list / show --------------------------------------------------------------------------------


def list_command(store_url: str, as_json: bool) -> None:
    """``oms strategy list``."""
    from oms_chain.service.structures import list_structures

    records = [r.to_json() for r in _with_store(store_url, list_structures)]
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "events"} for r in records])
        return
    t = table(
        f"structures in {store_url}",
        ("id", "kind", "policy", "status", "legs", "net premium", "max loss", "submitted"),
        right=("legs", "net premium", "max loss"),
    )
    for r in records:
        t.add_row(
            r["structure_id"],
            r["kind"],
            r["policy"],
            r["status"],
            str(len(r["legs"])),
            r["net_premium"] or "-",
            r["max_loss"] or ("unbounded" if r["net_premium"] else "-"),
            _when(r["ts_submitted"]),
        )
    console.print(t)
    if not records:
        say("no structures yet")


def show_command(store_url: str, structure_id: str, as_json: bool) -> None:
    """``oms strategy show ID``."""
    from oms_chain.service.structures import read_structure

    rec = _with_store(store_url, lambda s: read_structure(s, structure_id))
    if rec is None:
        raise InvalidInput(
            f"no structure {structure_id!r} in {store_url} (see `oms strategy list`)"
        )
    doc = rec.to_json()
    if as_json:
        print_json(doc)
        return
    _print_record(doc)
    ev = table("events", ("#", "event", "when", "detail"))
    for i, e in enumerate(doc["events"], 1):
        detail = ", ".join(
            f"{k}={v}" for k, v in e.items() if k not in ("type", "ts_event") and v is not None
        )
        ev.add_row(str(i), e["type"], _when(e["ts_event"]), detail[:120])
    console.print(ev)


def _print_record(doc: dict[str, Any]) -> None:
    t = table(
        f"{doc['kind']} {doc['structure_id']} ({doc['policy']}): {doc['status']}",
        ("leg", "side", "qty", "contract", "venue", "filled", "price"),
        right=("qty", "filled", "price"),
    )
    for i, leg in enumerate(doc["legs"]):
        t.add_row(
            str(i),
            leg["side"],
            leg["quantity"],
            leg["symbol"],
            leg["venue"],
            leg["filled"] or "-",
            leg["price"] or "-",
        )
    console.print(t)
    limits = doc.get("limits") or {}
    if doc["policy"] != "atomic" and "time_limit_ns" in limits:  # the leg coordinator's bounds
        say(
            f"leg time limit {int(limits['time_limit_ns']) / 1e9:g} s, unwinds within "
            f"{limits.get('slippage_bps', '-')} bps"
            + (f"; {doc['reason']}" if doc["reason"] else "")
        )
    else:
        say(
            f"net premium {doc['net_premium'] or '-'} (positive: paid), max loss "
            f"{doc['max_loss'] or '-'}, margin {doc['margin'] or '-'}; tx {doc['tx_hash'] or '-'}"
            + (f"; {doc['reason']}" if doc["reason"] else "")
        )
    say(
        f"unintended exposure {doc['exposure_usd_s']} USD x s (max |delta| "
        f"{doc['max_delta_usd']} USD, partial for {doc['legged_ns'] / 1e9:g} s)"
    )


def _with_store(url: str, fn: Callable[[Any], Any]) -> Any:
    from oms_chain.cli._session import _require_existing_store
    from oms_chain.store import open_store

    _require_existing_store(url)
    store = open_store(url)
    try:
        return fn(store)
    finally:
        store.close()


def _when(ns: int) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
