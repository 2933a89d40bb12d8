"""The on-chain options venue: our ``OptionsMarket`` contract behind the
:class:`~oms_chain.venues.base.Venue` protocol.

* **Series** are discovered from the market's ``SeriesListed`` events (``eth_getLogs``) and
  mapped to :class:`~oms_chain.model.instruments.OptionContract`: strike in quote units per whole
  underlying, quantity in whole underlying (a 0.1 WETH contract is ``0.1``), prices in quote
  per whole underlying. The series id stays at the edge (:meth:`OnchainOptionsVenue.series_id`).
* **Orders** are RFQs: :meth:`~OnchainOptionsVenue.place` asks every configured maker over
  HTTP for a signed EIP-712 quote, checks each one itself (series, side, size, taker, deadline
  against chain time, the maker's current nonce, the signature against *this* chain id and
  market, the limit price) and the taker's funds and allowance, then fills the best one through
  the market. Nothing is sent unless every check passed.
* **Settlement** of the fill transaction is tracked like every on-chain order: the transaction
  is journaled between signing and broadcasting in the shared
  :class:`~oms_chain.venues.amm.account.ChainAccount` (sender, nonce journal, settlement
  tracker, order journal), so a process killed after sending finds it again on restart and
  never sends it twice; fills come from the receipt's ``QuoteFilled`` log.
* **Expiry**: :meth:`~OnchainOptionsVenue.settle_series` settles a series from the feed's first
  round after expiry, :meth:`~OnchainOptionsVenue.redeem` burns the longs for their payoff and
  :meth:`~OnchainOptionsVenue.withdraw` the shorts for the collateral left; each returns an
  :class:`~oms_chain.venues.options.types.OptionSettlement` with the exact amount received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import aiohttp
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.chain.fees import FeeCapExceeded
from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.chain.sender import BroadcastRejected, BroadcastUncertain, SentTransaction
from oms_chain.chain.tracker import SettlementReport
from oms_chain.chain.types import Receipt
from oms_chain.model.amm_orders import AmmOrderState
from oms_chain.model.assets import Asset
from oms_chain.model.errors import InvalidInput, VenueRejected, VenueTimeout, VenueUnavailable
from oms_chain.model.ids import ClientOrderId, TradeId, TxHash, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument, OptionContract, OptionKind, Settlement
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementState, SettlementStatus
from oms_chain.venues.amm._calls import (
    WalletFlows,
    encode_call,
    erc20_balance,
    eth_call,
    native_balance,
    wait_for_receipt,
)
from oms_chain.venues.amm._reports import _Reports
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.amm.approvals import ensure_allowance
from oms_chain.venues.amm.journal import entry_state, tx_entry
from oms_chain.venues.base import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    VenueCapabilities,
    VenueReport,
)
from oms_chain.venues.options.feed_rounds import first_round_at_or_after
from oms_chain.venues.options.types import OptionPosition, OptionSettlement

__all__ = ["MakerQuote", "OnchainOptionsConfig", "OnchainOptionsVenue", "SeriesListing"]

_log = logging.getLogger(__name__)
_S = SettlementStatus
_ZERO = "0x0000000000000000000000000000000000000000"
_QUOTE_TUPLE = "(address,address,uint256,bool,uint256,uint256,uint256,uint256,bool,uint256)"
_FILL = f"fill({_QUOTE_TUPLE},bytes,uint256)"
_REMAINING = f"remaining({_QUOTE_TUPLE})"
_SERIES_LISTED = (
    "0x"
    + keccak(text="SeriesListed(uint256,address,address,uint256,uint64,bool,uint256,address)").hex()
)
_QUOTE_FILLED = (
    "0x"
    + keccak(text="QuoteFilled(bytes32,address,address,uint256,bool,uint256,uint256,uint256)").hex()
)
_EXECUTE = "execute((address,uint256,bytes,address,int256)[],(address,int256)[])"
_ERC1271_MAGIC = bytes.fromhex("1626ba7e")
_QUOTE_TYPES: list[dict[str, str]] = [
    {"name": "maker", "type": "address"},
    {"name": "taker", "type": "address"},
    {"name": "seriesId", "type": "uint256"},
    {"name": "makerSells", "type": "bool"},
    {"name": "size", "type": "uint256"},
    {"name": "premium", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "allowPartial", "type": "bool"},
    {"name": "salt", "type": "uint256"},
]
_PREC = 78


@dataclass(frozen=True, slots=True, kw_only=True)
class OnchainOptionsConfig:
    """Settings of one :class:`OnchainOptionsVenue`: the ``market`` address, the makers' RFQ
    URLs (``http://127.0.0.1:8123``; ``POST <url>/rfq``), the block to scan listings from,
    ``rfq_timeout_s`` per maker, ``liquidity_contracts`` (the size asked for in
    :meth:`~OnchainOptionsVenue.liquidity`), ``cancel_timeout`` (seconds a cancel waits for the
    fill or its replacement to land), the EIP-712 domain name / version. ``executor``: a
    ``BatchExecutor`` owned by the signer that takes the quotes (it holds the funds and the
    positions; each fill is one ``execute`` with an approval, the fill and a premium guard);
    ``None``: the signer fills the market directly."""

    market: str
    makers: tuple[str, ...]
    venue_id: str | None = None
    from_block: int = 0
    rfq_timeout_s: float = 5.0
    liquidity_contracts: int = 10
    cancel_timeout: float = 10.0
    eip712_name: str = "OptionsMarket"
    eip712_version: str = "1"
    executor: str | None = None

    def __post_init__(self) -> None:
        if self.executor is not None:
            if not isinstance(self.executor, str) or not is_address(self.executor):
                raise InvalidInput(f"executor must be a 20-byte address, got {self.executor!r}")
            object.__setattr__(self, "executor", to_checksum_address(self.executor))
        if not isinstance(self.market, str) or not is_address(self.market):
            raise InvalidInput(f"options market must be a 20-byte address, got {self.market!r}")
        object.__setattr__(self, "market", to_checksum_address(self.market))
        if not self.makers or not all(
            isinstance(u, str) and u.startswith(("http://", "https://")) for u in self.makers
        ):
            raise InvalidInput(f"makers must list http(s) RFQ URLs, got {self.makers!r}")
        if self.rfq_timeout_s <= 0 or self.cancel_timeout <= 0:
            raise InvalidInput("rfq_timeout_s and cancel_timeout must be positive seconds")
        if self.liquidity_contracts < 1 or self.from_block < 0:
            raise InvalidInput("liquidity_contracts must be >= 1 and from_block >= 0")
        if self.venue_id is not None and self.venue_id != self.venue_id.lower():
            raise InvalidInput(f"venue_id must be lower-case, got {self.venue_id!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesListing:
    """One listed series: its id, our contract, the contract size and collateral in base
    units, the feed, and the tokens."""

    series_id: int
    contract: OptionContract
    contract_size: int
    collateral_per_contract: int
    collateral_token: str
    feed: str
    underlying: str
    quote: str

    @property
    def unit(self) -> Decimal:
        """Whole underlying per on-chain contract (``0.1`` for 0.1 WETH)."""
        return self.contract.underlying.from_base_units(self.contract_size)

    def quantity(self, contracts: int) -> Decimal:
        """``contracts`` on-chain contracts in whole underlying, to the contract's precision."""
        exact = self.unit * contracts
        return exact.quantize(Decimal(1).scaleb(-self.contract.size_decimals))


@dataclass(frozen=True, slots=True, kw_only=True)
class MakerQuote:
    """A maker's signed quote as received (integers in base units) and where it came from."""

    source: str
    maker: str
    taker: str
    series_id: int
    maker_sells: bool
    size: int
    premium: int
    deadline: int
    nonce: int
    allow_partial: bool
    salt: int
    signature: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.maker,
            self.taker,
            self.series_id,
            self.maker_sells,
            self.size,
            self.premium,
            self.deadline,
            self.nonce,
            self.allow_partial,
            self.salt,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "maker": self.maker,
            "taker": self.taker,
            "series_id": self.series_id,
            "maker_sells": self.maker_sells,
            "size": self.size,
            "premium": str(self.premium),
            "deadline": self.deadline,
            "nonce": self.nonce,
            "allow_partial": self.allow_partial,
            "salt": str(self.salt),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, source: str, data: Mapping[str, Any], signature: str) -> MakerQuote:
        """Parse a maker's answer; raises :class:`InvalidInput` naming the bad field."""
        try:
            maker, taker = str(data["maker"]), str(data["taker"])
            if not (is_address(maker) and is_address(taker)):
                raise InvalidInput("maker / taker are not addresses")
            sig = bytes.fromhex(signature.removeprefix("0x"))
            out = cls(
                source=source,
                maker=to_checksum_address(maker),
                taker=to_checksum_address(taker),
                series_id=int(data["series_id"]),
                maker_sells=bool(data["maker_sells"]),
                size=int(data["size"]),
                premium=int(str(data["premium"])),
                deadline=int(data["deadline"]),
                nonce=int(data["nonce"]),
                allow_partial=bool(data["allow_partial"]),
                salt=int(str(data["salt"])),
                signature=sig,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"maker {source} sent a malformed quote: {exc}") from None
        if min(out.series_id, out.size, out.premium, out.deadline, out.nonce, out.salt) < 0:
            raise InvalidInput(f"maker {source} sent negative quote fields")
        return out


