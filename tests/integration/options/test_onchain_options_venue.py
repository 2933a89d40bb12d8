"""The on-chain options venue on Anvil (our compiled OptionsMarket, the RFQ maker agent over
loopback HTTP): series from events, RFQ fills tracked like every on-chain order, settlement and
redeem to the wei, and bad input refused before anything is sent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from onchain_helpers import (
    approve,
    balance,
    call_of,
    erc20,
    market,
    onchain_venue,
    order,
    put_of,
    settle,
    store_at,
)

from oms_chain.devnet.options_maker import OptionsMaker
from oms_chain.devnet.options_market import set_feed_price, warp_to
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.instruments import OptionContract, OptionKind
from oms_chain.model.intent import Side
from oms_chain.testing.venue import VenueConformance
from oms_chain.venues.base import VenueOrderStatus
from oms_chain.venues.options import OnchainOptionsVenue

D = Decimal


class TestOnchainOptionsConformance(VenueConformance):
    @pytest.fixture
    async def venue(self, l1: DevnetChain, trader: DevAccount, maker: OptionsMaker, tmp_path: Path):  # type: ignore[no-untyped-def]
        async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
            yield venue

    @pytest.fixture
    def instrument(self, venue: OnchainOptionsVenue) -> OptionContract:
        return put_of(venue)

    @pytest.fixture
    def resting_buy_price(self) -> Decimal:
        return D("0.01")  # USDC per ETH of underlying: far below any put premium


async def test_series_are_discovered_from_the_markets_events(
    l1: DevnetChain, trader: DevAccount, maker: OptionsMaker, tmp_path: Path
) -> None:
    async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
        contracts = venue.instruments()
        assert len(contracts) == 36
        chain_series = {s.series_id: s for s in market(l1).all_series()}
        for c in contracts:
            s = chain_series[venue.series_id(c)]
            assert c.strike == D(s.strike).scaleb(-6)
            assert c.expiry_ns == s.expiry * 1_000_000_000
            assert (c.option_kind is OptionKind.CALL) is s.is_call
            assert c.underlying.address == s.underlying.lower() and c.quote.symbol == "USDC"
        put = put_of(venue)
        assert venue.listing(put).unit == D("0.1") and put.size_decimals == 1


async def test_buy_a_put_then_settle_and_redeem_pays_the_exact_payoff_to_the_wei(
    l1: DevnetChain,
    trader: DevAccount,
    maker: OptionsMaker,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
        put = put_of(venue)  # 3,000 strike, 0.1 WETH contracts
        sid = venue.series_id(put)
        usdc0 = balance(l1, "USDC", trader.address)
        placed = await venue.place(order(put, "put", "1"))  # 1 ETH of underlying: 10 contracts
        assert placed.status is VenueOrderStatus.OPEN and placed.settlement is not None
        filled = await settle(venue, placed.client_order_id)
        (fill,) = filled.fills
        premium_units = usdc0 - balance(l1, "USDC", trader.address)
        assert fill.quantity == D(1) and fill.price == D(premium_units).scaleb(-6)
        assert market(l1).position(trader.address, sid) == (10, 0)
        (pos,) = await venue.positions()
        assert (pos.name, pos.quantity, pos.collateral) == (str(sid), D(1), D(0))

        expiry = put.expiry_ns // 1_000_000_000
        warp_to(l1.w3, expiry + 60)
        set_feed_price(
            l1.w3, l1.book.address("OracleETHUSD"), D("2500.5"), sender=devnet_accounts[0].address
        )
        before = balance(l1, "USDC", trader.address)
        s = await venue.redeem(put)
        # (3000 - 2500.5) USDC per ETH x 0.1 ETH per contract x 10 contracts = 499.5 USDC
        assert (s.quantity, s.settlement_price, s.payoff, s.payoff_currency) == (
            D(1),
            D("2500.5"),
            D("499.5"),
            "USDC",
        )
        assert balance(l1, "USDC", trader.address) - before == 499_500_000
        assert market(l1).position(trader.address, sid) == (0, 0)
        assert await venue.positions() == []
        assert await venue.settle_series(put) is False  # settled once, by the redeem


async def _nonce(l1: DevnetChain, who: str) -> int:
    return int(l1.w3.eth.get_transaction_count(who))


async def test_bad_input_is_refused_with_a_clear_error_before_anything_is_sent(
    l1: DevnetChain, trader: DevAccount, maker: OptionsMaker, tmp_path: Path
) -> None:
    from aiohttp import web

    from oms_chain.devnet.options_market import Quote as MarketQuote
    from oms_chain.devnet.options_market import sign_quote
    from oms_chain.model.errors import VenueRejected

    async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
        put = put_of(venue)
        sid = venue.series_id(put)
        start = await _nonce(l1, trader.address)
        unknown = OptionContract(
            underlying=put.underlying,
            quote=put.quote,
            strike=D(3333),
            expiry_ns=put.expiry_ns,
            option_kind=OptionKind.PUT,
        )
        with pytest.raises(VenueRejected, match="unknown series"):
            await venue.place(order(unknown, "bad-1"))
        with pytest.raises(VenueRejected, match=r"whole number of 0\.1"):
            await venue.place(order(put, "bad-2", "0.05"))
        # insufficient collateral: writing calls needs WETH the trader does not hold
        with pytest.raises(VenueRejected, match="insufficient collateral"):
            await venue.place(
                order(
                    call_of(venue),
                    "bad-3",
                    "1",
                    side=Side.SELL,
                )
            )
        assert await _nonce(l1, trader.address) == start and venue.account.journal.entries() == {}

    # a maker whose quotes are stale or signed for another chain
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    m = market(l1)
    mk = maker.address

    def forge(deadline: int) -> MarketQuote:
        return MarketQuote(
            maker=mk,
            series_id=sid,
            maker_sells=True,
            size=10,
            premium=1_000_000,
            deadline=deadline,
            nonce=m.nonce(mk),
        )

    forged = {"stale": (forge(now - 1), m.chain_id), "chain": (forge(now + 600), 1)}
    key = maker._key  # the maker agent's devnet key
    mode = {"kind": "stale"}

    async def rfq(_: web.Request) -> web.Response:
        q, chain_id = forged[mode["kind"]]
        sig = sign_quote(q, key, chain_id=chain_id, market=m.address)
        body = {
            "quote": {
                "maker": q.maker, "taker": q.taker, "series_id": q.series_id,
                "maker_sells": q.maker_sells, "size": q.size, "premium": str(q.premium),
                "deadline": q.deadline, "nonce": q.nonce, "allow_partial": q.allow_partial,
                "salt": str(q.salt),
            },
            "signature": "0x" + sig.hex(),
        }  # fmt: skip
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/rfq", rfq)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}"
        async with onchain_venue(l1, trader.private_key, store_at(tmp_path, "b.db"), (url,)) as v:
            with pytest.raises(VenueRejected, match="expired at"):
                await v.place(order(put, "bad-4"))
            mode["kind"] = "chain"
            with pytest.raises(VenueRejected, match=r"signature does not verify .* on chain 31337"):
                await v.place(order(put, "bad-5"))
            assert v.account.journal.entries() == {}
    finally:
        await runner.cleanup()
    assert await _nonce(l1, trader.address) == start


async def test_fills_through_the_batch_executor_hold_the_position_in_it(
    l1: DevnetChain,
    maker: OptionsMaker,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    from oms_chain.model.errors import InvalidInput

    owner = devnet_accounts[0]  # the world's BatchExecutor belongs to the deployer
    executor = l1.book.address("BatchExecutor")
    tx = (
        erc20(l1, "USDC")
        .functions.transfer(executor, 10_000 * 10**6)
        .transact({"from": owner.address})
    )
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    async with onchain_venue(
        l1, owner.private_key, store_at(tmp_path), (maker.url,), executor=executor
    ) as venue:
        assert venue.holder == executor
        put = put_of(venue)
        sid = venue.series_id(put)
        before = balance(l1, "USDC", executor)
        owner_usdc = balance(l1, "USDC", owner.address)
        placed = await venue.place(order(put, "batch", "1"))
        filled = await settle(venue, placed.client_order_id)
        (fill,) = filled.fills
        paid = before - balance(l1, "USDC", executor)
        assert fill.price == D(paid).scaleb(-6) and fill.quantity == D(1)
        assert market(l1).position(executor, sid) == (10, 0)
        assert market(l1).position(owner.address, sid) == (0, 0)
        assert balance(l1, "USDC", owner.address) == owner_usdc  # the executor paid
        (pos,) = await venue.positions()
        assert pos.quantity == D(1)
        warp_to(l1.w3, put.expiry_ns // 1_000_000_000 + 60)
        set_feed_price(l1.w3, l1.book.address("OracleETHUSD"), D(2000), sender=owner.address)
        s = await venue.redeem(put)
        # (3000 - 2000) x 0.1 ETH per contract x 10 contracts = 1,000 USDC, to the executor
        assert s.payoff == D(1000)
        assert balance(l1, "USDC", executor) == before - paid + 1000 * 10**6
    with pytest.raises(InvalidInput, match="owned by"):
        async with onchain_venue(
            l1, devnet_accounts[5].private_key, store_at(tmp_path, "x.db"), (maker.url,),
            executor=executor,
        ):  # fmt: skip
            pass


async def test_writing_a_put_posts_collateral_and_withdraw_returns_it_to_the_wei(
    l1: DevnetChain,
    trader: DevAccount,
    maker: OptionsMaker,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
        put = put_of(venue)
        sid = venue.series_id(put)
        usdc0 = balance(l1, "USDC", trader.address)
        placed = await venue.place(order(put, "write", "1", side=Side.SELL))
        (fill,) = (await settle(venue, placed.client_order_id)).fills
        premium = int(fill.price * 10**6)  # USDC per ETH x 1 ETH, in base units
        # 10 contracts x 300 USDC of collateral each left the wallet, the premium came in
        assert balance(l1, "USDC", trader.address) == usdc0 - 3_000 * 10**6 + premium
        assert market(l1).position(trader.address, sid) == (0, 10)
        (pos,) = await venue.positions()
        assert (pos.quantity, pos.collateral, pos.collateral_currency) == (
            D(-1),
            D(3000),
            "USDC",
        )
        warp_to(l1.w3, put.expiry_ns // 1_000_000_000 + 60)
        set_feed_price(
            l1.w3, l1.book.address("OracleETHUSD"), D(3500), sender=devnet_accounts[0].address
        )
        s = await venue.withdraw(put)  # expired out of the money: all collateral back
        assert (s.quantity, s.payoff, s.payoff_currency) == (D(-1), D(3000), "USDC")
        assert balance(l1, "USDC", trader.address) == usdc0 + premium


async def test_cancelling_a_pending_fill_replaces_it_and_nothing_is_bought(
    l1: DevnetChain, trader: DevAccount, maker: OptionsMaker, tmp_path: Path
) -> None:
    from dataclasses import replace as with_

    approve(l1, "USDC", trader.address, l1.book.address("OptionsMarket"))
    async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
        venue._cfg = with_(venue._cfg, cancel_timeout=0.01)  # return at once; we mine below
        put = put_of(venue)
        l1.process.rpc("evm_setAutomine", [False])
        try:
            placed = await venue.place(order(put, "cancel-me"))
            pending = await venue.cancel(placed.client_order_id)
            # the replacement took the fill's place in the pool: not filled, never will be
            assert pending.status is not VenueOrderStatus.FILLED and pending.filled_quantity == 0
            l1.process.mine(1)
        finally:
            l1.process.rpc("evm_setAutomine", [True])
        final = await venue.status(placed.client_order_id)
        assert final is not None and final.status.is_terminal
        assert final.status is not VenueOrderStatus.FILLED and final.filled_quantity == 0
        entry = venue.account.journal.get(placed.client_order_id)
        assert entry is not None and entry["cancel"] is not None  # the cancellation is journaled
        assert market(l1).position(trader.address, venue.series_id(put)) == (0, 0)


async def test_a_partly_filled_or_cancelled_best_quote_is_skipped_for_the_next_one(
    l1: DevnetChain, trader: DevAccount, maker: OptionsMaker, tmp_path: Path
) -> None:
    """The cheapest quote has too little left on the market (partly filled, then cancelled):
    the venue asks the market's ``remaining`` and fills the real maker's quote instead."""
    from aiohttp import web

    from oms_chain.devnet.options_market import Quote as MarketQuote

    m = market(l1)
    mk = maker.address
    async with onchain_venue(l1, trader.private_key, store_at(tmp_path), (maker.url,)) as venue:
        put = put_of(venue)
    sid = venue.series_id(put)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    cheap = MarketQuote(
        maker=mk, series_id=sid, maker_sells=True, size=3, premium=1, deadline=now + 600,
        nonce=m.nonce(mk), salt=77,
    )  # fmt: skip
    sig = m.sign(cheap, maker._key)
    approve(l1, "USDC", trader.address, m.address)
    m.fill(cheap, sig, 2, taker=trader.address)  # 1 of 3 left: too few for 2
    assert m.remaining(cheap) == 1

    async def rfq(_: web.Request) -> web.Response:
        q = cheap
        body = {
            "quote": {
                "maker": q.maker, "taker": q.taker, "series_id": q.series_id,
                "maker_sells": q.maker_sells, "size": q.size, "premium": str(q.premium),
                "deadline": q.deadline, "nonce": q.nonce, "allow_partial": q.allow_partial,
                "salt": str(q.salt),
            },
            "signature": "0x" + sig.hex(),
        }  # fmt: skip
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/rfq", rfq)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stale = f"http://127.0.0.1:{port}"
    try:
        async with onchain_venue(
            l1, trader.private_key, store_at(tmp_path, "b.db"), (stale, maker.url)
        ) as v:
            coid = order(put, "skip-partly-filled", "0.2").client_order_id
            await v.place(order(put, "skip-partly-filled", "0.2"))
            report = await settle(v, coid)
            assert report.filled_quantity == D("0.2")
            assert m.remaining(cheap) == 1  # the cheap quote was not touched
            # cancelled by its maker: refused with the reason when it is the only quote
            tx = m.contract.functions.cancelQuote(cheap.as_tuple()).transact({"from": mk})
            assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        async with onchain_venue(l1, trader.private_key, store_at(tmp_path, "c.db"), (stale,)) as v:
            from oms_chain.model.errors import VenueRejected

            with pytest.raises(VenueRejected, match=r"has 0 of its 3 contracts left"):
                await v.place(order(put, "only-cancelled", "0.1"))
            assert v.account.journal.entries() == {}
    finally:
        await runner.cleanup()
