"""The on-chain options venue: :class:`OnchainOptionsVenue`, our ``OptionsMarket`` contract
behind the :class:`~oms_chain.venues.base.Venue` protocol, put together from the parts of this
package (series, RFQ, orders, expiry)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
from eth_utils import to_checksum_address

from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.model.amm_orders import AmmOrderState
from oms_chain.model.errors import InvalidInput, VenueUnavailable
from oms_chain.model.ids import ClientOrderId, TxHash, VenueId
from oms_chain.model.instruments import OptionKind
from oms_chain.venues.amm._calls import encode_call, eth_call
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.amm.journal import entry_state
from oms_chain.venues.base import VenueReport
from oms_chain.venues.options.onchain._base import OnchainOptionsConfig, SeriesListing
from oms_chain.venues.options.onchain.expiry import _Expiry
from oms_chain.venues.options.onchain.orders import _Orders


class OnchainOptionsVenue(_Orders, _Expiry):
    """Options on our ``OptionsMarket`` through RFQ to makers, for the trading account of
    ``account``: its signer, or the contract account (a Safe) its executor runs the calls of
    (then each fill, with its approvals, and each redeem / withdraw is one transaction of that
    account, executed by the relayer).

    Call :meth:`start` (discovers the series) before trading; ``async with`` starts and closes
    (the account and its RPC client stay the caller's). Capabilities: nothing rests (a quote
    fills or is refused), no amend, fills come with the receipt.
    """

    def __init__(self, account: ChainAccount, config: OnchainOptionsConfig) -> None:
        if not isinstance(config, OnchainOptionsConfig):
            raise InvalidInput(f"expected an OnchainOptionsConfig, got {type(config).__name__}")
        if account.executor.batches and config.executor is not None:
            raise InvalidInput(
                f"the account {account.address} is a contract account already; give the venue "
                f"either that account or the BatchExecutor {config.executor}, not both"
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
                        account.pull_nonce(entry["tx"]),
                    )
                    account.reserve(entry["token_in"], self._market, int(entry["spend"]))
                if entry.get("cancel"):
                    self._coid_of[TxHash(entry["cancel"]["hash"])] = ClientOrderId(coid)
        account.register(self)

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
