"""Both options venues inside a TradingSession: an intent on an option goes through the engine
(risk gate, events, settlement) to the on-chain market (RFQ to the maker agent on Anvil) or to
the Deribit-protocol exchange (unmodified ccxt), and a series name finds its venue's contract."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from onchain_helpers import balance, market, put_of
from options_venue_config import API_KEY, SECRET

from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.deribit import DeribitSimulator
from oms_chain.devnet.options_maker import OptionsMaker
from oms_chain.devnet.options_market import set_feed_price, warp_to
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.clock import ManualClock
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.model.orders import OrderStatus
from oms_chain.risk import RiskLimits
from oms_chain.service import ChainEndpoint, ExchangeEndpoint, TradingSession
from oms_chain.venues.options import DeribitOptionsVenue, OnchainOptionsVenue

D = Decimal


def _session(
    l1: DevnetChain, key: str, tmp_path: Path, makers: tuple[str, ...], **kw: Any
) -> TradingSession:
    chain = ChainEndpoint(
        chain_id=l1.chain_id, rpc_url=l1.rpc_url, book=l1.book, option_makers=makers
    )
    return TradingSession(
        store_url=f"sqlite:///{tmp_path / 'oms.db'}",
        chains=[chain],
        signer=LocalSigner(key),
        poll_interval=0.05,
        **kw,
    )


def _onchain(s: TradingSession, l1: DevnetChain) -> OnchainOptionsVenue:
    venue = s.venues()[f"options-{l1.chain_id}"]
    assert isinstance(venue, OnchainOptionsVenue)
    return venue


async def test_a_put_bought_through_the_engine_on_chain_settles_to_the_exact_payoff(
    l1: DevnetChain,
    trader: DevAccount,
    maker: OptionsMaker,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    async with _session(l1, trader.private_key, tmp_path, (maker.url,)) as s:
        venue = _onchain(s, l1)
        vid = str(venue.venue_id)
        put = put_of(venue)  # 3,000 strike, 0.1 WETH contracts
        name = put.symbol.replace("WETH-", "ETH-")
        assert s.option(name) == (put, vid)
        assert s.option(str(venue.series_id(put))) == (put, vid)
        assert s.venues_for(put) == [vid]
        usdc0 = balance(l1, "USDC", trader.address)
        parent = await s.submit(s.intent(put, "buy", D("1"), venues=[vid]))
        parent = await s.wait(parent.order_id, timeout=60)
        assert parent.status is OrderStatus.FILLED and parent.filled_quantity == D("1")
        paid = usdc0 - balance(l1, "USDC", trader.address)
        assert paid > 0 and parent.avg_fill_price == D(paid).scaleb(-6)  # 1 ETH of underlying
        kinds = {r.event_type for r in s.store.read_all()}
        assert {"OrderAccepted", "OrderSubmitted", "FillRecorded", "SettlementUpdated"} <= kinds
        # expiry: the feed moves to 2,750; the put pays (3,000 - 2,750) x 1 ETH to the wei
        sid = venue.series_id(put)
        expiry = market(l1).series(sid).expiry
        warp_to(l1.w3, expiry + 5)
        owner = devnet_accounts[0].address
        set_feed_price(l1.w3, market(l1).series(sid).feed, D(2750), sender=owner)
        before = balance(l1, "USDC", trader.address)
        settled = await venue.redeem(put)
        assert settled.payoff == D(250) and settled.settlement_price == D(2750)
        assert balance(l1, "USDC", trader.address) - before == 250 * 10**6


async def test_an_option_limit_above_every_quote_is_refused_by_the_engine_before_sending(
    l1: DevnetChain, trader: DevAccount, maker: OptionsMaker, tmp_path: Path
) -> None:
    limits = RiskLimits(max_order_notional=D("1"))
    async with _session(l1, trader.private_key, tmp_path, (maker.url,), risk_limits=limits) as s:
        put, vid = s.option("ETH-" + put_of(_onchain(s, l1)).symbol[5:])
        usdc0 = balance(l1, "USDC", trader.address)
        parent = await s.submit(s.intent(put, "buy", D("1"), venues=[vid], limit_price=D(500)))
        assert parent.status is OrderStatus.REJECTED and "notional" in (parent.reason or "")
        assert balance(l1, "USDC", trader.address) == usdc0
        with pytest.raises(InvalidInput, match="no options venue lists"):
            s.option("ETH-01JAN27-1234-P")
        with pytest.raises(InvalidInput, match="not a name like"):
            s.option("ETH/USDC")


async def test_a_put_bought_through_the_engine_on_the_deribit_protocol_exchange_settles_exactly(
    l1: DevnetChain,
    trader: DevAccount,
    sim: DeribitSimulator,
    sim_clock: ManualClock,
    tmp_path: Path,
) -> None:
    deribit = ExchangeEndpoint(
        exchange="deribit", venue_id="deribit", api_key=API_KEY, secret=SECRET, rest_url=sim.url
    )
    session = _session(
        l1, trader.private_key, tmp_path, (), options_exchange=deribit, clock=sim_clock
    )
    async with session as s:
        venue = s.venues()["deribit"]
        assert isinstance(venue, DeribitOptionsVenue)
        put = min(
            (c for c in venue.instruments() if isinstance(c, OptionContract)),
            key=lambda c: (c.option_kind is not OptionKind.PUT, c.expiry_ns, abs(c.strike - 3000)),
        )
        assert s.option(put.symbol) == (put, "deribit")
        parent = await s.submit(
            s.intent(put, "buy", D(2), venues=["deribit"], limit_price=D("0.05"))
        )
        parent = await s.wait(parent.order_id, timeout=60)
        assert parent.status is OrderStatus.FILLED and parent.filled_quantity == D(2)
        positions = await venue.positions()
        assert [(p.name, p.quantity) for p in positions] == [(venue.venue_name(put), D(2))]
        # expiry: delivered at 2,500 USD the put pays (strike - 2,500) / 2,500 ETH per contract
        sim_clock.set(put.expiry_ns + 1_000_000_000)
        assert sim.settle_expired({"ETH": D(2500)}) != []
        (settled,) = await venue.settlements()
        per_contract = max(put.strike - D(2500), D(0)) / D(2500)
        assert (settled.quantity, settled.settlement_price, settled.payoff) == (
            D(2),
            D(2500),
            per_contract * 2,
        )
        assert await venue.positions() == []
