"""The conformance suite every :class:`~oms_chain.venues.Venue` adapter passes, ours and yours.

Subclass :class:`VenueConformance` in a test module and give it a ``venue`` fixture: a venue
that trades :attr:`instrument <VenueConformance.instrument>` (by default the spot pair ETH/USDC)
around a price of 2,000 quote per base and can buy and sell a few units. Every test runs in the
form the venue's declared :class:`~oms_chain.venues.VenueCapabilities` call for (resting orders
or not, amend or not, fills in the place report or with settlement), so an adapter declares
what it does and never overrides a test::

    from oms_chain.testing.venue import VenueConformance

    class TestMyVenue(VenueConformance):
        @pytest.fixture
        async def venue(self):
            async with MyVenue(...) as v:
                yield v

Fixtures a subclass may override: ``instrument``, ``resting_buy_price`` (a limit far below the
market that must not fill), ``venue_capabilities`` (defaults to what the venue declares through
:class:`~oms_chain.venues.DeclaresCapabilities`) and ``settle_timeout_s`` (how long a venue
without ``fills_on_place`` may take to settle a marketable order). The tests are coroutines and
need pytest-asyncio (installed with oms-chain).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from oms_chain.model.errors import VenueRejected
from oms_chain.model.ids import ClientOrderId, IntentId, client_order_id
from oms_chain.model.instruments import Asset, Instrument, SpotPair
from oms_chain.model.intent import Side
from oms_chain.venues.base import (
    AmendOrder,
    BoundedAcceptance,
    DeclaresCapabilities,
    OrderStatusReport,
    PlaceOrder,
    QuantityGrid,
    SendBudget,
    SpendableInventory,
    Venue,
    VenueCapabilities,
    VenueOrderStatus,
)

__all__ = ["VenueConformance", "conformance_order", "settled"]

#: How often :func:`settled` asks the venue again while it waits.
_POLL_S = 0.02


def conformance_order(
    n: int,
    instrument: Instrument,
    *,
    limit: Decimal | None = None,
    quantity: Decimal = Decimal(1),
    side: Side = Side.BUY,
) -> PlaceOrder:
    """Order number ``n`` of the suite (client order id ``conf-<n>``-derived, deterministic)."""
    return PlaceOrder(
        client_order_id=client_order_id(IntentId(f"conf-{n}"), 0),
        instrument=instrument,
        side=side,
        quantity=quantity,
        limit_price=limit,
    )


async def settled(venue: Venue, coid: ClientOrderId, timeout_s: float) -> OrderStatusReport:
    """The venue's report for ``coid`` once it is terminal (filled, cancelled, rejected, ...).

    Waits on the venue itself (a chain mining a transaction, an exchange matching), asking
    :meth:`Venue.status` every 20 ms of loop time for at most ``timeout_s`` seconds.

    Raises:
        AssertionError: not terminal within ``timeout_s`` (the last report is in the message).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    report = await venue.status(coid)
    while report is None or not report.status.is_terminal:
        if loop.time() >= deadline:
            raise AssertionError(f"{coid} not terminal after {timeout_s} s: {report}")
        await asyncio.sleep(_POLL_S)
        report = await venue.status(coid)
    return report


