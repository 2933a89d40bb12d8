"""The local signer: signatures that recover to the account, keystores, and no key leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.custody import LocalSigner, Signer, SignerCapabilities
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.testing.signer import SignerConformance

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil account 1
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TX = {
    "chainId": 31337,
    "nonce": 3,
    "gas": 21000,
    "to": ADDRESS,
    "value": 5,
    "maxFeePerGas": 2 * 10**9,
    "maxPriorityFeePerGas": 10**9,
    "data": "0x",
}


class TestLocalSignerConformance(SignerConformance):
    @pytest.fixture
    def signer(self) -> LocalSigner:
        return LocalSigner(KEY)


def test_a_local_signer_declares_an_externally_owned_account() -> None:
    assert LocalSigner(KEY).capabilities == SignerCapabilities()


def test_signer_capabilities_refuse_an_ecrecover_able_contract_account() -> None:
    with pytest.raises(InvalidInput, match="ecdsa_hashes"):
        SignerCapabilities(contract_account=True)
    with pytest.raises(InvalidInput, match="'remote'"):
        SignerCapabilities(remote=1)  # type: ignore[arg-type]


async def test_signed_transactions_recover_to_the_account() -> None:
    signer = LocalSigner(KEY)
    assert isinstance(signer, Signer) and signer.address == ADDRESS
    signed = await signer.sign_transaction(TX)
    assert Account.recover_transaction(signed.raw) == ADDRESS
    assert signed.nonce == 3 and signed.tx_hash.startswith("0x") and len(signed.tx_hash) == 66


async def test_hash_signatures_are_65_bytes_and_recover() -> None:
    digest = bytes(range(32))
    sig = await LocalSigner(KEY).sign_hash(digest)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert Account._recover_hash(digest, signature=sig) == ADDRESS
    with pytest.raises(InvalidInput, match="32 bytes"):
        await LocalSigner(KEY).sign_hash(b"short")


async def test_incomplete_or_foreign_transactions_are_refused() -> None:
    signer = LocalSigner(KEY)
    with pytest.raises(InvalidInput, match="missing nonce"):
        await signer.sign_transaction({k: v for k, v in TX.items() if k != "nonce"})
    with pytest.raises(InvalidInput, match="is not the signer"):
        await signer.sign_transaction({**TX, "from": "0x" + "22" * 20})


def test_keystore_round_trip_and_wrong_password(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    LocalSigner(KEY).encrypt("hunter2", path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert LocalSigner.from_keystore(path, "hunter2").address == ADDRESS
    with pytest.raises(ConfigError, match="wrong password"):
        LocalSigner.from_keystore(path, "nope")
    with pytest.raises(ConfigError, match="does not exist"):
        LocalSigner.from_keystore(tmp_path / "missing.json", "x")


def test_env_keys_and_bad_keys_give_errors_that_never_show_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMS_TEST_KEY", KEY)
    signer = LocalSigner.from_env("OMS_TEST_KEY")
    assert KEY[2:] not in repr(signer) and ADDRESS in repr(signer)
    monkeypatch.setenv("OMS_TEST_KEY", "0x1234")
    with pytest.raises(ConfigError) as info:
        LocalSigner.from_env("OMS_TEST_KEY")
    assert "OMS_TEST_KEY" in str(info.value) and "1234" not in str(info.value)
    with pytest.raises(ConfigError, match="not set"):
        LocalSigner.from_env("OMS_TEST_KEY_MISSING")


@settings(max_examples=200, deadline=None)
@given(
    chain_id=st.integers(min_value=1, max_value=2**32),
    nonce=st.integers(min_value=0, max_value=2**64 - 1),
    tip=st.integers(min_value=0, max_value=10**12),
    extra=st.integers(min_value=0, max_value=10**12),
    gas=st.integers(min_value=21000, max_value=30_000_000),
    value=st.integers(min_value=0, max_value=2**128),
    data=st.binary(max_size=300),
    to=st.binary(min_size=20, max_size=20),
)
def test_fast_eip1559_signing_gives_the_same_bytes_as_eth_account(
    chain_id: int, nonce: int, tip: int, extra: int, gas: int, value: int, data: bytes, to: bytes
) -> None:
    tx = {
        "chainId": chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": tip + extra,
        "gas": gas,
        "to": to_checksum_address(to),
        "value": value,
        "data": "0x" + data.hex(),
    }
    ours = LocalSigner(KEY)._sign_tx_sync(tx)
    reference = Account.from_key(KEY).sign_transaction(tx)
    assert ours.raw == bytes(reference.raw_transaction)
    assert ours.tx_hash == "0x" + bytes(reference.hash).hex()


def test_fast_path_rejects_bad_fields() -> None:
    signer = LocalSigner(KEY)
    with pytest.raises(InvalidInput, match="<= maxFeePerGas"):
        signer._sign_tx_sync({**TX, "maxPriorityFeePerGas": 3 * 10**9})
    with pytest.raises(InvalidInput, match="20 bytes"):
        signer._sign_tx_sync({**TX, "to": "0x1234"})
    with pytest.raises(InvalidInput, match=">= 0"):
        signer._sign_tx_sync({**TX, "value": -1})
