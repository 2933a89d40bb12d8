"""Transaction Builder batch files: the app's checksum, import of its files, round trips."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.custody.safe import Call, SafeTransaction, TransactionBatch, batch_checksum
from oms_chain.model import InvalidInput

# A batch exported by the Safe{Wallet} Transaction Builder app (1.18.2), checksum as written by it.
APP_FILE: dict[str, Any] = {
    "version": "1.0",
    "chainId": "1",
    "createdAt": 1761326849944,
    "meta": {
        "name": "Transactions Batch",
        "description": "",
        "txBuilderVersion": "1.18.2",
        "createdFromSafeAddress": "0xA77DE01e157f9f57C7c4A326eeE9C4874D0598b6",
        "createdFromOwnerAddress": "",
        "checksum": "0x8b5032f716845c8b08bab3d63dbd9ba92e056f3557793cd041e59b84e16aa989",
    },
    "transactions": [
        {
            "to": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
            "value": "0",
            "data": None,
            "contractMethod": {
                "inputs": [
                    {"internalType": "address", "name": "spender", "type": "address"},
                    {"internalType": "uint256", "name": "value", "type": "uint256"},
                ],
                "name": "approve",
                "payable": False,
            },
            "contractInputsValues": {
                "spender": "0x474e5Ded6b5D078163BFB8F6dBa355C3aA5478C8",
                "value": "100000000000",
            },
        }
    ],
}
MULTISEND = "0x9641d764fc13c8B624c04430C7356C1C7C8102e2"


def test_checksum_equals_the_apps_and_its_method_call_is_encoded() -> None:
    assert batch_checksum(APP_FILE) == APP_FILE["meta"]["checksum"]
    batch = TransactionBatch.from_json(json.dumps(APP_FILE))
    (call,) = batch.calls
    assert (batch.chain_id, batch.safe) == (1, "0xA77DE01e157f9f57C7c4A326eeE9C4874D0598b6")
    assert call.data == keccak(text="approve(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], ["0x474e5Ded6b5D078163BFB8F6dBa355C3aA5478C8", 100_000_000_000]
    )


def test_an_edited_file_is_refused_by_its_checksum() -> None:
    edited = copy.deepcopy(APP_FILE)
    edited["transactions"][0]["contractInputsValues"]["value"] = "100000000001"
    with pytest.raises(InvalidInput, match="checksum does not match"):
        TransactionBatch.from_json(edited)


_calls = st.lists(
    st.builds(
        Call,
        st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
        st.binary(max_size=100),
        st.integers(0, 2**256 - 1),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=100)
@given(calls=_calls, nonce=st.integers(0, 2**64), chain_id=st.integers(1, 2**32))
def test_export_then_import_gives_the_same_safe_transaction_hash(
    calls: list[Call], nonce: int, chain_id: int
) -> None:
    safe = "0x" + "ab" * 20
    exported = TransactionBatch.of(chain_id, safe, calls).to_json(created_at_ms=1_700_000_000_000)
    imported = TransactionBatch.from_json(json.dumps(exported))
    assert imported.calls == tuple(calls) and imported.chain_id == chain_id

    def tx(batch: TransactionBatch) -> SafeTransaction:
        return SafeTransaction.batch(
            safe=batch.safe, chain_id=batch.chain_id, nonce=nonce, calls=batch.calls,
            multisend_call_only=MULTISEND,
        )  # fmt: skip

    assert tx(imported).safe_tx_hash == tx(TransactionBatch.of(chain_id, safe, calls)).safe_tx_hash


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"meta": None}, "no 'meta'"),
        ({"chainId": "one"}, "chainId"),
        ({"transactions": []}, "no transactions"),
        ({"transactions": [{"to": "0x12", "value": "0", "data": "0x"}]}, "transaction 1: 'to'"),
        ({"transactions": [{"to": MULTISEND, "value": "x", "data": "0x"}]}, "value"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_field(patch: dict[str, Any], message: str) -> None:
    bad = {**copy.deepcopy(APP_FILE), **patch}
    if isinstance(bad.get("meta"), dict):
        bad["meta"] = {k: v for k, v in bad["meta"].items() if k != "checksum"}
    with pytest.raises(InvalidInput, match=message):
        TransactionBatch.from_json(bad)
