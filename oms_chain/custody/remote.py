"""Remote signer: keys that live in another process (web3signer, Clef, an HSM behind one).

Speaks the JSON-RPC interface those signers share: ``eth_accounts``, ``eth_signTransaction``
and ``eth_signTypedData_v4`` over HTTP(S), with an optional bearer token and TLS context. It
trusts nothing it gets back: a signed transaction must recover to the account and carry exactly
the fields that were asked for (type 0, 1 and 2 are decoded and compared field by field: type,
chainId, nonce, gas, fees, to, value, data, accessList), a typed-data signature must recover to
the account, or the answer is refused. The token is never logged or put in an error message.
"""

from __future__ import annotations

import itertools
import json
import ssl
from typing import Any

import aiohttp
import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_typing import ChecksumAddress
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes

from oms_chain.custody.base import (
    SignedTransaction,
    SignerCapabilities,
    SignerUnsupported,
    typed_data_message,
)
from oms_chain.model.errors import FinalError, InvalidInput, RetryableError
from oms_chain.model.ids import TxHash

__all__ = ["RemoteSigner", "RemoteSignerError", "RemoteSignerUnavailable"]

_REQUIRED = ("chainId", "nonce", "gas", "to", "value")
_QUANTITIES = (
    "chainId",
    "nonce",
    "gas",
    "value",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "gasPrice",
)


class RemoteSignerUnavailable(RetryableError, ConnectionError):
    """The remote signer did not answer (connection refused, timeout, HTTP 5xx)."""


class RemoteSignerError(FinalError):
    """The remote signer refused the request or answered with something we cannot accept."""


def _hex(value: Any, what: str) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        try:
            bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise InvalidInput(f"transaction {what} is not hex: {value[:20]!r}") from None
        return value if value.startswith("0x") else "0x" + value
    raise InvalidInput(f"transaction {what} must be bytes or hex, not {type(value).__name__}")


def _access_list(value: Any) -> tuple[tuple[str, tuple[bytes, ...]], ...]:
    """An access list as ((address lowercase, (32-byte keys...)), ...); refuses anything else."""
    if not isinstance(value, list | tuple):
        raise InvalidInput("transaction accessList must be a list of {address, storageKeys}")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"address", "storageKeys"}:
            raise InvalidInput("each accessList entry must be {address, storageKeys}")
        address, keys = entry["address"], entry["storageKeys"]
        if not isinstance(address, str) or not is_address(address):
            raise InvalidInput(f"accessList address {address!r} is not an address")
        if not isinstance(keys, list | tuple):
            raise InvalidInput("accessList storageKeys must be a list of 32-byte keys")
        parsed = []
        for k in keys:
            key = bytes.fromhex(_hex(k, "storage key")[2:])
            if len(key) != 32:
                raise InvalidInput("accessList storage keys must be 32 bytes each")
            parsed.append(key)
        out.append((address.lower(), tuple(parsed)))
    return tuple(out)


def _tx_type(tx: dict[str, Any]) -> int:
    """The type the request asks for (given, or implied by its fields); its fees must be given."""
    if "type" in tx:
        tx_type = tx["type"]
    elif "maxFeePerGas" in tx or "maxPriorityFeePerGas" in tx:
        tx_type = 2
    else:
        tx_type = 1 if "accessList" in tx else 0
    if tx_type not in (0, 1, 2):
        raise InvalidInput(f"transaction type {tx_type} is not supported (0, 1 or 2)")
    fees = ("maxFeePerGas", "maxPriorityFeePerGas") if tx_type == 2 else ("gasPrice",)
    other = ("gasPrice",) if tx_type == 2 else ("maxFeePerGas", "maxPriorityFeePerGas")
    missing = [k for k in fees if k not in tx]
    if missing:
        raise InvalidInput(
            f"type-{tx_type} transaction is missing {', '.join(missing)}: give the fees "
            "(a remote signer's own fee choice is not accepted)"
        )
    extra = [k for k in other if k in tx]
    if extra:
        raise InvalidInput(f"type-{tx_type} transaction may not carry {', '.join(extra)}")
    if tx_type == 0 and "accessList" in tx:
        raise InvalidInput("a type-0 (legacy) transaction has no accessList; use type 1 or 2")
    return tx_type


