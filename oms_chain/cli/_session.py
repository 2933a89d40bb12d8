"""What ``swap`` / ``order`` / ``cancel`` share: checks before anything is opened, the
plan gate (``--dry-run``, live confirmation), the trading session and the outcome tables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
import typer.main
from rich.table import Table

from oms_chain.cli._app import _read_runtime, _runtime_file
from oms_chain.cli._args import _DEVNET_CHAIN_IDS, _aliases
from oms_chain.cli._errors import _Refused
from oms_chain.cli._output import (
    _Output,
    _print_plan,
    _short_price,
    console,
    err_console,
    print_json,
)
from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.service.endpoints import RUNTIME_SERVICES


def _trading_session(
    *,
    chain: int | None,
    store: str | None,
    key_env: str | None,
    config: Path | None,
    exchange: bool,
    venue_market_data: bool = False,
    refresh_pools: bool = False,
    resume_parents: bool | list[str] = False,
    options: bool = False,
    worker_kw: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """The TradingSession for a trading command and the store URL it uses (not yet opened).
    ``resume_parents``: the open algo / split parents of the store this process works on
    (default none: a command never works someone else's order). ``options``: also the
    options venues (RFQ makers, the Deribit-protocol exchange) of the devnet or of the config's
    ``kind = "options"`` venues. ``worker_kw``: the session's worker arguments (``oms worker``)."""
    from oms_chain.custody.local import LocalSigner
    from oms_chain.engine import load_config
    from oms_chain.service import TradingSession

    if config is not None:
        cfg = load_config(config)
        if chain is not None:
            cfg = replace_chains(cfg, chain)
        kw: dict[str, Any] = {
            "venue_market_data": venue_market_data,
            "refresh_pools": refresh_pools,
            "resume_parents": resume_parents,
            **(worker_kw or {}),
        }
        if store is not None:
            kw["store_url"] = store
        session = TradingSession.from_config(
            cfg, os.environ, with_exchange=exchange, with_options=options, **kw
        )
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
        refresh_pools=refresh_pools,
        resume_parents=resume_parents,
        with_options=options,
        **(worker_kw or {}),
    )
    return session, url


def _precheck(
    plan: dict[str, Any],
    symbols: list[str],
    venues: list[str] | None,
    *,
    config: Path | None,
    chain: int | None,
    exchange: bool,
) -> None:
    """Check what can be checked without opening anything (the config file, or the devnet's
    runtime file: its assets, pools and exchange), and note the target in ``plan``.

    Raises:
        InvalidInput: unknown asset or venue, bad config, no devnet running.
    """
    if config is not None:
        from oms_chain.engine import load_config

        cfg = load_config(config)
        if chain is not None:
            cfg = replace_chains(cfg, chain)
        plan["target"] = f"config {config}"
        plan["chains"] = [c.chain_id for c in cfg.chains]
        plan["live"] = _live_targets(cfg, exchange)
        return
    runtime, info = _read_runtime()
    chains = info["chains"]
    books = []
    for name, c in chains.items():
        if name in RUNTIME_SERVICES or not isinstance(c, dict):
            continue
        if (chain is None and name == "l1") or c.get("chain_id") == chain:
            books.append(c.get("address_book") or {})
    if not books:
        have = [c.get("chain_id") for n, c in chains.items() if n not in RUNTIME_SERVICES]
        raise InvalidInput(f"the running devnet has no chain {chain}; it has {have}")
    plan["target"] = f"devnet ({runtime})"
    plan["chains"] = [b.get("chain_id") for b in books]
    plan["live"] = []
    tokens: dict[str, str] = {}  # address (lower) -> symbol
    for b in books:
        for sym, t in dict(b.get("tokens", {})).items():
            tokens[str(t.get("address", "")).lower()] = str(sym).upper()
    known = {a for sym in tokens.values() for a in _aliases(sym)}
    pair = "/".join(symbols)
    for sym in symbols:
        if sym not in known:
            raise InvalidInput(
                f"no venue trades {' for '.join(symbols)} ({sym} is not an asset of the devnet; "
                f"known: {', '.join(sorted(known))})"
            )
    if not venues:
        return
    wanted = {a for sym in symbols for a in _aliases(sym)}
    trading: list[str] = []
    for b in books:
        cid = b.get("chain_id")
        for pool in b.get("pools", []):
            ends = {tokens.get(str(pool.get(k, "")).lower(), "") for k in ("token0", "token1")}
            if symbols and not ends <= wanted:
                continue
            proto = str(pool.get("protocol", ""))
            vid = f"{proto}-{cid}" if proto == "uniswap-v2" else f"{proto}-{pool.get('fee')}-{cid}"
            trading.append(vid)
    if exchange and "exchange" in chains:
        trading.append("binance")
    for v in venues:
        if v.lower() not in (t.lower() for t in trading):
            raise InvalidInput(
                f"venue {v!r} does not trade {pair} on the devnet; venues that do: "
                f"{', '.join(dict.fromkeys(trading)) or 'none'}"
            )


