"""``oms safe show | export | hash | sign | execute | propose | list | approve | proposals``:
Safe v1.4.1 from the shell.

A Safe{Wallet} Transaction Builder batch file is the unit that travels between people: ``export``
writes one (owners can review it in the Safe web app), ``hash`` shows the SafeTx hash a given
nonce gives it, ``sign`` prints one owner's signature, and ``execute`` checks the collected
signatures against the Safe on chain and has a relayer account send it; these batch files are
not written to an event store unless ``propose`` imports one as a proposal awaiting the
owners' signatures. ``list`` (``proposals list``), ``show SAFE_TX_HASH`` and ``proposals
show`` read the proposals in the store (imported ones, and the Safe transactions the engine
proposed, signed and sent when trading from a Safe); ``proposals export``
writes one awaiting signatures as a batch file for its owners, and ``approve`` submits their
signatures (and, given the relayer's key, executes once the threshold is met). Needs the
``safe`` extra.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._app import _devnet_url, app
from oms_chain.cli._args import (
    JsonOption,
    RpcUrlOption,
    StoreOption,
    _bounded_int,
    _duration,
    _shown,
    _text,
)
from oms_chain.cli._output import console, print_fields, print_json, say, table
from oms_chain.model.errors import InvalidInput

safe_app = typer.Typer(
    help="Safe v1.4.1 accounts: show, export / hash / sign / execute batches, proposals.",
    rich_markup_mode=None,
)
app.add_typer(safe_app, name="safe")

_MAX_NONCE = 2**64
_SAFE_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


def _address(value: str, what: str) -> str:
    from eth_utils import is_address, to_checksum_address

    if not is_address(value.strip()):
        raise InvalidInput(f"{what} {_shown(value)} is not a 0x address (40 hex digits)")
    return str(to_checksum_address(value.strip()))


def _read_batch(path: Path) -> Any:
    from oms_chain.custody.safe import TransactionBatch

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"FILE {path} cannot be read: {exc.__class__.__name__}") from None
    return TransactionBatch.from_json(text)


def _multisend_for(chain_id: int, given: str | None) -> str:
    if given is not None:
        return _address(given, "--multisend")
    from oms_chain.chain.addressbook import load_address_book

    try:
        return str(load_address_book(chain_id).address("MultiSendCallOnly"))
    except InvalidInput:
        raise InvalidInput(
            f"no MultiSendCallOnly in the address book of chain {chain_id}; pass --multisend"
        ) from None


def _safe_tx(batch: Any, nonce: int, multisend: str | None) -> Any:
    from oms_chain.custody.safe import SafeTransaction

    return SafeTransaction.batch(
        safe=batch.safe,
        chain_id=batch.chain_id,
        nonce=nonce,
        calls=batch.calls,
        multisend_call_only=_multisend_for(batch.chain_id, multisend)
        if len(batch.calls) > 1
        else batch.safe,
    )


FileArg = Annotated[
    Path, typer.Argument(metavar="FILE", help="Transaction Builder batch file (JSON).")
]
NonceOption = Annotated[
    str, typer.Option("--nonce", metavar="N", help="The Safe nonce the transaction takes.")
]
MultisendOption = Annotated[
    str | None,
    typer.Option(
        "--multisend",
        metavar="ADDRESS",
        help="MultiSendCallOnly address (default: the chain's address book).",
    ),
]


def _parse_signatures(tokens: list[str]) -> list[Any]:
    from oms_chain.custody.safe import OwnerSignature

    sigs = []
    for i, token in enumerate(tokens, 1):
        owner, _, hex_sig = token.partition(":")
        contract = hex_sig.startswith("contract:")
        try:
            raw = bytes.fromhex(hex_sig.removeprefix("contract:").removeprefix("0x"))
        except ValueError:
            raise InvalidInput(
                f"--signature {i} is not OWNER:0xHEX (or OWNER:contract:0xHEX)"
            ) from None
        who = _address(owner, f"--signature {i} owner")
        sigs.append(OwnerSignature.contract(who, raw) if contract else OwnerSignature.eoa(who, raw))
    return sigs


def _tx_addresses(tx: Any) -> Any:
    """Addresses for a SafeAccount that only reads the Safe and runs ``tx`` as built."""
    from oms_chain.custody.safe import SafeAddresses

    ms: Any = tx.to if tx.operation else tx.safe
    return SafeAddresses(
        singleton=tx.safe, proxy_factory=tx.safe, fallback_handler=tx.safe, multisend_call_only=ms
    )


@safe_app.command("show")
def safe_show(
    safe: Annotated[
        str,
        typer.Argument(
            metavar="SAFE|SAFE_TX_HASH",
            help="A Safe's address (its state on chain) or a proposal's SafeTx hash (--store).",
        ),
    ],
    rpc_url: RpcUrlOption = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URL",
            envvar="OMS_STORE_URL",
            help="Event store URL, to show a proposal (env OMS_STORE_URL).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A Safe's owners, threshold, nonce, modules, guard, fallback handler and version; or,
    given a SafeTx hash, that proposal (as ``oms safe proposals show``)."""
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.safe import SafeAccount, SafeAddresses

    if _SAFE_TX_HASH.fullmatch(safe.strip()):
        if store is None:
            raise InvalidInput("SAFE_TX_HASH needs --store (the store the proposal is in)")
        _show_proposal(safe, store, as_json)
        return
    address = _address(safe, "SAFE")
    url = rpc_url or _devnet_url(None)
    zero: Any = "0x" + "00" * 20

    async def read() -> Any:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            none = SafeAddresses(
                singleton=zero, proxy_factory=zero, fallback_handler=zero, multisend_call_only=zero
            )
            return await SafeAccount(rpc, address, chain_id, none).state()

    state = asyncio.run(read())
    row = {
        "safe": state.address,
        "version": state.version,
        "owners": list(state.owners),
        "threshold": state.threshold,
        "nonce": state.nonce,
        "modules": list(state.modules),
        "guard": state.guard,
        "fallback_handler": state.fallback_handler,
    }
    if as_json:
        print_json(row)
        return
    print_fields(
        f"Safe {state.address}",
        {**row, "owners": "\n".join(state.owners), "modules": "\n".join(state.modules) or "-"},
    )


