"""Issue #6, end to end: one parent sell of 40 ETH is split by the engine across the exchange
simulator's book and three Uniswap pools on the L1 devnet, executes, and realizes what the plan
said within the intent's slippage; the engine's positions equal what the wallet and the exchange
account actually paid and received."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from e2e_world import (
    ALL,
    CEX,
    POOLS,
    amm_venues,
    cex_balances,
    intent,
    make_engine,
    native_pair,
    sent_since,
    store_at,
    usdc,
)

from oms_chain.devnet.exchange import ExchangeSimulator
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.engine.split import RoutingSplitter
from oms_chain.model import OrderStatus, SystemClock
from oms_chain.testing.waiting import until
from oms_chain.venues.cex import CcxtVenue

BPS = Decimal(10_000)
QTY = Decimal(40)
SLIP = 50


async def test_one_sell_split_over_the_cex_and_three_pools_realizes_its_plan(
    l1: DevnetChain,
    trader: DevAccount,
    sim: ExchangeSimulator,
    cex: CcxtVenue,
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path)
    async with amm_venues(l1, trader.private_key, store) as amm:
        venues = {v.venue_id: v for v in [cex, *amm.venues] if v.venue_id in ALL}
        engine = make_engine(store, venues.values())
        await engine.start()
        try:
            pair = native_pair(amm)
            order = intent(pair, "e2e-split", SystemClock().now_ns(), quantity=QTY)
            # The plan, read at the same block and book the engine routes on (nothing moves).
            plan = await RoutingSplitter().split(order, QTY, venues)
            planned = {leg.venue: leg for leg in plan}
            assert CEX in planned and len(set(planned) & set(POOLS)) >= 2, plan

            first_block = l1.w3.eth.block_number + 1
            nonce0 = l1.w3.eth.get_transaction_count(trader.address)
            eth0, usdc0 = l1.w3.eth.get_balance(trader.address), usdc(l1, trader.address)
            weth0 = _weth(l1, trader.address)
            cex0 = cex_balances(sim)

            parent = await engine.submit(order)
            await until("the split to fill", lambda: engine.order(parent.order_id).is_terminal)
            parent = engine.order(parent.order_id)
            assert parent.status is OrderStatus.FILLED, parent.reason
            kids = [engine.order(c) for c in parent.children]

            # The children are the plan's legs: same venues and quantities, all filled.
            assert sorted((k.venue, k.quantity) for k in kids) == sorted(
                (leg.venue, leg.quantity) for leg in plan
            )
            fills = list(engine.projections.fills.values())
            assert sum((f.quantity for f in fills), Decimal(0)) == QTY
            for k in kids:
                leg = planned[k.venue]  # type: ignore[index]
                assert k.status is OrderStatus.FILLED and k.filled_quantity == k.quantity
                assert k.avg_fill_price is not None
                mine = [f for f in fills if f.order_id == k.order_id]
                # What the child realized per ETH, fees paid in USDC deducted (the plan's
                # expected price is all-in), never worse than the plan by more than the slippage.
                net = sum((f.quantity * f.price for f in mine), Decimal(0)) - sum(
                    (f.fee for f in mine if f.fee_currency == "USDC"), Decimal(0)
                )
                assert net / k.quantity >= leg.expected_price * (1 - SLIP / BPS), (k, leg)
                if k.limit_price is not None:  # swaps: the plan's min-out held on chain
                    assert k.avg_fill_price >= k.limit_price
            expected_out = sum((leg.expected_price * leg.quantity for leg in plan), Decimal(0))

            # Positions equal the balances, exactly.
            positions = {p.key.venue: p.quantity for p in engine.positions()}
            assert sum(positions.values()) == -QTY
            cex_sold = -positions.get(CEX, Decimal(0))
            cex_fills = [f for f in fills if f.venue == CEX]
            cex1 = cex_balances(sim)
            assert cex0["ETH"] - cex1["ETH"] == cex_sold > 0
            cex_got = sum((f.quantity * f.price - f.fee for f in cex_fills), Decimal(0))
            assert {f.fee_currency for f in cex_fills} == {"USDC"}
            assert cex1["USDC"] - cex0["USDC"] == cex_got

            chain_sold = QTY - cex_sold
            chain_fills = [f for f in fills if f.venue != CEX]
            sent = sent_since(l1, trader.address, first_block)
            # every transaction the wallet sent (wraps, approvals, swaps) is counted
            assert [tx["nonce"] for tx in sent] == list(
                range(nonce0, l1.w3.eth.get_transaction_count(trader.address))
            )
            gas = sum(tx["gas_paid"] for tx in sent)
            spent = eth0 - l1.w3.eth.get_balance(trader.address)
            assert spent == chain_sold * 10**18 + gas, (
                f"spent {spent} wei for {chain_sold} ETH sold + {gas} gas; WETH held "
                f"{weth0} -> {_weth(l1, trader.address)}; sent: "
                + "; ".join(
                    f"nonce {tx['nonce']} to {tx['to']} value {tx['value']} gas {tx['gas_paid']}"
                    for tx in sent
                )
            )
            assert _weth(l1, trader.address) == weth0  # the pools wrapped exactly what they sold
            got = usdc(l1, trader.address) - usdc0
            assert got == sum(
                int((f.quantity * f.price * 10**6).to_integral_value()) for f in chain_fills
            )
            realized = Decimal(got).scaleb(-6) + cex_got
            assert realized >= expected_out * (1 - SLIP / BPS)
        finally:
            await engine.stop()


def _weth(l1: DevnetChain, who: str) -> int:
    from oms_chain.devnet.deploy import ERC20_ABI

    token = l1.w3.eth.contract(address=l1.book.address("WETH"), abi=ERC20_ABI)
    return int(token.functions.balanceOf(who).call())
