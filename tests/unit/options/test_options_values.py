"""Options venues without a network: premium conversion, configuration checks, maker quotes
parsed defensively, and our EIP-712 digest equal to the devnet binding's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.devnet.options_market import Quote, sign_quote
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.venues.cex import CcxtVenueConfig
from oms_chain.venues.options import (
    DeribitOptionsConfig,
    MakerQuote,
    OnchainOptionsConfig,
    premium_in_quote,
)

D = Decimal
MARKET = "0x" + "11" * 20
KEY = "0x" + "22" * 32


def test_a_premium_in_the_underlying_converts_exactly() -> None:
    assert premium_in_quote(D("0.0400"), D("3000")) == D("120.0000")
    assert premium_in_quote(D("0.0001"), D("2500.5")) == D("0.25005")
    for bad in ((D(-1), D(3000)), (D(1), D(0)), (1.5, D(3000))):
        with pytest.raises(InvalidInput):
            premium_in_quote(*bad)  # type: ignore[arg-type]


def test_configs_refuse_what_cannot_work() -> None:
    with pytest.raises(ConfigError, match="Deribit's protocol"):
        DeribitOptionsConfig(ccxt=CcxtVenueConfig(exchange="binance"))
    with pytest.raises(ConfigError, match="upper-case"):
        DeribitOptionsConfig(ccxt=CcxtVenueConfig(exchange="deribit"), currencies=("eth",))
    with pytest.raises(InvalidInput, match="20-byte address"):
        OnchainOptionsConfig(market="0x1234", makers=("http://127.0.0.1:1",))
    with pytest.raises(InvalidInput, match="RFQ URLs"):
        OnchainOptionsConfig(market=MARKET, makers=("ftp://x",))
    with pytest.raises(InvalidInput, match="RFQ URLs"):
        OnchainOptionsConfig(market=MARKET, makers=())
    cfg = OnchainOptionsConfig(market=MARKET, makers=("http://127.0.0.1:1",))
    assert cfg.market == "0x1111111111111111111111111111111111111111"


def _answer(q: Quote) -> dict[str, Any]:
    return {
        "maker": q.maker,
        "taker": q.taker,
        "series_id": q.series_id,
        "maker_sells": q.maker_sells,
        "size": q.size,
        "premium": str(q.premium),
        "deadline": q.deadline,
        "nonce": q.nonce,
        "allow_partial": q.allow_partial,
        "salt": str(q.salt),
    }


def test_our_digest_is_the_one_the_maker_signs_on_this_chain_only() -> None:
    from oms_chain.venues.options.onchain import OnchainOptionsVenue

    maker = Account.from_key(KEY).address
    q = Quote(maker=maker, series_id=7, maker_sells=True, size=10, premium=42, deadline=99)
    sig = sign_quote(q, KEY, chain_id=31337, market=MARKET)
    parsed = MakerQuote.from_json("m", _answer(q), "0x" + sig.hex())
    assert parsed.as_tuple() == q.as_tuple()

    class _Chain:
        chain_id = 31337

    class _Account:
        chain = _Chain()

    venue = object.__new__(OnchainOptionsVenue)
    venue._account = _Account()  # type: ignore[assignment]
    venue._cfg = OnchainOptionsConfig(market=MARKET, makers=("http://127.0.0.1:1",))
    venue._market = venue._cfg.market
    digest = venue._digest(parsed)
    assert Account._recover_hash(digest, signature=sig) == maker
    _Chain.chain_id = 1  # the same quote checked on another chain: another digest
    assert Account._recover_hash(venue._digest(parsed), signature=sig) != maker


_FIELDS = (
    "maker", "taker", "series_id", "maker_sells", "size", "premium", "deadline", "nonce",
    "allow_partial", "salt", "other",
)  # fmt: skip
_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@given(
    fields=st.dictionaries(st.sampled_from(_FIELDS), _junk),
    signature=st.text(max_size=12),
)
def test_a_malformed_maker_answer_is_invalid_input_never_a_crash(
    fields: dict[str, Any], signature: str
) -> None:
    try:
        MakerQuote.from_json("maker", fields, signature)
    except InvalidInput as exc:
        assert "maker" in str(exc)


def test_the_onchain_hook_needs_an_options_market_in_the_book() -> None:
    from oms_chain.chain.addressbook import AddressBook
    from oms_chain.venues.options import onchain_options_venue

    with pytest.raises(InvalidInput, match="names no OptionsMarket"):
        onchain_options_venue(None, AddressBook(chain_id=1, name="mainnet"), ["http://127.0.0.1:1"])  # type: ignore[arg-type]
