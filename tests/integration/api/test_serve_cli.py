"""``oms token`` and ``oms serve`` as a user runs them, on the devnet recorded in a runtime
file: a token created on the command line opens the served API; Ctrl-C stops it. And ``oms serve
--config`` naming an on-chain options venue: structures posted to the served process open."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api_client import ERC20_TRANSFER
from web3 import Web3

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain

OMS = [sys.executable, "-m", "oms_chain.cli"]


def _call(url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _line(proc: subprocess.Popen[str], pattern: str, timeout: float = 120) -> re.Match[str]:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = []
    while sel.select(timeout):
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"no line matching {pattern!r} in {seen}")


def _oms_json(env: dict[str, str], *args: str) -> Any:
    """Run ``oms ARGS --json`` to its end; its JSON output."""
    done = subprocess.run(
        [*OMS, *args, "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_token_then_serve_then_ctrl_c(oms_devnet: Devnet, l1: DevnetChain, tmp_path: Path) -> None:
    runtime = tmp_path / "devnet-running.json"
    runtime.write_text(json.dumps({"pid": os.getpid(), "chains": oms_devnet.describe()}))
    env = {**os.environ, "OMS_CHAIN_RUNTIME": str(runtime), "COLUMNS": "200"}
    store = f"sqlite:///{tmp_path / 'serve.db'}"
    token = _oms_json(
        env, "token", "create", "--name", "cli", "--scope", "trade", "--store", store
    )["token"]
    listed = _oms_json(env, "token", "list", "--store", store)
    assert [t["name"] for t in listed] == ["cli"]
    assert token not in json.dumps(listed)
    proc = subprocess.Popen(
        [*OMS, "serve", "--port", "0", "--no-exchange", "--store", store],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _line(proc, r"serving (http://127\.0\.0\.1:\d+)").group(1)
        status, health = _call(f"{url}/api/v1/health", token)
        assert status == 200 and health["phase"] == "ready"
        status, order = _call(
            f"{url}/api/v1/intents",
            token,
            {"symbol": "WETH/USDC", "side": "sell", "quantity": "0.1"},
        )
        assert status == 201 and order["side"] == "sell"
        assert _call(f"{url}/api/v1/orders", "oms_00000000_" + "D" * 43)[0] == 401
        status, refused = _call(f"{url}/api/v1/structures", token, {"structure_id": "x"})
        assert status == 404 and refused["kind"] == "not_configured"  # no options venue
        with urllib.request.urlopen(f"{url}/", timeout=30) as r:
            assert b"oms-chain dashboard" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def _two_puts(l1: DevnetChain) -> tuple[str, str]:
    """The symbols of the 2,500 and 3,000 WETH puts of the earliest expiry listing both."""
    from datetime import UTC, datetime

    from oms_chain.devnet.options_market import OptionsMarketClient

    weth = l1.book.address("WETH")
    puts = [
        s
        for s in OptionsMarketClient.from_book(l1.w3, l1.book).all_series()
        if s.underlying == weth and not s.is_call and s.strike in (2500 * 10**6, 3000 * 10**6)
    ]
    expiry = min(
        e for e in {s.expiry for s in puts} if len({s.strike for s in puts if s.expiry == e}) == 2
    )
    day = datetime.fromtimestamp(expiry, UTC).strftime("%d%b%y").upper()
    low, high = (f"WETH-{day}-{k}-P" for k in (2500, 3000))
    return low, high


def test_serve_with_a_config_naming_onchain_options_takes_structures(
    oms_devnet: Devnet, l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], tmp_path: Path
) -> None:
    """`oms serve --config` with an on-chain options venue: a put spread posted to the served
    process opens in ONE transaction of the deployer's BatchExecutor and is listed with its
    legs; without such a venue posting answers not_configured."""
    from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker, OptionsMakerThread
    from oms_chain.devnet.options_market import OptionsMarketClient

    owner = devnet_accounts[0]  # the world's BatchExecutor belongs to the deployer
    deployer = Web3.to_checksum_address(owner.address)
    usdc = l1.w3.eth.contract(address=l1.book.address("USDC"), abi=ERC20_TRANSFER)
    executor = l1.book.address("BatchExecutor")
    tx = usdc.functions.transfer(executor, 5_000 * 10**6).transact({"from": owner.address})
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    agent = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        devnet_accounts[4].private_key,
        config=MakerConfig(max_size=1_000_000),
    )
    agent.prepare()
    maker = OptionsMakerThread(agent).start()
    books = tmp_path / "deployments"
    books.mkdir()
    (books / f"devnet-{l1.chain_id}.json").write_text(json.dumps(l1.book.to_json()))
    store = f"sqlite:///{tmp_path / 'desk.db'}"
    config = tmp_path / "oms.toml"
    config.write_text(
        f'[store]\nurl = "{store}"\n\n'
        f'[[chains]]\nname = "devnet"\nchain_id = {l1.chain_id}\nrpc_url = "{l1.rpc_url}"\n\n'
        '[[venues]]\nname = "desk-rfq"\nkind = "options"\nchain = "devnet"\n'
        f"makers = {json.dumps([maker.url])}\n\n"
        '[[accounts]]\nname = "desk"\nsigner = "env_key"\nprivate_key_env = "DESK_KEY"\n'
    )
    env = {
        **os.environ,
        "OMS_CHAIN_DEPLOYMENTS": str(books),
        "DESK_KEY": owner.private_key,
        "COLUMNS": "200",
    }
    token = _oms_json(
        env, "token", "create", "--name", "desk", "--scope", "trade", "--store", store
    )["token"]
    low, high = _two_puts(l1)
    spread = {
        "structure_id": "served-spread",
        "kind": "put_spread",
        "legs": [
            {"instrument": high, "side": "buy", "quantity": "1"},
            {"instrument": low, "side": "sell", "quantity": "1"},
        ],
        "limits": {"max_loss": "1000", "max_net_premium": "500"},
    }
    proc = subprocess.Popen(
        [*OMS, "serve", "--port", "0", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "POST /api/v1/structures opens them" in _line(proc, r"structures: .*").group(0)
        url = _line(proc, r"serving (http://127\.0\.0\.1:\d+)").group(1)
        nonce0 = l1.w3.eth.get_transaction_count(deployer)
        status, out = _call(f"{url}/api/v1/structures", token, spread)
        assert status == 201, out
        assert out["status"] == "open" and out["tx_hash"] and out["account"] == "desk"
        assert [(leg["symbol"], leg["side"], leg["filled"]) for leg in out["legs"]] == [
            (high, "buy", "1"),
            (low, "sell", "1"),
        ]
        assert {leg["venue"] for leg in out["legs"]} == {"desk-rfq-structures-batch"}
        assert l1.w3.eth.get_transaction_count(deployer) == nonce0 + 1  # ONE transaction
        status, listed = _call(f"{url}/api/v1/structures", token)
        assert status == 200 and [s["structure_id"] for s in listed] == ["served-spread"]
        assert [leg["symbol"] for leg in listed[0]["legs"]] == [high, low]
        status, shown = _call(f"{url}/api/v1/structures/served-spread", token)
        assert status == 200 and shown["events"][-1]["type"] == "StructureCompleted"
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        maker.stop()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