@safe_app.command("export")
def safe_export(
    safe: Annotated[str, typer.Option("--safe", metavar="ADDRESS", help="The Safe's address.")],
    chain: Annotated[str, typer.Option("--chain", metavar="ID", help="Chain id.")],
    call: Annotated[
        list[str],
        typer.Option(
            "--call",
            metavar="TO[,VALUE[,DATA]]",
            help="One call: target, wei value (default 0), hex calldata (repeatable, in order).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Batch file to write.")],
    name: Annotated[str, typer.Option("--name", help="Batch name shown in the app.")] = "",
) -> None:
    """Write a Transaction Builder batch file (importable in the Safe web app)."""
    import time

    from oms_chain.custody.safe import Call, TransactionBatch

    address = _address(safe, "--safe")
    chain_id = _bounded_int(chain, "--chain", 1, 2**63)
    calls = []
    for i, spec in enumerate(call, 1):
        parts = spec.split(",")
        if not 1 <= len(parts) <= 3:
            raise InvalidInput(f"--call {i} {_shown(spec)} is not TO[,VALUE[,DATA]]")
        to = _address(parts[0], f"--call {i} target")
        value = _bounded_int(parts[1], f"--call {i} value", 0, 2**256 - 1) if len(parts) > 1 else 0
        data = parts[2] if len(parts) > 2 else "0x"
        try:
            body = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            raise InvalidInput(f"--call {i} data {_shown(data)} is not hex") from None
        calls.append(Call(to, body, value))  # type: ignore[arg-type]
    if len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise InvalidInput("--name must be at most 200 printable characters")
    if not out.parent.is_dir() or out.is_dir():
        raise InvalidInput(f"--out {out} is not a file in an existing folder")
    batch = TransactionBatch.of(chain_id, address, calls, name=name)
    out.write_text(json.dumps(batch.to_json(int(time.time() * 1000)), indent=2))
    say(f"wrote {len(calls)} call(s) for Safe {address} on chain {chain_id} to {out}")


