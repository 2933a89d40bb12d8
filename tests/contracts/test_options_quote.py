"""Python side of the options market's RFQ: the EIP-712 quote digest (against a hand-built
EIP-712 hash), input validation, and the devnet's expiry schedule."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.devnet.options_market import Quote, expiry_schedule, sign_quote
from oms_chain.model.errors import InvalidInput

MAKER = Account.from_key("0x" + "11" * 32)
MARKET = "0x8198f5d8F8CfFE8f9C413d98a0A55aEB8ab9FbB7"
QUOTE_TYPE = (
    "Quote(address maker,address taker,uint256 seriesId,bool makerSells,uint256 size,"
    "uint256 premium,uint256 deadline,uint256 nonce,bool allowPartial,uint256 salt)"
)
U256 = st.integers(min_value=0, max_value=2**256 - 1)


def _digest_by_hand(q: Quote, chain_id: int, market: str) -> bytes:
    domain_type = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    domain = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_type, keccak(text="OptionsMarket"), keccak(text="1"), chain_id, market],
        )
    )
    struct = keccak(
        abi_encode(
            [
                "bytes32",
                "address",
                "address",
                "uint256",
                "bool",
                "uint256",
                "uint256",
                "uint256",
                "uint256",
                "bool",
                "uint256",
            ],
            [keccak(text=QUOTE_TYPE), *q.as_tuple()],
        )
    )
    return keccak(b"\x19\x01" + domain + struct)


@given(
    series_id=st.integers(min_value=1, max_value=2**256 - 1),
    size=st.integers(min_value=1, max_value=2**256 - 1),
    premium=U256,
    deadline=U256,
    nonce=U256,
    salt=U256,
    maker_sells=st.booleans(),
    allow_partial=st.booleans(),
    chain_id=st.integers(min_value=1, max_value=2**63),
)
def test_typed_data_digest_equals_the_eip712_definition(
    series_id: int,
    size: int,
    premium: int,
    deadline: int,
    nonce: int,
    salt: int,
    maker_sells: bool,
    allow_partial: bool,
    chain_id: int,
) -> None:
    q = Quote(
        maker=MAKER.address,
        series_id=series_id,
        maker_sells=maker_sells,
        size=size,
        premium=premium,
        deadline=deadline,
        nonce=nonce,
        allow_partial=allow_partial,
        salt=salt,
    )
    signable = encode_typed_data(full_message=q.typed_data(chain_id=chain_id, market=MARKET))
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert digest == _digest_by_hand(q, chain_id, MARKET)


def test_signature_recovers_the_maker_and_differs_per_chain() -> None:
    q = Quote(maker=MAKER.address, series_id=3, maker_sells=False, size=2, premium=5, deadline=9)
    here = sign_quote(q, MAKER.key, chain_id=31337, market=MARKET)
    there = sign_quote(q, MAKER.key, chain_id=1, market=MARKET)
    assert len(here) == 65 and here != there
    assert Account._recover_hash(_digest_by_hand(q, 31337, MARKET), signature=here) == MAKER.address


@given(
    field=st.sampled_from(["series_id", "size", "premium", "deadline", "nonce", "salt"]),
    value=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=2**256),
        st.floats(),
        st.text(),
        st.booleans(),
    ),
)
def test_bad_integers_are_invalid_input_naming_the_field(field: str, value: object) -> None:
    kwargs: dict[str, object] = {
        "maker": MAKER.address,
        "series_id": 1,
        "maker_sells": True,
        "size": 1,
        "premium": 1,
        "deadline": 1,
        field: value,
    }
    with pytest.raises(InvalidInput, match=field):
        Quote(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "0x12", "not an address", "0x" + "zz" * 20])
def test_bad_addresses_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput, match="maker must be"):
        Quote(maker=bad, series_id=1, maker_sells=True, size=1, premium=1, deadline=1)
    with pytest.raises(InvalidInput, match="taker must be"):
        Quote(
            maker=MAKER.address,
            taker=bad,
            series_id=1,
            maker_sells=True,
            size=1,
            premium=1,
            deadline=1,
        )


def test_zero_size_and_series_zero_are_refused() -> None:
    with pytest.raises(InvalidInput, match="size must be at least 1"):
        Quote(maker=MAKER.address, series_id=1, maker_sells=True, size=0, premium=1, deadline=1)
    with pytest.raises(InvalidInput, match="series ids start at 1"):
        Quote(maker=MAKER.address, series_id=0, maker_sells=True, size=1, premium=1, deadline=1)


@given(now=st.integers(min_value=0, max_value=4_000_000_000))
def test_expiries_are_fridays_0800_utc_a_day_to_three_weeks_ahead(now: int) -> None:
    expiries = expiry_schedule(now)
    assert len(expiries) == 3
    assert 86_400 <= expiries[0] - now < 86_400 + 7 * 86_400
    assert [b - a for a, b in itertools.pairwise(expiries)] == [7 * 86_400] * 2
    for e in expiries:
        when = dt.datetime.fromtimestamp(e, dt.UTC)
        assert (when.weekday(), when.hour, when.minute, when.second) == (4, 8, 0, 0)


def test_negative_time_is_refused() -> None:
    with pytest.raises(InvalidInput, match="now must be"):
        expiry_schedule(-1)
