"""Our options market on the devnet: what the world deploys, and a thin typed binding for tests.

The world (:func:`oms_chain.devnet.deploy.deploy_world`) deploys ``OptionsMarket`` (address book
name ``OptionsMarket``), sets the devnet feeds ``OracleETHUSD`` / ``OracleBTCUSD`` (``DevOracle``,
a Chainlink ``AggregatorV3Interface``) as the feeds of WETH and WBTC, lists calls and puts at
:data:`STRIKES_USD` for :data:`EXPIRY_COUNT` weekly expiries (Fridays 08:00 UTC, the first at
least a day away) with :data:`CONTRACT_SIZES`, and deploys a ``BatchExecutor`` owned by the
deployer (account 0). Because the world is cached, :func:`expiry_schedule` is part of the cache
key: the cache rolls over when the nearest expiry comes within a day.

The binding (:class:`OptionsMarketClient`, :class:`Quote`, :func:`sign_quote`, :func:`warp_to`,
:func:`set_feed_price`) sends transactions from unlocked Anvil accounts: devnet use only. The
venue proper lives elsewhere; this is what tests and benchmarks need to drive the contract.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from oms_chain.devnet.solidity import load_artifact
from oms_chain.model.errors import DevnetError, InvalidInput
from oms_chain.venues.options.quotes import (
    EIP712_NAME,
    EIP712_VERSION,
    ERC1271_MAGIC,
    QUOTE_TYPES,
    SeriesInfo,
    quote_tuple,
    quote_typed_data,
    recovers_to,
)

if TYPE_CHECKING:
    from web3 import Web3

    from oms_chain.chain.addressbook import AddressBook, TokenEntry

__all__ = [
    "CONTRACT_SIZES",
    "EIP712_NAME",
    "EIP712_VERSION",
    "EXPIRY_COUNT",
    "FEEDS",
    "FEED_DECIMALS",
    "QUOTE_TYPES",
    "STRIKES_USD",
    "OptionsMarketClient",
    "Quote",
    "SeriesInfo",
    "deploy_options",
    "expiry_schedule",
    "set_feed_price",
    "sign_quote",
    "warp_to",
]

#: Decimals of the devnet feeds' answers (USD feeds, as Chainlink's).
FEED_DECIMALS = 8
#: Address book name of the feed of each underlying.
FEEDS: Mapping[str, str] = {"WETH": "OracleETHUSD", "WBTC": "OracleBTCUSD"}
#: Underlying base units per contract: 0.1 WETH, 0.01 WBTC.
CONTRACT_SIZES: Mapping[str, int] = {"WETH": 10**17, "WBTC": 10**6}
#: Strikes listed on the devnet, USD (= USDC) per whole underlying.
STRIKES_USD: Mapping[str, tuple[int, ...]] = {
    "WETH": (2500, 3000, 3500),
    "WBTC": (50_000, 60_000, 70_000),
}
EXPIRY_COUNT = 3
_EXPIRY_HOUR_UTC = 8
_MIN_LEAD = _dt.timedelta(days=1)

_UINT256_MAX = 2**256 - 1
_ZERO = "0x0000000000000000000000000000000000000000"
_ERC1271_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]
_ERC20_VIEWS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": [{"name": f"a{i}", "type": "address"} for i in range(args)],
        "outputs": [{"name": "", "type": "uint256"}],
    }
    for name, args in (("balanceOf", 1), ("allowance", 2))
]


def expiry_schedule(now: int) -> tuple[int, ...]:
    """The devnet's expiries (unix seconds) for a world deployed at ``now``: the first
    :data:`EXPIRY_COUNT` Fridays at 08:00 UTC that are at least a day after ``now``."""
    if now < 0:
        raise InvalidInput(f"now must be a unix time in seconds >= 0, got {now}")
    earliest = _dt.datetime.fromtimestamp(now, _dt.UTC) + _MIN_LEAD
    day = earliest.replace(hour=_EXPIRY_HOUR_UTC, minute=0, second=0, microsecond=0)
    day += _dt.timedelta(days=(4 - day.weekday()) % 7)  # Friday is weekday 4
    if day < earliest:
        day += _dt.timedelta(days=7)
    return tuple(int((day + _dt.timedelta(weeks=i)).timestamp()) for i in range(EXPIRY_COUNT))


class _Deploys(Protocol):
    """What :func:`deploy_options` needs of the world's deployer."""

    sender: Any

    def deploy(self, label: str, abi: list[dict[str, Any]], bytecode: str, *args: Any) -> Any: ...

    def call(self, label: str, fn: Any, value: int = 0) -> Any: ...


