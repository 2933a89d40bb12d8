"""Revert decoding and fee arithmetic: exact values and bad input."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.chain.fees import (
    FeeCapExceeded,
    FeeHistory,
    FeePolicy,
    FeeQuote,
    bump_fees,
    suggest_fees,
)
from oms_chain.chain.registry import ChainInfo, FinalityModel, chain_info, register_chain
from oms_chain.chain.revert import decode_revert, error_selectors
from oms_chain.model.errors import InvalidInput

ABI = [
    {
        "type": "error",
        "name": "TooLittleReceived",
        "inputs": [{"name": "minOut", "type": "uint256"}, {"name": "got", "type": "uint256"}],
    },
    {
        "type": "error",
        "name": "BadLeg",
        "inputs": [
            {
                "name": "leg",
                "type": "tuple",
                "components": [{"name": "a", "type": "address"}, {"name": "b", "type": "uint24"}],
            }
        ],
    },
]


def test_error_string_is_decoded() -> None:
    data = bytes.fromhex("08c379a0") + abi_encode(["string"], ["UniswapV2Router: EXPIRED"])
    reason = decode_revert("0x" + data.hex())
    assert (reason.kind, reason.message) == ("error", "UniswapV2Router: EXPIRED")


@pytest.mark.parametrize(
    ("code", "meaning"), [(0x11, "overflow"), (0x12, "division"), (0x32, "out of bounds")]
)
def test_panic_codes_are_named(code: int, meaning: str) -> None:
    reason = decode_revert(bytes.fromhex("4e487b71") + abi_encode(["uint256"], [code]))
    assert (
        reason.kind == "panic" and meaning in reason.message and f"0x{code:02x}" in reason.message
    )


def test_custom_errors_are_decoded_from_known_abis_including_tuples() -> None:
    known = error_selectors([ABI])
    data = keccak(text="TooLittleReceived(uint256,uint256)")[:4] + abi_encode(
        ["uint256", "uint256"], [10, 7]
    )
    assert decode_revert(data, known).message == "TooLittleReceived(10, 7)"
    leg = keccak(text="BadLeg((address,uint24))")[:4] + abi_encode(
        ["(address,uint24)"], [("0x" + "11" * 20, 500)]
    )
    assert decode_revert(leg, known).kind == "custom"
    assert decode_revert(data).kind == "unknown"  # without the ABI: named by selector only


@given(st.binary(max_size=200))
def test_any_revert_bytes_decode_without_raising(data: bytes) -> None:
    reason = decode_revert(data, error_selectors([ABI]))
    assert reason.kind in {"error", "panic", "custom", "empty", "unknown"}
    assert isinstance(reason.message, str) and reason.message


def test_empty_and_non_hex_revert_data() -> None:
    assert decode_revert(None).kind == "empty"
    assert decode_revert("0x").kind == "empty"
    assert decode_revert("0xzz").kind == "unknown"


def _history(base_fees: list[int], tips: list[int]) -> FeeHistory:
    return FeeHistory.from_rpc(
        {
            "oldestBlock": "0x10",
            "baseFeePerGas": [hex(b) for b in base_fees],
            "gasUsedRatio": [0.5] * len(tips),
            "reward": [[hex(t)] for t in tips],
        }
    )


def test_eip1559_suggestion_follows_next_base_fee_and_median_tip() -> None:
    gwei = 10**9
    quote = suggest_fees(
        _history([10 * gwei, 11 * gwei, 12 * gwei], [1 * gwei, 3 * gwei]), FeePolicy()
    )
    assert quote.max_priority_fee_per_gas == 2 * gwei
    assert quote.max_fee_per_gas == 2 * 12 * gwei + 2 * gwei


def test_fee_caps_apply_and_a_base_fee_over_the_cap_is_an_error() -> None:
    gwei = 10**9
    policy = FeePolicy(max_fee_cap=30 * gwei, max_priority_fee=1 * gwei)
    quote = suggest_fees(_history([20 * gwei, 20 * gwei], [5 * gwei]), policy)
    assert quote.max_fee_per_gas == 30 * gwei and quote.max_priority_fee_per_gas == 1 * gwei
    with pytest.raises(FeeCapExceeded, match="max_fee_cap"):
        suggest_fees(_history([20 * gwei, 31 * gwei], [1]), policy)


def test_replacement_bumps_both_fees_by_at_least_ten_percent() -> None:
    old = FeeQuote(max_fee_per_gas=100, max_priority_fee_per_gas=7)  # type: ignore[arg-type]
    calm = FeeQuote(max_fee_per_gas=50, max_priority_fee_per_gas=1)  # type: ignore[arg-type]
    new = bump_fees(old, calm)
    assert (new.max_fee_per_gas, new.max_priority_fee_per_gas) == (110, 8)  # 7.7 rounds up
    with pytest.raises(InvalidInput):
        bump_fees(old, calm, bump_percent=5)


def test_bad_fee_history_and_policy_values_are_clear_errors() -> None:
    with pytest.raises(InvalidInput, match="eth_feeHistory"):
        FeeHistory.from_rpc({"oldestBlock": "zz"})
    with pytest.raises(InvalidInput, match="base_fee_multiplier"):
        FeePolicy(base_fee_multiplier=0.5)
    with pytest.raises(InvalidInput, match="priority_percentile"):
        FeePolicy(priority_percentile=101)


def test_registry_knows_l1_and_l2_finality_and_rejects_unknown_chains() -> None:
    assert chain_info(1).finality is FinalityModel.FINALIZED_TAG
    assert chain_info(42161).is_l2 and chain_info(42161).block_time == 0.25
    assert chain_info(31338).final_confirmations == 8
    with pytest.raises(InvalidInput, match="register_chain"):
        chain_info(999_999)
    custom = register_chain(ChainInfo(chain_id=999_998, name="custom", final_confirmations=2))
    assert chain_info(999_998) is custom
    with pytest.raises(InvalidInput, match="confirmations"):
        ChainInfo(chain_id=5, name="bad", confirmations=5, final_confirmations=2)


def test_abi_type_lists_keep_tuples_whole_and_refuse_garbage() -> None:
    import pytest

    from oms_chain.chain.revert import split_abi_types
    from oms_chain.model import InvalidInput

    assert split_abi_types("") == []
    assert split_abi_types("address,uint256") == ["address", "uint256"]
    assert split_abi_types("(address,uint24)[],bytes") == ["(address,uint24)[]", "bytes"]
    with pytest.raises(InvalidInput, match="not an ABI type list"):
        split_abi_types("uint257,foo")
