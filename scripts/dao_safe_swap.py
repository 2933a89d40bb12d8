#!/usr/bin/env python3
"""DAO treasury example: a 2-of-3 Safe swaps part of its USDC for WETH on Uniswap V3.

What a DAO engineer automating a treasury hedge does, end to end on the local devnet:

1. start a devnet L1 of its own (it does not reuse the one of ``oms devnet up``),
2. create a Safe v1.4.1 (SafeL2 singleton, proxy factory, fallback handler) owned by three
   signers with threshold 2, and fund it with USDC,
3. build one Safe transaction: a MultiSendCallOnly batch of ``approve`` + ``exactInputSingle``,
   with the swap's min-out taken from QuoterV2 minus the slippage budget,
4. two owners sign the Safe transaction hash with their own keys (nothing leaves the machine),
5. any account submits ``execTransaction``; the script checks the Safe received the quoted WETH.

It drives the Safe with web3 directly: the engine, the risk gate and the event store are not
involved (oms-chain has no Safe signer yet).

Run:  .venv/bin/python scripts/dao_safe_swap.py [--usdc 250000] [--slippage-bps 30]
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import Any

from eth_abi.packed import encode_packed
from eth_account import Account
from rich.console import Console
from rich.table import Table

from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import Devnet, DevnetChain, DevnetConfig
from oms_chain.model.errors import OmsError

ZERO = "0x" + "00" * 20
CALL, DELEGATECALL = 0, 1


def contract(chain: DevnetChain, name: str, address: str | None = None) -> Any:
    return chain.w3.eth.contract(
        address=address or chain.book.address(name), abi=load_protocol_artifact(name).abi
    )


def transact(chain: DevnetChain, fn: Any, sender: str) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    if receipt["status"] != 1:
        raise OmsError(f"transaction from {sender} reverted")
    return receipt


def multisend_payload(calls: list[tuple[str, bytes]]) -> bytes:
    """MultiSend's packed encoding: operation, to, value, data length, data — per call."""
    return b"".join(
        encode_packed(
            ["uint8", "address", "uint256", "uint256", "bytes"], [CALL, to, 0, len(data), data]
        )
        for to, data in calls
    )


def run(usdc_amount: int, slippage_bps: int, console: Console) -> Decimal:
    if usdc_amount <= 0:
        raise OmsError("--usdc must be positive")
    if not 0 <= slippage_bps < 10_000:
        raise OmsError("--slippage-bps must be between 0 and 9999")
    with Devnet(DevnetConfig(with_l2=False)) as world:
        l1 = world.l1
        owners = [Account.from_key(a.private_key) for a in l1.accounts[5:8]]
        funder, executor = l1.accounts[0].address, l1.accounts[9].address
        usdc = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
        weth = l1.w3.eth.contract(address=l1.book.address("WETH"), abi=ERC20_ABI)

        # 1. the Safe: owners sorted is not required by setup, threshold 2 of 3
        singleton = contract(l1, "SafeL2")
        init = singleton.encode_abi(
            "setup",
            args=[
                [o.address for o in owners],
                2,
                ZERO,
                b"",
                l1.book.address("CompatibilityFallbackHandler"),
                ZERO,
                0,
                ZERO,
            ],
        )
        factory = contract(l1, "SafeProxyFactory")
        create = factory.functions.createProxyWithNonce(singleton.address, init, 2026)
        safe_address = create.call({"from": funder})
        transact(l1, create, funder)
        safe = contract(l1, "SafeL2", safe_address)
        amount = usdc_amount * 10**6
        transact(l1, usdc.functions.transfer(safe_address, amount), funder)

        # 2. the batch: approve the router for exactly the amount, then swap with a min-out
        pool_fee = 500
        quoted = (
            contract(l1, "QuoterV2")
            .functions.quoteExactInputSingle((usdc.address, weth.address, amount, pool_fee, 0))
            .call()[0]
        )
        min_out = quoted * (10_000 - slippage_bps) // 10_000
        router = contract(l1, "SwapRouter")
        deadline = l1.w3.eth.get_block("latest")["timestamp"] + 900
        calls = [
            (
                usdc.address,
                bytes.fromhex(usdc.encode_abi("approve", args=[router.address, amount])[2:]),
            ),
            (
                router.address,
                bytes.fromhex(
                    router.encode_abi(
                        "exactInputSingle",
                        args=[
                            (
                                usdc.address,
                                weth.address,
                                pool_fee,
                                safe_address,
                                deadline,
                                amount,
                                min_out,
                                0,
                            )
                        ],
                    )[2:]
                ),
            ),
        ]
        multisend = contract(l1, "MultiSendCallOnly")
        data = bytes.fromhex(multisend.encode_abi("multiSend", args=[multisend_payload(calls)])[2:])
        tx = (multisend.address, 0, data, DELEGATECALL, 0, 0, 0, ZERO, ZERO)
        nonce = safe.functions.nonce().call()
        safe_tx_hash = safe.functions.getTransactionHash(*tx, nonce).call()

        # 3. two owners sign the hash; Safe wants signatures ordered by owner address
        signers = sorted(owners[:2], key=lambda a: int(a.address, 16))
        signatures = b""
        for signer in signers:
            sig = Account.unsafe_sign_hash(safe_tx_hash, signer.key)
            signatures += sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])

        # 4. anyone may submit once the threshold is met
        before = weth.functions.balanceOf(safe_address).call()
        receipt = transact(l1, safe.functions.execTransaction(*tx, signatures), executor)
        received = weth.functions.balanceOf(safe_address).call() - before
        if received != quoted:
            raise OmsError(f"Safe received {received} wei of WETH, QuoterV2 quoted {quoted}")

        table = Table(title="DAO treasury swap through a 2-of-3 Safe (devnet L1)")
        table.add_column("what")
        table.add_column("value")
        table.add_row("Safe", safe_address)
        table.add_row("owners (threshold 2)", "\n".join(o.address for o in owners))
        table.add_row("signed by", "\n".join(s.address for s in signers))
        table.add_row("Safe tx hash", "0x" + bytes(safe_tx_hash).hex())
        table.add_row("executed in tx", "0x" + bytes(receipt["transactionHash"]).hex())
        table.add_row("gas used", f"{receipt['gasUsed']:,}")
        table.add_row("sold", f"{usdc_amount:,} USDC")
        table.add_row("received", f"{Decimal(received) / Decimal(10**18):.6f} WETH (= quote)")
        table.add_row("min out", f"{Decimal(min_out) / Decimal(10**18):.6f} WETH")
        console.print(table)
        return Decimal(received) / Decimal(10**18)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--usdc", type=int, default=250_000, help="USDC to sell (whole units)")
    parser.add_argument("--slippage-bps", type=int, default=30, help="slippage budget in bps")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run(args.usdc, args.slippage_bps, console)
    except OmsError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
