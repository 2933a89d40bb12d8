"""Series names typed by a user find one venue's contract; the devnet runtime's Deribit entry
becomes an endpoint; the shared quote encoding agrees with itself and the series layout."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data

from oms_chain.model.assets import Asset
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.service._session_options import find_option, options_exchange_from_runtime
from oms_chain.venues.options.quotes import (
    FILL_MANY,
    SeriesInfo,
    quote_digest,
    quote_json,
    quote_tuple,
    quote_typed_data,
    recovers_to,
)

D = Decimal
EXPIRY_NS = int(dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
WETH = Asset.erc20(31337, "0x" + "11" * 20, "WETH", 18)
USDC = Asset.erc20(31337, "0x" + "22" * 20, "USDC", 6)


def _put(underlying: Asset, quote: Asset, strike: int = 3000) -> OptionContract:
    return OptionContract(
        underlying=underlying,
        quote=quote,
        strike=D(strike),
        expiry_ns=EXPIRY_NS,
        option_kind=OptionKind.PUT,
    )


@dataclass
class _Venue:
    venue_id: str
    listed: list[OptionContract]

    def instruments(self) -> list[OptionContract]:
        return self.listed


def test_a_deribit_style_name_finds_the_on_chain_contract_either_day_spelling() -> None:
    put = _put(WETH, USDC)
    venues = [_Venue("options-31337", [put, _put(WETH, USDC, 3500)])]
    for name in ("ETH-4DEC26-3000-P", "eth-04dec26-3000-p", "WETH-04DEC26-3000-P"):
        assert find_option(venues, name) == (put, "options-31337")  # type: ignore[arg-type]
    other = _Venue("deribit", [_put(Asset.cex("deribit", "ETH"), Asset.cex("deribit", "USD"))])
    assert find_option([*venues, other], "ETH-4DEC26-3000-P", "deribit")[1] == "deribit"  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("series", "venue", "message"),
    [
        ("ETH-4DEC26-2000-P", None, "no options venue lists 'ETH-4DEC26-2000-P'; listed are e.g."),
        ("ETH/USDC", None, "is not a name like ETH-11DEC26-3000-P"),
        ("  ", None, "series must be a name"),
        ("ETH-4DEC26-3000-P", "binance", "venue 'binance' is not an options venue"),
        ("7", None, "no on-chain options venue lists series id 7"),
    ],
)
def test_bad_series_names_are_refused_naming_what_is_wrong(
    series: str, venue: str | None, message: str
) -> None:
    venues = [_Venue("options-31337", [_put(WETH, USDC)])]
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        find_option(venues, series, venue)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no options venue"):
        find_option([], "ETH-4DEC26-3000-P")


def test_the_runtimes_deribit_entry_is_an_exchange_endpoint() -> None:
    runtime = {
        "chains": {
            "deribit": {
                "rest_url": "http://127.0.0.1:9",
                "accounts": [{"client_id": "a", "client_secret": "b"}],
            }
        }
    }
    ep = options_exchange_from_runtime(runtime, account=0)
    assert ep is not None and (ep.exchange, ep.venue_id, ep.api_key, ep.secret) == (
        "deribit",
        "deribit",
        "a",
        "b",
    )
    assert not ep.reaches_production
    assert options_exchange_from_runtime({"chains": {}}, account=0) is None
    with pytest.raises(InvalidInput, match="malformed 'deribit' entry"):
        options_exchange_from_runtime(runtime, account=3)


@dataclass(frozen=True)
class _Q:
    maker: str
    taker: str = "0x" + "00" * 20
    series_id: int = 7
    maker_sells: bool = True
    size: int = 10
    premium: int = 42_500_000
    deadline: int = 1_800_000_000
    nonce: int = 0
    allow_partial: bool = True
    salt: int = 2**200


def test_the_shared_quote_encoding_signs_and_recovers() -> None:
    key = Account.create()
    q = _Q(maker=key.address)
    market = "0x" + "33" * 20
    digest = quote_digest(quote_tuple(q), chain_id=31337, market=market)
    signable = encode_typed_data(
        full_message=quote_typed_data(quote_tuple(q), chain_id=31337, market=market)
    )
    sig = bytes(Account.sign_message(signable, key.key).signature)
    assert recovers_to(digest, sig, key.address)
    assert not recovers_to(
        quote_digest(quote_tuple(q), chain_id=1, market=market), sig, key.address
    )
    assert not recovers_to(digest, b"\x01" * 3, key.address)
    assert quote_json(q)["salt"] == str(2**200) and quote_json(q)["premium"] == "42500000"
    assert FILL_MANY.startswith("fillMany((address,address,uint256,bool,") and FILL_MANY.endswith(
        ")[],bytes[],uint256[])"
    )


def test_series_info_reads_the_contracts_return_data() -> None:
    addr = ["0x" + f"{i:02x}" * 20 for i in (1, 2, 3)]
    types = ["address", "address", "bool", "address", "uint64", "bool", "uint8", "uint8", "uint8"]
    types += ["uint256", "uint256", "uint256", "uint128", "uint128"]
    values = [addr[0], addr[1], True, addr[2], 1_800_000_000, False, 18, 6, 8]
    values += [3000 * 10**6, 10**17, 300 * 10**6, 2750 * 10**6, 25 * 10**6]
    info = SeriesInfo.from_return_data(5, encode(types, values))
    assert (info.series_id, info.settled, info.is_call, info.expiry) == (
        5,
        True,
        False,
        1_800_000_000,
    )
    assert (info.strike, info.collateral_per_contract, info.payoff_per_contract) == (
        3000 * 10**6,
        300 * 10**6,
        25 * 10**6,
    )
    assert info.feed.lower() == addr[2] and info.quote_decimals == 6
