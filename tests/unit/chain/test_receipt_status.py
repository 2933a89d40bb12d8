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
