"""Custody steps of ``oms demo``: a Safe 2-of-3 MultiSend then one engine trade from the Safe;
a FROST 2-of-3 group's transfer from its ThresholdAccount, then one engine trade from it."""

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
    _eth,
    _hex,
    _missing,
    _send,
    _transfer_data,
    _until,
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
    trade = await _safe_trade(world, console, safe.address, owners[:2], result)
    result.detail = {
        "safe": safe.address,
        "owners": [o.address for o in owners],
        "threshold": 2,
        "transfers": [{"to": to, "amount": a} for to, a in SAFE_RECIPIENTS],
        "left": left,
        "tx_hash": sent2.tx_hash,
        "nonce": state.nonce,
        "trade": trade,
    }
    return result


SAFE_TRADE_ETH = Decimal("0.05")


async def _engine_trade(
    world: Devnet, session: Any, account: str, step: str, result: StepResult
) -> dict[str, Any]:
    """Sell ``SAFE_TRADE_ETH`` on the L1's V3 pool through ``session``'s engine, trading as
    ``account`` (a Safe or a ThresholdAccount); checks that the engine's position and fill
    are exactly what the account's balances moved."""
    l1 = world.l1
    usdc = _erc20(l1, "USDC")
    eth0 = _eth(l1).get_balance(account)
    usdc0 = int(usdc.functions.balanceOf(account).call())
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    async with session as s:
        parent = await s.submit(
            s.intent("ETH/USDC", "sell", str(SAFE_TRADE_ETH), venues=[vid], max_slippage_bps=100)
        )
        parent = await s.wait(parent.order_id, timeout=120)  # a hang guard, not a timing check
        (child,) = s.children(parent.order_id)
        settled = lambda: s.engine.order(child.order_id).settlement is not None  # noqa: E731
        await _until("'safe multisend': the trade's settlement", settled, timeout=120)
        child = s.engine.order(child.order_id)
        positions = s.engine.positions()  # a store of its own: this trade only
        fills = [f for f in s.engine.projections.fills.values() if f.order_id == child.order_id]
        venue_account = s.chain_venues(l1.chain_id).account.address
    _check(step, venue_account.lower() == account.lower(),
           "the venue traded as the account itself", result, venue_account)  # fmt: skip
    return _checked_trade(world, step, result, (account, eth0, usdc0), parent, child,
                          positions, fills)  # fmt: skip


def _checked_trade(
    world: Devnet,
    step: str,
    result: StepResult,
    before: tuple[str, int, int],
    parent: Any,
    child: Any,
    positions: list[Any],
    fills: list[Any],
) -> dict[str, Any]:
    """The checks of a trade from a custody account: filled, the account paid exactly the
    quantity, the engine's position and fill proceeds equal its balances' moves."""
    account, eth0, usdc0 = before
    l1 = world.l1
    eth_paid = eth0 - _eth(l1).get_balance(account)
    usdc_got = int(_erc20(l1, "USDC").functions.balanceOf(account).call()) - usdc0
    _check(step, parent.status.value == "filled", f"the engine filled the {SAFE_TRADE_ETH} ETH "
           "sale", result, parent.status.value)  # fmt: skip
    _check(step, eth_paid == int(SAFE_TRADE_ETH.scaleb(18)), "the account paid exactly "
           f"{SAFE_TRADE_ETH} ETH (the relayer paid the gas)", result, eth_paid)  # fmt: skip
    quantity = sum((p.quantity for p in positions), Decimal(0))
    _check(step, -quantity == SAFE_TRADE_ETH, "the engine's position == the account's ETH moved",
           result, quantity)  # fmt: skip
    proceeds = sum((f.quantity * f.price for f in fills), Decimal(0)).quantize(Decimal("0.000001"))
    _check(step, usdc_got > 0 and proceeds == Decimal(usdc_got).scaleb(-6),
           "the fill's proceeds == the USDC the account received", result,
           (proceeds, usdc_got))  # fmt: skip
    tx_hash = child.settlement.tx_hash if child.settlement else None
    return {
        "order_id": parent.order_id,
        "status": parent.status.value,
        "eth_paid_wei": eth_paid,
        "usdc_received": usdc_got,
        "position": quantity,
        "tx_hash": tx_hash,
        "gas": int(_eth(l1).get_transaction_receipt(tx_hash)["gasUsed"]) if tx_hash else None,
    }


def _trade_table(console: Console, title: str, account: str, trade: dict[str, Any]) -> None:
    table = Table(title=title)
    for col in ("account", "status", "gas", "ETH paid", "USDC received", "engine position"):
        table.add_column(col, justify="left" if col == "account" else "right")
    table.add_row(
        account,
        trade["status"],
        f"{trade['gas'] or 0:,}",
        f"{Decimal(trade['eth_paid_wei']).scaleb(-18).normalize():f}",
        _usdc(trade["usdc_received"]),
        f"{trade['position'].normalize():f} ETH",
    )
    console.print(table)


