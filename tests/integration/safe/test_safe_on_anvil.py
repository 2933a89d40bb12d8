"""Safe v1.4.1 from the npm artifacts on a real Anvil, driven by oms_chain.custody.safe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.local import LocalSigner
from oms_chain.custody.safe import (
    Call,
    OwnerSignature,
    SafeAccount,
    SafeAddresses,
    SafeFactory,
    SafeNonceMismatch,
    SafeTransaction,
    SignatureRejected,
    parse_signatures,
    sign_safe_transaction,
)
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevnetChain

RECIPIENT = "0x000000000000000000000000000000000000dEaD"
OTHER = "0x000000000000000000000000000000000000bEEF"


def _transfer(to: str, amount: int) -> bytes:
    return keccak(text="transfer(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], [to, amount]
    )


def _addresses(l1: DevnetChain) -> SafeAddresses:
    b = l1.book
    return SafeAddresses(
        singleton=b.address("SafeL2"),
        proxy_factory=b.address("SafeProxyFactory"),
        fallback_handler=b.address("CompatibilityFallbackHandler"),
        multisend_call_only=b.address("MultiSendCallOnly"),
    )


class RecordingRelayer:
    """A TxSender that records what it was asked to send (to prove nothing was)."""

    def __init__(self, sender: TxSender) -> None:
        self.inner = sender
        self.sent: list[str] = []

    @property
    def signer(self) -> Any:
        return self.inner.signer

    async def send(self, **kw: Any) -> Any:
        self.sent.append(kw["what"])
        return await self.inner.send(**kw)


@pytest.fixture
async def rpc(l1: DevnetChain) -> AsyncIterator[RpcClient]:
    async with RpcClient([l1.rpc_url]) as client:
        yield client


@pytest.fixture
def owners(l1: DevnetChain) -> list[LocalSigner]:
    signers = [LocalSigner(a.private_key) for a in l1.accounts[5:8]]
    return sorted(signers, key=lambda s: int(s.address, 16))


@pytest.fixture
def relayer(l1: DevnetChain, rpc: RpcClient) -> RecordingRelayer:
    return RecordingRelayer(
        TxSender(rpc, chain_info(31337), LocalSigner(l1.accounts[9].private_key))
    )


async def _mined(rpc: RpcClient, tx_hash: str) -> dict[str, Any]:
    for _ in range(500):
        receipt = await rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{tx_hash} was not mined")


async def _safe(
    l1: DevnetChain, rpc: RpcClient, relayer: RecordingRelayer, owners: list[str], threshold: int,
    salt: int = 1,
) -> SafeAccount:  # fmt: skip
    factory = SafeFactory(rpc, _addresses(l1), 31337)
    predicted = await factory.predict(owners, threshold, salt)
    safe, sent = await factory.create(relayer, owners, threshold, salt)
    assert (await _mined(rpc, sent.tx_hash))["status"] == "0x1"
    assert safe.address == predicted
    return safe


def _fund(l1: DevnetChain, safe: str, usdc: int = 0, eth: int = 0) -> None:
    w3 = l1.w3
    funder = l1.accounts[0].address
    if usdc:
        c = w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
        w3.eth.wait_for_transaction_receipt(
            c.functions.transfer(safe, usdc).transact({"from": funder})
        )
    if eth:
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": funder, "to": safe, "value": eth})
        )


def _usdc(l1: DevnetChain, who: str) -> int:
    c = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_ABI)
    return int(c.functions.balanceOf(who).call())


async def test_created_safe_is_at_the_predicted_address_with_its_owners_and_handler(
    l1: DevnetChain, rpc: RpcClient, relayer: RecordingRelayer, owners: list[LocalSigner]
) -> None:
    safe = await _safe(l1, rpc, relayer, [o.address for o in owners], 2, salt=77)
    state = await safe.state()
    assert state.version == "1.4.1"
    assert set(state.owners) == {o.address for o in owners}
    assert (state.threshold, state.nonce, state.modules, state.guard) == (2, 0, (), None)
    assert state.fallback_handler == l1.book.address("CompatibilityFallbackHandler")
    again = SafeFactory(rpc, _addresses(l1), 31337)
    with pytest.raises(ValueError, match="already exists"):
        await again.create(relayer, [o.address for o in owners], 2, 77)


_addr = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
_u256 = st.integers(min_value=0, max_value=2**256 - 1)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    to=_addr, value=_u256, data=st.binary(max_size=300), operation=st.sampled_from([0, 1]),
    safe_tx_gas=_u256, base_gas=_u256, gas_price=_u256, gas_token=_addr, refund=_addr,
    nonce=_u256,
)  # fmt: skip
def test_safe_tx_hash_equals_get_transaction_hash_on_chain(
    l1: DevnetChain, to: str, value: int, data: bytes, operation: int, safe_tx_gas: int,
    base_gas: int, gas_price: int, gas_token: str, refund: str, nonce: int,
) -> None:  # fmt: skip
    singleton = l1.w3.eth.contract(
        address=l1.book.address("SafeL2"), abi=load_protocol_artifact("SafeL2").abi
    )
    tx = SafeTransaction(
        safe=singleton.address, chain_id=31337, to=to, value=value, data=data,
        operation=operation, safe_tx_gas=safe_tx_gas, base_gas=base_gas, gas_price=gas_price,
        gas_token=gas_token, refund_receiver=refund, nonce=nonce,
    )  # fmt: skip
    on_chain = singleton.functions.getTransactionHash(
        tx.to, value, data, operation, safe_tx_gas, base_gas, gas_price, tx.gas_token,
        tx.refund_receiver, nonce,
    ).call()  # fmt: skip
    assert tx.safe_tx_hash == bytes(on_chain)


async def test_two_of_three_safe_executes_a_transfer_and_a_multisend_batch(
    l1: DevnetChain, rpc: RpcClient, relayer: RecordingRelayer, owners: list[LocalSigner]
) -> None:
    safe = await _safe(l1, rpc, relayer, [o.address for o in owners], 2)
    _fund(l1, safe.address, usdc=5_000_000, eth=10**18)
    usdc = l1.book.address("USDC")

    tx, sent = await safe.execute_calls(
        [Call(usdc, _transfer(RECIPIENT, 1_000_000))], owners[:2], relayer
    )
    assert await safe.on_chain_hash(tx) == tx.safe_tx_hash
    assert (await _mined(rpc, sent.tx_hash))["status"] == "0x1"
    assert _usdc(l1, RECIPIENT) == 1_000_000
    assert await safe.nonce() == 1

    before_eth = l1.w3.eth.get_balance(OTHER)
    calls = [
        Call(usdc, _transfer(RECIPIENT, 250_000)),
        Call(usdc, _transfer(OTHER, 750_000)),
        Call(OTHER, b"", 12_345),
    ]
    tx2, sent2 = await safe.execute_calls(calls, [owners[2], owners[0]], relayer)
    assert tx2.operation == 1 and tx2.to == l1.book.address("MultiSendCallOnly")
    assert (await _mined(rpc, sent2.tx_hash))["status"] == "0x1"
    assert (_usdc(l1, RECIPIENT), _usdc(l1, OTHER)) == (1_250_000, 750_000)
    assert l1.w3.eth.get_balance(OTHER) - before_eth == 12_345
    assert _usdc(l1, safe.address) == 3_000_000
    assert await safe.nonce() == 2

    # the Safe calls itself (enableModule): state reads see the module
    enable = keccak(text="enableModule(address)")[:4] + abi_encode(["address"], [OTHER])
    _, sent3 = await safe.execute_calls([Call(safe.address, enable)], owners[1:], relayer)
    assert (await _mined(rpc, sent3.tx_hash))["status"] == "0x1"
    assert (await safe.modules(), await safe.nonce()) == ((OTHER,), 3)
    enable2 = keccak(text="enableModule(address)")[:4] + abi_encode(["address"], [RECIPIENT])
    _, sent4 = await safe.execute_calls([Call(safe.address, enable2)], owners[:2], relayer)
    assert (await _mined(rpc, sent4.tx_hash))["status"] == "0x1"
    assert set(await safe.modules(page_size=1)) == {OTHER, RECIPIENT}  # two pages


async def test_every_signature_kind_is_accepted_eth_sign_approved_hash_and_eip1271(
    l1: DevnetChain, rpc: RpcClient, relayer: RecordingRelayer, owners: list[LocalSigner]
) -> None:
    a, b, c = owners
    inner = await _safe(l1, rpc, relayer, [c.address], 1, salt=5)  # a Safe owning a Safe
    safe = await _safe(l1, rpc, relayer, [a.address, b.address, inner.address], 3, salt=6)
    _fund(l1, safe.address, usdc=1_000_000)
    tx = await safe.transaction([Call(l1.book.address("USDC"), _transfer(RECIPIENT, 400_000))])

    eth_signed = Account.sign_message(encode_defunct(primitive=tx.safe_tx_hash), a._account.key)
    sig_a = OwnerSignature.eth_sign(a.address, bytes(eth_signed.signature))
    singleton = l1.w3.eth.contract(address=safe.address, abi=load_protocol_artifact("SafeL2").abi)
    l1.w3.eth.wait_for_transaction_receipt(
        singleton.functions.approveHash(tx.safe_tx_hash).transact({"from": b.address})
    )
    sig_b = OwnerSignature.approved_hash(b.address)
    message_hash = inner.message_hash(tx.hash_preimage)
    handler = l1.w3.eth.contract(
        address=inner.address, abi=load_protocol_artifact("CompatibilityFallbackHandler").abi
    )
    assert bytes(handler.functions.getMessageHash(tx.hash_preimage).call()) == message_hash
    inner_sig = await c.sign_hash(message_hash)
    sig_c = OwnerSignature.contract(inner.address, inner_sig)

    sent = await safe.execute(tx, [sig_c, sig_a, sig_b], relayer)
    assert (await _mined(rpc, sent.tx_hash))["status"] == "0x1"
    assert _usdc(l1, RECIPIENT) == 400_000


async def test_every_kind_of_bad_signature_set_is_refused_before_anything_is_sent(
    l1: DevnetChain, rpc: RpcClient, relayer: RecordingRelayer, owners: list[LocalSigner]
) -> None:
    safe = await _safe(l1, rpc, relayer, [o.address for o in owners], 2)
    _fund(l1, safe.address, usdc=1_000_000)
    relayer.sent.clear()
    tx = await safe.transaction([Call(l1.book.address("USDC"), _transfer(RECIPIENT, 1))])
    other_tx = await safe.transaction([Call(l1.book.address("USDC"), _transfer(RECIPIENT, 2))])
    good = [await sign_safe_transaction(o, tx) for o in owners]
    stranger = LocalSigner(l1.accounts[3].private_key)
    wrong = await sign_safe_transaction(owners[1], other_tx)
    cases: dict[str, tuple[list[OwnerSignature], str]] = {
        "wrong hash": ([good[0], wrong], "recovers to"),
        "not an owner": ([good[0], await sign_safe_transaction(stranger, tx)], "not an owner"),
        "missing": ([good[0]], "needs 2 owner signatures, got 1"),
        "duplicated": ([good[0], good[0]], "signed twice"),
        "approved hash not approved": (
            [good[0], OwnerSignature.approved_hash(owners[1].address)],
            "has not approved",
        ),
        "contract owner that is not a contract": (
            [good[0], OwnerSignature.contract(owners[1].address, b"\x01" * 65)],
            "did not accept",
        ),
    }
    for name, (sigs, message) in cases.items():
        with pytest.raises(SignatureRejected, match=message):
            await safe.execute(tx, sigs, relayer)
        assert relayer.sent == [], name

    packed_backwards = b"".join(s.data for s in reversed(good[:2]))
    parsed = parse_signatures(packed_backwards, tx)
    with pytest.raises(SignatureRejected, match="out of order"):
        await safe.check(tx, parsed, ordered=True)
    assert [s.owner for s in await safe.check(tx, parsed[::-1], ordered=True)] == [
        o.address for o in owners[:2]
    ]

    stale = SafeTransaction(safe=safe.address, chain_id=31337, to=RECIPIENT, nonce=5)
    with pytest.raises(SafeNonceMismatch, match="nonce 5"):
        await safe.execute(stale, good[:2], relayer)
    assert relayer.sent == []
    assert _usdc(l1, RECIPIENT) == 0 and await safe.nonce() == 0