def _decode_signed(raw: bytes) -> dict[str, Any]:
    """The fields of a signed type-0/1/2 transaction, normalised for comparison."""
    if raw[:1] in (b"\x01", b"\x02"):
        d = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        out: dict[str, Any] = {k: int(d[k]) for k in _QUANTITIES if k in d}
        out["type"] = int(d["type"])
        out["to"] = "0x" + bytes(d.get("to") or b"").hex()
        out["data"] = bytes(d.get("data") or b"")
        out["accessList"] = tuple(
            (
                "0x" + bytes(e["address"]).hex(),
                tuple(int(k).to_bytes(32, "big") for k in e["storageKeys"]),
            )
            for e in d.get("accessList", ())
        )
        return out
    if not raw or raw[0] < 0xC0:
        raise ValueError("not a type 0, 1 or 2 transaction")
    fields = rlp.decode(raw)
    if not isinstance(fields, list) or len(fields) != 9:
        raise ValueError("a legacy transaction has 9 fields")
    nonce, gas_price, gas, to, value, data, v, _r, _s = (bytes(f) for f in fields)
    v_int = int.from_bytes(v, "big")
    return {
        "type": 0,
        # EIP-155: v = chainId * 2 + 35/36; v = 27/28 is a replayable pre-EIP-155 signature
        "chainId": (v_int - 35) // 2 if v_int >= 35 else None,
        "nonce": int.from_bytes(nonce, "big"),
        "gasPrice": int.from_bytes(gas_price, "big"),
        "gas": int.from_bytes(gas, "big"),
        "to": "0x" + to.hex(),
        "value": int.from_bytes(value, "big"),
        "data": data,
    }


