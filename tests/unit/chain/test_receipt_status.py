"""A receipt without a readable ``status`` is an error, never read as a success."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.chain import MalformedReceipt, receipt_status
from oms_chain.chain.tracker import Receipt
from oms_chain.model.errors import OmsError, RetryableError

_BASE: dict[str, Any] = {
    "transactionHash": "0x" + "ab" * 32,
    "blockNumber": "0x10",
    "blockHash": "0x" + "cd" * 32,
    "gasUsed": "0x5208",
    "effectiveGasPrice": "0x1",
}


def test_status_one_is_success_and_zero_is_a_revert() -> None:
    assert receipt_status({**_BASE, "status": "0x1"}) == 1
    assert receipt_status({**_BASE, "status": "0x0"}) == 0
    assert Receipt.from_rpc({**_BASE, "status": "0x1"}).status == 1


def test_a_receipt_without_status_is_malformed_not_a_success() -> None:
    with pytest.raises(MalformedReceipt, match="no valid status field") as info:
        Receipt.from_rpc(dict(_BASE))
    assert isinstance(info.value, RetryableError)  # unknown outcome: ask again
    assert "0x" + "ab" * 32 in str(info.value)


def test_a_pre_byzantium_root_receipt_is_malformed() -> None:
    with pytest.raises(MalformedReceipt):
        receipt_status({**_BASE, "root": "0x" + "00" * 32})


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=8),
        st.sampled_from(["0x2", "0x", "1", "true", "0xzz", "0x01f"]),
    )
)
def test_any_status_but_0x0_or_0x1_is_refused_with_an_oms_error(raw: object) -> None:
    payload = {**_BASE, "status": raw}
    try:
        value = receipt_status(payload)
    except OmsError as exc:
        assert isinstance(exc, MalformedReceipt)
        return
    assert value in (0, 1) and isinstance(raw, str)


_LOG: dict[str, Any] = {
    "address": "0x" + "Ee" * 20,
    "topics": ["0x" + "AA" * 32, "0x" + "00" * 12 + "11" * 20],
    "data": "0x" + "00" * 31 + "2a",
    "blockNumber": "0x10",
    "blockHash": "0x" + "CD" * 32,
    "transactionHash": "0x" + "ab" * 32,
    "logIndex": "0x3",
}


def test_a_receipt_is_parsed_once_into_typed_fields_and_logs() -> None:
    receipt = Receipt.from_rpc({**_BASE, "status": "0x1", "logs": [_LOG]})
    assert (receipt.block_number, receipt.gas_used, receipt.gas_paid) == (16, 21000, 21000)
    (log,) = receipt.logs
    assert log.address == "0x" + "Ee" * 20  # as sent; compare lower-cased
    assert log.topics == ("0x" + "aa" * 32, "0x" + "00" * 12 + "11" * 20)
    assert (log.data, log.log_index, log.block_hash) == (
        "0x" + "00" * 31 + "2a",
        3,
        "0x" + "cd" * 32,
    )
    assert Receipt.from_rpc({**_BASE, "status": "0x0"}).logs == ()


@given(
    st.sampled_from(["blockNumber", "blockHash", "transactionHash", "logs"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=6), st.lists(st.integers(), max_size=2)),
)
def test_a_receipt_with_a_broken_field_is_malformed_never_a_builtin_error(
    key: str, raw: object
) -> None:
    payload = {**_BASE, "status": "0x1", "logs": [_LOG], key: raw}
    try:
        receipt = Receipt.from_rpc(payload)
    except MalformedReceipt as exc:
        assert isinstance(exc, RetryableError)
        return
    assert isinstance(receipt, Receipt)


def test_a_contract_creation_carries_its_address_and_a_call_none() -> None:
    created = "0x" + "5f" * 20
    ok = {**_BASE, "status": "0x1"}
    assert Receipt.from_rpc({**ok, "contractAddress": created}).contract_address == created
    assert Receipt.from_rpc({**ok, "contractAddress": None}).contract_address is None
    assert Receipt.from_rpc(ok).contract_address is None
    with pytest.raises(MalformedReceipt, match="contractAddress"):
        Receipt.from_rpc({**ok, "contractAddress": "0x1234"})
