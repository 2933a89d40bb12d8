"""Local signer: the user's own private key, from the environment or an encrypted keystore.

The key is held in memory by eth-account (which signs with coincurve when installed) and never
written, logged or put in an event. Signing runs in a worker thread so it never blocks the event
loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_typing import ChecksumAddress

from oms_chain.custody.base import SignedTransaction
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.model.ids import TxHash

__all__ = ["LocalSigner"]

_REQUIRED = ("chainId", "nonce", "gas", "to", "value")


class LocalSigner:
    """A :class:`~oms_chain.custody.base.Signer` over a private key held in this process."""

    def __init__(self, private_key: str | bytes) -> None:
        try:
            self._account = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise InvalidInput("private key is not a valid secp256k1 key (32 bytes hex)") from exc

    def __repr__(self) -> str:  # never show the key
        return f"LocalSigner({self.address})"

    @classmethod
    def from_env(cls, variable: str) -> LocalSigner:
        """Key from environment variable ``variable`` (hex); errors name the variable only."""
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"environment variable {variable} is not set (expected a hex key)")
        try:
            return cls(value.strip())
        except InvalidInput:
            raise ConfigError(
                f"environment variable {variable} does not hold a valid key"
            ) from None

    @classmethod
    def from_keystore(cls, path: Path, password: str) -> LocalSigner:
        """Decrypt an encrypted JSON keystore (Web3 Secret Storage) with ``password``."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"keystore {path} does not exist") from None
        except ValueError as exc:
            raise ConfigError(f"keystore {path} is not JSON: {exc}") from None
        try:
            key = Account.decrypt(data, password)
        except ValueError:
            raise ConfigError(f"keystore {path}: wrong password or corrupt file") from None
        return cls(bytes(key))

    @property
    def address(self) -> ChecksumAddress:
        """The signing account."""
        return ChecksumAddress(self._account.address)

    def encrypt(self, password: str, path: Path) -> None:
        """Write this key as an encrypted keystore file (mode 0600)."""
        blob = Account.encrypt(self._account.key, password)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(blob, fh)

    def _sign_tx_sync(self, tx: dict[str, Any]) -> SignedTransaction:
        missing = [k for k in _REQUIRED if k not in tx]
        if missing:
            raise InvalidInput(f"transaction is missing {', '.join(missing)}")
        if "from" in tx and str(tx["from"]).lower() != self.address.lower():
            raise InvalidInput(f"transaction 'from' {tx['from']} is not the signer {self.address}")
        fields = {k: v for k, v in tx.items() if k != "from"}
        try:
            signed = self._account.sign_transaction(fields)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"cannot sign transaction: {exc}") from exc
        return SignedTransaction(
            raw=bytes(signed.raw_transaction),
            tx_hash=TxHash("0x" + bytes(signed.hash).hex()),
            sender=self.address,
            nonce=int(tx["nonce"]),
        )

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Sign ``tx`` (needs chainId, nonce, gas, to, value and fee fields) off the event loop."""
        return await asyncio.to_thread(self._sign_tx_sync, tx)

    async def sign_hash(self, digest: bytes) -> bytes:
        """Sign a raw 32-byte digest (no EIP-191 prefix); 65 bytes r || s || v (27/28)."""
        if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
            raise InvalidInput("sign_hash needs exactly 32 bytes")
        sig = await asyncio.to_thread(Account.unsafe_sign_hash, bytes(digest), self._account.key)
        return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])
