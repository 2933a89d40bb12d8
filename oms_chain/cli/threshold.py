"""``oms threshold keygen | deploy | status``, ``oms signer participant``: FROST groups.

``keygen`` starts the n participants as separate processes, runs the distributed key generation
through them (each writes only its own encrypted share) and writes the public roster
``group.json``; ``deploy`` creates the group's ``ThresholdAccount`` and records it there.
``signer participant`` is one participant's long-running process: it serves the coordinator on
127.0.0.1 and announces itself with one JSON line on stdout. ``status`` asks each participant
(authenticated) whether it is online. Every participant has its own passphrase, from its own
environment variable (``OMS_THRESHOLD_PASSPHRASE_<NAME>``, or ``--passphrase-env``) or file
(``--passphrase-file``); the coordinator's key has another (``--passphrase-env``, default
``OMS_THRESHOLD_COORDINATOR_PASSPHRASE``). Needs the ``threshold`` extra.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._app import _devnet_url, app
from oms_chain.cli._args import JsonOption, RpcUrlOption, _bounded_int
from oms_chain.cli._output import print_fields, print_json, say
from oms_chain.model.errors import InvalidInput

threshold_app = typer.Typer(
    help="FROST threshold groups: key generation, status.", rich_markup_mode=None
)
app.add_typer(threshold_app, name="threshold")
signer_app = typer.Typer(help="Signer processes (a threshold participant).", rich_markup_mode=None)
app.add_typer(signer_app, name="signer")

DirOption = Annotated[
    Path, typer.Option("--dir", metavar="DIR", help="The group's folder (group.json, shares).")
]
PassEnvOption = Annotated[
    str,
    typer.Option(
        "--passphrase-env",
        metavar="VAR",
        help="Environment variable holding the coordinator key's passphrase.",
    ),
]
_DEFAULT_ENV = "OMS_THRESHOLD_COORDINATOR_PASSPHRASE"


def _distinct_passphrases(coordinator_env: str, names: list[str]) -> None:
    """Every participant's passphrase is set, and no two (nor the coordinator's) are equal."""
    from oms_chain.custody.threshold import participant_passphrase_env, passphrase_from_env

    seen: dict[bytes, str] = {passphrase_from_env(coordinator_env): coordinator_env}
    for name in names:
        var = participant_passphrase_env(name)
        value = passphrase_from_env(var)
        if value in seen:
            raise InvalidInput(
                f"{var} holds the same passphrase as {seen[value]}: each participant's share "
                "needs its own passphrase, so that no single one opens several shares"
            )
        seen[value] = var


def _names(value: str | None, n: int) -> list[str]:
    from oms_chain.custody.threshold.group import check_name

    if value is None:
        return [f"p{i}" for i in range(1, n + 1)]
    names = [check_name(x.strip()) for x in value.split(",")]
    if len(names) != n or len(set(names)) != n:
        raise InvalidInput(f"--names must list {n} distinct names, got {value!r}")
    return names


@threshold_app.command("keygen")
def threshold_keygen(
    t: Annotated[str, typer.Option("--t", metavar="T", help="Signers needed.")],
    n: Annotated[str, typer.Option("--n", metavar="N", help="Participants.")],
    directory: DirOption = Path("threshold-group"),
    names: Annotated[
        str | None, typer.Option("--names", metavar="A,B,..", help="Participant names.")
    ] = None,
    passphrase_env: PassEnvOption = _DEFAULT_ENV,
    as_json: JsonOption = False,
) -> None:
    """Distributed key generation: n participant processes, each keeps only its own share.

    All n must take part (the DKG needs every one); participant NAME seals its share with the
    passphrase in OMS_THRESHOLD_PASSPHRASE_<NAME> (each different)."""
    from oms_chain.custody.threshold import passphrase_from_env, run_keygen, write_coordinator_key
    from oms_chain.custody.threshold.group import check_threshold
    from oms_chain.custody.threshold.process import spawn_participant

    tt, nn = check_threshold(_bounded_int(t, "--t", 2, 64), _bounded_int(n, "--n", 2, 64))
    who = _names(names, nn)
    if (directory / "group.json").exists():
        raise InvalidInput(f"{directory} already holds a group (group.json); pick another --dir")
    _distinct_passphrases(passphrase_env, who)
    passphrase = passphrase_from_env(passphrase_env)
    key = write_coordinator_key(directory, passphrase)
    from oms_chain.custody.threshold import auth

    procs = []
    try:
        for name in who:
            procs.append(spawn_participant(directory, name, coordinator_key=auth.public_hex(key)))
        roster = asyncio.run(run_keygen(directory, tt, nn, [p.identity for p in procs], key))
    finally:
        for p in procs:
            p.stop()
    row = {
        "group_key": "0x" + roster.group_key.hex(),
        "threshold": f"{roster.t} of {roster.n}",
        "participants": ", ".join(roster.names),
        "roster": str(directory / "group.json"),
    }
    if as_json:
        print_json(row)
    else:
        print_fields("threshold group", row)
        say(f"start each participant: oms signer participant --dir {directory} --name NAME")


@threshold_app.command("deploy")
def threshold_deploy(
    key_env: Annotated[
        str,
        typer.Option("--key-env", metavar="VAR", help="Environment variable with the payer's key."),
    ],
    directory: DirOption = Path("threshold-group"),
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy the group's ThresholdAccount (owned by its group key); record it in group.json."""
    import dataclasses
    import os

    from eth_account import Account

    from oms_chain.custody.threshold import GroupRoster, key_coordinates
    from oms_chain.model.errors import ConfigError

    roster = GroupRoster.load(directory)
    if roster.account is not None:
        raise InvalidInput(
            f"the group in {directory} already has account {roster.account} on chain "
            f"{roster.chain_id}"
        )
    raw_key = os.environ.get(key_env, "").strip()
    if not raw_key:
        raise ConfigError(f"environment variable {key_env} is not set (expected a hex key)")
    try:
        payer = Account.from_key(raw_key)
    except (ValueError, TypeError):
        raise ConfigError(f"environment variable {key_env} does not hold a valid key") from None
    url = rpc_url or _devnet_url(None)
    from oms_chain.devnet.solidity import load_artifact

    art = load_artifact("ThresholdAccount")
    x, parity = key_coordinates(roster.group_key)
    account, chain_id, gas_used = asyncio.run(
        _deploy_account(url, payer.key, _creation_code(art, x, parity))
    )
    dataclasses.replace(roster, account=account, chain_id=chain_id).save(directory)
    row = {"account": account, "chain_id": chain_id, "gas_used": gas_used}
    if as_json:
        print_json(row)
    else:
        say(f"threshold account {account} on chain {chain_id} (owned by the group key)")