def deploy_options(
    d: _Deploys,
    contracts: dict[str, Any],
    tokens: Mapping[str, TokenEntry],
    now: int,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Deploy the market and a batch executor, set the feeds, list the devnet series.

    ``contracts`` must hold the feeds of :data:`FEEDS`; the new addresses are added to it.
    Returns the number of series listed.
    """
    say = progress or (lambda _msg: None)
    market_art = load_artifact("OptionsMarket")
    market = d.deploy("OptionsMarket", market_art["abi"], market_art["bytecode"], d.sender, "")
    contracts["OptionsMarket"] = market.address
    usdc = tokens["USDC"]
    listed = 0
    for symbol, feed_name in FEEDS.items():
        underlying = tokens[symbol]
        d.call(
            f"set feed {symbol}",
            market.functions.setFeed(underlying.address, contracts[feed_name]),
        )
        calls = [
            market.encode_abi(
                "listSeries",
                args=[
                    underlying.address,
                    usdc.address,
                    strike * 10**usdc.decimals,
                    expiry,
                    is_call,
                    CONTRACT_SIZES[symbol],
                ],
            )
            for expiry in expiry_schedule(now)
            for strike in STRIKES_USD[symbol]
            for is_call in (True, False)
        ]
        d.call(f"list {len(calls)} {symbol} series", market.functions.multicall(calls))
        listed += len(calls)
    batch_art = load_artifact("BatchExecutor")
    batch = d.deploy("BatchExecutor", batch_art["abi"], batch_art["bytecode"], d.sender)
    contracts["BatchExecutor"] = batch.address
    say(f"listed {listed} option series on OptionsMarket {market.address}")
    return listed


# -- values -----------------------------------------------------------------------------------


def _check_uint(name: str, value: int, bits: int = 256) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise InvalidInput(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")


def _check_address(name: str, value: str) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{name} must be a 0x-prefixed 20-byte address, got {value!r}")
    return to_checksum_address(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Quote:
    """An RFQ quote as ``OptionsMarket.Quote``: ``premium`` in quote-token base units per
    contract, ``size`` in contracts, ``deadline`` unix seconds (inclusive), ``taker`` the zero
    address for anyone."""

    maker: str
    series_id: int
    maker_sells: bool
    size: int
    premium: int
    deadline: int
    nonce: int = 0
    taker: str = _ZERO
    allow_partial: bool = True
    salt: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "maker", _check_address("maker", self.maker))
        object.__setattr__(self, "taker", _check_address("taker", self.taker))
        for name in ("series_id", "size", "premium", "deadline", "nonce", "salt"):
            _check_uint(name, getattr(self, name))
        if self.size == 0:
            raise InvalidInput("size must be at least 1 contract")
        if self.series_id == 0:
            raise InvalidInput("series_id must be >= 1 (series ids start at 1)")
        for name in ("maker_sells", "allow_partial"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"{name} must be a bool, got {getattr(self, name)!r}")

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple, in the contract's field order."""
        return quote_tuple(self)

    def typed_data(self, *, chain_id: int, market: str) -> dict[str, Any]:
        """The EIP-712 message (``eth_account.messages.encode_typed_data(full_message=...)``)."""
        _check_uint("chain_id", chain_id, 64)
        return quote_typed_data(
            self.as_tuple(), chain_id=chain_id, market=_check_address("market", market)
        )


def sign_quote(quote: Quote, private_key: str | bytes, *, chain_id: int, market: str) -> bytes:
    """65-byte ``r || s || v`` EIP-712 signature of ``quote`` for the market on ``chain_id``."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signable = encode_typed_data(full_message=quote.typed_data(chain_id=chain_id, market=market))
    return bytes(Account.sign_message(signable, private_key).signature)


# -- chain helpers ----------------------------------------------------------------------------


def warp_to(w3: Web3, timestamp: int) -> int:
    """Mine one block at ``timestamp`` (Anvil ``evm_setNextBlockTimestamp`` + ``evm_mine``);
    returns the new block's timestamp. Time only moves forward."""
    _check_uint("timestamp", timestamp, 64)
    now = int(w3.eth.get_block("latest")["timestamp"])
    if timestamp <= now:
        raise InvalidInput(f"timestamp {timestamp} is not after the latest block's ({now})")
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.get_block("latest")["timestamp"])