@safe_app.command("hash")
def safe_hash(
    file: FileArg,
    nonce: NonceOption,
    multisend: MultisendOption = None,
    as_json: JsonOption = False,
) -> None:
    """The SafeTx hash of a batch file at a nonce (offline)."""
    n = _bounded_int(nonce, "--nonce", 0, _MAX_NONCE)
    batch = _read_batch(file)
    tx = _safe_tx(batch, n, multisend)
    row = {
        "safe": tx.safe,
        "chain_id": tx.chain_id,
        "nonce": tx.nonce,
        "to": tx.to,
        "operation": "DELEGATECALL (MultiSendCallOnly)" if tx.operation else "CALL",
        "calls": len(batch.calls),
        "safe_tx_hash": "0x" + tx.safe_tx_hash.hex(),
    }
    if as_json:
        print_json({**row, "typed_data": tx.typed_data()})
        return
    print_fields("Safe transaction", row)


def _threshold_owner(directory: Path, passphrase_env: str, chain_id: int) -> Any:
    """The threshold group in ``directory`` as a Safe owner (its deployed account)."""
    from oms_chain.custody.threshold import (
        Coordinator,
        GroupRoster,
        ThresholdSigner,
        passphrase_from_env,
    )

    roster = GroupRoster.load(directory)
    if roster.account is None or roster.chain_id is None:
        raise InvalidInput(
            f"the group in {directory} has no account yet: run `oms threshold deploy`"
        )
    if roster.chain_id != chain_id:
        raise InvalidInput(
            f"the group's account is on chain {roster.chain_id}; the batch is for {chain_id}"
        )
    coordinator = Coordinator.from_directory(directory, passphrase_from_env(passphrase_env))
    return ThresholdSigner(coordinator, roster.account, roster.chain_id)


@safe_app.command("sign")
def safe_sign(
    file: FileArg,
    nonce: NonceOption,
    key_env: Annotated[
        str | None,
        typer.Option("--key-env", metavar="VAR", help="Environment variable with the key."),
    ] = None,
    threshold_group: Annotated[
        Path | None,
        typer.Option(
            "--threshold-group",
            metavar="DIR",
            help="Sign as this FROST group's ThresholdAccount (an EIP-1271 owner).",
        ),
    ] = None,
    passphrase_env: Annotated[
        str,
        typer.Option(
            "--passphrase-env",
            metavar="VAR",
            help="With --threshold-group: the coordinator key's passphrase variable.",
        ),
    ] = "OMS_THRESHOLD_COORDINATOR_PASSPHRASE",
    multisend: MultisendOption = None,
    as_json: JsonOption = False,
) -> None:
    """One owner's signature of the batch at a nonce, as OWNER:SIGNATURE for ``execute``.

    With --threshold-group the group's participants (t of them online) approve the SafeTx, each
    after checking it against its own policy: the token is OWNER:contract:SIGNATURE."""
    from oms_chain.custody import LocalSigner
    from oms_chain.custody.safe import SignatureKind, sign_safe_transaction

    n = _bounded_int(nonce, "--nonce", 0, _MAX_NONCE)
    if (key_env is None) == (threshold_group is None):
        raise InvalidInput("give one of --key-env or --threshold-group")
    key = None if key_env is None else LocalSigner.from_env(key_env)
    batch = _read_batch(file)
    tx = _safe_tx(batch, n, multisend)
    signer = (
        key
        if key is not None
        else _threshold_owner(threshold_group, passphrase_env, batch.chain_id)  # type: ignore[arg-type]
    )
    sig = asyncio.run(sign_safe_transaction(signer, tx))
    kind = "contract:" if sig.kind is SignatureKind.CONTRACT else ""
    token = f"{sig.owner}:{kind}0x{sig.data.hex()}"
    if as_json:
        print_json(
            {
                "owner": sig.owner,
                "kind": sig.kind.value,
                "signature": "0x" + sig.data.hex(),
                "token": token,
            }
        )
        return
    say(token)