async def _safe_trade(
    world: Devnet, console: Console, safe: str, owners: list[Any], result: StepResult
) -> dict[str, Any]:
    from oms_chain.custody.local import LocalSigner
    from oms_chain.service import ChainEndpoint, SafeOwners, TradingSession

    l1 = world.l1
    l1.w3.eth.wait_for_transaction_receipt(
        l1.w3.eth.send_transaction(
            {"from": l1.accounts[0].address, "to": safe, "value": Web3.to_wei(1, "ether")}
        )
    )
    with tempfile.TemporaryDirectory(prefix="oms-demo-safe-") as tmp:
        session = TradingSession(
            store_url=f"sqlite:///{Path(tmp) / 'oms.db'}",
            chains=[ChainEndpoint(chain_id=l1.chain_id, rpc_url=l1.rpc_url, book=l1.book)],
            signer=LocalSigner(l1.accounts[9].private_key),  # the relayer pays the gas
            safe=SafeOwners(address=safe, owners=tuple(owners)),
            account="demo-dao",
            poll_interval=0.05,
        )
        trade = await _engine_trade(world, session, safe, "safe multisend", result)
    _trade_table(console, "One trade from the Safe through the engine (2 of 3 owners sign)",
                 safe, trade)  # fmt: skip
    return trade


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
        trade = await _threshold_trade(world, signer, roster.group_key, account.address, result)
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
        "trade": trade,
    }
    _trade_table(console, "One trade from the threshold group through the engine (p1 + p2 sign)",
                 account.address, trade)  # fmt: skip
    return result


async def _threshold_trade(
    world: Devnet, group: Any, group_key: bytes, account: str, result: StepResult
) -> dict[str, Any]:
    """The engine sells on the L1's V3 pool from the ThresholdAccount: the venue's wrap,
    approval and swap go out as one ``executeBatch`` the group signs, sent by a relayer."""
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.threshold_executor import ThresholdExecutor
    from oms_chain.custody.local import LocalSigner
    from oms_chain.engine import Engine, EngineConfig
    from oms_chain.model import Intent, SystemClock
    from oms_chain.risk import RiskGate, RiskLimits
    from oms_chain.store import open_store
    from oms_chain.venues.amm import uniswap_venues

    l1 = world.l1
    step = "threshold transfer"
    usdc = _erc20(l1, "USDC")
    eth0 = _eth(l1).get_balance(account)
    usdc0 = int(usdc.functions.balanceOf(account).call())
    vid = f"uniswap-v3-3000-{l1.chain_id}"
    # the signed execution's deadline counts from the chain's time (the put step warped it
    # past the options' expiry, days ahead of the wall clock)
    with tempfile.TemporaryDirectory(prefix="oms-demo-threshold-store-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'oms.db'}")
        rpc = RpcClient([l1.rpc_url])
        venues = uniswap_venues(
            l1.chain_id, l1.rpc_url, LocalSigner(l1.accounts[9].private_key), store,
            book=l1.book, poll_interval=0.05,
            executor=lambda sender: ThresholdExecutor(group, group_key, sender, rpc=rpc),
        )  # fmt: skip
        clock = SystemClock()
        engine = Engine(
            store=store,
            venues=venues.venues,
            risk=RiskGate(RiskLimits(), clock=clock),
            clock=clock,
            config=EngineConfig(split_poll_s=0.05, send_timeout_s=60),
        )
        try:
            inst = next(i for i in venues.venue(vid).instruments() if i.symbol == "ETH/USDC")
            venues.account.start()
            await engine.start()
            parent = await engine.submit(
                Intent.create(
                    intent_id="demo-threshold-sell-eth",
                    account=account,
                    instrument=inst,
                    side="sell",
                    quantity=str(SAFE_TRADE_ETH),
                    venues=[vid],
                    now_ns=clock.now_ns(),
                    max_slippage_bps=100,
                )
            )
            done = lambda: engine.order(parent.order_id).is_terminal  # noqa: E731
            await _until("'threshold transfer': the trade's fill", done, timeout=120)
            parent = engine.order(parent.order_id)
            if parent.status.value != "filled":  # fail here, naming the status
                _check(step, False, "the engine filled the sale", result, parent.status.value)
            (child_id,) = parent.children
            settled = lambda: engine.order(child_id).settlement is not None  # noqa: E731
            await _until("'threshold transfer': the trade's settlement", settled, timeout=120)
            child = engine.order(child_id)
            positions = engine.positions()
            fills = [f for f in engine.projections.fills.values() if f.order_id == child_id]
        finally:
            await engine.stop()
            await venues.close()
            await rpc.close()
            store.close()
    tx = _eth(l1).get_transaction(child.settlement.tx_hash) if child.settlement else {}
    _check(step, tx.get("to") == account and tx.get("from") == l1.accounts[9].address,
           "one executeBatch to the account, sent by the relayer", result, tx)  # fmt: skip
    return _checked_trade(world, step, result, (account, eth0, usdc0), parent, child,
                          positions, fills)  # fmt: skip
