"""``oms submit``, ``oms worker`` and ``oms workers``: several OMS workers on one store.

``oms submit`` puts an intent in the store's queue (from any host, no venue needed);
``oms worker`` runs one worker that claims parents from the queue under leases and works them;
``oms workers`` lists the leases (who holds what, until when) and the queue's depth.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from oms_chain.cli._app import app
from oms_chain.cli._args import (
    ChainOption,
    ConfigOption,
    JsonOption,
    KeyEnvOption,
    StoreOption,
    _identifier,
)
from oms_chain.cli._output import console, print_json
from oms_chain.cli._session import _trading_session
from oms_chain.model.errors import InvalidInput

_NS = 1_000_000_000


def _leases(store_url: str) -> tuple[Any, Any]:
    """The store (opened for writing) and its leases."""
    from oms_chain.store import Leases, PostgresEventStore, SqliteEventStore, open_store

    store = open_store(store_url)
    try:
        if not isinstance(store, SqliteEventStore | PostgresEventStore):
            raise InvalidInput(f"--store {store_url}: the queue needs SQLite or PostgreSQL")
        return store, Leases(store)
    except Exception:
        store.close()
        raise


_ACCOUNT = re.compile(r"account:([0-9]{1,12}):(0x[0-9a-fA-F]{40})")
_RESOURCE = re.compile(r"[a-z][a-z-]*:[A-Za-z0-9._:-]{1,200}")


def _resource(text: str) -> str:
    """A ``--needs`` resource, checked (an account's address lower-cased, as workers hold it)."""
    found = _ACCOUNT.fullmatch(text)
    if found is not None:
        return f"account:{int(found[1])}:{found[2].lower()}"
    if text.startswith("account:") or not _RESOURCE.fullmatch(text):
        raise InvalidInput(
            f"--needs {text!r}: expected account:<chain id>:<0x address> or kind:name "
            f"(as `oms workers` lists leases)"
        )
    return text


@app.command("submit")
def submit_cmd(
    intent_file: Annotated[
        str,
        typer.Option(
            "--intent",
            metavar="FILE",
            help="The intent as JSON (Intent.to_payload(): intent_id, account, instrument, "
            "side, quantity, venues, algo, ...); '-' reads standard input.",
        ),
    ],
    store: StoreOption,
    needs: Annotated[
        list[str] | None,
        typer.Option(
            "--needs",
            metavar="RESOURCE",
            help="A lease the worker must hold to claim it, e.g. account:<chain id>:<address> "
            "for a swap (the signer whose nonces it uses; `oms workers` lists them). "
            "Repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Queue an intent in the store for the workers (`oms worker`) to execute.

    Idempotent: the same intent queued again is a no-op; another intent under a known id is
    refused. Nothing is sent from here: the first worker free claims it (with --needs, the
    first one holding those leases: an on-chain intent goes to its signer's worker, never to
    a standby or CEX-only worker).
    """
    from oms_chain.model import Intent

    resources = [_resource(r) for r in needs or []]

    try:
        text = sys.stdin.read() if intent_file == "-" else Path(intent_file).read_text()
    except OSError as exc:
        raise InvalidInput(f"--intent {intent_file}: cannot read it ({exc.strerror})") from None
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"--intent {intent_file}: not JSON ({exc})") from None
    intent = Intent.from_payload(payload)  # InvalidIntent names the field
    from oms_chain.store.leases import DuplicateIntent

    db, leases = _leases(store)
    try:
        new = leases.enqueue(intent.intent_id, intent.to_payload(), needs=resources)
        waiting = leases.open_intents()
    except DuplicateIntent as exc:
        raise InvalidInput(str(exc)) from None
    finally:
        db.close()
    out = {"intent_id": intent.intent_id, "queued": new, "open_intents": waiting}
    if as_json:
        print_json(out)
        return
    said = "queued" if new else "already queued (unchanged)"
    console.print(f"intent {intent.intent_id} {said}; {waiting} open in the queue")


@app.command("worker")
def worker_cmd(
    store: StoreOption,
    worker_id: Annotated[
        str | None,
        typer.Option("--id", metavar="NAME", help="Worker id (default: host name and pid)."),
    ] = None,
    ttl: Annotated[
        float,
        typer.Option("--ttl", metavar="SECONDS", help="Lease length; heartbeats every third."),
    ] = 15.0,
    max_parents: Annotated[
        int, typer.Option("--max-parents", metavar="N", help="Most parents held at once.")
    ] = 64,
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    chain: ChainOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run one worker on a shared store until SIGTERM or Ctrl-C.

    It claims queued intents (`oms submit`) under leases, works their parents (every send
    recorded first under the parent's lease and refused if another worker took it over), takes
    over the parents of workers whose leases expired, and on SIGTERM releases its leases so
    the others continue at once. Venues come from --config, or from the devnet of `oms devnet up`.
    """
    import asyncio
    import os
    import signal

    name = _identifier(worker_id, "--id") if worker_id is not None else None
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    if not 0.5 <= ttl <= 3600:
        raise InvalidInput(f"--ttl must be 0.5 to 3600 seconds, got {ttl}")
    if not 1 <= max_parents <= 10_000:
        raise InvalidInput(f"--max-parents must be 1 to 10000, got {max_parents}")
    session, _ = _trading_session(
        chain=chain,
        store=store,
        key_env=key_env,
        config=config,
        exchange=exchange,
        worker_kw={"worker_id": name, "lease_ttl_s": ttl},
    )

    async def run() -> Any:
        async with session:
            worker = session.worker
            worker.max_parents = max_parents
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.stop)
            if not as_json:
                console.print(f"worker {name} on {session.store_url}: claiming (SIGTERM drains)")
            return await worker.run()

    stats = asyncio.run(run())
    out = {"worker": name, **dataclasses.asdict(stats)}
    if as_json:
        print_json(out)
        return
    console.print(
        f"worker {name} stopped: claimed {stats.claimed} (taken over {stats.taken_over}), "
        f"finished {stats.finished}, lost {stats.lost}, released {stats.released}"
    )


@app.command("workers")
def workers_cmd(store: StoreOption, as_json: JsonOption = False) -> None:
    """The leases of a shared store: who holds which parent or account, its fencing epoch,
    when it expires and how long ago its holder heartbeat; and how many intents are open."""
    db, leases = _leases(store)
    try:
        rows = leases.leases()
        waiting = leases.open_intents()
    finally:
        db.close()
    now = time.time_ns()
    items = [
        {
            "resource": r.resource,
            "owner": r.owner,
            "epoch": r.token,
            "live": r.live,
            "released": r.released_at_ns is not None,
            "expires_in_s": round((r.expires_at_ns - now) / _NS, 3),
            "heartbeat_age_s": round((now - r.heartbeat_at_ns) / _NS, 3),
        }
        for r in rows
    ]
    owners = sorted({i["owner"] for i in items if i["live"]})
    if as_json:
        print_json({"open_intents": waiting, "live_workers": owners, "leases": items})
        return
    table = Table(title=f"leases ({len(owners)} live workers, {waiting} open intents)")
    for col in ("resource", "owner", "epoch", "state", "expires in", "heartbeat age"):
        table.add_column(col, justify="right" if col in ("epoch",) else "left")
    for i in items:
        state = "released" if i["released"] else "live" if i["live"] else "expired"
        live = i["live"]
        table.add_row(
            str(i["resource"]),
            str(i["owner"]),
            str(i["epoch"]),
            state,
            f"{i['expires_in_s']:.1f} s" if live else "-",
            f"{i['heartbeat_age_s']:.1f} s",
        )
    console.print(table)
