"""RemoteSigner against Anvil's own signing of its unlocked dev accounts (and a TLS proxy)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody import RemoteSigner
from oms_chain.custody.remote import RemoteSignerError, RemoteSignerUnavailable
from oms_chain.custody.safe import Call, SafeAddresses, SafeFactory, sign_safe_transaction
from oms_chain.devnet.world import DevnetChain
from oms_chain.testing.signer import SignerConformance

TOKEN = "s3cret-bearer-token-for-tests"


class TestRemoteSignerConformance(SignerConformance):
    @pytest.fixture
    async def signer(self, l1: DevnetChain) -> AsyncIterator[RemoteSigner]:
        async with await RemoteSigner.connect(l1.rpc_url, l1.accounts[5].address) as s:
            yield s


async def test_connect_refuses_an_account_the_signer_does_not_hold(l1: DevnetChain) -> None:
    with pytest.raises(ValueError, match="does not hold"):
        await RemoteSigner.connect(l1.rpc_url, "0x000000000000000000000000000000000000bEEF")


async def test_a_remotely_signed_transaction_is_sent_and_mined(l1: DevnetChain) -> None:
    async with (
        RpcClient([l1.rpc_url]) as rpc,
        RemoteSigner(l1.rpc_url, l1.accounts[6].address) as s,
    ):
        sender = TxSender(rpc, chain_info(31337), s)
        sent = await sender.send(to="0x000000000000000000000000000000000000dEaD", value=7)
        assert (await _receipt(rpc, sent.tx_hash))["status"] == "0x1"


async def _receipt(rpc: RpcClient, tx_hash: str) -> dict[str, Any]:
    """Anvil's receipt, polled until automine has mined the transaction."""
    for _ in range(500):
        receipt = await rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            return dict(receipt)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{tx_hash} was not mined")


async def test_remote_owners_sign_a_safe_transaction_as_typed_data(l1: DevnetChain) -> None:
    b = l1.book
    addresses = SafeAddresses(
        singleton=b.address("SafeL2"),
        proxy_factory=b.address("SafeProxyFactory"),
        fallback_handler=b.address("CompatibilityFallbackHandler"),
        multisend_call_only=b.address("MultiSendCallOnly"),
    )
    async with RpcClient([l1.rpc_url]) as rpc:
        owners = [RemoteSigner(l1.rpc_url, a.address) for a in l1.accounts[5:7]]
        relayer = TxSender(rpc, chain_info(31337), RemoteSigner(l1.rpc_url, l1.accounts[8].address))
        safe, sent = await SafeFactory(rpc, addresses, 31337).create(
            relayer, [o.address for o in owners], 2, 9
        )
        assert (await _receipt(rpc, sent.tx_hash))["status"] == "0x1"
        tx = await safe.transaction([Call("0x000000000000000000000000000000000000dEaD")])
        sigs = [await sign_safe_transaction(o, tx) for o in owners]
        assert [s.kind.value for s in await safe.check(tx, sigs)] == ["eoa", "eoa"]
        for o in [*owners, relayer.signer]:
            await o.close()  # type: ignore[attr-defined]


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    return server, client


