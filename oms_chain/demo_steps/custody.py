"""Demo steps 6-7: a Safe 2-of-3 MultiSend; a FROST 2-of-3 group executing a transfer from
its ThresholdAccount."""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from rich.console import Console
from rich.table import Table
from web3 import Web3

from oms_chain.demo_steps._base import (
    StepResult,
    _check,
    _erc20,
    _hex,
    _missing,
    _send,
    _transfer_data,
    _usdc,
)
from oms_chain.devnet.world import Devnet
from oms_chain.model.errors import DevnetError

# --- 6. Safe 2-of-3 MultiSend -------------------------------------------------------------

SAFE_RECIPIENTS = (
    ("0x000000000000000000000000000000000000dEaD", 1_250_000),
    ("0x000000000000000000000000000000000000bEEF", 750_000),
)
SAFE_FUNDING = 5_000_000


def safe_multisend(world: Devnet, console: Console) -> StepResult:
    """A Safe 2-of-3 (owners: devnet accounts 5-7, relayer: account 9) created by the toolkit
    and funded with USDC executes one MultiSendCallOnly of two USDC transfers, signed by two
    owners. Checks: both recipients and the Safe hold exactly what they should."""
    step = "safe multisend"
    why = _missing("safe_eth", "safe")
    if why:
        return StepResult(step, status="skipped", reason=why)
    return asyncio.run(_safe(world, console))


async def _safe(world: Devnet, console: Console) -> StepResult:
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.sender import TxSender
    from oms_chain.custody.local import LocalSigner
    from oms_chain.custody.safe import Call, SafeAddresses, SafeFactory

    step = "safe multisend"
    result = StepResult(step)
    l1 = world.l1
    book = l1.book
    owners = sorted(
        (LocalSigner(a.private_key) for a in l1.accounts[5:8]), key=lambda s: int(s.address, 16)
    )
    usdc = _erc20(l1, "USDC")
    addresses = SafeAddresses(
        singleton=book.address("SafeL2"),
        proxy_factory=book.address("SafeProxyFactory"),
        fallback_handler=book.address("CompatibilityFallbackHandler"),
        multisend_call_only=book.address("MultiSendCallOnly"),
    )

    async def mined(rpc: RpcClient, tx_hash: str) -> dict[str, Any]:
        for _ in range(3000):
            receipt = await rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            await asyncio.sleep(0.01)
        raise DevnetError(f"{tx_hash} was not mined in 30 s")

    async with RpcClient([l1.rpc_url]) as rpc:
        relayer = TxSender(rpc, chain_info(l1.chain_id), LocalSigner(l1.accounts[9].private_key))
        factory = SafeFactory(rpc, addresses, l1.chain_id)
        salt = 2026  # a fresh devnet each run: the same Safe address every time
        predicted = await factory.predict([o.address for o in owners], 2, salt)
        safe, sent = await factory.create(relayer, [o.address for o in owners], 2, salt)
        created = await mined(rpc, sent.tx_hash)
        _check(
            step,
            created["status"] == "0x1" and safe.address == predicted,
            "Safe created at its predicted address",
            result,
        )
        _send(
            l1,
            usdc.functions.transfer(safe.address, SAFE_FUNDING),
            l1.accounts[0].address,
            "fund the Safe",
        )
        before = {to: int(usdc.functions.balanceOf(to).call()) for to, _ in SAFE_RECIPIENTS}
        calls = [Call(usdc.address, _transfer_data(to, amount)) for to, amount in SAFE_RECIPIENTS]
        tx, sent2 = await safe.execute_calls(calls, owners[:2], relayer, what="demo MultiSend")
        receipt = await mined(rpc, sent2.tx_hash)
        state = await safe.state()
    after = {to: int(usdc.functions.balanceOf(to).call()) for to, _ in SAFE_RECIPIENTS}
    left = int(usdc.functions.balanceOf(safe.address).call())

    table = Table(title=f"Safe 2-of-3 at {safe.address}: one MultiSend, two USDC transfers")
    for col in ("recipient", "received", "expected"):
        table.add_column(col, justify="left" if col == "recipient" else "right")
    for to, amount in SAFE_RECIPIENTS:
        table.add_row(to, _usdc(after[to] - before[to]), _usdc(amount))
    sent_total = sum(a for _, a in SAFE_RECIPIENTS)
    table.add_row("(left in the Safe)", _usdc(left), _usdc(SAFE_FUNDING - sent_total))
    console.print(table)
    console.print(
        f"safeTxHash {_hex(tx.safe_tx_hash)}, "
        f"operation {'DELEGATECALL to MultiSendCallOnly' if tx.operation == 1 else 'CALL'}, "
        f"gas {int(receipt['gasUsed'], 16):,}, Safe nonce now {state.nonce}",
        highlight=False,
    )
    _check(
        step,
        receipt["status"] == "0x1",
        "the Safe transaction succeeded",
        result,
        receipt["status"],
    )
    _check(
        step,
        tx.operation == 1 and tx.to == addresses.multisend_call_only,
        "one MultiSend (DELEGATECALL)",
        result,
    )
    for to, amount in SAFE_RECIPIENTS:
        _check(
            step,
            after[to] - before[to] == amount,
            f"{to} received exactly {_usdc(amount)} USDC",
            result,
            after[to] - before[to],
        )
    _check(step, left == SAFE_FUNDING - sent_total, "the Safe kept exactly the rest", result, left)
    result.detail = {
        "safe": safe.address,
        "owners": [o.address for o in owners],
        "threshold": 2,
        "transfers": [{"to": to, "amount": a} for to, a in SAFE_RECIPIENTS],
        "left": left,
        "tx_hash": sent2.tx_hash,
        "nonce": state.nonce,
    }
    return result


