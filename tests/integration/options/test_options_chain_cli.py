"""``oms options chain ETH``: the Deribit-protocol exchange and the on-chain market side by
side, premiums in USD per whole underlying."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from oms_chain.cli import main
from oms_chain.devnet.deribit import DeribitConfig, run_deribit_in_thread
from oms_chain.devnet.options_maker import OptionsMaker, OptionsMakerThread
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import DevAccount, DevnetChain

D = Decimal


def test_the_chain_shows_both_venues_side_by_side(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    capsys: pytest.CaptureFixture[str],
) -> None:
    agent = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book), devnet_accounts[3].private_key
    )
    agent.prepare()
    maker = OptionsMakerThread(agent).start()
    sim = run_deribit_in_thread(DeribitConfig(seed=3, agents_running=False))
    try:
        args = ["options", "chain", "ETH", "--deribit-url", sim.url, "--rpc-url", l1.rpc_url,
                "--maker", maker.url, "--json"]  # fmt: skip
        assert main(args) == 0
    finally:
        maker.stop()
        sim.stop()
    rows = json.loads(capsys.readouterr().out)
    venues = {r["venue"] for r in rows}
    assert venues == {"deribit", f"options-{l1.chain_id}"}
    onchain = [r for r in rows if r["venue"] != "deribit"]
    assert len(onchain) == 18  # 3 strikes x 3 expiries x call/put on WETH
    for r in onchain:
        assert D(r["bid"]) < D(r["ask"]) and r["iv"] is not None and r["delta"] is not None
        assert (D(r["delta"]) > 0) is (r["kind"] == "call")
    deribit = [r for r in rows if r["venue"] == "deribit"]
    assert len(deribit) == 56 and all(r["name"].startswith("ETH-") for r in deribit)
    quoted = [r for r in deribit if r["bid"] is not None and r["ask"] is not None]
    assert quoted and all(D(0) < D(r["bid"]) < D(r["ask"]) for r in quoted)
    assert all(r["iv"] is not None and r["delta"] is not None for r in deribit)


def test_bad_arguments_are_refused_before_anything_is_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(
            [
                "options",
                "chain",
                "DOGE",
                "--venue",
                "deribit",
                "--deribit-url",
                "http://127.0.0.1:9",
            ]
        )
        != 0
    )
    assert "ETH or BTC" in capsys.readouterr().err
    assert main(["options", "chain", "ETH", "--venue", "onchain"]) != 0
    assert "--maker" in capsys.readouterr().err
    assert (
        main(
            [
                "options",
                "chain",
                "ETH",
                "--expiry",
                "soon",
                "--venue",
                "deribit",
                "--deribit-url",
                "http://127.0.0.1:9",
            ]
        )
        != 0
    )
    assert "--expiry" in capsys.readouterr().err