class RemoteSigner:
    """A :class:`~oms_chain.custody.base.Signer` whose key is held by a JSON-RPC signer.

    ``url``: the signer's endpoint (``https://`` for TLS; ``ssl`` to pin a CA or client
    certificate). ``token``: sent as ``Authorization: Bearer <token>``. Build it with
    :meth:`connect`, which checks ``eth_accounts`` lists ``address``.
    """

    def __init__(
        self,
        url: str,
        address: str,
        *,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput("remote signer url must start with http:// or https://")
        if not isinstance(address, str) or not is_address(address):
            raise InvalidInput(f"remote signer address is not an address: {address!r}")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise InvalidInput("remote signer token must be a non-empty string when given")
        if not timeout > 0:
            raise InvalidInput("remote signer timeout must be > 0 seconds")
        self._url = url
        self._address = ChecksumAddress(to_checksum_address(address))
        self._headers = {"Content-Type": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never show the token
        return f"RemoteSigner({self._address} at {self._url.split('?')[0]})"

    @classmethod
    async def connect(
        cls,
        url: str,
        address: str | None = None,
        *,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> RemoteSigner:
        """Ask the signer for its accounts; use ``address`` (must be listed) or its only one."""
        probe = cls(
            url,
            address or "0x" + "00" * 20,
            token=token,
            ssl_context=ssl_context,
            timeout=timeout,
        )
        try:
            accounts = [to_checksum_address(a) for a in await probe._call("eth_accounts", [])]
        finally:
            await probe.close()
        if address is None:
            if len(accounts) != 1:
                raise InvalidInput(
                    f"remote signer at {url} holds {len(accounts)} accounts; pass address="
                )
            address = accounts[0]
        elif to_checksum_address(address) not in accounts:
            raise InvalidInput(f"remote signer at {url} does not hold {address}")
        return cls(url, address, token=token, ssl_context=ssl_context, timeout=timeout)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RemoteSigner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> ChecksumAddress:
        """The account the remote signer signs for."""
        return self._address

    @property
    def capabilities(self) -> SignerCapabilities:
        """Raw transactions and typed data, each a round trip; no raw-digest signing."""
        return SignerCapabilities(remote=True, digests=False)

    async def _call(self, method: str, params: list[Any]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            async with self._session.post(
                self._url,
                data=json.dumps(body),
                headers=self._headers,
                ssl=self._ssl if self._ssl is not None else True,
            ) as resp:
                if resp.status in (401, 403):
                    raise RemoteSignerError(
                        f"remote signer refused {method}: HTTP {resp.status} (check the token)"
                    )
                if resp.status >= 500:
                    raise RemoteSignerUnavailable(f"remote signer {method}: HTTP {resp.status}")
                if resp.status != 200:
                    raise RemoteSignerError(f"remote signer {method}: HTTP {resp.status}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteSignerUnavailable(
                f"remote signer {method}: no answer ({type(exc).__name__})"
            ) from None
        if not isinstance(answer, dict):
            raise RemoteSignerError(f"remote signer {method}: answer is not a JSON-RPC object")
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            raise RemoteSignerError(
                f"remote signer refused {method}: {str(err.get('message', 'error'))[:200]}"
            )
        return answer.get("result")

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """``eth_signTransaction``; the answer is decoded and every field checked before it is
        returned (type 0, 1 and 2; the fees must be given, the signer's own choice is refused)."""
        if not isinstance(tx, dict):
            raise InvalidInput("transaction must be a dict")
        missing = [k for k in _REQUIRED if k not in tx]
        if missing:
            raise InvalidInput(f"transaction is missing {', '.join(missing)}")
        if "from" in tx and str(tx["from"]).lower() != self._address.lower():
            raise InvalidInput(f"transaction 'from' {tx['from']} is not the signer {self._address}")
        request: dict[str, Any] = {"from": self._address}
        for key, value in tx.items():
            if key == "from":
                continue
            if key in _QUANTITIES or key == "type":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InvalidInput(f"transaction {key} must be an integer >= 0")
                request[key] = hex(value)
            elif key == "data":
                request["data"] = _hex(value, "data")
            elif key == "to":
                if not isinstance(value, str) or not is_address(value):
                    raise InvalidInput("transaction 'to' must be an address")
                request["to"] = to_checksum_address(value)
            elif key == "accessList":
                request["accessList"] = [
                    {"address": to_checksum_address(a), "storageKeys": ["0x" + k.hex() for k in ks]}
                    for a, ks in _access_list(value)
                ]
            else:
                raise InvalidInput(f"transaction field {key!r} is not supported")
        tx_type = _tx_type(tx)
        raw_hex = await self._call("eth_signTransaction", [request])
        if isinstance(raw_hex, dict):  # some signers answer {"raw": ..., "tx": ...}
            raw_hex = raw_hex.get("raw")
        try:
            raw = bytes.fromhex(str(raw_hex).removeprefix("0x"))
            sender = Account.recover_transaction(raw)
            signed = _decode_signed(raw)
        except Exception:
            raise RemoteSignerError(
                "remote signer returned bytes that are not a signed tx"
            ) from None
        if sender != self._address:
            raise RemoteSignerError(f"remote signer signed as {sender}, not {self._address}")
        self._check_fields(signed, tx, tx_type)
        return SignedTransaction(
            raw=raw,
            tx_hash=TxHash("0x" + keccak(raw).hex()),
            sender=self._address,
            nonce=int(tx["nonce"]),
        )

    @staticmethod
    def _check_fields(signed: dict[str, Any], tx: dict[str, Any], tx_type: int) -> None:
        """Every field of the signed transaction must be the one asked for."""
        if signed["type"] != tx_type:
            raise RemoteSignerError(
                f"remote signer changed the transaction's type ({signed['type']}, not {tx_type})"
            )
        want: dict[str, Any] = {
            "chainId": int(tx["chainId"]),
            "nonce": int(tx["nonce"]),
            "gas": int(tx["gas"]),
            "value": int(tx["value"]),
            "to": str(tx["to"]).lower(),
            "data": bytes.fromhex(_hex(tx.get("data", b""), "data")[2:]),
        }
        if tx_type == 2:
            want["maxFeePerGas"] = int(tx["maxFeePerGas"])
            want["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"])
        else:
            want["gasPrice"] = int(tx["gasPrice"])
        if tx_type != 0:
            want["accessList"] = _access_list(tx.get("accessList", []))
        for key, value in want.items():
            if signed.get(key) != value:
                raise RemoteSignerError(f"remote signer changed the transaction's {key}")

    async def sign_hash(self, digest: bytes) -> bytes:
        """Not possible over this interface; raises :class:`SignerUnsupported`."""
        if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
            raise InvalidInput("sign_hash needs exactly 32 bytes")
        raise SignerUnsupported(
            "a remote JSON-RPC signer cannot sign a raw digest; use sign_typed_data "
            "(Safe transactions are signed as EIP-712 typed data)"
        )

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        """``eth_signTypedData_v4``; the signature must recover to the account."""
        message = typed_data_message(typed_data)
        sig_hex = await self._call(
            "eth_signTypedData_v4", [self._address, json.dumps(typed_data, default=str)]
        )
        try:
            sig = bytes.fromhex(str(sig_hex).removeprefix("0x"))
            if len(sig) != 65:
                raise ValueError
            if sig[64] in (0, 1):
                sig = sig[:64] + bytes([sig[64] + 27])
            signer = Account.recover_message(message, signature=sig)
        except Exception:
            raise RemoteSignerError("remote signer returned an unreadable signature") from None
        if signer != self._address:
            raise RemoteSignerError(
                f"remote signer's typed-data signature recovers to {signer}, not {self._address}"
            )
        return sig