# --- 7. FROST 2-of-3 ThresholdAccount -----------------------------------------------------

THRESHOLD_RECIPIENT = to_checksum_address("0x000000000000000000000000000000000000c0de")
THRESHOLD_AMOUNT = 25 * 10**16  # 0.25 ETH


def threshold_transfer(world: Devnet, console: Console) -> StepResult:
    """A 2-of-3 FROST group (DKG through frost-rs; the three participants are in-process
    servers on loopback here, not separate processes) owns a ThresholdAccount; one
    participant is left offline, the other two sign an ``execute`` of a 0.25 ETH transfer that
    a relayer sends. Checks: the recipient got exactly 0.25 ETH and the account's nonce is 1."""
    step = "threshold transfer"
    why = _missing("frost_rs", "threshold")
    if why:
        return StepResult(step, status="skipped", reason=why)
    with tempfile.TemporaryDirectory(prefix="oms-demo-frost-") as tmp:
        return asyncio.run(_threshold(world, console, Path(tmp)))


async def _threshold(world: Devnet, console: Console, directory: Path) -> StepResult:
    from oms_chain.custody.threshold import (
        AccountCall,
        Coordinator,
        ParticipantServer,
        ThresholdSigner,
        key_coordinates,
        run_keygen,
    )
    from oms_chain.custody.threshold import auth as _auth
    from oms_chain.devnet.solidity import load_artifact

    step = "threshold transfer"
    result = StepResult(step)
    key = _auth.new_signing_key()
    servers = [  # devnet demo only: the shares (each with its own passphrase) live in a temp dir
        ParticipantServer(
            directory, f"p{i}", f"oms-demo-p{i}".encode(), coordinator_key=_auth.public_hex(key)
        )
        for i in (1, 2, 3)
    ]
    try:
        for s in servers:
            await s.start()
        roster = await run_keygen(directory, 2, 3, [s.identity() for s in servers], key)
        endpoints = {s.name: s.url for s in servers if s.name != "p3"}  # p3 offline
        coordinator = Coordinator(roster, key, endpoints, timeout_s=5)  # type: ignore[arg-type]
        l1, w3 = world.l1, world.l1.w3
        relayer = l1.accounts[0].address
        art = load_artifact("ThresholdAccount")
        x, parity = key_coordinates(roster.group_key)
        contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = _send(l1, contract.constructor(x, parity), relayer, "deploy ThresholdAccount")
        account = w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction(
                {"from": relayer, "to": account.address, "value": Web3.to_wei(1, "ether")}
            )
        )
        deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
        signer = ThresholdSigner(coordinator, account.address, l1.chain_id)
        started = time.perf_counter()
        sig = await signer.sign_execute(
            [AccountCall(THRESHOLD_RECIPIENT, THRESHOLD_AMOUNT, b"")], 0, deadline
        )
        signing_ms = (time.perf_counter() - started) * 1000
        before = w3.eth.get_balance(THRESHOLD_RECIPIENT)
        exec_receipt = _send(
            l1,
            account.functions.execute(THRESHOLD_RECIPIENT, THRESHOLD_AMOUNT, b"", deadline, sig),
            relayer,
            "ThresholdAccount.execute",
        )
        got = w3.eth.get_balance(THRESHOLD_RECIPIENT) - before
        nonce = int(account.functions.nonce().call())
    finally:
        for s in servers:
            await s.stop()
    table = Table(
        title="FROST 2-of-3 group (in-process participants, p3 offline): ThresholdAccount.execute"
    )
    for col in ("account", "group key", "signers", "sign ms", "gas", "sent", "received"):
        table.add_column(
            col, justify="left" if col in ("account", "group key", "signers") else "right"
        )
    table.add_row(
        account.address,
        "0x" + roster.group_key.hex()[:16] + "…",
        "p1, p2",
        f"{signing_ms:.0f}",
        f"{exec_receipt['gasUsed']:,}",
        f"{Decimal(THRESHOLD_AMOUNT).scaleb(-18)} ETH",
        f"{Decimal(got).scaleb(-18)} ETH",
    )
    console.print(table)
    _check(step, got == THRESHOLD_AMOUNT, "the recipient received exactly 0.25 ETH", result, got)
    _check(
        step, nonce == 1, "the account's nonce is 1 (the signature executed once)", result, nonce
    )
    result.detail = {
        "account": account.address,
        "group_key": "0x" + roster.group_key.hex(),
        "t": 2,
        "n": 3,
        "signers": ["p1", "p2"],
        "received_wei": got,
        "gas": int(exec_receipt["gasUsed"]),
        "in_process_participants": True,
    }
    return result
