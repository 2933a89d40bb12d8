"""Uniswap V2 / V3 venues against the real routers on Anvil: sells and buys, single pool and
multi-hop, amounts equal to QuoterV2 / getAmountsOut at that block, router reverts, approvals,
WETH wrapping, concurrent orders on one signer, and the shared Venue contract.

The helpers at the top are reused by tests/faults/test_amm_venue_faults.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from amm_chain_helpers import contract, encode_path, erc20, transact

from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model import Side, VenueRejected, client_order_id
from oms_chain.model.instruments import SpotPair
from oms_chain.model.orders import SettlementStatus
from oms_chain.store import open_store
from oms_chain.store.base import EventStore
from oms_chain.venues import OrderStatusReport, PlaceOrder, VenueOrderStatus
from oms_chain.venues.amm.factory import UniswapVenues, uniswap_venues
from oms_chain.venues.amm.venue import AmmVenueConfig

V2 = "uniswap-v2-{}"
V3_500 = "uniswap-v3-500-{}"
V3_3000 = "uniswap-v3-3000-{}"
FILLED = VenueOrderStatus.FILLED


# -- helpers (also used by the fault tests) ------------------------------------------------------


class CountingSigner(LocalSigner):
    """A local signer that counts what it signs (restart tests: nothing is signed twice)."""

    signed = 0

    async def sign_transaction(self, tx: dict[str, Any]) -> Any:
        CountingSigner.signed += 1
        return await super().sign_transaction(tx)


@asynccontextmanager
async def devnet_venues(
    chain: DevnetChain,
    private_key: str,
    store: EventStore,
    *,
    signer: LocalSigner | None = None,
    **kw: Any,
) -> AsyncIterator[UniswapVenues]:
    """The chain's Uniswap venues for one key; no background polling (the tests poll)."""
    venues = uniswap_venues(
        chain.chain_id,
        chain.rpc_url,
        signer or LocalSigner(private_key),
        store,
        book=chain.book,
        **kw,
    )
    try:
        yield venues
    finally:
        await venues.close()


def store_at(tmp_path: Path, name: str = "oms.db") -> EventStore:
    return open_store(f"sqlite:///{tmp_path / name}")


def instrument(venues: UniswapVenues, venue_id: str, symbol: str) -> SpotPair:
    found = [i for i in venues.venue(venue_id).instruments() if i.symbol == symbol]
    assert found, [i.symbol for i in venues.venue(venue_id).instruments()]
    return found[0]


def order(
    inst: SpotPair, side: Side, qty: str, n: int | str = 1, *, limit: str | None = None, **kw: Any
) -> PlaceOrder:
    return PlaceOrder(
        client_order_id=client_order_id(f"amm-{n}", 0),
        instrument=inst,
        side=side,
        quantity=Decimal(qty),
        limit_price=None if limit is None else Decimal(limit),
        **kw,
    )


async def settle(
    venues: UniswapVenues,
    venue_id: str,
    coid: Any,
    status: VenueOrderStatus = FILLED,
    seconds: float = 15.0,
) -> OrderStatusReport:
    """Poll until the order's report has ``status``."""
    venue = venues.venue(venue_id)
    last = None
    for _ in range(int(seconds / 0.05)):
        last = await venue.status(coid)
        if last is not None and last.status is status:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{coid} did not reach {status}: {last}")


def balance(chain: DevnetChain, symbol: str, who: str) -> int:
    return int(erc20(chain, symbol).functions.balanceOf(who).call())


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def trader(devnet_accounts: tuple[DevAccount, ...]) -> DevAccount:
    return devnet_accounts[6]


# -- sells and buys --------------------------------------------------------------------------


