"""What every part of the on-chain options venue shares: its settings
(:class:`OnchainOptionsConfig`), a listed series (:class:`SeriesListing`) and the venue's state
and identity (:class:`_Base`, mixed into the venue with the other parts of this package)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
from eth_utils import is_address, to_checksum_address

from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import ClientOrderId, TxHash, VenueId
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.model.orders import SettlementStatus
from oms_chain.venues.amm._calls import erc20_balance
from oms_chain.venues.amm._reports import _Reports
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import VenueCapabilities, VenueReport

_S = SettlementStatus
_ZERO = "0x0000000000000000000000000000000000000000"
_EXECUTE = "execute((address,uint256,bytes,address,int256)[],(address,int256)[])"
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


class _Base(_Reports):
    """The venue's state (set by :class:`~.venue.OnchainOptionsVenue`) and identity."""

    _account: ChainAccount
    _cfg: OnchainOptionsConfig
    _id: VenueId
    _market: str
    _series: dict[int, SeriesListing]
    _by_key: dict[tuple[str, Decimal, int, OptionKind], int]
    _queue: asyncio.Queue[VenueReport]
    _coid_of: dict[TxHash, ClientOrderId]
    _reasons: dict[str, str]
    _http: aiohttp.ClientSession | None

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
        """:meth:`place` asks every maker and may wait for an approval to be mined (and for a
        Safe's owners' signatures, when they sign elsewhere)."""
        wait = float(getattr(self._account.executor, "send_wait_s", 0.0))
        return (
            len(self._cfg.makers) * self._cfg.rfq_timeout_s + self._account.approvals.timeout + wait
        )

    @property
    def account(self) -> ChainAccount:
        return self._account

    @property
    def market_address(self) -> str:
        return self._market

    @property
    def holder(self) -> str:
        """Who takes the quotes and holds funds and positions: the BatchExecutor, else the
        account (the signer, or the contract account its executor runs calls for)."""
        return self._cfg.executor or to_checksum_address(self._account.address)

    async def _held(self, token: str) -> tuple[int, int]:
        """``(balance, pending)`` of ``token`` at the holder (pending: what fills in flight
        will still pull)."""
        if self._cfg.executor is None:
            return await self._account.holdings(token)
        held = await erc20_balance(self._account.rpc, token, self._cfg.executor)
        return held, self._account.reserved(token, self._market)

    async def chain_time(self) -> int:
        """The latest block's timestamp (unix seconds): the clock quotes and expiry use."""
        return await self._chain_time()

    async def _chain_time(self) -> int:
        block = await self._account.rpc.get_block("latest")
        return int(block["timestamp"], 16) if block else 0