def _creation_code(art: dict[str, Any], x: int, parity: int) -> bytes:
    """The ThresholdAccount's bytecode followed by its constructor arguments (the group key's
    x coordinate and y parity)."""
    from eth_abi import encode as abi_encode

    ctor = next(e for e in art["abi"] if e.get("type") == "constructor")
    types = [str(arg["type"]) for arg in ctor["inputs"]]
    code = bytes.fromhex(str(art["bytecode"]).removeprefix("0x"))
    return code + abi_encode(types, [x, parity])


async def _deploy_account(url: str, payer_key: bytes, code: bytes) -> tuple[str, int, int]:
    """Send the contract creation ``code`` from ``payer_key`` through our async RPC client and
    wait for it to be mined; returns (account, chain id, gas used).

    Raises:
        OmsError: the node is unreachable, refused the transaction, or it reverted.
    """
    from eth_utils import to_checksum_address

    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody import LocalSigner
    from oms_chain.model.errors import OmsError
    from oms_chain.venues.amm._calls import wait_for_receipt

    signer = LocalSigner(payer_key)
    async with RpcClient([url], timeout=30.0) as rpc:
        try:
            chain_id = await rpc.chain_id()
            data = "0x" + code.hex()
            gas = int(
                await rpc.call("eth_estimateGas", [{"from": signer.address, "data": data}]), 16
            )
            tx = {
                "chainId": chain_id,
                "nonce": await rpc.nonce(signer.address),
                "to": "",  # a contract creation
                "data": data,
                "value": 0,
                "gas": gas * 12 // 10,
                "gasPrice": await rpc.gas_price(),
            }
            signed = await signer.sign_transaction(tx)
            tx_hash = await rpc.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
            receipt = await wait_for_receipt(
                rpc, str(tx_hash), "the threshold account deployment", timeout=120.0
            )
        except OmsError as exc:
            raise OmsError(f"deploying the threshold account via {url} failed: {exc}") from None
    if receipt.contract_address is None:
        raise OmsError(f"the deployment transaction {receipt.tx_hash} created no contract")
    return to_checksum_address(receipt.contract_address), chain_id, receipt.gas_used


