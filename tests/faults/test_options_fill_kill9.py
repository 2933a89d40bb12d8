"""A kill -9 between sending an option fill and seeing its receipt: after a restart the fill is
found in the journal, lands once, is recorded once, and its client order id is never sent
again."""

from __future__ import annotations

import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "options"))

from kill9_harness import kill_when_ready
from onchain_helpers import approve, balance, market, onchain_venue, order, settle, store_at

from oms_chain.devnet.options_maker import OptionsMaker, OptionsMakerThread
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.amm_orders import AmmOrderState
from oms_chain.model.errors import VenueRejected
from oms_chain.model.ids import ClientOrderId

WORKER = Path(__file__).with_name("_options_fill_worker.py")


async def test_a_kill_9_after_sending_a_fill_records_it_once_and_never_sends_it_twice(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
) -> None:
    trader, maker_account = devnet_accounts[7], devnet_accounts[3]
    m = market(l1)
    agent = OptionsMaker(m, maker_account.private_key)
    agent.prepare()
    maker = OptionsMakerThread(agent).start()
    approve(l1, "USDC", trader.address, m.address)  # so the worker sends nothing but the fill
    put = min(
        (s for s in m.all_series() if not s.is_call and s.strike == 3000 * 10**6),
        key=lambda s: s.expiry,
    )
    cfg = {
        "rpc_url": l1.rpc_url,
        "chain_id": l1.chain_id,
        "market": m.address,
        "maker": maker.url,
        "key": trader.private_key,
        "series_id": put.series_id,
    }
    usdc0 = balance(l1, "USDC", trader.address)
    l1.process.rpc("evm_setAutomine", [False])
    try:
        ready = kill_when_ready(WORKER, tmp_path, cfg, seconds=90.0)
        coid, tx = ClientOrderId(ready["coid"]), ready["tx"]
        assert ready["journal"] == [coid]
        assert m.position(trader.address, put.series_id) == (0, 0)  # not mined when killed

        store = store_at(tmp_path)
        async with onchain_venue(l1, trader.private_key, store, (maker.url,)) as venue:
            account = venue.account
            assert list(account.journal.entries()) == [coid]
            assert account.journal.state(coid) is AmmOrderState.PENDING
            assert account.tracker.open == [tx]
            with pytest.raises(VenueRejected, match="duplicate client order id"):
                await venue.place(
                    replace(order(venue.contract(put.series_id), "x"), client_order_id=coid)
                )
            l1.process.mine(1)
            landed = await settle(venue, coid)
            (fill,) = landed.fills
            assert fill.quantity == Decimal(1) and landed.venue_order_id == tx
            again = await venue.reconcile([coid])
            # recorded once: the same single fill, whoever asks
            assert [[f.trade_id for f in o.fills] for o in again.orders] == [[fill.trade_id]]
        store.close()
    finally:
        l1.process.rpc("evm_setAutomine", [True])
        maker.stop()
    assert m.position(trader.address, put.series_id) == (10, 0)  # exactly one fill
    logs = l1.w3.eth.get_logs(
        {
            "address": m.address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [m.contract.events.QuoteFilled().topic],
        }
    )
    assert len(logs) == 1
    assert (
        usdc0 - balance(l1, "USDC", trader.address)
        == 10
        * int(m.contract.events.QuoteFilled().process_log(logs[0])["args"]["premiumTotal"])
        // 10
    )
