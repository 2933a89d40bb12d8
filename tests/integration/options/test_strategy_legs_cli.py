"""``oms strategy straddle ... --policy all-or-unwind --venue deribit --venue onchain --yes``: the
call on the Deribit-protocol exchange simulator (unmodified ccxt, real HTTP), the put on the
devnet's on-chain OptionsMarket (real Anvil, RFQ to the maker), both venues named by the
session's oms.toml; worked leg by leg by the leg coordinator, then ``oms strategy show``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from onchain_helpers import market

from oms_chain.cli import main
from oms_chain.devnet.deribit import DeribitConfig, run_deribit_in_thread
from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker, OptionsMakerThread
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.store import open_store

D = Decimal
STRIKE = 3000


@pytest.fixture
def desk(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """The exchange simulator, an on-chain put listed at the exchange's first ETH expiry, the
    maker, and an oms.toml naming both options venues."""
    sim = run_deribit_in_thread(DeribitConfig(seed=3, agents_running=False))
    sim.create_account("legs-id", "legs-secret", {"ETH": 100})
    ex = ccxt.deribit()
    ex.urls["api"] = sim.simulator.deribit_urls()
    eth = [m for m in ex.load_markets().values() if m["option"] and m["base"] == "ETH"]
    expiry_ms = min(m["expiry"] for m in eth if m["strike"] == STRIKE)
    mk = market(l1).contract
    owner = devnet_accounts[0]
    tx = mk.functions.listSeries(
        l1.book.address("WETH"), l1.book.address("USDC"), STRIKE * 10**6, expiry_ms // 1000,
        False, 10**17,
    ).transact({"from": owner.address})  # fmt: skip
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    agent = OptionsMaker(
        market(l1), devnet_accounts[3].private_key, config=MakerConfig(max_size=1_000_000)
    )
    agent.prepare()
    maker = OptionsMakerThread(agent).start()
    books = tmp_path / "deployments"
    books.mkdir()
    (books / f"devnet-{l1.chain_id}.json").write_text(json.dumps(l1.book.to_json()))
    monkeypatch.setenv("OMS_CHAIN_DEPLOYMENTS", str(books))
    monkeypatch.setenv("DESK_KEY", devnet_accounts[1].private_key)
    monkeypatch.setenv("DX_ID", "legs-id")
    monkeypatch.setenv("DX_SECRET", "legs-secret")
    config = tmp_path / "oms.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "desk.db"}"\n\n'
        f'[[chains]]\nname = "devnet"\nchain_id = {l1.chain_id}\nrpc_url = "{l1.rpc_url}"\n\n'
        '[[venues]]\nname = "desk-deribit"\nkind = "options"\nexchange = "deribit"\n'
        f'rest_url = "{sim.url}"\napi_key_env = "DX_ID"\nsecret_env = "DX_SECRET"\n\n'
        '[[venues]]\nname = "desk-rfq"\nkind = "options"\nchain = "devnet"\n'
        f"makers = {json.dumps([maker.url])}\n\n"
        '[[accounts]]\nname = "desk"\nsigner = "env_key"\nprivate_key_env = "DESK_KEY"\n'
    )
    day = datetime.fromtimestamp(expiry_ms / 1000, UTC).strftime("%Y-%m-%d")
    try:
        yield {
            "config": config,
            "day": day,
            "expiry_s": expiry_ms // 1000,
            "sim": sim,
            "store": f"sqlite:///{tmp_path}/desk.db",
        }
    finally:
        maker.stop()
        sim.stop()


@pytest.mark.timeout(300)
def test_a_straddle_across_the_chain_and_the_exchange_opens_and_shows_legs_per_venue(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    desk: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["strategy", "straddle", "--underlying", "ETH", "--expiry", desk["day"],
            "--strikes", str(STRIKE), "--size", "1", "--policy", "all-or-unwind",
            "--venue", "deribit", "--venue", "onchain", "--config", str(desk["config"]),
            "--id", "xv-cli", "--leg-time-limit", "60"]  # fmt: skip
    assert main([*argv, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(leg["side"], leg["venue"]) for leg in plan["legs"]] == [
        ("buy", "deribit"),
        ("buy", "onchain"),
    ]
    assert plan["send_order"] == [1, 0] and plan["policy"] == "all-or-unwind"
    assert main(argv) == 4  # stdin is no terminal: refused, nothing sent without --yes
    assert "confirm with --yes" in capsys.readouterr().err
    sim = desk["sim"].simulator
    assert sim.exchange.account("legs-id").trades == []
    assert main([*argv, "--yes", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "open" and doc["policy"] == "all-or-unwind", doc
    assert [(leg["venue"], D(leg["filled"])) for leg in doc["legs"]] == [
        ("desk-deribit", D(1)),
        ("desk-rfq", D(1)),
    ]
    # the exchange executed the call once; the chain holds the put for the desk's account
    (trade,) = sim.exchange.account("legs-id").trades
    assert trade["instrument_name"].endswith(f"-{STRIKE}-C") and trade["direction"] == "buy"
    assert trade["label"] == "xv-cli-l0"
    m = market(l1)
    (put,) = [x for x in m.all_series() if x.expiry == desk["expiry_s"] and not x.is_call]
    assert m.position(devnet_accounts[1].address, put.series_id) == (10, 0)  # 1.0 in 0.1 units
    # exposure: the put alone (sent first) until the call filled, recorded and bounded
    assert D(doc["max_delta_usd"]) > 0 and doc["legged_ns"] > 0
    assert D(doc["exposure_usd_s"]) == abs(D(doc["max_delta_usd"])) * D(doc["legged_ns"]) / D(10**9)
    assert main(["--wide", "strategy", "show", "xv-cli", "--store", desk["store"]]) == 0
    out = capsys.readouterr().out
    for text in ("straddle xv-cli (all-or-unwind): open", "desk-deribit", "desk-rfq",
                 "unintended exposure", "leg time limit 60 s, unwinds within 500 bps",
                 "StructureSendStarted", "StructureCompleted"):  # fmt: skip
        assert text in out, text
    store = open_store(desk["store"])
    try:
        from oms_chain.service.structures import read_structure

        rec = read_structure(store, "xv-cli")
    finally:
        store.close()
    assert rec is not None and rec.status == "open"
    # a second run of the same id continues the finished structure: nothing is sent again
    assert main([*argv, "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "open"
    assert len(sim.exchange.account("legs-id").trades) == 1


@pytest.mark.timeout(300)
def test_when_the_exchange_refuses_its_leg_the_put_on_chain_is_unwound_and_exit_is_1(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    desk: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = desk["sim"].simulator
    desk["sim"].call(
        lambda: sim.inject_fault("fail", "private/buy", count=None, status=502, code=10040)
    )
    argv = ["strategy", "straddle", "--underlying", "ETH", "--expiry", desk["day"],
            "--strikes", str(STRIKE), "--size", "1", "--policy", "all-or-unwind",
            "--venue", "deribit", "--venue", "onchain", "--config", str(desk["config"]),
            "--id", "xv-refused", "--unwind-slippage", "2000", "--leg-time-limit", "3",
            "--yes", "--json"]  # fmt: skip
    try:
        assert main(argv) == 1
    finally:
        desk["sim"].call(lambda: sim.faults.clear())
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "unwound", doc
    # the exchange's 502 is no answer: the order is looked for by label for the leg's 3 s, then
    # the leg is missed and the put is sold back on chain
    assert doc["reason"].startswith("leg 0 at desk-deribit") and "2000 bps" in doc["reason"]
    assert sim.exchange.account("legs-id").trades == []
    m = market(l1)
    (put,) = [x for x in m.all_series() if x.expiry == desk["expiry_s"] and not x.is_call]
    longs, shorts = m.position(devnet_accounts[1].address, put.series_id)
    assert longs == shorts  # bought and sold back: no net option position on chain
    assert D(doc["max_delta_usd"]) > 0 and D(doc["exposure_usd_s"]) > 0


@pytest.mark.timeout(300)
def test_hedge_residual_hedges_the_put_on_the_exchange_until_the_call_fills(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    desk: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = desk["sim"].simulator
    desk["sim"].call(lambda: sim.inject_fault("fail", "private/buy", count=2, status=502))
    day = datetime.strptime(desk["day"], "%Y-%m-%d")
    hedge_put = f"ETH-{day.day}{day:%b%y}-{STRIKE}-P".upper()  # the exchange's put, same expiry
    argv = ["strategy", "straddle", "--underlying", "ETH", "--expiry", desk["day"],
            "--strikes", str(STRIKE), "--size", "1", "--policy", "hedge-residual",
            "--venue", "deribit", "--venue", "onchain", "--config", str(desk["config"]),
            "--id", "xv-hedged", "--unwind-slippage", "2000", "--leg-time-limit", "2",
            "--hedge-venue", "deribit", "--hedge-instrument", hedge_put, "--hedge-band", "500",
            "--yes", "--json"]  # fmt: skip
    try:
        assert main(argv) == 0
    finally:
        desk["sim"].call(lambda: sim.faults.clear())
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "open", doc
    hedges = [e for e in doc["events"] if e["type"] == "StructureHedged"]
    assert [(e["side"], D(e["quantity"])) for e in hedges] == [("sell", D(1)), ("buy", D(1))]
    assert abs(D(hedges[0]["delta_after_usd"])) <= 500  # in its band while the call was missing
    trades = sim.exchange.account("legs-id").trades
    calls = [t["label"] for t in trades if t["instrument_name"].endswith("-C")]
    assert calls == ["xv-hedged-l0-r2"]  # the third attempt filled; nothing sent twice
    m = market(l1)
    (put,) = [x for x in m.all_series() if x.expiry == desk["expiry_s"] and not x.is_call]
    assert m.position(devnet_accounts[1].address, put.series_id) == (10, 0)