@asynccontextmanager
async def _tls_proxy(
    upstream: str,
    server_ssl: ssl.SSLContext,
    rewrite: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[str]:
    """An HTTPS front for Anvil that wants the bearer token (as a web3signer deployment would)."""
    seen_auth: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen_auth.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        body = await request.json()
        if rewrite is not None:
            rewrite(body)
        async with aiohttp.ClientSession() as s, s.post(upstream, json=body) as r:
            return web.json_response(await r.json())

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_tls_and_bearer_token_are_used_and_a_wrong_token_is_refused(
    l1: DevnetChain, tmp_path: Path
) -> None:
    server_ssl, client_ssl = _self_signed(tmp_path)
    account = l1.accounts[5].address
    async with _tls_proxy(l1.rpc_url, server_ssl) as url:
        async with await RemoteSigner.connect(
            url, account, token=TOKEN, ssl_context=client_ssl
        ) as s:
            sig = await s.sign_typed_data({
                "types": {"EIP712Domain": [{"name": "chainId", "type": "uint256"}],
                          "M": [{"name": "x", "type": "uint256"}]},
                "primaryType": "M", "domain": {"chainId": 31337}, "message": {"x": 5},
            })  # fmt: skip
            assert len(sig) == 65
        with pytest.raises(RemoteSignerError, match="HTTP 401") as info:
            await RemoteSigner.connect(url, account, token="wrong", ssl_context=client_ssl)
        assert "wrong" not in str(info.value)
        with pytest.raises(RemoteSignerUnavailable):  # untrusted certificate
            await RemoteSigner.connect(url, account, token=TOKEN)


async def test_a_signature_for_another_account_or_changed_fields_is_refused(
    l1: DevnetChain, tmp_path: Path
) -> None:
    server_ssl, client_ssl = _self_signed(tmp_path)
    victim, other = l1.accounts[5].address, l1.accounts[6].address

    def as_other(body: dict[str, Any]) -> None:
        if body["method"] == "eth_signTransaction":
            body["params"][0]["from"] = other

    def more_value(body: dict[str, Any]) -> None:
        if body["method"] == "eth_signTransaction":
            body["params"][0]["value"] = hex(10**18)

    tx = {
        "type": 2, "chainId": 31337, "nonce": 3, "to": "0x000000000000000000000000000000000000dEaD",
        "value": 1, "gas": 21_000, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9,
    }  # fmt: skip
    for rewrite, message in (
        (as_other, "signed as"),
        (more_value, "changed the transaction's value"),
    ):
        async with (
            _tls_proxy(l1.rpc_url, server_ssl, rewrite) as url,
            RemoteSigner(url, victim, token=TOKEN, ssl_context=client_ssl) as s,
        ):
            with pytest.raises(RemoteSignerError, match=message):
                await s.sign_transaction(tx)
    assert json.dumps(tx)  # the request dict was not mutated into something unserialisable


DEAD = "0x000000000000000000000000000000000000dEaD"
SLOT = "0x" + "00" * 31 + "07"
_LEGACY = {
    "chainId": 31337, "nonce": 3, "to": DEAD, "value": 1, "gas": 30_000, "gasPrice": 2 * 10**9,
}  # fmt: skip
_TYPE1 = {**_LEGACY, "type": 1, "accessList": [{"address": DEAD, "storageKeys": [SLOT]}]}


def _rewrite(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def rewrite(body: dict[str, Any]) -> None:
        if body["method"] == "eth_signTransaction":
            params = body["params"][0]
            for key, value in fields.items():
                if value is None:
                    params.pop(key, None)
                else:
                    params[key] = value

    return rewrite


@pytest.mark.parametrize(
    ("tx", "rewrite", "message"),
    [
        (_LEGACY, _rewrite(to="0x" + "66" * 20), "changed the transaction's to"),
        (_LEGACY, _rewrite(value=hex(10**18)), "changed the transaction's value"),
        (_LEGACY, _rewrite(data="0xdeadbeef"), "changed the transaction's data"),
        (_LEGACY, _rewrite(gasPrice=hex(10**12)), "changed the transaction's gasPrice"),
        (_LEGACY, _rewrite(nonce=hex(9)), "changed the transaction's nonce"),
        (
            _LEGACY,
            _rewrite(type="0x2", maxFeePerGas="0x9", maxPriorityFeePerGas="0x1", gasPrice=None),
            "changed the transaction's type",
        ),
        (_TYPE1, _rewrite(gasPrice=hex(10**12)), "changed the transaction's gasPrice"),
        (_TYPE1, _rewrite(accessList=[]), "changed the transaction's accessList"),
        (_TYPE1, _rewrite(to="0x" + "66" * 20), "changed the transaction's to"),
    ],
)
async def test_legacy_and_type1_answers_are_checked_field_by_field(
    l1: DevnetChain,
    tmp_path: Path,
    tx: dict[str, Any],
    rewrite: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    server_ssl, client_ssl = _self_signed(tmp_path)
    victim = l1.accounts[5].address
    async with (
        _tls_proxy(l1.rpc_url, server_ssl, rewrite) as url,
        RemoteSigner(url, victim, token=TOKEN, ssl_context=client_ssl) as s,
    ):
        with pytest.raises(RemoteSignerError, match=message):
            await s.sign_transaction(dict(tx))


async def test_untampered_legacy_and_type1_answers_are_accepted(l1: DevnetChain) -> None:
    from eth_account import Account

    async with RemoteSigner(l1.rpc_url, l1.accounts[5].address) as s:
        legacy = await s.sign_transaction(dict(_LEGACY))
        assert legacy.raw[0] >= 0xC0  # an RLP list: type 0, EIP-155 protected
        type1 = await s.sign_transaction(dict(_TYPE1))
        assert type1.raw[:1] == b"\x01"
        for signed in (legacy, type1):
            assert Account.recover_transaction(signed.raw) == l1.accounts[5].address


@asynccontextmanager
async def _hostile_signer(key: str, sign: Callable[[dict[str, Any]], bytes]) -> AsyncIterator[str]:
    """A JSON-RPC signer holding ``key`` that answers eth_signTransaction with ``sign(request)``."""
    from eth_account import Account

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if body["method"] == "eth_accounts":
            result: Any = [Account.from_key(key).address]
        else:
            result = "0x" + sign(body["params"][0]).hex()
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_a_legacy_signature_for_another_chain_or_no_chain_is_refused() -> None:
    from eth_account import Account

    key = "0x" + "4c" * 32
    legacy = {**_LEGACY, "to": DEAD, "data": b""}
    for chain_id in (1, None):  # another chain; no chain id (pre-EIP-155, replayable anywhere)
        answer = {k: v for k, v in legacy.items() if k != "chainId"}
        if chain_id is not None:
            answer["chainId"] = chain_id
        raw = bytes(Account.sign_transaction(answer, key).raw_transaction)
        async with (
            _hostile_signer(key, lambda _req, raw=raw: raw) as url,
            RemoteSigner(url, Account.from_key(key).address) as s,
        ):
            with pytest.raises(RemoteSignerError, match="changed the transaction's chainId"):
                await s.sign_transaction(dict(_LEGACY))


@pytest.mark.parametrize(
    ("tx", "message"),
    [
        ({k: v for k, v in _LEGACY.items() if k != "gasPrice"}, "missing gasPrice"),
        ({**_LEGACY, "maxFeePerGas": 1, "maxPriorityFeePerGas": 1}, "may not carry gasPrice"),
        ({**_LEGACY, "type": 0, "accessList": []}, "has no accessList"),
        ({**_LEGACY, "type": 3}, "type 3 is not supported"),
        ({**_TYPE1, "accessList": [{"address": DEAD, "storageKeys": ["0x07"]}]}, "32 bytes"),
        ({**_TYPE1, "accessList": [{"address": "dead"}]}, "address, storageKeys"),
    ],
)
async def test_bad_fee_type_or_access_list_fields_are_refused_before_sending(
    tx: dict[str, Any], message: str
) -> None:
    # port 9 (discard): nothing listens; a request that were sent would fail as unavailable
    async with RemoteSigner("http://127.0.0.1:9/", DEAD) as s:
        with pytest.raises(ValueError, match=message):
            await s.sign_transaction(tx)