class OnchainOptionsVenue(_Reports):
    """Options on our ``OptionsMarket`` through RFQ to makers, for the signer of ``account``.

    Call :meth:`start` (discovers the series) before trading; ``async with`` starts and closes
    (the account and its RPC client stay the caller's). Capabilities: nothing rests (a quote
    fills or is refused), no amend, fills come with the receipt.
    """

    def __init__(self, account: ChainAccount, config: OnchainOptionsConfig) -> None:
        if not isinstance(config, OnchainOptionsConfig):
            raise InvalidInput(f"expected an OnchainOptionsConfig, got {type(config).__name__}")
        if account.executor.batches:
            # its fills, approvals and exercises are still sent from the signer's own address
            raise InvalidInput(
                f"the on-chain options venue cannot trade from contract account {account.address} "
                "yet; give it a ChainAccount without an executor"
            )
        self._account = account
        self._cfg = config
        self._id = VenueId(config.venue_id or f"options-{account.chain.chain_id}")
        self._market = config.market
        self._series: dict[int, SeriesListing] = {}
        self._by_key: dict[tuple[str, Decimal, int, OptionKind], int] = {}
        self._queue: asyncio.Queue[VenueReport] = asyncio.Queue()
        self._coid_of: dict[TxHash, ClientOrderId] = {}
        self._reasons: dict[str, str] = {}
        self._http: aiohttp.ClientSession | None = None
        for coid, entry in account.journal.entries().items():
            if entry.get("venue") == self._id:
                self._coid_of[TxHash(entry["tx"]["hash"])] = ClientOrderId(coid)
                if entry_state(entry) is AmmOrderState.PENDING:
                    account.track_pull(
                        entry["tx"]["hash"],
                        entry["token_in"],
                        int(entry["spend"]),
                        int(entry["tx"]["nonce"]),
                    )
                    account.reserve(entry["token_in"], self._market, int(entry["spend"]))
                if entry.get("cancel"):
                    self._coid_of[TxHash(entry["cancel"]["hash"])] = ClientOrderId(coid)
        account.register(self)

    # -- identity -----------------------------------------------------------------------------

    @property
    def venue_id(self) -> VenueId:
        """``options-<chain id>`` unless configured."""
        return self._id

    @property
    def capabilities(self) -> VenueCapabilities:
        """RFQ fills: nothing rests, no amend, fills arrive with the receipt."""
        return VenueCapabilities(resting_orders=False, amend=False, fills_on_place=False)

    @property
    def send_timeout_s(self) -> float:
        """:meth:`place` asks every maker and may wait for an approval to be mined."""
        return len(self._cfg.makers) * self._cfg.rfq_timeout_s + self._account.approvals.timeout

    @property
    def account(self) -> ChainAccount:
        return self._account

    @property
    def market_address(self) -> str:
        return self._market

    @property
    def holder(self) -> str:
        """Who takes the quotes and holds funds and positions: the executor, else the signer."""
        return self._cfg.executor or to_checksum_address(self._account.address)

    async def _held(self, token: str) -> tuple[int, int]:
        """``(balance, pending)`` of ``token`` at the holder (pending: what fills in flight
        will still pull)."""
        if self._cfg.executor is None:
            return await self._account.holdings(token)
        held = await erc20_balance(self._account.rpc, token, self._cfg.executor)
        return held, self._account.reserved(token, self._market)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> OnchainOptionsVenue:
        """Check the market is on the account's chain and discover its series.

        Raises:
            VenueUnavailable: the node cannot be reached.
            InvalidInput: no contract at the market address on this chain.
        """
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            chain_id = int(await self._account.rpc.call("eth_chainId", []), 16)
            code = await self._account.rpc.call("eth_getCode", [self._market, "latest"])
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: cannot reach the node: {exc}") from exc
        if chain_id != self._account.chain.chain_id:
            raise InvalidInput(
                f"{self._id}: the node is on chain {chain_id}, the account on chain "
                f"{self._account.chain.chain_id}"
            )
        if not code or code == "0x":
            raise InvalidInput(f"{self._id}: no contract at market {self._market} on {chain_id}")
        if self._cfg.executor is not None:
            try:
                (owner,) = await eth_call(
                    self._account.rpc, self._cfg.executor, encode_call("owner()"), ["address"]
                )
            except (RpcError, ValueError) as exc:
                raise InvalidInput(
                    f"{self._id}: {self._cfg.executor} is not a BatchExecutor: {exc}"
                ) from exc
            if to_checksum_address(owner) != to_checksum_address(self._account.address):
                raise InvalidInput(
                    f"{self._id}: the executor {self._cfg.executor} is owned by {owner}, not by "
                    f"the signer {self._account.address}"
                )
        await self.discover()
        return self

    async def close(self) -> None:
        """Close the RFQ HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> OnchainOptionsVenue:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- series -------------------------------------------------------------------------------

    async def discover(self) -> list[SeriesListing]:
        """Read every ``SeriesListed`` event of the market since ``from_block``; returns the
        series known afterwards, by id."""
        rpc = self._account.rpc
        logs = await rpc.call(
            "eth_getLogs",
            [
                {
                    "address": self._market,
                    "fromBlock": hex(self._cfg.from_block),
                    "toBlock": "latest",
                    "topics": [_SERIES_LISTED],
                }
            ],
        )
        tokens: dict[str, tuple[str, int]] = {}
        for log in logs or []:
            topics = log["topics"]
            sid = int(topics[1], 16)
            if sid in self._series:
                continue
            underlying = to_checksum_address("0x" + topics[2][-40:])
            quote = to_checksum_address("0x" + topics[3][-40:])
            strike, expiry, is_call, size, feed = abi_decode(
                ["uint256", "uint64", "bool", "uint256", "address"],
                bytes.fromhex(log["data"][2:]),
            )
            for token in (underlying, quote):
                if token not in tokens:
                    tokens[token] = await self._token_info(token)
            u_sym, u_dec = tokens[underlying]
            q_sym, q_dec = tokens[quote]
            chain_id = self._account.chain.chain_id
            u_asset = Asset.erc20(chain_id, underlying, u_sym, u_dec)
            q_asset = Asset.erc20(chain_id, quote, q_sym, q_dec)
            unit = u_asset.from_base_units(int(size))
            exponent = unit.normalize().as_tuple().exponent
            assert isinstance(exponent, int)
            contract = OptionContract(
                underlying=u_asset,
                quote=q_asset,
                strike=_plain(q_asset.from_base_units(int(strike))),
                expiry_ns=int(expiry) * 1_000_000_000,
                option_kind=OptionKind.CALL if is_call else OptionKind.PUT,
                settlement=Settlement.CASH,
                size_decimals=max(0, -exponent),
            )
            collateral = (
                int(size) if is_call else int(strike) * int(size) // 10**u_dec
            )  # as the contract computes it at listing
            listing = SeriesListing(
                series_id=sid,
                contract=contract,
                contract_size=int(size),
                collateral_per_contract=collateral,
                collateral_token=underlying if is_call else quote,
                feed=to_checksum_address(feed),
                underlying=underlying,
                quote=quote,
            )
            self._series[sid] = listing
            self._by_key[_key(contract)] = sid
        return [self._series[i] for i in sorted(self._series)]

    async def _token_info(self, token: str) -> tuple[str, int]:
        (symbol,) = await eth_call(self._account.rpc, token, encode_call("symbol()"), ["string"])
        (decimals,) = await eth_call(self._account.rpc, token, encode_call("decimals()"), ["uint8"])
        return str(symbol), int(decimals)

    def instruments(self) -> list[OptionContract]:
        """Every discovered series as a contract, by series id."""
        return [self._series[i].contract for i in sorted(self._series)]

    def listing(self, instrument: Instrument) -> SeriesListing:
        """The series of ``instrument``.

        Raises:
            VenueRejected: not an option, or no such series on this market.
        """
        if not isinstance(instrument, OptionContract):
            raise VenueRejected(f"{self._id}: only options are traded here, not {instrument.id}")
        sid = self._by_key.get(_key(instrument))
        if sid is None or self._series[sid].contract.quote != instrument.quote:
            raise VenueRejected(
                f"{self._id}: unknown series {instrument.symbol} ({instrument.id}): the market "
                f"{self._market} lists no such option; pick one from instruments()"
            )
        return self._series[sid]

    def series_id(self, instrument: Instrument) -> int:
        """The market's series id of ``instrument`` (its name at this venue's edge)."""
        return self.listing(instrument).series_id

    def contract(self, series_id: int) -> OptionContract:
        """The contract of a series id; raises :class:`VenueRejected` for an unknown id."""
        found = self._series.get(series_id)
        if found is None:
            raise VenueRejected(f"{self._id}: unknown series id {series_id}")
        return found.contract

    async def index_price(self, instrument: Instrument) -> Decimal:
        """The latest answer of the series' feed: quote units per whole underlying.

        Raises:
            VenueRejected: unknown series.
        """
        listing = self.listing(instrument)
        rpc = self._account.rpc
        out = ["uint80", "int256", "uint256", "uint256", "uint80"]
        _rid, answer, _s, _u, _i = await eth_call(
            rpc, listing.feed, encode_call("latestRoundData()"), out
        )
        (decimals,) = await eth_call(rpc, listing.feed, encode_call("decimals()"), ["uint8"])
        return Decimal(int(answer)).scaleb(-int(decimals))

    async def chain_time(self) -> int:
        """The latest block's timestamp (unix seconds): the clock quotes and expiry use."""
        return await self._chain_time()

    async def _chain_time(self) -> int:
        block = await self._account.rpc.get_block("latest")
        return int(block["timestamp"], 16) if block else 0

    # -- RFQ ----------------------------------------------------------------------------------

    async def _ask(
        self, listing: SeriesListing, side: Side, contracts: int
    ) -> tuple[list[MakerQuote], list[str]]:
        """Every maker's answer for ``contracts`` on ``side``: quotes and refusals."""
        assert self._http is not None, "start() the venue first"
        body = {
            "series_id": listing.series_id,
            "side": side.value,
            "size": contracts,
            "taker": self.holder,
            "chain_id": self._account.chain.chain_id,
        }
        timeout = aiohttp.ClientTimeout(total=self._cfg.rfq_timeout_s)

        async def one(url: str) -> MakerQuote | str:
            try:
                async with self._http.post(  # type: ignore[union-attr]
                    url.rstrip("/") + "/rfq", json=body, timeout=timeout
                ) as resp:
                    data = await resp.json(content_type=None)
                    if resp.status != 200 or not isinstance(data, dict) or "quote" not in data:
                        error = data.get("error") if isinstance(data, dict) else data
                        return f"{url}: {error or resp.status}"
                    return MakerQuote.from_json(url, data["quote"], str(data["signature"]))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                return f"{url}: no answer ({type(exc).__name__}: {exc})"
            except InvalidInput as exc:
                return str(exc)

        answers = await asyncio.gather(*(one(u) for u in self._cfg.makers))
        quotes = [a for a in answers if isinstance(a, MakerQuote)]
        refusals = [a for a in answers if isinstance(a, str)]
        return quotes, refusals

    def _digest(self, q: MakerQuote) -> bytes:
        names = [f["name"] for f in _QUOTE_TYPES]
        message = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Quote": _QUOTE_TYPES,
            },
            "primaryType": "Quote",
            "domain": {
                "name": self._cfg.eip712_name,
                "version": self._cfg.eip712_version,
                "chainId": self._account.chain.chain_id,
                "verifyingContract": self._market,
            },
            "message": dict(zip(names, q.as_tuple(), strict=True)),
        }
        signable = encode_typed_data(full_message=message)
        return keccak(b"\x19" + signable.version + signable.header + signable.body)

    async def _signature_ok(self, q: MakerQuote) -> bool:
        digest = self._digest(q)
        code = await self._account.rpc.call("eth_getCode", [q.maker, "latest"])
        if code and code != "0x":
            try:
                (magic,) = await eth_call(
                    self._account.rpc,
                    q.maker,
                    encode_call("isValidSignature(bytes32,bytes)", digest, q.signature),
                    ["bytes4"],
                )
            except (RpcError, ValueError):
                return False
            return bytes(magic) == _ERC1271_MAGIC
        try:
            return bool(Account._recover_hash(digest, signature=q.signature) == q.maker)
        except Exception:  # malformed signature bytes: not valid
            return False

    async def _problem(
        self,
        q: MakerQuote,
        listing: SeriesListing,
        side: Side,
        contracts: int,
        next_block: int,
        limit: Decimal | None,
    ) -> str | None:
        """Why ``q`` must not be filled, or ``None`` when it may; ``next_block`` is the earliest
        timestamp of the block the fill can land in."""
        where = f"quote from {q.source}"
        if q.series_id != listing.series_id:
            return f"{where} is for series {q.series_id}, not {listing.series_id}"
        if q.maker_sells is not (side is Side.BUY):
            return f"{where} is on the wrong side"
        if q.taker not in (_ZERO, self.holder):
            return f"{where} may only be filled by {q.taker}"
        if q.maker == self.holder:
            return f"{where} is our own"
        if q.size < contracts or (not q.allow_partial and q.size != contracts):
            return f"{where} is for {q.size} contracts, we need {contracts}"
        if q.deadline < next_block:
            # the fill reverts when its block's timestamp is past the (inclusive) deadline
            return f"{where} expired at {q.deadline} (next block at {next_block} or later)"
        (nonce,) = await eth_call(
            self._account.rpc, self._market, encode_call("nonces(address)", q.maker), ["uint256"]
        )
        if int(nonce) != q.nonce:
            return f"{where} has nonce {q.nonce}, the maker's is {nonce} (cancelled)"
        # what the market itself still lets fill: filled part, cancellation (and nonce, deadline)
        (left,) = await eth_call(
            self._account.rpc, self._market, encode_call(_REMAINING, q.as_tuple()), ["uint256"]
        )
        if int(left) < contracts:
            return (
                f"{where} has {left} of its {q.size} contracts left to fill on the market "
                f"(partly filled or cancelled), we need {contracts}"
            )
        if not await self._signature_ok(q):
            return (
                f"{where}: the signature does not verify for maker {q.maker} on chain "
                f"{self._account.chain.chain_id} and market {self._market} (signed for another "
                "chain or market, or for other fields)"
            )
        price = self._unit_price(listing, q.premium)
        if limit is not None and (
            (side is Side.BUY and price > limit) or (side is Side.SELL and price < limit)
        ):
            return f"{where} prices {price} per unit, beyond the limit {limit}"
        return None

    def _unit_price(self, listing: SeriesListing, premium: int) -> Decimal:
        """Premium per contract (quote base units) as quote per whole underlying."""
        with localcontext() as ctx:
            ctx.prec = _PREC
            return listing.contract.quote.from_base_units(premium) / listing.unit

    def _contracts(self, listing: SeriesListing, quantity: Decimal) -> int:
        if not isinstance(quantity, Decimal) or quantity <= 0:
            raise VenueRejected(f"{self._id}: quantity must be a positive Decimal, got {quantity}")
        n = quantity / listing.unit
        if n != n.to_integral_value():
            raise VenueRejected(
                f"{self._id}: quantity {quantity} is not a whole number of {listing.unit} "
                f"{listing.contract.underlying.symbol} contracts"
            )
        return int(n)

    async def _best(
        self, order: PlaceOrder, listing: SeriesListing, contracts: int
    ) -> tuple[MakerQuote, int]:
        now = await self._chain_time()
        if now >= listing.contract.expiry_ns // 1_000_000_000:
            raise VenueRejected(
                f"{self._id}: series {listing.series_id} ({listing.contract.symbol}) expired "
                f"(chain time {now}); nothing to trade"
            )
        quotes, problems = await self._ask(listing, order.side, contracts)
        good: list[MakerQuote] = []
        # the fill lands in the next block at the earliest, at least a second after the latest
        # one (not the wall clock: a devnet's chain time need not follow it)
        next_block = now + 1
        for q in quotes:
            problem = await self._problem(
                q, listing, order.side, contracts, next_block, order.limit_price
            )
            if problem is None:
                good.append(q)
            else:
                problems.append(problem)
        if not good:
            raise VenueRejected(
                f"{self._id}: no fillable quote for {order.client_order_id}: "
                + "; ".join(problems or ["no maker answered"])
                + "; nothing was sent"
            )
        best = min(good, key=lambda q: q.premium if order.side is Side.BUY else -q.premium)
        return best, now

    # -- placing ------------------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        """RFQ the makers, check the best quote and the funds, fill it; returns ``OPEN`` with
        settlement ``submitted`` once the fill transaction is out.

        Raises:
            VenueRejected: duplicate id, unknown series, expired series, bad quantity, no
                fillable quote (each maker's reason given), funds or allowance short, or the
                fill would revert; nothing was sent.
            VenueUnavailable: the node could not be reached before anything was signed.
            VenueTimeout: an approval was not mined in time (the fill was not sent).
        """
        coid = order.client_order_id
        account = self._account
        known = account.journal.get(coid)
        if known is not None or coid in account.placing:
            where = f" (tx {known['tx']['hash']})" if known else ""
            raise VenueRejected(
                f"{self._id}: duplicate client order id {coid}: already sent{where}; ask "
                "status() for its outcome"
            )
        listing = self.listing(order.instrument)
        contracts = self._contracts(listing, order.quantity)
        if order.limit_price is not None and order.limit_price <= 0:
            raise VenueRejected(f"{self._id}: limit price must be > 0, got {order.limit_price}")
        account.placing.add(coid)
        try:
            return await self._place(order, listing, contracts)
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: {coid} not sent: {exc}") from exc
        except (TransactionWouldRevert, BroadcastRejected, FeeCapExceeded) as exc:
            raise VenueRejected(f"{self._id}: {coid} refused: {exc}; nothing was sent") from exc
        except BroadcastUncertain as exc:
            raise VenueTimeout(
                f"{self._id}: {coid} not sent: {exc}; place it again once that settles"
            ) from exc
        except RpcError as exc:
            raise VenueRejected(f"{self._id}: {coid} not sent: the node said {exc}") from exc
        finally:
            account.placing.discard(coid)

    async def _place(
        self, order: PlaceOrder, listing: SeriesListing, contracts: int
    ) -> OrderStatusReport:
        coid = order.client_order_id
        account = self._account
        best, _now = await self._best(order, listing, contracts)
        if order.side is Side.BUY:
            token, spend = listing.quote, contracts * best.premium
        else:
            token, spend = listing.collateral_token, contracts * listing.collateral_per_contract
        fill = encode_call(_FILL, best.as_tuple(), best.signature, contracts)
        to, calldata = self._market, fill
        if self._cfg.executor is not None:
            to, calldata = self._cfg.executor, self._batch(order.side, listing, best, contracts)
        async with account.spend_lock(token, self._market):
            await account.poll()
            held, pending = await self._held(token)
            if held < pending + spend:
                role = "premium" if order.side is Side.BUY else "collateral"
                raise VenueRejected(
                    f"{self._id}: {coid} needs {spend} base units of {token} as {role} "
                    f"(+{pending} pulled by orders in flight) but {self.holder} holds "
                    f"{held}: insufficient {role}; fund the account or trade less; nothing "
                    "was sent"
                )
            need = account.reserved(token, self._market) + spend
            if self._cfg.executor is None:  # the executor approves inside its batch
                await ensure_allowance(
                    account.sender, account.rpc, token, self._market, need, account.approvals
                )
            entry: dict[str, Any] = {
                "venue": self._id,
                "instrument": listing.contract.to_payload(),
                "series_id": listing.series_id,
                "side": order.side.value,
                "quantity": str(order.quantity),
                "contracts": contracts,
                "limit_price": None if order.limit_price is None else str(order.limit_price),
                "deadline": best.deadline,
                "quote": best.to_json(),
                "token_in": token,
                "spend": str(spend),
                "executor": self._cfg.executor,
                "ts": account.clock_ns(),
                "tx": None,
                "cancel": None,
                "unwrap": None,
            }

            async def journal(sent: SentTransaction) -> None:
                account.track_pull(sent.tx_hash, token, spend, sent.signed.nonce)
                entry["tx"] = tx_entry(sent)
                account.journal.put(coid, entry)
                self._coid_of[sent.tx_hash] = coid
                account.own(sent.tx_hash, self)

            what = f"{self._id} {order.side.value} {order.quantity} {listing.contract.symbol}"
            account.reserve(token, self._market, spend)
            try:
                try:
                    sent = await account.sender.send(
                        to=to, data=calldata, what=what, on_signed=journal
                    )
                    tx_hash = sent.tx_hash
                except BroadcastUncertain as exc:
                    tx_hash = exc.tx_hash
                except BroadcastRejected:
                    if entry["tx"] is not None:
                        account.forget_pull(entry["tx"]["hash"])
                    account.journal.remove(coid)
                    raise
            except BaseException:
                if account.journal.get(coid) is None:
                    account.reserve(token, self._market, -spend)
                raise
        return self._open_report(coid, entry, tx_hash)

    def _batch(self, side: Side, listing: SeriesListing, q: MakerQuote, contracts: int) -> bytes:
        """``execute`` calldata for the executor: approve what the fill pulls, fill, and guard
        the quote token: a buyer pays at most the premium, a writer nets at least the premium
        (less the collateral when a put's collateral is the quote token)."""
        premium = contracts * q.premium
        if side is Side.BUY:
            token, pull, net = listing.quote, premium, -premium
        else:
            token = listing.collateral_token
            pull = contracts * listing.collateral_per_contract
            net = premium - (pull if token == listing.quote else 0)
        fill = encode_call(_FILL, q.as_tuple(), q.signature, contracts)
        calls = [
            (token, 0, encode_call("approve(address,uint256)", self._market, pull), _ZERO, 0),
            (self._market, 0, fill, listing.quote, net),
        ]
        return encode_call(_EXECUTE, calls, [(listing.quote, net)])

    # -- settlement moves -> reports -----------------------------------------------------------

    def _fill(
        self, coid: ClientOrderId, entry: dict[str, Any], receipt: Receipt
    ) -> FillReport | None:
        """The fill from the receipt's ``QuoteFilled`` log of our quote."""
        market = self._market.lower()
        for log in receipt.logs:
            topics = [t.lower() for t in log.topics]
            if log.address.lower() != market or not topics:
                continue
            if topics[0] != _QUOTE_FILLED:
                continue
            _sid, _sells, amount, premium_total, _total = abi_decode(
                ["uint256", "bool", "uint256", "uint256", "uint256"],
                bytes.fromhex(log.data[2:]),
            )
            listing = self._series.get(int(entry["series_id"]))
            if listing is None or int(amount) == 0:
                return None
            quantity = listing.quantity(int(amount))
            with localcontext() as ctx:
                ctx.prec = _PREC
                price = listing.contract.quote.from_base_units(int(premium_total)) / quantity
            gas = receipt.gas_paid
            return FillReport(
                venue=self._id,
                trade_id=TradeId(f"{receipt.tx_hash}@{receipt.block_hash}"),
                client_order_id=coid,
                venue_order_id=VenueOrderId(entry["tx"]["hash"]),
                side=Side(entry["side"]),
                quantity=quantity,
                price=price,
                fee=Decimal(gas).scaleb(-18),
                fee_currency=self._account.chain.native_symbol,
                ts_event=self._account.clock_ns(),
            )
        return None

    async def _current(self, coid: ClientOrderId) -> OrderStatusReport:
        entry = self._account.journal.get(coid)
        assert entry is not None
        tx_hash = TxHash(entry["tx"]["hash"])
        if not self._account.is_tracked(tx_hash):
            self._account.register(self)
        return await self._build(coid, self._account.tracker.state(tx_hash), None)

    def owned_transactions(self) -> list[tuple[TxHash, dict[str, Any]]]:
        """(hash, journaled tx) of the fills and cancellations this venue signed."""
        out = []
        for entry in self._account.journal.entries().values():
            if entry.get("venue") != self._id:
                continue
            out.append((TxHash(entry["tx"]["hash"]), entry["tx"]))
            if entry.get("cancel"):
                out.append((TxHash(entry["cancel"]["hash"]), entry["cancel"]))
        return out

    def forget_transaction(self, tx_hash: TxHash) -> None:
        """The account pruned ``tx_hash``."""
        self._coid_of.pop(tx_hash, None)

    async def on_settlement(self, report: SettlementReport) -> None:
        """A settlement move of one of our fill transactions -> an order report on
        :meth:`events` (called by the account's poll)."""
        coid = self._coid_of.get(report.tx_hash)
        if coid is None:
            return
        entry = self._account.journal.get(coid)
        if entry is None or entry["tx"]["hash"] != report.tx_hash:
            return
        done = (_S.INCLUDED, _S.CONFIRMED, _S.FINAL, _S.DROPPED, _S.REPLACED)
        ended = report.status in (_S.FINAL, _S.DROPPED, _S.REPLACED)
        if ended:
            self._account.forget_pull(report.tx_hash)
        state = entry_state(entry)
        if state is AmmOrderState.PENDING and report.status in done:
            self._account.reserve(entry["token_in"], self._market, -int(entry["spend"]))
        if ended and state is not AmmOrderState.ENDED:
            self._account.journal.advance(
                coid, AmmOrderState.ENDED, ended_ns=self._account.clock_ns()
            )
        elif state is AmmOrderState.PENDING and report.status in done:
            self._account.journal.advance(coid, AmmOrderState.MINED)
        settlement = SettlementState(
            tx_hash=report.tx_hash,
            status=report.status,
            confirmations=report.confirmations,
            block_number=report.block_number,
        )
        self._queue.put_nowait(await self._build(coid, settlement, report.block_hash))

    def events(self) -> AsyncIterator[VenueReport]:
        """Every order report the venue pushes (settlement moves of its fills)."""

        async def stream() -> AsyncIterator[VenueReport]:
            while True:
                yield await self._queue.get()

        return stream()

    # -- order queries and control ---------------------------------------------------------------

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """The order's report from the journal and the chain; ``None`` when this venue never
        signed a fill for it."""
        entry = self._account.journal.get(client_order_id)
        if entry is None or entry.get("venue") != self._id:
            return None
        await self._account.poll()
        return await self._current(client_order_id)

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel a fill still pending (a 0-value self-transfer at its nonce, higher fees);
        waits up to ``cancel_timeout`` for one of the two to land. A mined fill just returns
        its report.

        Raises:
            VenueRejected: no such order was sent.
        """
        await self._account.cancel_journaled(
            self, self._id, client_order_id, self._coid_of, self._cfg.cancel_timeout
        )
        return await self._current(client_order_id)

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        """Not possible: a quote is filled or refused, nothing rests.

        Raises:
            VenueRejected: always.
        """
        raise VenueRejected(
            f"{self._id}: amend of {request.client_order_id} is not possible: RFQ fills do not "
            "rest; place a new order"
        )

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        """Reports for the asked ids and every fill not settled yet, from the journal and the
        chain; ids never journaled are ``unknown``."""
        try:
            await self._account.poll()
        except RpcUnavailable as exc:
            raise VenueUnavailable(f"{self._id}: cannot reconcile: {exc}") from exc
        reports: dict[ClientOrderId, OrderStatusReport] = {}
        unknown: list[ClientOrderId] = []
        for coid in client_order_ids:
            entry = self._account.journal.get(coid)
            if entry is None or entry.get("venue") != self._id:
                unknown.append(coid)
            else:
                reports[coid] = await self._current(coid)
        for key, entry in self._account.journal.entries().items():
            coid = ClientOrderId(key)
            if entry.get("venue") != self._id or coid in reports:
                continue
            if not self._account.is_tracked(TxHash(entry["tx"]["hash"])):
                self._account.register(self)
            state = self._account.tracker.state(TxHash(entry["tx"]["hash"]))
            if state.status in (_S.SUBMITTED, _S.REORGED):
                reports[coid] = await self._current(coid)
        return ReconciliationReport(
            venue=self._id,
            orders=tuple(reports.values()),
            unknown=tuple(sorted(unknown)),
            balances=await self.balances(),
            ts_event=self._account.clock_ns(),
        )

    async def balances(self) -> Mapping[str, Decimal]:
        """Wallet balances: the native asset and every token of the listed series."""
        account = self._account
        out: dict[str, Decimal] = {
            account.chain.native_symbol: Decimal(
                await native_balance(account.rpc, account.address)
            ).scaleb(-18)
        }
        seen: dict[str, Asset] = {}
        for listing in self._series.values():
            for asset in (listing.contract.underlying, listing.contract.quote):
                seen.setdefault(asset.symbol, asset)
        for symbol, asset in sorted(seen.items()):
            units = await erc20_balance(account.rpc, str(asset.address), self.holder)
            out[symbol] = asset.from_base_units(units)
        return out

    # -- prices ---------------------------------------------------------------------------------

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        """The best maker price for ``quantity`` now (an RFQ; nothing is filled). ``fee`` is 0:
        the premium is all the taker pays (gas aside).

        Raises:
            VenueRejected: unknown series, bad quantity, or no maker quotes.
        """
        listing = self.listing(instrument)
        contracts = self._contracts(listing, quantity)
        best, _ = await self._best(
            PlaceOrder(
                client_order_id=ClientOrderId("quote"),
                instrument=instrument,
                side=side,
                quantity=quantity,
            ),
            listing,
            contracts,
        )
        return Quote(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            quantity=quantity,
            avg_price=self._unit_price(listing, best.premium),
            fee=Decimal(0),
            ts_event=self._account.clock_ns(),
        )

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        """One level per maker that quotes ``liquidity_contracts`` now, best first."""
        listing = self.listing(instrument)
        quotes, _ = await self._ask(listing, side, self._cfg.liquidity_contracts)
        now = await self._chain_time()
        levels = []
        for q in quotes:
            if await self._problem(q, listing, side, self._cfg.liquidity_contracts, now, None):
                continue
            levels.append(
                LiquidityLevel(self._unit_price(listing, q.premium), listing.quantity(q.size))
            )
        levels.sort(key=lambda lv: lv.price, reverse=side is Side.SELL)
        return LiquidityCurve(
            venue=self._id,
            instrument_id=instrument.id,
            side=side,
            levels=tuple(levels),
            taker_fee_bps=Decimal(0),
            fixed_cost=Decimal(0),
            ts_event=self._account.clock_ns(),
        )

    # -- positions and expiry ---------------------------------------------------------------------

    async def positions(self) -> list[OptionPosition]:
        """Longs (positive) and shorts (negative) of the account in every series, with the
        collateral locked for the shorts."""
        listings = [self._series[i] for i in sorted(self._series)]
        me = self.holder
        calls = [
            (
                "eth_call",
                [
                    {
                        "to": self._market,
                        "data": "0x"
                        + encode_call(
                            "balanceOfBatch(address[],uint256[])",
                            [me, me],
                            [2 * s.series_id, 2 * s.series_id + 1],
                        ).hex(),
                    },
                    "latest",
                ],
            )
            for s in listings
        ]
        answers = await self._account.rpc.batch(calls) if calls else []
        out: list[OptionPosition] = []
        for listing, raw in zip(listings, answers, strict=True):
            (pair,) = abi_decode(["uint256[]"], bytes.fromhex(str(raw)[2:]))
            longs, shorts = int(pair[0]), int(pair[1])
            for count, sign in ((longs, 1), (shorts, -1)):
                if count == 0:
                    continue
                token_asset = (
                    listing.contract.underlying
                    if listing.collateral_token == listing.underlying
                    else listing.contract.quote
                )
                out.append(
                    OptionPosition(
                        venue=self._id,
                        name=str(listing.series_id),
                        contract=listing.contract,
                        quantity=sign * listing.quantity(count),
                        premium_currency=listing.contract.quote.symbol,
                        average_price=None,
                        mark=None,
                        collateral=Decimal(0)
                        if sign > 0
                        else token_asset.from_base_units(count * listing.collateral_per_contract),
                        collateral_currency=token_asset.symbol,
                    )
                )
        return out

    async def _series_state(self, sid: int) -> tuple[bool, int, int]:
        """``(settled, settlement price, payoff per contract)`` as the contract stores them."""
        raw = await self._account.rpc.call(
            "eth_call",
            [
                {"to": self._market, "data": "0x" + encode_call("series(uint256)", sid).hex()},
                "latest",
            ],
        )
        words = bytes.fromhex(str(raw)[2:])
        # Series is a static struct returned inline: 14 words, in declaration order
        fields = [int.from_bytes(words[i * 32 : (i + 1) * 32], "big") for i in range(14)]
        return bool(fields[2]), fields[12], fields[13]

    async def _settling_round(self, listing: SeriesListing) -> int:
        rpc = self._account.rpc
        expiry = listing.contract.expiry_ns // 1_000_000_000
        out = ["uint80", "int256", "uint256", "uint256", "uint80"]
        rid, _a, _s, updated, _i = await eth_call(
            rpc, listing.feed, encode_call("latestRoundData()"), out
        )
        if int(updated) < expiry:
            raise VenueRejected(
                f"{self._id}: series {listing.series_id}: the feed {listing.feed} has no round "
                f"at or after expiry {expiry} yet; wait for the oracle"
            )

        async def updated_at(round_id: int) -> int:
            got = await eth_call(
                rpc, listing.feed, encode_call("getRoundData(uint80)", round_id), out
            )
            return int(got[3])

        # within the latest round's phase (Chainlink ids are phase << 64 | n), by bisection
        return await first_round_at_or_after(int(rid), expiry, updated_at)

    async def _send_and_wait(self, data: bytes, what: str, *, to: str | None = None) -> Receipt:
        for attempt in (1, 2):
            try:
                sent = await self._account.sender.send(to=to or self._market, data=data, what=what)
                break
            except BroadcastRejected as exc:
                # another wallet used our nonce: the sender has resynced, sign once more
                if attempt == 2 or "nonce too low" not in str(exc).lower():
                    raise VenueRejected(
                        f"{self._id}: {what} refused: {exc}; nothing was sent"
                    ) from exc
            except TransactionWouldRevert as exc:
                raise VenueRejected(f"{self._id}: {what} refused: {exc}; nothing was sent") from exc
        return await wait_for_receipt(self._account.rpc, sent.tx_hash, what)

    async def settle_series(self, instrument: Instrument) -> bool:
        """Settle an expired series from its feed's first round after expiry (anyone may);
        ``False`` when it was settled already.

        Raises:
            VenueRejected: unknown series, not expired, or no round after expiry yet.
        """
        listing = self.listing(instrument)
        settled, _, _ = await self._series_state(listing.series_id)
        if settled:
            return False
        now = await self._chain_time()
        if now < listing.contract.expiry_ns // 1_000_000_000:
            raise VenueRejected(
                f"{self._id}: series {listing.series_id} expires at "
                f"{listing.contract.expiry_ns // 1_000_000_000}; chain time is {now}"
            )
        round_id = await self._settling_round(listing)
        await self._send_and_wait(
            encode_call("settle(uint256,uint80)", listing.series_id, round_id),
            f"settle series {listing.series_id}",
        )
        return True

    async def redeem(self, instrument: Instrument) -> OptionSettlement:
        """Settle the series if needed, then burn every long for its payoff; the settlement
        says exactly what arrived (base units of the collateral token, as a Decimal).

        Raises:
            VenueRejected: unknown series, not expired, no long held, no round after expiry.
        """
        return await self._close_out(instrument, longs=True)

    async def withdraw(self, instrument: Instrument) -> OptionSettlement:
        """Settle the series if needed, then burn every short for the collateral left."""
        return await self._close_out(instrument, longs=False)

    async def _close_out(self, instrument: Instrument, *, longs: bool) -> OptionSettlement:
        listing = self.listing(instrument)
        sid = listing.series_id
        token_id = 2 * sid if longs else 2 * sid + 1
        (held,) = await eth_call(
            self._account.rpc,
            self._market,
            encode_call("balanceOf(address,uint256)", self.holder, token_id),
            ["uint256"],
        )
        if int(held) == 0:
            what = "long" if longs else "short"
            raise VenueRejected(f"{self._id}: {self.holder} holds no {what} of series {sid}")
        await self.settle_series(instrument)
        _settled, price, _pay = await self._series_state(sid)
        name = "redeem" if longs else "withdraw"
        call = encode_call(f"{name}(uint256,uint256)", sid, int(held))
        if self._cfg.executor is not None:
            call = encode_call(_EXECUTE, [(self._market, 0, call, _ZERO, 0)], [])
        receipt = await self._send_and_wait(
            call, f"{name} series {sid}", to=self._cfg.executor or self._market
        )
        flows = WalletFlows.from_receipt(receipt, self.holder)
        token = listing.collateral_token
        received = flows.received.get(token.lower(), 0)
        asset = (
            listing.contract.underlying if token == listing.underlying else listing.contract.quote
        )
        return OptionSettlement(
            venue=self._id,
            name=str(sid),
            contract=listing.contract,
            quantity=(1 if longs else -1) * listing.quantity(int(held)),
            settlement_price=listing.contract.quote.from_base_units(price),
            payoff=asset.from_base_units(received),
            payoff_currency=asset.symbol,
            reference=str(receipt.tx_hash),
            ts_event=self._account.clock_ns(),
        )


def _key(c: OptionContract) -> tuple[str, Decimal, int, OptionKind]:
    return (str(c.underlying.address).lower(), c.strike, c.expiry_ns, c.option_kind)


def _plain(d: Decimal) -> Decimal:
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
