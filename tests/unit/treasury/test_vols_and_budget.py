"""Market vols from the makers' quotes (an SVI surface from five strikes of an expiry, a
quote's own implied vol below that, the flat policy vol when nothing is quoted), and the
premium budget after a reorg (an execution recorded twice is paid once)."""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
from test_policy import GOOD

from oms_chain.model.assets import Asset
from oms_chain.model.errors import VenueRejected
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.model.intent import Side
from oms_chain.risk.pricing import bsm_price
from oms_chain.store import NewEvent, open_store
from oms_chain.treasury import TreasuryPolicy
from oms_chain.treasury.desk import budget_spent
from oms_chain.treasury.vols import market_marks
from oms_chain.venues.options.onchain import SeriesListing

NS = 1_000_000_000
NOW = 1_796_288_400 * NS
DAY = 86_400 * NS
WETH = Asset.erc20(31337, "0x" + "11" * 20, "WETH", 18)
USDC = Asset.erc20(31337, "0x" + "22" * 20, "USDC", 6)
VOL = 0.7
SPOT = Decimal(3000)


def _listing(sid: int, strike: int, days: int) -> SeriesListing:
    contract = OptionContract(
        underlying=WETH, quote=USDC, strike=Decimal(strike), expiry_ns=NOW + days * DAY,
        option_kind=OptionKind.PUT,
    )  # fmt: skip
    return SeriesListing(
        series_id=sid, contract=contract, contract_size=10**17,
        collateral_per_contract=strike * 10**5, collateral_token=USDC.address,
        feed="0x" + "33" * 20, underlying=WETH.address, quote=USDC.address,
    )  # fmt: skip


@dataclass
class _Book:
    series: list[SeriesListing]
    refuse: bool = False

    def listings(self) -> list[SeriesListing]:
        return self.series

    async def holdings(self) -> list[Any]:
        return []

    async def quote(self, listing: SeriesListing, side: Side, contracts: int) -> Any:
        if self.refuse:
            raise VenueRejected("no maker quotes")
        c = listing.contract
        t = (c.expiry_ns - NOW) / (365 * DAY)
        price = float(bsm_price(False, float(SPOT), float(c.strike), t, 0.0, 0.0, VOL))
        price *= 1.01 if side is Side.BUY else 0.99
        return SimpleNamespace(premium=int(price * 0.1 * 10**6))  # per 0.1 WETH contract


def _policy() -> TreasuryPolicy:
    return TreasuryPolicy.from_mapping(tomllib.loads(GOOD))


def test_five_strikes_of_an_expiry_give_an_svi_surface_near_the_quoted_vol() -> None:
    book = _Book([_listing(i, k, 14) for i, k in enumerate((2400, 2700, 3000, 3300, 3600))])
    marks = asyncio.run(market_marks(book, _policy(), SPOT, NOW))  # type: ignore[arg-type]
    assert "SVI surface fitted to 5 quotes" in marks.source and not marks.by_contract
    got = marks.surfaces["WETH"].implied_vol(np.array([2800.0]), np.array([14 / 365]))
    assert abs(float(got[0]) - VOL) < 0.02
    assert marks.vol_of(book.series[0].contract) is None  # the surface prices it


def test_fewer_strikes_get_their_own_implied_vol_and_no_quote_the_flat_vol() -> None:
    book = _Book([_listing(1, 2900, 7), _listing(2, 3100, 7)])
    marks = asyncio.run(market_marks(book, _policy(), SPOT, NOW))  # type: ignore[arg-type]
    assert "implied vols of 2 quoted series" in marks.source and not marks.surfaces
    for s in book.series:
        assert abs(marks.vol_of(s.contract) - Decimal(str(VOL))) < Decimal("0.01")  # type: ignore[operator]
    refused = asyncio.run(market_marks(_Book(book.series, refuse=True), _policy(), SPOT, NOW))  # type: ignore[arg-type]
    assert refused.source == "flat instruments.vol"
    assert refused.vol_of(book.series[0].contract) == _policy().instruments.vol


def test_a_reorged_execution_recorded_again_spends_its_premium_once() -> None:
    store = open_store("sqlite:///:memory:")

    def add(n: int, kind: str, payload: dict[str, Any]) -> None:
        event = NewEvent(
            event_id=f"r:{n}", event_type=kind, version=1, payload=payload,
            ts_event=NOW + n, ts_init=NOW + n, correlation_id="treasury-r",
        )  # fmt: skip
        store.append("treasury-r", [event], None)

    executed = {"proposal_id": "r-p0", "premium_usd": "1200.50", "success": True}
    add(1, "ProposalExecuted", executed)
    assert budget_spent(store, NOW + 10, 7) == Decimal("1200.50")
    add(2, "ProposalReorged", {"proposal_id": "r-p0"})
    assert budget_spent(store, NOW + 10, 7) == 0
    add(3, "ProposalExecuted", executed)
    assert budget_spent(store, NOW + 10, 7) == Decimal("1200.50")
    store.close()
