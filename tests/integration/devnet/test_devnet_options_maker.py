"""The devnet starts the options market's RFQ maker when asked (``oms devnet up`` does): it
answers on loopback, its URL is the L1's ``options_makers`` in ``describe()``, it stops with the
world; with the exchange simulator running, it hedges where that costs less."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import OPTIONS_MAKER_ACCOUNT, Devnet, DevnetConfig


def test_the_world_starts_the_rfq_maker_and_names_it_in_its_summary() -> None:
    with Devnet(DevnetConfig(with_l2=False, with_options_maker=True, with_exchange=True)) as world:
        (url,) = world.describe()["l1"]["options_makers"]
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            health = json.loads(response.read())
        assert health["maker"] == world.l1.accounts[OPTIONS_MAKER_ACCOUNT].address
        market = OptionsMarketClient.from_book(world.l1.w3, world.l1.book)
        sid = market.all_series()[0].series_id
        body = json.dumps(
            {"series_id": sid, "side": "buy", "size": 2, "taker": world.l1.accounts[5].address}
        ).encode()
        request = urllib.request.Request(
            f"{url}/rfq", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["quote"]["series_id"] == sid and answer["signature"].startswith("0x")
        assert world.options_maker is not None and world.options_maker.hedge_error is None
        maker = world.options_maker.maker  # it may hedge on its own exchange account too
        assert maker.exchange is not None and maker.config.hedge_on == "cheapest"
        assert maker.exchange.cost("ETH/USDC", Decimal("-0.5")) < 0  # its account can sell
    assert world.options_maker is None
    assert "options_makers" not in Devnet(DevnetConfig(with_l2=False)).describe().get("l1", {})