def _live_targets(cfg: Any, exchange: bool, options: bool = False) -> list[str]:
    """What in ``cfg`` trades for real: chains that are not a devnet, exchanges not in
    sandbox mode (``options``: the options exchanges too)."""
    out = [
        f"chain {c.name} ({c.chain_id})" for c in cfg.chains if c.chain_id not in _DEVNET_CHAIN_IDS
    ]
    if options:
        out += [
            f"options exchange {v.name}"
            for v in cfg.venues
            if v.kind == "options" and v.exchange is not None and v.live
        ]
    if exchange:
        out += [
            f"exchange {v.name} (not sandbox)"
            for v in cfg.venues
            if v.kind == "ccxt" and not v.testnet
        ]
    return out


def _plan_gate(plan: dict[str, Any], *, dry_run: bool, yes: bool, as_json: bool) -> bool:
    """``--dry-run``: print ``plan`` and tell the caller to stop (``True``). On a live target
    without ``--yes``: show the plan and ask (refused when stdin is not a terminal)."""
    live = plan.get("live") or []
    if dry_run:
        _print_plan({**plan, "dry_run": True}, as_json)
        return True
    if live and not yes:
        _print_plan(plan, as_json=False, stream=err_console)
        where = ", ".join(live)
        if not sys.stdin.isatty():
            raise _Refused(
                f"live target ({where}): nothing sent; confirm with --yes (stdin is not a "
                f"terminal, so there is no one to ask)"
            )
        if not typer.confirm(f"send this to {where}?", default=False, err=True):
            raise _Refused("not confirmed; nothing was sent")
    return False


def _default_store_url(store: str | None, config: Path | None) -> str:
    """The store a command uses: ``--store``, else the config's, else the running devnet's."""
    if store is not None:
        return store
    if config is not None:
        from oms_chain.engine import load_config

        cfg = load_config(config)
        if cfg.store.password_env is not None:
            raise InvalidInput(
                "the config's store takes a password (store.password_env): pass --store with "
                "the full URL"
            )
        return str(cfg.store.url)
    runtime, info = _read_runtime()
    pid = info.get("pid", 0)
    return f"sqlite:///{runtime.parent / f'oms-devnet-{pid}.db'}"


def _require_existing_store(url: str) -> None:
    """A SQLite store file must exist (nothing to act on otherwise; never create one)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InvalidInput(f"no event store at {path} (check --store)")


def _session_symbol(session: Any, symbol: str) -> Any:
    """The session's instrument for ``symbol``, trying ETH / WETH (BTC / WBTC) either way."""
    base, quote = symbol.split("/")
    first: InvalidInput | None = None
    for b in _aliases(base):
        for q in _aliases(quote):
            try:
                return session.instrument(f"{b}/{q}")
            except InvalidInput as exc:
                first = first or exc
    assert first is not None
    raise first


def _canonical_venues(session: Any, venues: list[str] | None) -> list[str] | None:
    """``--venue`` ids as the session spells them (case-insensitive match)."""
    if not venues:
        return None
    ids = {v.lower(): v for v in session.venues()}
    return [ids.get(v.lower(), v) for v in venues]


def replace_chains(cfg: Any, chain: int) -> Any:
    """``cfg`` with only the chain ``chain`` (``--chain`` with ``--config``)."""
    from dataclasses import replace

    kept = tuple(c for c in cfg.chains if c.chain_id == chain)
    if not kept:
        known = [c.chain_id for c in cfg.chains]
        raise InvalidInput(f"--chain {chain} is not in the config's chains {known}")
    return replace(cfg, chains=kept)


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
            r["order_id"] if _Output.wide else "#" + r["order_id"].rsplit("/", 1)[-1],
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
        print_json(summary)
    else:
        _print_children(
            f"{parent.order_id}: {parent.side.value} {_short_price(str(parent.filled_quantity))}"
            f" of {_short_price(str(parent.quantity))} {parent.instrument.symbol} "
            f"({parent.status.value}, avg {_short_price(summary['avg_price'])})",
            rows,
        )
        err_console.print(f"[dim]events: oms orders --store {store}[/]", highlight=False)
    if parent.status is not OrderStatus.FILLED:
        refused = parent.status is OrderStatus.REJECTED
        if as_json:  # the outcome above says it all; one JSON document on stdout
            raise typer.Exit(4 if refused else 1)
        raise (_Refused if refused else OmsError)(
            f"order {parent.order_id} ended {parent.status.value} with "
            f"{parent.filled_quantity} of {parent.quantity} filled: {parent.reason or 'no reason'}"
        )


def _resolve_pair(session: Any, sell: str, buy: str) -> tuple[Any, str]:
    """(instrument, side) for selling ``sell`` for ``buy`` (ETH and WETH alike, any case)."""
    sell, buy = sell.strip().upper(), buy.strip().upper()
    if sell == buy:
        raise InvalidInput(f"--sell and --buy are both {sell}")
    for s in _aliases(sell):
        for b in _aliases(buy):
            try:
                return session.instrument(f"{s}/{b}"), "sell"
            except InvalidInput:
                pass
            try:
                return session.instrument(f"{b}/{s}"), "buy"
            except InvalidInput as exc:
                known = str(exc).split("known pairs: ", 1)[-1]
    raise InvalidInput(f"no venue trades {sell} for {buy}; known pairs: {known}") from None
