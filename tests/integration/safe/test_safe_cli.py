"""`oms safe` end to end on Anvil: export a batch, hash it, two owners sign, a relayer executes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.cli import main
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import SafeAddresses, SafeFactory
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevnetChain

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def _create_safe(l1: DevnetChain, owners: list[str]) -> str:
    b = l1.book
    addresses = SafeAddresses(
        singleton=b.address("SafeL2"),
        proxy_factory=b.address("SafeProxyFactory"),
        fallback_handler=b.address("CompatibilityFallbackHandler"),
        multisend_call_only=b.address("MultiSendCallOnly"),
    )

    async def create() -> str:
        async with RpcClient([l1.rpc_url]) as rpc:
            relayer = TxSender(rpc, chain_info(31337), LocalSigner(l1.accounts[9].private_key))
            safe, sent = await SafeFactory(rpc, addresses, 31337).create(relayer, owners, 2, 31)
            for _ in range(500):
                if await rpc.call("eth_getTransactionReceipt", [sent.tx_hash]):
                    return safe.address
                await asyncio.sleep(0.01)
        raise AssertionError("Safe creation was not mined")

    return asyncio.run(create())


def test_export_hash_sign_execute_moves_the_safes_tokens(
    l1: DevnetChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owners = l1.accounts[5:8]
    safe = _create_safe(l1, [o.address for o in owners])
    usdc = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
    l1.w3.eth.wait_for_transaction_receipt(
        usdc.functions.transfer(safe, 3_000_000).transact({"from": l1.accounts[0].address})
    )
    transfer = keccak(text="transfer(address,uint256)")[:4]
    data = [
        transfer + abi_encode(["address", "uint256"], [RECIPIENT, n]) for n in (10**6, 5 * 10**5)
    ]
    calls = [f"{usdc.address},0,0x{d.hex()}" for d in data]
    batch = tmp_path / "batch.json"
    argv = ["safe", "export", "--safe", safe, "--chain", "31337", "--out", str(batch)]
    for c in calls:
        argv += ["--call", c]
    assert main(argv) == 0
    assert json.loads(batch.read_text())["meta"]["createdFromSafeAddress"] == safe
    capsys.readouterr()

    assert main(["safe", "hash", str(batch), "--nonce", "0", "--json"]) == 0
    hashed = json.loads(capsys.readouterr().out)
    assert hashed["calls"] == 2 and hashed["to"] == l1.book.address("MultiSendCallOnly")

    tokens = []
    for i, owner in enumerate(owners[:2]):
        monkeypatch.setenv(f"OMS_TEST_OWNER_{i}", owner.private_key)
        assert (
            main(["safe", "sign", str(batch), "--nonce", "0", "--key-env", f"OMS_TEST_OWNER_{i}"])
            == 0
        )
        tokens.append(capsys.readouterr().out.strip())
    monkeypatch.setenv("OMS_TEST_RELAYER", l1.accounts[9].private_key)
    execute = ["safe", "execute", str(batch), "--nonce", "0", "--key-env", "OMS_TEST_RELAYER",
               "--rpc-url", l1.rpc_url, "--json"]  # fmt: skip
    assert main([*execute, "--signature", tokens[0]]) == 1  # one of two: refused, nothing sent
    assert json.loads(capsys.readouterr().out)["kind"] == "SignatureRejected"
    assert usdc.functions.balanceOf(RECIPIENT).call() == 0
    assert main([*execute, "--signature", tokens[1], "--signature", tokens[0]]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["safe_tx_hash"] == hashed["safe_tx_hash"]
    l1.w3.eth.wait_for_transaction_receipt(done["tx_hash"])
    assert usdc.functions.balanceOf(RECIPIENT).call() == 1_500_000

    assert main(["safe", "show", safe, "--rpc-url", l1.rpc_url, "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert (state["nonce"], state["threshold"], state["version"]) == (1, 2, "1.4.1")