@threshold_app.command("status")
def threshold_status(
    directory: DirOption = Path("threshold-group"),
    passphrase_env: PassEnvOption = _DEFAULT_ENV,
    timeout: Annotated[
        str, typer.Option("--timeout", metavar="S", help="Seconds per participant.")
    ] = "2",
    as_json: JsonOption = False,
) -> None:
    """The group key, threshold, account, and which participants are online."""
    from oms_chain.custody.threshold import Coordinator, GroupRoster, passphrase_from_env

    seconds = _bounded_int(timeout, "--timeout", 1, 600)
    GroupRoster.load(directory)  # a missing or malformed roster is named before anything else
    coordinator = Coordinator.from_directory(
        directory, passphrase_from_env(passphrase_env), timeout_s=seconds
    )
    states = asyncio.run(coordinator.status())
    roster = coordinator.roster
    online = sum(s.online for s in states)
    doc: dict[str, Any] = {
        "group_key": "0x" + roster.group_key.hex(),
        "threshold": f"{roster.t} of {roster.n}",
        "account": roster.account,
        "chain_id": roster.chain_id,
        "online": online,
        "can_sign": online >= roster.t,
        "participants": [
            {
                "name": s.name,
                "online": s.online,
                "state": s.state,
                "policy": s.policy,
                "url": s.url,
                "detail": s.detail,
            }
            for s in states
        ],
    }
    if as_json:
        print_json(doc)
        return
    print_fields("threshold group", {k: v for k, v in doc.items() if k != "participants"})
    for s in states:
        checks = " (own policy)" if s.policy else ""
        say(
            f"{s.name}: {'online' if s.online else 'offline'} {s.state or s.detail or ''}"
            f"{checks}".strip()
        )


@signer_app.command("participant")
def signer_participant(
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="This participant's name.")],
    directory: DirOption = Path("threshold-group"),
    port: Annotated[str, typer.Option("--port", metavar="PORT", help="0: any free port.")] = "0",
    coordinator_key: Annotated[
        str | None,
        typer.Option(
            "--coordinator-key", metavar="HEX", help="Join a key generation run by this key."
        ),
    ] = None,
    passphrase_env: Annotated[
        str | None,
        typer.Option(
            "--passphrase-env",
            metavar="VAR",
            help="Environment variable with this share's passphrase "
            "(default OMS_THRESHOLD_PASSPHRASE_<NAME>).",
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file", metavar="FILE", help="File (mode 0600) with the passphrase."
        ),
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy", metavar="FILE", help="This participant's own signing policy (TOML)."
        ),
    ] = None,
) -> None:
    """Run one participant (serves 127.0.0.1; prints one JSON line when ready).

    With --policy it checks every signing request against its own policy (after recomputing
    the digest from the request) before it commits to a round."""
    from oms_chain.custody import SigningPolicy
    from oms_chain.custody.threshold import (
        participant_passphrase_env,
        passphrase_from_env,
        passphrase_from_file,
        run_participant,
    )
    from oms_chain.custody.threshold.group import check_name

    check_name(name)
    bound = _bounded_int(port, "--port", 0, 65535)
    if coordinator_key is not None and (
        len(coordinator_key) != 64 or any(c not in "0123456789abcdef" for c in coordinator_key)
    ):
        raise InvalidInput("--coordinator-key must be 32 bytes of lower-case hex")
    if passphrase_env is not None and passphrase_file is not None:
        raise InvalidInput("give --passphrase-env or --passphrase-file, not both")
    policy = None if policy_file is None else SigningPolicy.load(policy_file)
    passphrase = (
        passphrase_from_file(passphrase_file)
        if passphrase_file is not None
        else passphrase_from_env(passphrase_env or participant_passphrase_env(name))
    )

    def announce(identity: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(identity) + "\n")
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_participant(
            directory,
            name,
            passphrase,
            port=bound,
            coordinator_key=coordinator_key,
            policy=policy,
            announce=announce,
            stop=stop,
        )

    asyncio.run(main())