async def test_v3_sell_is_exact_input_and_receives_the_quoter_amount(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_3000.format(chain.chain_id)
        inst = instrument(venues, vid, "WBTC/USDC")
        amount = 10**7  # 0.1 WBTC
        quoter = contract(chain, "QuoterV2")
        quoted = quoter.functions.quoteExactInputSingle(
            (chain.book.address("WBTC"), chain.book.address("USDC"), amount, 3000, 0)
        ).call()[0]
        before = balance(chain, "USDC", trader.address)
        placed = await venues.venue(vid).place(order(inst, Side.SELL, "0.1"))
        assert placed.status is VenueOrderStatus.OPEN
        assert placed.settlement is not None
        assert placed.settlement.status is SettlementStatus.SUBMITTED
        assert placed.venue_order_id == placed.settlement.tx_hash
        done = await settle(venues, vid, placed.client_order_id)
        (fill,) = done.fills
        assert fill.quantity == Decimal("0.1") == done.filled_quantity
        assert fill.price * fill.quantity == Decimal(quoted).scaleb(-6)
        assert balance(chain, "USDC", trader.address) - before == quoted
        receipt = chain.w3.eth.get_transaction_receipt(placed.venue_order_id)
        assert fill.trade_id == f"{placed.venue_order_id}@{receipt['blockHash'].to_0x_hex()}"
        assert fill.fee == Decimal(receipt["gasUsed"] * receipt["effectiveGasPrice"]).scaleb(-18)
        assert fill.fee_currency == "ETH"


async def test_v3_buy_is_exact_output_and_pays_the_quoter_amount(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_500.format(chain.chain_id)
        inst = instrument(venues, vid, "WETH/USDC")
        quoted_in = (
            contract(chain, "QuoterV2")
            .functions.quoteExactOutputSingle(
                (chain.book.address("USDC"), chain.book.address("WETH"), 2 * 10**18, 500, 0)
            )
            .call()[0]
        )
        before = balance(chain, "USDC", trader.address)
        placed = await venues.venue(vid).place(order(inst, Side.BUY, "2"))
        (fill,) = (await settle(venues, vid, placed.client_order_id)).fills
        assert fill.quantity == Decimal(2)
        assert fill.price * 2 == Decimal(quoted_in).scaleb(-6)
        assert before - balance(chain, "USDC", trader.address) == quoted_in
        assert balance(chain, "WETH", trader.address) == 2 * 10**18


async def test_v2_sell_and_buy_match_router_quotes(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V2.format(chain.chain_id)
        inst = instrument(venues, vid, "DAI/USDC")
        router = contract(chain, "UniswapV2Router02")
        dai, usdc = chain.book.address("DAI"), chain.book.address("USDC")
        out = router.functions.getAmountsOut(1000 * 10**18, [dai, usdc]).call()[-1]
        sold = await venues.venue(vid).place(order(inst, Side.SELL, "1000", 1))
        (fill,) = (await settle(venues, vid, sold.client_order_id)).fills
        assert fill.price * fill.quantity == Decimal(out).scaleb(-6)
        need = router.functions.getAmountsIn(500 * 10**18, [usdc, dai]).call()[0]
        before = balance(chain, "USDC", trader.address)
        bought = await venues.venue(vid).place(order(inst, Side.BUY, "500", 2))
        (fill,) = (await settle(venues, vid, bought.client_order_id)).fills
        assert fill.quantity == Decimal(500)
        assert before - balance(chain, "USDC", trader.address) == need


async def test_v2_multi_hop_sell_matches_get_amounts_out(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        vid = V2.format(31337)
        inst = instrument(venues, vid, "WBTC/USDC")  # WBTC -> WETH -> USDC, no direct V2 pair
        path = [l1.book.address(s) for s in ("WBTC", "WETH", "USDC")]
        out = contract(l1, "UniswapV2Router02").functions.getAmountsOut(10**7, path).call()[-1]
        before = balance(l1, "USDC", trader.address)
        placed = await venues.venue(vid).place(order(inst, Side.SELL, "0.1"))
        await settle(venues, vid, placed.client_order_id)
        assert balance(l1, "USDC", trader.address) - before == out


async def test_v3_multi_hop_buy_matches_quote_exact_output(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_500.format(chain.chain_id)
        inst = instrument(venues, vid, "WETH/DAI")  # DAI -> USDC -> WETH in the 0.05 % tier
        tokens = [chain.book.address(s) for s in ("WETH", "USDC", "DAI")]
        path = encode_path(tokens, [500, 500])  # exact output: from the output back
        need = contract(chain, "QuoterV2").functions.quoteExactOutput(path, 10**18).call()[0]
        before = balance(chain, "DAI", trader.address)
        placed = await venues.venue(vid).place(order(inst, Side.BUY, "1"))
        (fill,) = (await settle(venues, vid, placed.client_order_id)).fills
        assert before - balance(chain, "DAI", trader.address) == need
        assert fill.quantity == 1 and fill.price == Decimal(need).scaleb(-18)


# -- guards, approvals, WETH ---------------------------------------------------------------------


async def test_a_min_out_violation_is_rejected_with_the_router_reason_and_changes_nothing(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_3000.format(chain.chain_id)
        inst = instrument(venues, vid, "WBTC/USDC")
        before = (balance(chain, "WBTC", trader.address), balance(chain, "USDC", trader.address))
        bad = order(inst, Side.SELL, "0.1", limit="90000")  # pool is at 60,000
        with pytest.raises(VenueRejected, match="Too little received"):
            await venues.venue(vid).place(bad)
        assert await venues.venue(vid).status(bad.client_order_id) is None
        after = (balance(chain, "WBTC", trader.address), balance(chain, "USDC", trader.address))
        assert after == before
        v2 = V2.format(chain.chain_id)
        with pytest.raises(VenueRejected, match="INSUFFICIENT_OUTPUT_AMOUNT"):
            await venues.venue(v2).place(
                order(instrument(venues, v2, "DAI/USDC"), Side.SELL, "10", 2, limit="1.5")
            )


async def test_approvals_are_exact_and_a_sufficient_allowance_is_reused(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_3000.format(31337)
        venue = venues.venue(vid)
        inst = instrument(venues, vid, "WBTC/USDC")
        wbtc = erc20(l1, "WBTC")
        nonce0 = l1.w3.eth.get_transaction_count(trader.address)
        first = await venue.place(order(inst, Side.SELL, "0.01", 1))
        await settle(venues, vid, first.client_order_id)
        # one exact approval + the swap; the swap spent the allowance to zero
        assert l1.w3.eth.get_transaction_count(trader.address) == nonce0 + 2
        assert wbtc.functions.allowance(trader.address, venue.router).call() == 0
        transact(l1, wbtc.functions.approve(venue.router, 10**8), trader.address)
        nonce1 = l1.w3.eth.get_transaction_count(trader.address)
        second = await venue.place(order(inst, Side.SELL, "0.02", 2))
        await settle(venues, vid, second.client_order_id)
        assert l1.w3.eth.get_transaction_count(trader.address) == nonce1 + 1  # no approval
        assert wbtc.functions.allowance(trader.address, venue.router).call() == 10**8 - 2 * 10**6


async def test_unlimited_approvals_are_configurable(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    from oms_chain.venues.amm.approvals import MAX_UINT256, ApprovalPolicy

    async with devnet_venues(
        l1, trader.private_key, store_at(tmp_path), approvals=ApprovalPolicy(unlimited=True)
    ) as venues:
        vid = V3_3000.format(31337)
        placed = await venues.venue(vid).place(
            order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.01")
        )
        await settle(venues, vid, placed.client_order_id)
        allowed = erc20(l1, "WBTC").functions.allowance(trader.address, venues.venue(vid).router)
        assert allowed.call() == MAX_UINT256


async def test_a_reset_approval_token_is_set_to_zero_before_a_new_allowance(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.devnet.solidity import build_contracts, load_artifact
    from oms_chain.venues.amm.approvals import ApprovalPolicy, ensure_allowance

    build_contracts()
    art = load_artifact("ResetApprovalToken")
    factory = l1.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    deployed = l1.w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": trader.address})
    )
    token = l1.w3.eth.contract(address=deployed["contractAddress"], abi=art["abi"])
    spender = l1.book.address("SwapRouter")
    transact(l1, token.functions.approve(spender, 5), trader.address)
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        sender, rpc = venues.account.sender, venues.account.rpc
        assert isinstance(rpc, RpcClient)
        # unknown to the policy: the reverting simulation teaches it (approve 0, then approve)
        sent = await ensure_allowance(sender, rpc, token.address, spender, 100)
        assert len(sent) == 2
        assert token.functions.allowance(trader.address, spender).call() == 100
        assert await ensure_allowance(sender, rpc, token.address, spender, 100) == ()
        # known to the policy: reset first without trying
        policy = ApprovalPolicy(reset_tokens=frozenset({token.address}))
        sent = await ensure_allowance(sender, rpc, token.address, spender, 300, policy)
        assert len(sent) == 2
        assert token.functions.allowance(trader.address, spender).call() == 300


async def test_selling_native_eth_wraps_it_first(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_500.format(chain.chain_id)
        inst = instrument(venues, vid, "ETH/USDC")
        assert inst.base.is_native
        quoted = (
            contract(chain, "QuoterV2")
            .functions.quoteExactInputSingle(
                (chain.book.address("WETH"), chain.book.address("USDC"), 10**18, 500, 0)
            )
            .call()[0]
        )
        eth_before = chain.w3.eth.get_balance(trader.address)
        placed = await venues.venue(vid).place(order(inst, Side.SELL, "1"))
        (fill,) = (await settle(venues, vid, placed.client_order_id)).fills
        assert fill.price == Decimal(quoted).scaleb(-6)
        assert balance(chain, "WETH", trader.address) == 0  # wrapped exactly what it sold
        assert eth_before - chain.w3.eth.get_balance(trader.address) > 10**18


async def test_buying_native_eth_unwraps_it_when_configured(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(
        l1, trader.private_key, store_at(tmp_path), config=AmmVenueConfig(unwrap_native=True)
    ) as venues:
        vid = V3_500.format(31337)
        inst = instrument(venues, vid, "ETH/USDC")
        eth_before = l1.w3.eth.get_balance(trader.address)
        placed = await venues.venue(vid).place(order(inst, Side.BUY, "1"))
        await settle(venues, vid, placed.client_order_id)
        await venues.venue(vid).close()  # waits for the unwrap
        assert balance(l1, "WETH", trader.address) == 0
        assert l1.w3.eth.get_balance(trader.address) - eth_before > Decimal("0.99") * 10**18


# -- one signer, several venues ------------------------------------------------------------------


async def test_two_concurrent_orders_on_one_signer_across_two_venues_both_fill(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        v2, v3 = V2.format(chain.chain_id), V3_3000.format(chain.chain_id)
        a = order(instrument(venues, v2, "DAI/USDC"), Side.SELL, "100", 1)
        b = order(instrument(venues, v3, "WBTC/USDC"), Side.SELL, "0.01", 2)
        ra, rb = await asyncio.gather(venues.venue(v2).place(a), venues.venue(v3).place(b))
        fa = await settle(venues, v2, a.client_order_id)
        fb = await settle(venues, v3, b.client_order_id)
        assert fa.status is fb.status is FILLED
        nonces = {chain.w3.eth.get_transaction(r.venue_order_id)["nonce"] for r in (ra, rb)}
        assert len(nonces) == 2


async def test_concurrent_orders_through_one_router_and_token_keep_their_exact_allowances(
    chain: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    """Two fee tiers share SwapRouter and spend USDC: the second approval covers both swaps."""
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        lo, hi = V3_500.format(chain.chain_id), V3_3000.format(chain.chain_id)
        a = order(instrument(venues, lo, "WETH/USDC"), Side.BUY, "1", 1)
        b = order(instrument(venues, hi, "WETH/USDC"), Side.BUY, "2", 2)
        await asyncio.gather(venues.venue(lo).place(a), venues.venue(hi).place(b))
        await settle(venues, lo, a.client_order_id)
        await settle(venues, hi, b.client_order_id)
        assert balance(chain, "WETH", trader.address) == 3 * 10**18


async def test_place_with_a_known_client_order_id_never_signs_again(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    signer = CountingSigner(trader.private_key)
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path), signer=signer) as venues:
        vid = V3_3000.format(31337)
        o = order(instrument(venues, vid, "WBTC/USDC"), Side.SELL, "0.01")
        await venues.venue(vid).place(o)
        signed = CountingSigner.signed
        with pytest.raises(VenueRejected, match="duplicate client order id"):
            await venues.venue(vid).place(o)
        with pytest.raises(VenueRejected, match="duplicate client order id"):
            await venues.venue(V2.format(31337)).place(o)  # the journal is per signer
        assert CountingSigner.signed == signed


async def test_amend_is_refused_with_advice_and_quotes_come_from_the_exact_math(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    from oms_chain.venues import AmendOrder

    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        vid = V3_500.format(31337)
        venue = venues.venue(vid)
        inst = instrument(venues, vid, "WETH/USDC")
        with pytest.raises(VenueRejected, match="do not rest"):
            await venue.amend(
                AmendOrder(
                    client_order_id=client_order_id("x", 0), quantity=Decimal(1), limit_price=None
                )
            )
        quoted = (
            contract(l1, "QuoterV2")
            .functions.quoteExactInputSingle(
                (l1.book.address("WETH"), l1.book.address("USDC"), 10**18, 500, 0)
            )
            .call()[0]
        )
        q = await venue.quote(inst, Side.SELL, Decimal(1))
        assert q.avg_price == Decimal(quoted).scaleb(-6)
        curve = await venue.liquidity(inst, Side.BUY)
        prices = [lv.price for lv in curve.levels]
        assert prices == sorted(prices) and 2900 < prices[0] < 3100
        assert curve.fixed_cost > 0
        bids = await venue.liquidity(inst, Side.SELL)
        assert bids.levels[0].price < prices[0]
        bal = await venue.balances()
        assert bal["USDC"] > 0 and bal["ETH"] > 0


def test_the_devnet_venues_route_direct_two_hop_and_native_pairs(l1: DevnetChain) -> None:
    from oms_chain.venues.amm.factory import book_routes

    def symbols(protocol: str, fee: int | None = None) -> dict[str, int]:
        routes = book_routes(l1.book, protocol, fee)
        return {i.symbol: len(pools) for i, pools in routes.items() if isinstance(i, SpotPair)}

    v2 = symbols("uniswap-v2")
    assert v2["WETH/USDC"] == v2["ETH/USDC"] == v2["DAI/USDC"] == v2["WBTC/WETH"] == 1
    assert v2["WBTC/USDC"] == 2  # via WETH
    v3 = symbols("uniswap-v3", 500)
    assert v3 == {"WETH/USDC": 1, "ETH/USDC": 1, "DAI/USDC": 1, "WETH/DAI": 2, "ETH/DAI": 2}
    for inst, pools in book_routes(l1.book, "uniswap-v2").items():
        first = next(p for p in l1.book.pools if p.address == pools[0])
        base = l1.book.address("WETH") if inst.base.is_native else inst.base.address
        assert base is not None and base.lower() in {first.token0.lower(), first.token1.lower()}


# -- quoting from the followed pools ------------------------------------------------------------


def _quoter_out(chain: DevnetChain, amount: int) -> int:
    return int(
        contract(chain, "QuoterV2")
        .functions.quoteExactInputSingle(
            (chain.book.address("WBTC"), chain.book.address("USDC"), amount, 3000, 0)
        )
        .call()[0]
    )


async def test_a_quote_reads_the_followed_pools_in_a_bounded_number_of_rpc_calls(
    chain: DevnetChain,
    trader: DevAccount,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    vid = V3_3000.format(chain.chain_id)
    async with devnet_venues(chain, trader.private_key, store_at(tmp_path)) as venues:
        venue = venues.venue(vid)
        inst = instrument(venues, vid, "WBTC/USDC")
        rpc = venues.account.rpc
        await venue.quote(inst, Side.SELL, Decimal("0.1"))  # starts the follower: one full load
        assert venue.pool_follower is not None and venue.pool_follower.running
        per_quote = []
        for _ in range(5):
            before = sum(rpc.calls.values())
            quoted = await venue.quote(inst, Side.SELL, Decimal("0.1"))
            per_quote.append(sum(rpc.calls.values()) - before)
        # the follower's head check, its round, the gas price (and at most a poll or two)
        assert max(per_quote) <= 8, per_quote
        assert quoted.avg_price * Decimal("0.1") == Decimal(_quoter_out(chain, 10**7)).scaleb(-6)

        # Another account moves the pool: the next quote is at the new head, exactly.
        other = devnet_accounts[8].address
        router = contract(chain, "SwapRouter")
        transact(chain, erc20(chain, "USDC").functions.approve(router.address, 2**256 - 1), other)
        usdc, wbtc = chain.book.address("USDC"), chain.book.address("WBTC")
        params = (usdc, wbtc, 3000, other, 2**32 - 1, 50_000 * 10**6, 0, 0)
        transact(chain, router.functions.exactInputSingle(params), other)
        moved = await venue.quote(inst, Side.SELL, Decimal("0.1"))
        assert moved.avg_price != quoted.avg_price
        assert moved.avg_price * Decimal("0.1") == Decimal(_quoter_out(chain, 10**7)).scaleb(-6)

    config = AmmVenueConfig(follow_pools=False)
    async with devnet_venues(
        chain, trader.private_key, store_at(tmp_path, "b.db"), config=config
    ) as venues:
        venue = venues.venue(vid)
        rpc = venues.account.rpc
        before = sum(rpc.calls.values())
        reloaded = await venue.quote(inst, Side.SELL, Decimal("0.1"))
        assert venue.pool_follower is None
        assert sum(rpc.calls.values()) - before > 100  # the whole bitmap, every quote
        assert reloaded.avg_price == moved.avg_price


async def test_a_quotes_gas_fee_grows_with_the_ticks_and_words_its_swap_sweeps_like_the_quoter(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    from oms_chain.venues.amm.quotes import V3_GAS

    vid = V3_500.format(l1.chain_id)
    weth, usdc = l1.book.address("WETH"), l1.book.address("USDC")
    quoter = contract(l1, "QuoterV2")
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        venue = venues.venue(vid)
        inst = instrument(venues, vid, "WETH/USDC")
        small = await venue.quote(inst, Side.SELL, Decimal("1"))
        big = await venue.quote(inst, Side.SELL, Decimal("10000"))
    gas = [
        V3_GAS.router
        + quoter.functions.quoteExactInputSingle((weth, usdc, amount, 500, 0)).call()[3]
        for amount in (10**18, 10_000 * 10**18)
    ]
    assert gas[1] > 2 * gas[0]  # tens of bitmap words and an initialized tick
    assert float(big.fee / small.fee) == pytest.approx(gas[1] / gas[0], rel=0.1)


async def test_a_stopped_pool_follower_is_set_aside_and_quotes_load_the_pools_instead(
    l1: DevnetChain, trader: DevAccount, tmp_path: Path
) -> None:
    vid = V3_3000.format(l1.chain_id)
    async with devnet_venues(l1, trader.private_key, store_at(tmp_path)) as venues:
        venue = venues.venue(vid)
        inst = instrument(venues, vid, "WBTC/USDC")
        first = await venue.quote(inst, Side.SELL, Decimal("0.1"))
        follower = venue.pool_follower
        assert follower is not None
        await follower.close()  # e.g. its loop died
        rpc = venues.account.rpc
        before = rpc.calls["eth_call"]
        again = await venue.quote(inst, Side.SELL, Decimal("0.1"))
        assert again.avg_price == first.avg_price
        assert again.avg_price * Decimal("0.1") == Decimal(_quoter_out(l1, 10**7)).scaleb(-6)
        assert rpc.calls["eth_call"] - before > 100  # loaded afresh: the whole bitmap
        assert venue.pool_follower is None
