"""A user's own adapters, written outside oms_chain/, run the public conformance suites from
oms_chain.testing: a toy venue at a fixed price (market orders fill whole, limits away from the
price rest) and two toy signers (an externally owned account and a contract account)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils import keccak

from oms_chain.custody import SignedTransaction, SignerCapabilities
from oms_chain.model import InvalidInput, Side, VenueRejected
from oms_chain.model.ids import ClientOrderId, TradeId, TxHash, VenueId, VenueOrderId
from oms_chain.model.instruments import Instrument
from oms_chain.testing.signer import SignerConformance
from oms_chain.testing.venue import VenueConformance
from oms_chain.venues import (
    AmendOrder,
    FillReport,
    LiquidityCurve,
    LiquidityLevel,
    OrderStatusReport,
    PlaceOrder,
    Quote,
    ReconciliationReport,
    VenueCapabilities,
    VenueOrderStatus,
    VenueReport,
)

PRICE = Decimal(2000)


class ToyVenue:
    """Fills every marketable order whole at PRICE; nothing else moves."""

    def __init__(self) -> None:
        self._orders: dict[ClientOrderId, OrderStatusReport] = {}
        self._trades = 0

    venue_id = VenueId("toy")
    capabilities = VenueCapabilities()

    async def liquidity(self, instrument: Instrument, side: Side) -> LiquidityCurve:
        return LiquidityCurve(
            venue=self.venue_id,
            instrument_id=instrument.id,
            side=side,
            levels=(LiquidityLevel(PRICE, Decimal(100)),),
            taker_fee_bps=Decimal(0),
            fixed_cost=Decimal(0),
            ts_event=0,
        )

    async def quote(self, instrument: Instrument, side: Side, quantity: Decimal) -> Quote:
        return Quote(
            venue=self.venue_id,
            instrument_id=instrument.id,
            side=side,
            quantity=quantity,
            avg_price=PRICE,
            fee=Decimal(0),
            ts_event=0,
        )

    def _marketable(self, side: Side, limit: Decimal | None) -> bool:
        return limit is None or (limit >= PRICE if side is Side.BUY else limit <= PRICE)

    async def place(self, order: PlaceOrder) -> OrderStatusReport:
        coid = order.client_order_id
        if coid in self._orders:
            raise VenueRejected(f"toy: duplicate client order id {coid}")
        report = OrderStatusReport(
            venue=self.venue_id,
            client_order_id=coid,
            venue_order_id=VenueOrderId(f"toy-{len(self._orders)}"),
            status=VenueOrderStatus.OPEN,
            quantity=order.quantity,
            filled_quantity=Decimal(0),
            limit_price=order.limit_price,
            fills=(),
            ts_event=0,
        )
        if self._marketable(order.side, order.limit_price):
            self._trades += 1
            fill = FillReport(
                venue=self.venue_id,
                trade_id=TradeId(f"toy-t{self._trades}"),
                client_order_id=coid,
                venue_order_id=report.venue_order_id,
                side=order.side,
                quantity=order.quantity,
                price=PRICE,
                fee=Decimal(0),
                fee_currency="USDC",
                ts_event=0,
            )
            report = _with(
                report, status=VenueOrderStatus.FILLED, filled=order.quantity, fills=(fill,)
            )
        self._orders[coid] = report
        return report

    def _known(self, coid: ClientOrderId) -> OrderStatusReport:
        if coid not in self._orders:
            raise VenueRejected(f"toy: no order {coid}")
        return self._orders[coid]

    async def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        report = self._known(client_order_id)
        if not report.status.is_terminal:
            report = self._orders[client_order_id] = _with(
                report, status=VenueOrderStatus.CANCELLED
            )
        return report

    async def amend(self, request: AmendOrder) -> OrderStatusReport:
        report = self._known(request.client_order_id)
        if report.status.is_terminal:
            raise VenueRejected(f"toy: {request.client_order_id} is {report.status.value}")
        if request.quantity <= report.filled_quantity:
            raise VenueRejected(f"toy: quantity {request.quantity} below filled")
        report = _with(report, quantity=request.quantity, limit_price=request.limit_price)
        self._orders[request.client_order_id] = report
        return report

    async def status(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        return self._orders.get(client_order_id)

    async def reconcile(self, client_order_ids: Collection[ClientOrderId]) -> ReconciliationReport:
        asked = [self._orders[c] for c in client_order_ids if c in self._orders]
        open_ = [
            r
            for c, r in self._orders.items()
            if not r.status.is_terminal and c not in client_order_ids
        ]
        return ReconciliationReport(
            venue=self.venue_id,
            orders=tuple(asked + open_),
            unknown=tuple(c for c in client_order_ids if c not in self._orders),
            balances=await self.balances(),
            ts_event=0,
        )

    async def balances(self) -> Mapping[str, Decimal]:
        return {"USDC": Decimal(1_000_000), "ETH": Decimal(100)}

    async def events(self) -> AsyncIterator[VenueReport]:
        await asyncio.Event().wait()  # this toy pushes nothing
        yield  # type: ignore[misc]


def _with(
    report: OrderStatusReport,
    *,
    status: VenueOrderStatus | None = None,
    filled: Decimal | None = None,
    fills: tuple[FillReport, ...] | None = None,
    quantity: Decimal | None = None,
    limit_price: Decimal | None = None,
) -> OrderStatusReport:
    return OrderStatusReport(
        venue=report.venue,
        client_order_id=report.client_order_id,
        venue_order_id=report.venue_order_id,
        status=status or report.status,
        quantity=quantity if quantity is not None else report.quantity,
        filled_quantity=filled if filled is not None else report.filled_quantity,
        limit_price=limit_price if quantity is not None else report.limit_price,
        fills=fills if fills is not None else report.fills,
        ts_event=0,
    )


class TestToyVenueConformance(VenueConformance):
    @pytest.fixture
    def venue(self) -> ToyVenue:
        return ToyVenue()


KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # anvil account 2


class ToyKeySigner:
    """An externally owned account signing with eth-account directly."""

    capabilities = SignerCapabilities()

    def __init__(self) -> None:
        self._account = Account.from_key(KEY)

    @property
    def address(self) -> ChecksumAddress:
        return ChecksumAddress(self._account.address)

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        for key in ("chainId", "nonce"):
            if key not in tx:
                raise InvalidInput(f"toy signer: transaction needs {key!r}")
        if "from" in tx and tx["from"] != self.address:
            raise InvalidInput(f"toy signer: 'from' {tx['from']} is not {self.address}")
        signed = self._account.sign_transaction({k: v for k, v in tx.items() if k != "from"})
        raw = bytes(signed.raw_transaction)
        return SignedTransaction(
            raw=raw,
            tx_hash=TxHash("0x" + keccak(raw).hex()),
            sender=self.address,
            nonce=tx["nonce"],
        )

    async def sign_hash(self, digest: bytes) -> bytes:
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise InvalidInput("toy signer: 'digest' must be 32 bytes")
        sig = Account.unsafe_sign_hash(digest, self._account.key)
        return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])


class ToyContractAccount(ToyKeySigner):
    """A contract account owned by the key: it signs hashes for EIP-1271 but sends nothing."""

    capabilities = SignerCapabilities(
        raw_transactions=False, ecdsa_hashes=False, contract_account=True
    )

    @property
    def address(self) -> ChecksumAddress:
        return ChecksumAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        raise InvalidInput("toy contract account: executes through its owner, not raw transactions")


class TestToyKeySignerConformance(SignerConformance):
    @pytest.fixture
    def signer(self) -> ToyKeySigner:
        return ToyKeySigner()


class TestToyContractAccountConformance(SignerConformance):
    @pytest.fixture
    def signer(self) -> ToyContractAccount:
        return ToyContractAccount()