@safe_app.command("execute")
def safe_execute(
    file: FileArg,
    nonce: NonceOption,
    signature: Annotated[
        list[str],
        typer.Option(
            "--signature",
            metavar="OWNER:SIG",
            help="An owner's signature from `oms safe sign` (OWNER:contract:SIG for a contract).",
        ),
    ],
    key_env: Annotated[
        str,
        typer.Option(
            "--key-env", metavar="VAR", help="Environment variable with the relayer's key."
        ),
    ],
    multisend: MultisendOption = None,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the signatures against the Safe on chain, then send execTransaction."""
    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.sender import TxSender
    from oms_chain.custody import LocalSigner
    from oms_chain.custody.safe import SafeAccount

    n = _bounded_int(nonce, "--nonce", 0, _MAX_NONCE)
    sigs = _parse_signatures(signature)
    relayer_key = LocalSigner.from_env(key_env)
    tx = _safe_tx(_read_batch(file), n, multisend)
    url = rpc_url or _devnet_url(None)

    async def run() -> Any:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            if chain_id != tx.chain_id:
                raise InvalidInput(f"the batch is for chain {tx.chain_id}; the RPC is {chain_id}")
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            account = SafeAccount(rpc, tx.safe, chain_id, _tx_addresses(tx))
            return await account.execute(tx, sigs, TxSender(rpc, info, relayer_key))

    sent = asyncio.run(run())
    row = {"safe_tx_hash": "0x" + tx.safe_tx_hash.hex(), "tx_hash": sent.tx_hash}
    if as_json:
        print_json(row)
        return
    say(f"sent execTransaction {sent.tx_hash} for Safe tx {row['safe_tx_hash']}")


@safe_app.command("propose")
def safe_propose(
    file: FileArg,
    safe: Annotated[
        str, typer.Option("--safe", metavar="ADDRESS", help="The Safe (must be the file's).")
    ],
    chain: Annotated[
        str, typer.Option("--chain", metavar="ID", help="Chain id (must be the file's).")
    ],
    store: StoreOption,
    nonce: Annotated[
        str | None,
        typer.Option(
            "--nonce", metavar="N", help="Safe nonce to take (default: the next free one)."
        ),
    ] = None,
    deadline: Annotated[
        str,
        typer.Option(
            "--deadline",
            metavar="DURATION",
            help="How long owners have to sign, from now (e.g. 30m, 24h, 7d).",
        ),
    ] = "24h",
    proposer: Annotated[
        str, typer.Option("--proposer", metavar="NAME", help="Who proposes (recorded).")
    ] = "oms safe propose",
    multisend: MultisendOption = None,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a Transaction Builder batch file as a proposal awaiting the owners' signatures.

    The file is checked (checksum, calls, the Safe and chain given), the Safe read on chain
    (threshold, nonce), and the proposal recorded in the store; prints its SafeTx hash and
    nonce. Owners then sign the same file at that nonce (``oms safe sign FILE --nonce N``) and
    submit with ``oms safe approve SAFE_TX_HASH``, which executes it once."""
    import time

    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.safe_executor import SignatureCollector, _describe, execution_alive
    from oms_chain.cli.views import _open_existing_store
    from oms_chain.custody.safe import SafeAccount
    from oms_chain.custody.safe.proposals import ProposalLog
    from oms_chain.store import open_store

    address = _address(safe, "--safe")
    chain_id = _bounded_int(chain, "--chain", 1, 2**63)
    n = None if nonce is None else _bounded_int(nonce, "--nonce", 0, _MAX_NONCE)
    window_ns = int(_duration(deadline, "--deadline").removesuffix("ns"))
    who = _text(proposer, "--proposer")
    batch = _read_batch(file)
    if batch.safe != address:
        raise InvalidInput(f"--safe {address} is not the file's Safe {batch.safe}")
    if batch.chain_id != chain_id:
        raise InvalidInput(f"--chain {chain_id} is not the file's chain {batch.chain_id}")
    ms = _multisend_for(chain_id, multisend) if len(batch.calls) > 1 else None
    url = rpc_url or _devnet_url(None)
    opened: list[Any] = []

    async def run() -> Any:
        async with RpcClient([url]) as rpc:
            on_chain = await rpc.chain_id()
            if on_chain != chain_id:
                raise InvalidInput(f"--chain {chain_id} is not the RPC's chain {on_chain}")
            probe = _safe_tx(batch, 0, ms)
            account = SafeAccount(rpc, address, chain_id, _tx_addresses(probe))
            await account.state()  # a Safe at that address (clear error otherwise)
            # the store only now: a request refused above creates no file
            path = Path(store.removeprefix("sqlite:///"))
            if store.startswith("sqlite:///") and path.is_file():
                opened.append(_open_existing_store(store))  # an event store, or a clear error
            else:
                opened.append(open_store(store))
            event_store = opened[0]
            log = ProposalLog(event_store, chain_id, address, time.time_ns)
            collector = SignatureCollector(account, log)

            async def alive(tx_hash: str) -> bool:
                return await execution_alive(tx_hash, rpc)

            log.reload()
            tx = _safe_tx(batch, await collector.next_nonce(alive) if n is None else n, ms)
            return await collector.propose(
                tx,
                proposer=who,
                what=batch.name or file.name,
                calls=[_describe(c) for c in batch.calls],
                deadline_ns=time.time_ns() + window_ns,
                alive=alive,
            )

    try:
        p = asyncio.run(run())
    finally:
        for st in opened:
            st.close()
    row = p.to_row()
    if as_json:
        print_json(row)
        return
    say(
        f"proposed Safe tx {p.safe_tx_hash} at nonce {p.nonce} "
        f"({row['threshold']} signature(s) needed); owners sign with "
        f"`oms safe sign {file} --nonce {p.nonce}`"
    )


# -- proposals recorded by the engine ------------------------------------------------------------

proposals_app = typer.Typer(
    help="Safe transactions the engine proposed, signed and sent (events in the store).",
    rich_markup_mode=None,
)
safe_app.add_typer(proposals_app, name="proposals")


def _proposals(store_url: str, safe: str | None, chain: str | None = None) -> list[Any]:
    from oms_chain.cli.views import _open_existing_store
    from oms_chain.custody.safe.proposals import read_proposals

    address = None if safe is None else _address(safe, "--safe")
    chain_id = None if chain is None else _bounded_int(chain, "--chain", 1, 2**63)
    store = _open_existing_store(store_url)
    try:
        return read_proposals(store, safe=address, chain_id=chain_id)
    finally:
        store.close()


@safe_app.command("list")
@proposals_app.command("list")
def proposals_list(
    store: StoreOption,
    safe: Annotated[
        str | None, typer.Option("--safe", metavar="ADDRESS", help="Only this Safe's.")
    ] = None,
    chain: Annotated[
        str | None, typer.Option("--chain", metavar="ID", help="Only proposals on this chain.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every proposal in the store, oldest first: Safe, nonce, hash, owners that signed, and
    the relayer's transaction once one was signed."""
    rows = [p.to_row() for p in _proposals(store, safe, chain)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        say("no Safe proposals in this store")
        return
    out = table(
        "Safe proposals", ("safe", "nonce", "safe tx hash", "what", "signers", "state", "tx")
    )
    for r in rows:
        out.add_row(
            str(r["safe"]),
            str(r["nonce"]),
            str(r["safe_tx_hash"]),
            str(r["what"]),
            str(len(r["signers"])),  # type: ignore[arg-type]
            str(r["state"]),
            str(r["tx_hash"] or "not sent"),
        )
    console.print(out)


@proposals_app.command("show")
def proposals_show(
    safe_tx_hash: Annotated[
        str, typer.Argument(metavar="SAFE_TX_HASH", help="The proposal's SafeTx hash (0x...).")
    ],
    store: StoreOption,
    as_json: JsonOption = False,
) -> None:
    """One proposal: its fields, calls, owners that signed and the relayer's transaction (the
    latest attempt when the same SafeTx was proposed again)."""
    _show_proposal(safe_tx_hash, store, as_json)


def _show_proposal(safe_tx_hash: str, store: str, as_json: bool) -> None:
    row = _proposal(store, safe_tx_hash).to_row()
    if as_json:
        print_json(row)
        return
    print_fields(f"Safe proposal {row['safe_tx_hash']}", row)


def _proposal(store_url: str, safe_tx_hash: str) -> Any:
    wanted = safe_tx_hash.strip().lower()
    found = [p for p in _proposals(store_url, None) if p.safe_tx_hash.lower() == wanted]
    if not found:
        raise InvalidInput(f"no proposal with SafeTx hash {_shown(safe_tx_hash)} in this store")
    return found[-1]


@proposals_app.command("export")
def proposals_export(
    safe_tx_hash: Annotated[
        str, typer.Argument(metavar="SAFE_TX_HASH", help="The proposal's SafeTx hash (0x...).")
    ],
    store: StoreOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the batch file.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Write a proposal as a Transaction Builder batch file, for its owners to review and
    sign elsewhere (``oms safe sign FILE --nonce N``, or the Safe web app)."""
    import time

    from oms_chain.custody.safe import TransactionBatch

    p = _proposal(store, safe_tx_hash)
    batch = TransactionBatch(
        chain_id=p.proposed.chain_id,
        safe=p.proposed.safe,
        calls=tuple(p.calls_of()),
        name=p.proposed.what[:60] or "oms proposal",
        description=f"oms proposal {p.safe_tx_hash} at Safe nonce {p.nonce}",
    )
    try:
        out.write_text(json.dumps(batch.to_json(time.time_ns() // 1_000_000), indent=2) + "\n")
    except OSError as exc:
        raise InvalidInput(f"--out {out} cannot be written: {exc.__class__.__name__}") from None
    row = {"file": str(out), "safe_tx_hash": p.safe_tx_hash, "nonce": p.nonce, "state": p.state}
    if as_json:
        print_json(row)
        return
    say(f"wrote {out}: Safe tx {p.safe_tx_hash} at nonce {p.nonce} ({p.state})")


@safe_app.command("approve")
def safe_approve(
    safe_tx_hash: Annotated[
        str, typer.Argument(metavar="SAFE_TX_HASH", help="The proposal's SafeTx hash (0x...).")
    ],
    store: StoreOption,
    signature: Annotated[
        list[str] | None,
        typer.Option(
            "--signature",
            metavar="OWNER:SIG",
            help="An owner's signature from `oms safe sign` (repeatable).",
        ),
    ] = None,
    key_env: Annotated[
        str | None,
        typer.Option(
            "--key-env",
            metavar="VAR",
            help="Environment variable with the relayer's key: execute once the threshold is met.",
        ),
    ] = None,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submit owners' signatures of a proposal awaiting them: each is checked against the
    Safe's owners on chain and recorded in the store; with ``--key-env`` the relayer executes
    it as soon as the threshold is met (never twice). ``--key-env`` alone executes with the
    signatures already recorded, e.g. after a crash."""
    import time

    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.safe_executor import SafeExecutor, SignatureCollector
    from oms_chain.chain.sender import TxSender
    from oms_chain.cli.views import _open_existing_store
    from oms_chain.custody import LocalSigner
    from oms_chain.custody.safe import SafeAccount
    from oms_chain.custody.safe.proposals import ProposalLog

    if not signature and not key_env:
        raise InvalidInput("give --signature (one or more), --key-env, or both")
    sigs = _parse_signatures(signature or [])
    relayer_key = LocalSigner.from_env(key_env) if key_env else None
    p = _proposal(store, safe_tx_hash)
    tx = p.transaction()
    url = rpc_url or _devnet_url(None)
    event_store = _open_existing_store(store)

    async def run() -> tuple[Any, str | None]:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            if chain_id != tx.chain_id:
                raise InvalidInput(
                    f"the proposal is for chain {tx.chain_id}; the RPC is {chain_id}"
                )
            account = SafeAccount(rpc, tx.safe, chain_id, _tx_addresses(tx))
            collector = SignatureCollector(
                account, ProposalLog(event_store, chain_id, tx.safe, time.time_ns)
            )
            for sig in sigs:
                await collector.submit(p.safe_tx_hash, sig)
            if relayer_key is None:
                return collector.proposal(p.safe_tx_hash), None
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            executor = SafeExecutor(
                account, [], TxSender(rpc, info, relayer_key), event_store, rpc=rpc
            )
            sent = await executor.execute_ready(p.safe_tx_hash)
            return executor.proposal(p.safe_tx_hash), None if sent is None else sent.tx_hash

    try:
        done, sent = asyncio.run(run())
    finally:
        event_store.close()
    row = {**done.to_row(), "signatures": len(done.submitted), "sent": sent}
    if as_json:
        print_json(row)
        return
    print_fields(f"Safe proposal {row['safe_tx_hash']}", row)