def _send(w3: Web3, label: str, fn: Any, sender: str) -> Any:
    try:
        tx_hash = fn.transact({"from": sender})
    except Exception as exc:  # web3 raises many types for a revert seen at gas estimation
        raise DevnetError(f"{label} failed before it was mined: {exc}") from exc
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
    if receipt["status"] != 1:
        raise DevnetError(f"{label} reverted (tx {tx_hash.hex()})")
    return receipt


def set_feed_price(w3: Web3, feed: str, price: Decimal, *, sender: str) -> int:
    """Post ``price`` (USD per whole underlying) to a ``DevOracle`` as a new round, stamped
    with the next block's time; ``sender`` must own the feed (the deployer on the devnet).
    Returns the round id."""
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise InvalidInput(f"price must be a positive finite Decimal, got {price!r}")
    scaled = price.scaleb(FEED_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise InvalidInput(f"price {price} has more than {FEED_DECIMALS} decimals")
    oracle = w3.eth.contract(
        address=_check_address("feed", feed), abi=load_artifact("DevOracle")["abi"]
    )
    _send(w3, f"post {price} to feed {feed}", oracle.functions.setAnswer(int(scaled)), sender)
    return int(oracle.functions.latestRound().call())


class OptionsMarketClient:
    """Typed calls into a deployed ``OptionsMarket`` (devnet: transactions from unlocked
    accounts). Every method validates its input before anything is sent."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = _check_address("market", address)
        self.contract = w3.eth.contract(
            address=self.address, abi=load_artifact("OptionsMarket")["abi"]
        )

    @classmethod
    def from_book(cls, w3: Web3, book: AddressBook) -> OptionsMarketClient:
        """The market named ``OptionsMarket`` in ``book``."""
        return cls(w3, book.address("OptionsMarket"))

    @property
    def chain_id(self) -> int:
        """EIP-155 chain id of the node (part of every quote's EIP-712 domain)."""
        return int(self.w3.eth.chain_id)

    def series_count(self) -> int:
        """How many series are listed (ids run from 1 to this)."""
        return int(self.contract.functions.seriesCount().call())

    def series(self, series_id: int) -> SeriesInfo:
        """One series; raises :class:`InvalidInput` for an id that is not listed."""
        _check_uint("series_id", series_id)
        if not 1 <= series_id <= self.series_count():
            raise InvalidInput(
                f"unknown series {series_id}: the market lists ids 1..{self.series_count()}"
            )
        return SeriesInfo.from_call(series_id, self.contract.functions.series(series_id).call())

    def all_series(self) -> tuple[SeriesInfo, ...]:
        """Every listed series, by id."""
        return tuple(self.series(i) for i in range(1, self.series_count() + 1))

    def nonce(self, maker: str) -> int:
        """The maker's current quote nonce."""
        return int(self.contract.functions.nonces(_check_address("maker", maker)).call())

    def hash_quote(self, quote: Quote) -> bytes:
        """The EIP-712 digest the contract computes for ``quote``."""
        return bytes(self.contract.functions.hashQuote(quote.as_tuple()).call())

    def remaining(self, quote: Quote) -> int:
        """Contracts of ``quote`` still fillable now."""
        return int(self.contract.functions.remaining(quote.as_tuple()).call())

    def sign(self, quote: Quote, private_key: str | bytes) -> bytes:
        """:func:`sign_quote` for this market and chain."""
        return sign_quote(quote, private_key, chain_id=self.chain_id, market=self.address)

    def hash_package(self, fields: Sequence[Any]) -> bytes:
        """The EIP-712 digest the contract computes for a package's ABI tuple ``fields``
        (:class:`~oms_chain.venues.options.packages.SignedPackage.as_tuple`)."""
        return bytes(self.contract.functions.hashPackage(tuple(fields)).call())

    def sign_package(self, fields: Sequence[Any], private_key: str | bytes) -> bytes:
        """65-byte ``r || s || v`` EIP-712 signature of a package's ABI tuple ``fields`` for
        this market and chain."""
        from eth_account import Account
        from eth_account.messages import encode_typed_data

        from oms_chain.venues.options.packages import package_typed_data

        message = package_typed_data(fields, chain_id=self.chain_id, market=self.address)
        return bytes(
            Account.sign_message(encode_typed_data(full_message=message), private_key).signature
        )

    def check_fill(self, quote: Quote, signature: bytes, amount: int, *, taker: str) -> None:
        """Everything :meth:`fill` would be refused for, checked with calls only (nothing sent):
        the amount, the series (listed, not expired), the quote (deadline, taker, nonce,
        cancellation, what remains), the signature on this chain and market (ECDSA for an
        account without code, ERC-1271 for a contract), and the seller's collateral and the
        buyer's premium (balance and allowance). Raises :class:`InvalidInput` naming the
        problem."""
        _check_uint("amount", amount)
        if not 1 <= amount <= quote.size:
            raise InvalidInput(f"amount must be within 1..{quote.size} (the quote's size)")
        if not isinstance(signature, bytes) or not signature:
            raise InvalidInput("signature must be the maker's non-empty signature bytes")
        who = _check_address("taker", taker)
        maker = _check_address("maker", quote.maker)
        if maker == who:
            raise InvalidInput(f"{taker} is the quote's maker: a maker cannot fill its own quote")
        info = self.series(quote.series_id)
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        if now >= info.expiry:
            raise InvalidInput(
                f"series {info.series_id} expired at {info.expiry} (chain time {now}): no trading"
            )
        if quote.deadline <= now:
            raise InvalidInput(
                f"the quote expired at {quote.deadline} (chain time {now}); ask for a new one"
            )
        if quote.taker != _ZERO and quote.taker != who:
            raise InvalidInput(f"the quote may only be filled by {quote.taker}, not {who}")
        current = self.nonce(maker)
        if quote.nonce != current:
            raise InvalidInput(
                f"the quote's nonce {quote.nonce} is not the maker's current nonce {current}: "
                "the maker cancelled its quotes; ask for a new one"
            )
        digest = self.hash_quote(quote)
        if self.contract.functions.cancelled(digest).call():
            raise InvalidInput("the maker cancelled this quote; ask for a new one")
        left = quote.size - int(self.contract.functions.filled(digest).call())
        if amount > left:
            raise InvalidInput(f"only {left} of the quote's {quote.size} contracts remain")
        if not quote.allow_partial and amount != quote.size:
            raise InvalidInput(f"the quote is all-or-none: fill all {quote.size} contracts")
        if not self._signature_valid(maker, digest, signature):
            raise InvalidInput(
                f"the signature does not verify for maker {quote.maker} on chain "
                f"{self.chain_id} and market {self.address} (signed for another chain or "
                "market, for other quote fields, or by another key)"
            )
        seller, buyer = (maker, who) if quote.maker_sells else (who, maker)
        collateral_token = info.underlying if info.is_call else info.quote
        self._check_funds(seller, collateral_token, amount * info.collateral_per_contract, "seller")
        self._check_funds(buyer, info.quote, amount * quote.premium, "buyer")

    def _signature_valid(self, maker: ChecksumAddress, digest: bytes, signature: bytes) -> bool:
        if self.w3.eth.get_code(maker):
            wallet = self.w3.eth.contract(address=maker, abi=_ERC1271_ABI)
            try:
                magic = bytes(wallet.functions.isValidSignature(digest, signature).call())
            except Exception:  # a contract without ERC-1271, or one that reverts: not valid
                return False
            return magic == ERC1271_MAGIC
        return recovers_to(digest, signature, maker)

    def _check_funds(
        self, owner: ChecksumAddress, token: ChecksumAddress, need: int, role: str
    ) -> None:
        if need == 0:
            return
        erc20 = self.w3.eth.contract(address=token, abi=_ERC20_VIEWS)
        balance = int(erc20.functions.balanceOf(owner).call())
        allowed = int(erc20.functions.allowance(owner, self.address).call())
        if balance < need:
            raise InvalidInput(
                f"the {role} {owner} holds {balance} base units of {token}, the fill needs {need}"
            )
        if allowed < need:
            raise InvalidInput(
                f"the {role} {owner} allows the market {allowed} base units of {token}, the fill "
                f"needs {need}: approve the market first"
            )

    def fill(self, quote: Quote, signature: bytes, amount: int, *, taker: str) -> Any:
        """Fill ``amount`` contracts of ``quote`` as ``taker`` after :meth:`check_fill`;
        returns the receipt."""
        self.check_fill(quote, signature, amount, taker=taker)
        fn = self.contract.functions.fill(quote.as_tuple(), signature, amount)
        return _send(self.w3, f"fill {amount} of quote on series {quote.series_id}", fn, taker)

    def settlement_round(self, series_id: int) -> int:
        """The round of the series' feed that settles it: the first one updated at or after
        expiry. Raises :class:`InvalidInput` when the feed has none yet."""
        info = self.series(series_id)
        feed = self.w3.eth.contract(address=info.feed, abi=load_artifact("DevOracle")["abi"])
        round_id, _answer, _started, updated_at, _in_round = feed.functions.latestRoundData().call()
        if int(updated_at) < info.expiry:
            raise InvalidInput(
                f"series {series_id}: its feed has no round at or after expiry {info.expiry}; "
                "post a price after expiry first"
            )
        # Chainlink ids are phase << 64 | n: stop at the phase's round 1 (round 0 does not exist)
        while round_id & (2**64 - 1) > 1:
            earlier = feed.functions.getRoundData(round_id - 1).call()
            if int(earlier[3]) < info.expiry:
                break
            round_id -= 1
        return int(round_id)

    def settle(self, series_id: int, *, sender: str, round_id: int | None = None) -> Any:
        """Settle an expired series (with :meth:`settlement_round` unless ``round_id``)."""
        rid = self.settlement_round(series_id) if round_id is None else round_id
        _check_uint("round_id", rid, 80)
        fn = self.contract.functions.settle(series_id, rid)
        return _send(self.w3, f"settle series {series_id}", fn, sender)

    def redeem(self, series_id: int, amount: int, *, holder: str) -> Any:
        """Burn ``amount`` longs of a settled series for their payoff."""
        _check_uint("amount", amount)
        fn = self.contract.functions.redeem(series_id, amount)
        return _send(self.w3, f"redeem {amount} of series {series_id}", fn, holder)

    def withdraw(self, series_id: int, amount: int, *, writer: str) -> Any:
        """Burn ``amount`` shorts of a settled series for the collateral left."""
        _check_uint("amount", amount)
        fn = self.contract.functions.withdraw(series_id, amount)
        return _send(self.w3, f"withdraw {amount} of series {series_id}", fn, writer)

    def position(self, account: str, series_id: int) -> tuple[int, int]:
        """``(longs, shorts)`` of ``account`` in a series."""
        who = _check_address("account", account)
        long_, short_ = self.contract.functions.balanceOfBatch(
            [who, who], [series_id << 1, (series_id << 1) | 1]
        ).call()
        return int(long_), int(short_)
