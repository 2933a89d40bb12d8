"""``oms audit verify | anchor | export``: the tamper-evident audit log (store read-only)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from oms_chain.cli._app import audit_app
from oms_chain.cli._args import _DEVNET_CHAIN_IDS, JsonOption, StoreOption
from oms_chain.cli._errors import _one_line
from oms_chain.cli._output import console, err_console, print_json, say
from oms_chain.model.errors import InvalidInput, OmsError


def _open_audit_store(url: str) -> Any:
    """Open ``url`` read-only for the audit commands; usage errors exit 2."""
    from oms_chain.store import InvalidStoreUrl, open_store

    try:
        return open_store(url, read_only=True)
    except InvalidStoreUrl as exc:
        raise InvalidInput(f"{exc} (check --store)") from None


@audit_app.command("verify")
def audit_verify(
    store: StoreOption,
    anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            metavar="FILE",
            help="Anchor file written by `oms audit anchor --file` (repeatable).",
        ),
    ] = None,
    anchor_chain: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor-chain",
            metavar="URL",
            help="RPC URL of a chain holding anchors of this store (repeatable).",
        ),
    ] = None,
    anchor_contract: Annotated[
        str | None,
        typer.Option(
            "--anchor-contract",
            metavar="ADDRESS",
            help="AuditAnchor address (default: the chain's address book entry).",
        ),
    ] = None,
    anchor_writer: Annotated[
        str | None,
        typer.Option(
            "--anchor-writer",
            metavar="ADDRESS",
            help="Only trust on-chain anchors sent by this address.",
        ),
    ] = None,
    from_block: Annotated[
        int,
        typer.Option("--from-block", metavar="BLOCK", help="First block to search for anchors."),
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Check the store without changing it: hash chain, anchors, snapshots, client order ids.

    Opens the store read-only and never changes it.

    Exit 0: all consistent. 3: something was rewritten (each problem is named). 2: no store, an
    empty store, or a bad option.
    """
    from oms_chain.engine import SNAPSHOT_NAME
    from oms_chain.store import read_anchor_file, state_problems, verify_audit

    files = list(anchor or [])
    rpcs = list(anchor_chain or [])
    if from_block < 0:
        raise InvalidInput(f"--from-block must be >= 0, got {from_block}")
    for f in files:
        if not f.is_file():
            raise InvalidInput(f"anchor file {f} does not exist (check --anchor)")
    anchors = [a for f in files for a in read_anchor_file(f)]
    with _open_audit_store(store) as es:
        store_id = es.store_id()
        broken: list[str] = []
        for url in rpcs:
            found, missing = _chain_anchors(
                url, store_id, anchor_contract, anchor_writer, from_block
            )
            anchors += found
            if missing:
                broken.append(missing)
        report = verify_audit(es, anchors=anchors, store_id=store_id)
        store_url = es.url
        if report.ok and report.checked == 0 and not anchors and not broken:
            raise InvalidInput(
                f"store {es.url} holds no events: nothing to verify (a wiped store looks like "
                f"this too: check it against an anchor with --anchor / --anchor-chain)"
            )
        if not report.ok:
            broken.insert(0, str(report))
        broken += [str(p) for p in state_problems(es, projections_snapshot=SNAPSHOT_NAME)]
    if as_json:
        doc: dict[str, Any] = {
            "ok": not broken,
            "store": str(store_url),
            "store_id": store_id,
            "checked": report.checked,
            "head_position": report.head_position,
            "head_hash": report.head_hash,
            "anchors_checked": report.anchors_checked,
            "problems": broken,
        }
        if broken:  # also an error object, as every failing command prints with --json
            doc.update(error=_one_line(broken[0]), code=3, kind="AuditBroken")
        print_json(doc)
    elif not broken:
        console.print(
            f"[green]{report}; snapshots and client order ids match the events[/]",
            highlight=False,
            soft_wrap=True,
        )
    for line in [] if as_json else broken:
        err_console.print(f"[red]{line}[/]", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(3)


def _anchor_contract(chain_id: int, contract: str | None) -> str:
    if contract is not None:
        return contract
    from oms_chain.chain.addressbook import load_address_book

    try:
        return load_address_book(chain_id).address("AuditAnchor")
    except (OmsError, OSError):
        raise InvalidInput(
            f"no AuditAnchor in the address book of chain {chain_id}; pass its address"
        ) from None


def _chain_anchors(
    url: str, store_id: str | None, contract: str | None, writer: str | None, from_block: int
) -> tuple[list[Any], str | None]:
    """Anchors of the store on the chain at ``url``, and why none were found (or ``None``)."""
    import asyncio

    from oms_chain.chain.anchor import read_chain_anchors
    from oms_chain.chain.rpc import RpcClient

    if store_id is None:
        return [], "the store has no id, so no anchor on a chain can name it"

    async def run() -> tuple[int, str, list[Any]]:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            address = _anchor_contract(chain_id, contract)
            found = await read_chain_anchors(
                rpc, address, store_id, writer=writer, from_block=from_block
            )
            return chain_id, address, found

    chain_id, address, found = asyncio.run(run())
    if found:
        return found, None
    by = f" by {writer}" if writer else ""
    return [], (
        f"no anchor of store {store_id}{by} on chain {chain_id} at {address}: never anchored "
        f"there, or the store's identity was rewritten"
    )


@audit_app.command("anchor")
def audit_anchor(
    store: StoreOption,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", metavar="FILE", help="Append the head to this anchor file (JSON lines)."
        ),
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url", metavar="URL", help="Publish the head to the AuditAnchor on this chain."
        ),
    ] = None,
    contract: Annotated[
        str | None,
        typer.Option(
            "--contract",
            metavar="ADDRESS",
            help="AuditAnchor address (default: the address book's).",
        ),
    ] = None,
    key_env: Annotated[
        str | None,
        typer.Option(
            "--key-env",
            metavar="VAR",
            help="Environment variable holding the anchoring key (hex). Default on the devnet "
            "chains: the devnet's first funded key.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish the verified chain head (position, hash, store id) outside the store.

    To a file the user keeps (--file, appended) and/or as an AuditAnchor transaction
    (--rpc-url). The chain is verified first; a broken chain is not anchored (exit 3).
    """

    from oms_chain.store import Anchor, append_anchor_file, verify_audit

    if file is None and rpc_url is None:
        raise InvalidInput("give --file, --rpc-url or both: where to publish the anchor")
    if file is not None and not file.parent.is_dir():
        raise InvalidInput(f"directory {file.parent} of --file does not exist; create it first")
    with _open_audit_store(store) as es:
        store_id = es.store_id()
        report = verify_audit(es)
        url = es.url
    if not report.ok:
        err_console.print(f"[red]not anchored: {report}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    if report.checked == 0:
        raise InvalidInput(f"store {url} holds no events: nothing to anchor")
    if store_id is None:
        raise InvalidInput(
            f"store {url} has no id (written by an older oms-chain): open it once with a "
            f"trading command, then anchor it"
        )
    head = Anchor(report.head_position, report.head_hash, store_id, "new", time.time_ns())
    row: dict[str, Any] = {
        "store": url,
        "store_id": store_id,
        "position": head.position,
        "hash": head.hash,
    }
    published: dict[str, Any] = {}
    if rpc_url is not None:
        published = _publish_on_chain(rpc_url, contract, key_env, head)
        row.update(published)
    if file is not None:
        append_anchor_file(file, head, url, published)
        row["file"] = str(file)
    if as_json:
        print_json(row)
        return
    where = [f"file {file}"] if file is not None else []
    if "tx_hash" in row:
        where.append(f"chain {row['chain_id']} tx {row['tx_hash']} (block {row['block']})")
    console.print(
        f"anchored store {store_id} at position {head.position}, hash {head.hash}: "
        + "; ".join(where),
        highlight=False,
        soft_wrap=True,
    )


def _publish_on_chain(
    rpc_url: str, contract: str | None, key_env: str | None, head: Any
) -> dict[str, Any]:
    import asyncio

    from oms_chain.chain.anchor import publish_anchor
    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.sender import TxSender
    from oms_chain.custody.local import LocalSigner

    async def run() -> dict[str, Any]:
        async with RpcClient([rpc_url]) as rpc:
            chain_id = await rpc.chain_id()
            if key_env is not None:
                signer = LocalSigner.from_env(key_env)
            elif chain_id in _DEVNET_CHAIN_IDS:
                from oms_chain.devnet.anvil import DEFAULT_MNEMONIC
                from oms_chain.devnet.world import derive_accounts

                signer = LocalSigner(derive_accounts(DEFAULT_MNEMONIC, 1)[0].private_key)
            else:
                raise InvalidInput(f"chain {chain_id} is not a devnet: pass --key-env")
            address = _anchor_contract(chain_id, contract)
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            sender = TxSender(rpc, info, signer)
            await sender.nonces.sync()
            done = await publish_anchor(sender, rpc, address, head)
            return {
                "chain_id": done.chain_id,
                "contract": done.contract,
                "tx_hash": done.tx_hash,
                "block": done.block_number,
                "writer": done.writer,
            }

    return asyncio.run(run())


@audit_app.command("export")
def audit_export(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="File to write.")],
    fmt: Annotated[
        str, typer.Option("--format", metavar="jsonl|csv", help="jsonl or csv.")
    ] = "jsonl",
    as_json: JsonOption = False,
) -> None:
    """Write every event with its hash-chain columns to a JSONL or CSV file (store read-only)."""
    from oms_chain.store import export_audit

    if fmt not in ("jsonl", "csv"):
        raise InvalidInput(f"--format must be jsonl or csv, got {fmt!r}")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out: folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise InvalidInput(f"--out {out} is a folder; give a file name")
    with _open_audit_store(store) as es:
        count = export_audit(es, out, fmt)  # type: ignore[arg-type]
        url = es.url
    if as_json:
        print_json({"store": url, "out": str(out), "format": fmt, "events": count})
        return
    say(f"wrote {count:,} events to {out}")