class VenueConformance:
    """What every Venue must do. Subclass with a ``venue`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def instrument(self) -> Instrument:
        """The instrument the suite trades: spot ETH/USDC unless overridden."""
        return SpotPair(
            base=Asset.cex("conformance", "ETH", 8), quote=Asset.cex("conformance", "USDC", 6)
        )

    @pytest.fixture
    def resting_buy_price(self) -> Decimal:
        """A buy limit far below the market (which is about 2,000): it must not fill."""
        return Decimal(1000)

    @pytest.fixture
    def settle_timeout_s(self) -> float:
        """Seconds a marketable order may take to settle on a venue without fills on place."""
        return 10.0

    @pytest.fixture
    def venue_capabilities(self, venue: Any) -> VenueCapabilities:
        """What the venue declares; a venue that declares nothing fails here with advice."""
        if not isinstance(venue, DeclaresCapabilities):
            pytest.fail(
                f"{type(venue).__name__} declares no capabilities: give it a `capabilities` "
                "property returning oms_chain.venues.VenueCapabilities"
            )
        found = venue.capabilities
        assert isinstance(found, VenueCapabilities), f"capabilities is {found!r}"
        return found

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    async def _filled(
        venue: Venue, order: PlaceOrder, caps: VenueCapabilities, timeout_s: float
    ) -> OrderStatusReport:
        report = await venue.place(order)
        assert report.client_order_id == order.client_order_id
        if caps.fills_on_place:
            assert report.status is VenueOrderStatus.FILLED, report
            return report
        assert report.status in (
            VenueOrderStatus.OPEN,
            VenueOrderStatus.PARTIALLY_FILLED,
            VenueOrderStatus.FILLED,
        ), report
        return await settled(venue, order.client_order_id, timeout_s)

    # --- the contract -----------------------------------------------------------------------

    async def test_is_a_venue_that_declares_its_capabilities(
        self, venue: Any, venue_capabilities: VenueCapabilities
    ) -> None:
        assert isinstance(venue, Venue)
        assert isinstance(venue.venue_id, str) and venue.venue_id

    async def test_market_order_fills_and_reports_every_fill(
        self,
        venue: Venue,
        instrument: Instrument,
        venue_capabilities: VenueCapabilities,
        settle_timeout_s: float,
    ) -> None:
        order = conformance_order(1, instrument)
        r = await self._filled(venue, order, venue_capabilities, settle_timeout_s)
        assert r.status is VenueOrderStatus.FILLED
        assert sum(f.quantity for f in r.fills) == r.filled_quantity == Decimal(1)
        assert len({f.trade_id for f in r.fills}) == len(r.fills)
        assert all(f.client_order_id == order.client_order_id for f in r.fills)
        assert all(f.side is Side.BUY and f.price > 0 and f.fee >= 0 for f in r.fills)

    async def test_an_order_away_from_the_price_rests_or_is_refused(
        self,
        venue: Venue,
        instrument: Instrument,
        resting_buy_price: Decimal,
        venue_capabilities: VenueCapabilities,
        settle_timeout_s: float,
    ) -> None:
        """Resting venues: it rests and is cancelled once (cancelling again changes nothing).
        Others: it is refused, or ends without a fill."""
        order = conformance_order(2, instrument, limit=resting_buy_price)
        if not venue_capabilities.resting_orders:
            try:
                r = await venue.place(order)
            except VenueRejected:
                return
            r = await settled(venue, order.client_order_id, settle_timeout_s)
            assert r.status is not VenueOrderStatus.FILLED and r.filled_quantity == 0, r
            return
        r = await venue.place(order)
        assert r.status is VenueOrderStatus.OPEN and r.filled_quantity == 0
        r = await venue.cancel(r.client_order_id)
        assert r.status is VenueOrderStatus.CANCELLED
        again = await venue.cancel(r.client_order_id)
        assert again.status is VenueOrderStatus.CANCELLED and again.filled_quantity == 0

    async def test_cancelling_a_filled_order_returns_it_filled(
        self,
        venue: Venue,
        instrument: Instrument,
        venue_capabilities: VenueCapabilities,
        settle_timeout_s: float,
    ) -> None:
        order = conformance_order(3, instrument)
        await self._filled(venue, order, venue_capabilities, settle_timeout_s)
        r = await venue.cancel(order.client_order_id)
        assert r.status is VenueOrderStatus.FILLED and r.filled_quantity == Decimal(1)

    async def test_cancelling_an_id_never_sent_is_refused(self, venue: Venue) -> None:
        with pytest.raises(VenueRejected):
            await venue.cancel(client_order_id(IntentId("conf-never-sent"), 0))

    async def test_a_client_order_id_is_never_executed_twice(
        self,
        venue: Venue,
        instrument: Instrument,
        venue_capabilities: VenueCapabilities,
        settle_timeout_s: float,
    ) -> None:
        order = conformance_order(4, instrument)
        await venue.place(order)
        with pytest.raises(VenueRejected, match="duplicate client order id"):
            await venue.place(order)
        r = (
            await venue.status(order.client_order_id)
            if venue_capabilities.fills_on_place
            else await settled(venue, order.client_order_id, settle_timeout_s)
        )
        assert r is not None and r.filled_quantity == Decimal(1)
        assert sum(f.quantity for f in r.fills) == Decimal(1)

    async def test_reconcile_reports_asked_ids_open_orders_and_unknown_ids(
        self,
        venue: Venue,
        instrument: Instrument,
        resting_buy_price: Decimal,
        venue_capabilities: VenueCapabilities,
        settle_timeout_s: float,
    ) -> None:
        if venue_capabilities.resting_orders:
            order = conformance_order(5, instrument, limit=resting_buy_price)
            await venue.place(order)
        else:
            order = conformance_order(5, instrument)
            await self._filled(venue, order, venue_capabilities, settle_timeout_s)
        ghost = client_order_id(IntentId("conf-never-sent"), 0)
        rep = await venue.reconcile([ghost, order.client_order_id])
        assert rep.venue == venue.venue_id
        assert rep.unknown == (ghost,)
        reported = {o.client_order_id: o for o in rep.orders}
        assert order.client_order_id in reported and ghost not in reported
        others = [o for c, o in reported.items() if c != order.client_order_id]
        assert all(not o.status.is_terminal for o in others), "only open orders were not asked"
        expected = (
            VenueOrderStatus.OPEN if venue_capabilities.resting_orders else VenueOrderStatus.FILLED
        )
        assert reported[order.client_order_id].status is expected
        assert await venue.status(ghost) is None
        _check_balances(rep.balances)

    async def test_amend_changes_an_open_order_or_is_refused(
        self,
        venue: Venue,
        instrument: Instrument,
        resting_buy_price: Decimal,
        venue_capabilities: VenueCapabilities,
        settle_timeout_s: float,
    ) -> None:
        """Amending venues: quantity and price change, and below-filled is refused. Others:
        every amend is refused and the order is unchanged."""
        if venue_capabilities.resting_orders:
            order = conformance_order(6, instrument, limit=resting_buy_price, quantity=Decimal(2))
            before = await venue.place(order)
        else:
            order = conformance_order(6, instrument)
            before = await self._filled(venue, order, venue_capabilities, settle_timeout_s)
        bigger = AmendOrder(
            client_order_id=order.client_order_id,
            quantity=Decimal(3),
            limit_price=resting_buy_price + 1,
        )
        if not venue_capabilities.amend:
            with pytest.raises(VenueRejected):
                await venue.amend(bigger)
            after = await venue.status(order.client_order_id)
            assert after is not None
            assert (after.quantity, after.limit_price) == (before.quantity, before.limit_price)
            return
        r = await venue.amend(bigger)
        assert (r.quantity, r.limit_price) == (Decimal(3), resting_buy_price + 1)
        with pytest.raises(VenueRejected, match="below filled"):
            await venue.amend(
                AmendOrder(
                    client_order_id=order.client_order_id, quantity=Decimal(0), limit_price=None
                )
            )

    async def test_quote_and_liquidity_describe_the_same_side(
        self, venue: Venue, instrument: Instrument
    ) -> None:
        for side in (Side.BUY, Side.SELL):
            q = await venue.quote(instrument, side, Decimal(1))
            assert (q.venue, q.instrument_id, q.side, q.quantity) == (
                venue.venue_id,
                instrument.id,
                side,
                Decimal(1),
            )
            assert q.avg_price > 0 and q.fee >= 0
            curve = await venue.liquidity(instrument, side)
            assert (curve.venue, curve.instrument_id, curve.side) == (
                venue.venue_id,
                instrument.id,
                side,
            )
            assert curve.levels and all(lv.price > 0 and lv.quantity > 0 for lv in curve.levels)
            prices = [lv.price for lv in curve.levels]
            assert prices == sorted(prices, reverse=side is Side.SELL), "levels best first"
            assert curve.taker_fee_bps >= 0 and curve.fixed_cost >= 0

    async def test_balances_are_non_negative_amounts_per_asset(self, venue: Venue) -> None:
        _check_balances(await venue.balances())

    async def test_declared_optional_abilities_answer_in_their_units(
        self, venue: Venue, instrument: Instrument
    ) -> None:
        """Each optional protocol the venue satisfies answers with a sane value."""
        if isinstance(venue, QuantityGrid):
            step = venue.quantity_step(instrument)
            assert step is None or (isinstance(step, Decimal) and step > 0), step
        if isinstance(venue, SpendableInventory):
            for side in (Side.BUY, Side.SELL):
                group, amount = await venue.spendable(instrument, side)
                assert isinstance(group, str) and group
                assert isinstance(amount, Decimal) and amount >= 0
        if isinstance(venue, SendBudget):
            budget = venue.send_timeout_s
            assert isinstance(budget, float | int) and math.isfinite(budget) and budget > 0
        if isinstance(venue, BoundedAcceptance):
            window = venue.acceptance_window_ns
            assert isinstance(window, int) and window > 0


def _check_balances(balances: Mapping[str, Decimal]) -> None:
    assert isinstance(balances, Mapping)
    for asset, amount in balances.items():
        assert isinstance(asset, str) and asset
        assert isinstance(amount, Decimal) and amount >= 0, (asset, amount)
