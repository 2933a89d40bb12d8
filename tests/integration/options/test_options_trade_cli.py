"""``oms options buy|sell SERIES QTY``: through the engine on the devnet's on-chain market (its RFQ
maker) and its Deribit-protocol exchange, as recorded in a devnet runtime file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms_chain.cli import main
from oms_chain.devnet.deribit import DeribitConfig, run_deribit_in_thread
from oms_chain.devnet.options_maker import OptionsMaker, OptionsMakerThread
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import DevAccount, DevnetChain

D = Decimal


@pytest.fixture
def runtime(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """A runtime file naming the test devnet's L1, a maker thread and a Deribit exchange."""
    agent = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book), devnet_accounts[3].private_key
    )
    agent.prepare()
    maker = OptionsMakerThread(agent).start()
    sim = run_deribit_in_thread(DeribitConfig(seed=3, agents_running=False))
    sim.create_account("cli-id", "cli-secret", {"ETH": 100, "BTC": 10})
    info = {
        "pid": 0,
        "chains": {
            "l1": {**l1.describe(), "options_makers": [maker.url]},
            "deribit": {
                "rest_url": sim.url,
                "ws_url": sim.ws_url,
                "accounts": [{"client_id": "cli-id", "client_secret": "cli-secret"}],
            },
        },
    }
    path = tmp_path / "running.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(path))
    try:
        yield info
    finally:
        maker.stop()
        sim.stop()


def _put_name(l1: DevnetChain) -> str:
    market = OptionsMarketClient.from_book(l1.w3, l1.book)
    weth = l1.book.token("WETH").address
    s = min(
        (x for x in market.all_series() if x.underlying == weth and not x.is_call),
        key=lambda x: (x.expiry, abs(x.strike - 3000 * 10**6)),
    )
    return str(s.series_id)


def test_buy_a_put_on_chain_through_the_engine_prints_the_filled_order(
    l1: DevnetChain, runtime: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sid = _put_name(l1)
    assert main(["options", "buy", sid, "0.5", "--venue", "onchain", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True and plan["venue"] == f"options-{l1.chain_id}"
    assert D(plan["quoted_price"]) > 0 and plan["instrument"].startswith("WETH-")
    assert main(["options", "buy", sid, "0.5", "--venue", "onchain", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "filled" and D(out["filled"]) == D("0.5")
    (child,) = out["children"]
    assert child["venue"] == f"options-{l1.chain_id}" and child["tx_hash"].startswith("0x")


def test_sell_on_the_deribit_protocol_exchange_by_its_name(
    l1: DevnetChain, runtime: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["options", "sell", "ETH-31DEC99-3000-P", "1", "--venue", "deribit"]) == 2
    assert "no options venue lists" in capsys.readouterr().err
    url = runtime["chains"]["deribit"]["rest_url"]
    assert (
        main(["options", "chain", "ETH", "--venue", "deribit", "--deribit-url", url, "--json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    bid = next(r for r in rows if r["kind"] == "put" and r["bid"] is not None)
    assert main(["options", "sell", bid["name"], "1", "--venue", "deribit", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "filled" and out["children"][0]["venue"] == "deribit"


def test_bad_arguments_are_refused_before_anything_is_opened(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["options", "buy", "ETH-11DEC26-3000-P", "-1"]) == 2
    assert "QTY" in capsys.readouterr().err
    assert main(["options", "buy", "ETH-11DEC26-3000-P", "1", "--venue", "ftx"]) == 2
    assert "--venue must be onchain or deribit" in capsys.readouterr().err


def test_buy_and_sell_through_the_options_venues_of_a_config_file(
    l1: DevnetChain,
    runtime: dict[str, Any],
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    books = tmp_path / "deployments"
    books.mkdir()
    (books / f"devnet-{l1.chain_id}.json").write_text(json.dumps(l1.book.to_json()))
    monkeypatch.setenv("OMS_CHAIN_DEPLOYMENTS", str(books))
    monkeypatch.setenv("DESK_KEY", devnet_accounts[1].private_key)
    monkeypatch.setenv("DX_ID", "cli-id")
    monkeypatch.setenv("DX_SECRET", "cli-secret")
    world = runtime["chains"]
    config = tmp_path / "oms.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "desk.db"}"\n\n'
        f'[[chains]]\nname = "devnet"\nchain_id = {l1.chain_id}\nrpc_url = "{l1.rpc_url}"\n\n'
        '[[venues]]\nname = "desk-deribit"\nkind = "options"\nexchange = "deribit"\n'
        f'rest_url = "{world["deribit"]["rest_url"]}"\n'
        'api_key_env = "DX_ID"\nsecret_env = "DX_SECRET"\n\n'
        '[[venues]]\nname = "desk-rfq"\nkind = "options"\nchain = "devnet"\n'
        f"makers = {json.dumps(world['l1']['options_makers'])}\n\n"
        '[[accounts]]\nname = "desk"\nsigner = "env_key"\nprivate_key_env = "DESK_KEY"\n'
    )
    sid = _put_name(l1)
    args = ["options", "buy", sid, "0.5", "--venue", "onchain", "--config", str(config), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "filled" and D(out["filled"]) == D("0.5")
    assert out["order_id"].startswith("o-desk-") and (tmp_path / "desk.db").is_file()
    (child,) = out["children"]
    assert child["venue"] == "desk-rfq" and child["tx_hash"].startswith("0x")

    url = world["deribit"]["rest_url"]
    assert (
        main(["options", "chain", "ETH", "--venue", "deribit", "--deribit-url", url, "--json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    bid = next(r for r in rows if r["kind"] == "put" and r["bid"] is not None)
    sell = ["options", "sell", bid["name"], "1", "--venue", "deribit", "--config", str(config)]
    assert main([*sell, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "filled" and out["children"][0]["venue"] == "desk-deribit"

    monkeypatch.delenv("DX_SECRET")
    assert main([*sell, "--json"]) == 2
    assert "venues.desk-deribit.secret_env" in capsys.readouterr().out
