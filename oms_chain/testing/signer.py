"""The conformance suite every :class:`~oms_chain.custody.Signer` passes, ours and yours.

Subclass :class:`SignerConformance` with a ``signer`` fixture. Each test runs in the form the
signer's declared :class:`~oms_chain.custody.SignerCapabilities` call for: an externally owned
account signs raw transactions and ecrecover-able hashes; a contract account (Safe, threshold
group) refuses raw transactions with an :class:`~oms_chain.model.errors.OmsError` and its hash
signatures are checked by its contract, not here::

    from oms_chain.testing.signer import SignerConformance

    class TestMySigner(SignerConformance):
        @pytest.fixture
        def signer(self):
            return MySigner(...)

Typed-data signers (:class:`~oms_chain.custody.TypedDataSigner`) also sign an EIP-712 message
on chain 31337 for verifying contract ``0x00000000000000000000000000000000000c0ffe``.

Fixture a subclass may override: ``transaction`` (an EIP-1559 transaction dict the signer
accepts; by default a 1-wei transfer on chain 31337 at nonce 7). The tests are coroutines and
need pytest-asyncio (installed with oms-chain).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from oms_chain.custody.base import SignedTransaction, Signer, SignerCapabilities, TypedDataSigner
from oms_chain.model.errors import OmsError

__all__ = ["SignerConformance"]

_DIGEST = keccak(b"oms-chain signer conformance")
_TYPED = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Check": [{"name": "note", "type": "string"}, {"name": "amount", "type": "uint256"}],
    },
    "primaryType": "Check",
    "domain": {
        "name": "oms-chain conformance",
        "chainId": 31337,
        "verifyingContract": "0x00000000000000000000000000000000000c0ffe",
    },
    "message": {"note": "signer conformance", "amount": 12345},
}


class SignerConformance:
    """What every Signer must do. Subclass with a ``signer`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def transaction(self) -> dict[str, Any]:
        """An EIP-1559 transfer of 1 wei on chain 31337 at nonce 7."""
        return {
            "type": 2,
            "chainId": 31337,
            "nonce": 7,
            "to": "0x000000000000000000000000000000000000dEaD",
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 2_000_000_000,
            "maxPriorityFeePerGas": 1_000_000_000,
            "data": b"",
        }

    async def test_is_a_signer_with_a_checksum_address_and_declared_capabilities(
        self, signer: Any
    ) -> None:
        assert isinstance(signer, Signer)
        assert isinstance(signer.capabilities, SignerCapabilities)
        assert signer.address == to_checksum_address(signer.address)

    async def test_hash_signature_is_65_bytes_and_recovers_the_address(
        self, signer: Signer
    ) -> None:
        if not signer.capabilities.digests:
            with pytest.raises(OmsError):
                await signer.sign_hash(_DIGEST)
            return
        sig = await signer.sign_hash(_DIGEST)
        assert isinstance(sig, bytes)
        if not signer.capabilities.ecdsa_hashes:
            return  # checked by the account contract (EIP-1271), not by ecrecover
        assert len(sig) == 65 and sig[64] in (27, 28)
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        public = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(_DIGEST)
        assert public.to_checksum_address() == signer.address

    @pytest.mark.parametrize("digest", [b"", b"\x01" * 31, b"\x01" * 33, "00" * 32, None])
    async def test_a_digest_that_is_not_32_bytes_is_refused(
        self, signer: Signer, digest: Any
    ) -> None:
        with pytest.raises(OmsError):
            await signer.sign_hash(digest)

    async def test_signed_transaction_is_sent_by_the_signer_at_its_nonce(
        self, signer: Signer, transaction: dict[str, Any]
    ) -> None:
        if not signer.capabilities.raw_transactions:
            with pytest.raises(OmsError):
                await signer.sign_transaction(transaction)
            return
        signed = await signer.sign_transaction(transaction)
        assert isinstance(signed, SignedTransaction)
        assert (signed.sender, signed.nonce) == (signer.address, transaction["nonce"])
        assert signed.tx_hash == "0x" + keccak(signed.raw).hex()
        assert Account.recover_transaction(signed.raw) == signer.address

    @pytest.mark.parametrize("missing", ["chainId", "nonce"])
    async def test_a_transaction_missing_chain_id_or_nonce_is_refused(
        self, signer: Signer, transaction: dict[str, Any], missing: str
    ) -> None:
        del transaction[missing]
        with pytest.raises(OmsError):
            await signer.sign_transaction(transaction)

    async def test_a_transaction_from_another_account_is_refused(
        self, signer: Signer, transaction: dict[str, Any]
    ) -> None:
        other = "0x000000000000000000000000000000000000bEEF"
        assert other != signer.address
        with pytest.raises(OmsError):
            await signer.sign_transaction({**transaction, "from": other})

    async def test_typed_data_signature_recovers_the_address_when_declared(
        self, signer: Signer
    ) -> None:
        if not isinstance(signer, TypedDataSigner):
            return  # not a typed-data signer
        sig = await signer.sign_typed_data(dict(_TYPED))
        assert isinstance(sig, bytes) and sig
        if signer.capabilities.ecdsa_hashes or not signer.capabilities.contract_account:
            assert len(sig) == 65 and sig[64] in (27, 28)
            recovered = Account.recover_message(
                encode_typed_data(full_message=_TYPED), signature=sig
            )
            assert recovered == signer.address

    async def test_typed_data_that_does_not_encode_is_refused(self, signer: Signer) -> None:
        if not isinstance(signer, TypedDataSigner):
            return
        with pytest.raises(OmsError):
            await signer.sign_typed_data({"types": {}, "primaryType": "Nope", "message": {}})
