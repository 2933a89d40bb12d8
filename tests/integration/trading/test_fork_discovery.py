"""Quote, route and swap on a fork whose address book lists no pools, as on a fork of mainnet.

An origin Anvil runs under mainnet's chain id (1) with a world deployed by another account than
the devnet's (so every address differs from the devnet's and from real mainnet's); its address
book names the contracts and tokens but no pool. A second Anvil forks it (``--fork-url``), and
``oms quote`` / ``oms route`` / ``oms swap`` find the pools from the factories on the fork.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from oms_chain.chain.addressbook import AddressBook, load_address_book
from oms_chain.devnet.anvil import AnvilConfig, AnvilProcess
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import deploy_world
from oms_chain.devnet.world import Devnet, DevnetConfig, derive_accounts

OMS = [sys.executable, "-m", "oms_chain.cli"]
ACCOUNTS = derive_accounts(
    "test test test test test test test test test test test junk", 6
)  # Anvil's default mnemonic: every account funded with ETH on both nodes
DEPLOYER, TRADER = ACCOUNTS[3], ACCOUNTS[4]


def get_create_address(sender: str, nonce: int) -> str:
    """The address a CREATE from ``sender`` at ``nonce`` deploys to (yellow paper eq. 86)."""
    return "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex()


@dataclass
class Fork:
    origin_book: AddressBook  # as deployed, with its pools
    origin_url: str
    url: str
    w3: Web3
    env: dict[str, str]
    home: Path


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fork]:
    home = tmp_path_factory.mktemp("fork")
    with AnvilProcess(AnvilConfig(chain_id=1, name="origin (chain 1)")) as origin:
        deployed = deploy_world(
            origin.rpc_url,
            funded_accounts=[DEPLOYER.address, TRADER.address],
            name="origin-of-chain-1",
        )
        deployments = home / "deployments"
        deployments.mkdir()
        (deployments / "origin-1.json").write_text(
            json.dumps(replace(deployed, pools=()).to_json(), indent=2)
        )
        with AnvilProcess(AnvilConfig(chain_id=1, fork_url=origin.rpc_url, name="fork")) as node:
            env = {
                k: v for k, v in os.environ.items() if k not in ("OMS_CHAIN_HOME", "CI_NO_COLOR")
            }
            env.update(
                OMS_CHAIN_DEPLOYMENTS=str(deployments),
                XDG_CACHE_HOME=str(home / "cache"),
                OMS_CHAIN_RUNTIME=str(home / "no-devnet.json"),
                COLUMNS="200",
            )
            w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
            yield Fork(deployed, origin.rpc_url, node.rpc_url, w3, env, home)


def _oms(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [*OMS, *args, "--json"], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_the_origin_world_is_not_the_devnet_and_its_book_lists_no_pools(fork: Fork) -> None:
    book = load_address_book(1, fork.home / "deployments")
    assert book.chain_id == 1 and book.pools == ()
    devnet_weth = to_checksum_address(get_create_address(ACCOUNTS[0].address, 0))
    mainnet_weth = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert book.address("WETH") not in (devnet_weth, mainnet_weth)
    assert book.address("WETH") == to_checksum_address(get_create_address(DEPLOYER.address, 0))
    assert len(fork.w3.eth.get_code(book.address("UniswapV3Factory"))) > 0  # read through the fork


def test_oms_quote_on_the_fork_equals_quoterv2_to_the_wei(fork: Fork) -> None:
    amount = 7 * 10**18
    data = _oms(
        fork.env, "quote", "--rpc-url", fork.url, "--chain", "1",
        "--sell", "WETH", "--buy", "USDC", "--amount", "7",
    )  # fmt: skip
    book = fork.origin_book
    deployed = {p.address for p in book.pools_for("WETH", "USDC")}
    assert {q["pool"] for q in data["quotes"]} == deployed and len(deployed) == 3
    quoter = fork.w3.eth.contract(
        address=book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
    )
    router = fork.w3.eth.contract(
        address=book.address("UniswapV2Router02"),
        abi=load_protocol_artifact("UniswapV2Router02").abi,
    )
    weth, usdc = book.address("WETH"), book.address("USDC")
    checked = 0
    for q in data["quotes"]:
        assert q["amount_in"] == amount
        if q["protocol"] == "uniswap-v3":
            out = quoter.functions.quoteExactInputSingle((weth, usdc, amount, q["fee"], 0)).call()
            assert q["amount_out"] == out[0]
        else:
            assert q["amount_out"] == router.functions.getAmountsOut(amount, [weth, usdc]).call()[1]
        checked += 1
    assert checked == 3
    # what was found is cached per chain and factory in the user's cache folder
    cached = sorted(p.name for p in (fork.home / "cache" / "oms-chain" / "pools").iterdir())
    assert cached == sorted(
        f"pools-1-{book.address(f).lower()}.json" for f in ("UniswapV2Factory", "UniswapV3Factory")
    )


def test_oms_route_on_the_fork_splits_over_discovered_pools_and_two_hop_paths(
    fork: Fork,
) -> None:
    data = _oms(
        fork.env, "route", "--rpc-url", fork.url, "--sell", "WETH", "--buy", "USDC",
        "--amount", "300", "--gas-price-gwei", "1",
    )  # fmt: skip
    plan = data["plan"]
    assert data["chain_id"] == 1 and plan["amount_in"] == 300 * 10**18
    assert sum(leg["amount_in"] for leg in plan["legs"]) == 300 * 10**18
    assert len(plan["legs"]) >= 2
    # WBTC/DAI has no pool: only paths through WETH or USDC, found with the hub pairs
    hop = _oms(
        fork.env, "route", "--rpc-url", fork.url, "--sell", "WBTC", "--buy", "DAI",
        "--amount", "1", "--gas-price-gwei", "0",
    )  # fmt: skip
    assert hop["sources"] and all(">" in s for s in hop["sources"])
    assert hop["plan"]["expected_output"] > 50_000 * 10**18  # ~60,000 DAI for 1 WBTC


@pytest.mark.slow
def test_oms_swap_on_the_fork_fills_through_discovered_pools(fork: Fork) -> None:
    config = fork.home / "oms.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{fork.home / "desk.db"}"\n\n'
        '[risk]\nmax_order_notional = "100000"\n\n'
        f'[[chains]]\nname = "fork"\nchain_id = 1\nrpc_url = "{fork.url}"\n\n'
        '[[accounts]]\nname = "desk"\nsigner = "env_key"\nprivate_key_env = "DESK_KEY"\n'
    )
    usdc = fork.w3.eth.contract(
        address=fork.origin_book.address("USDC"), abi=load_protocol_artifact("WETH9").abi
    )
    before = usdc.functions.balanceOf(TRADER.address).call()
    fork.env["DESK_KEY"] = TRADER.private_key
    out = _oms(
        fork.env, "swap", "--config", str(config), "--sell", "ETH", "--buy", "USDC",
        "--amount", "2", "--timeout", "120", "--yes",
    )  # fmt: skip
    assert out["status"] == "filled", out
    assert out["children"] and all(k["venue"].endswith("-1") for k in out["children"])
    got = usdc.functions.balanceOf(TRADER.address).call() - before
    assert 5_900 * 10**6 < got < 6_000 * 10**6  # 2 ETH at about 3,000 USDC, less fees


def test_devnet_fork_mode_keeps_a_book_that_matches_the_fork_and_drops_one_that_does_not(
    fork: Fork, tmp_path: Path
) -> None:
    folder = fork.home / "deployments"
    with Devnet(DevnetConfig(with_l2=False, fork_url=fork.url, deployments_dir=folder)) as world:
        assert world.l1.chain_id == 1
        assert world.l1.book.contracts == fork.origin_book.contracts
    nowhere = to_checksum_address("0x" + "12" * 20)
    contracts = {**fork.origin_book.contracts, "SwapRouter": nowhere}
    stale = replace(fork.origin_book, contracts=contracts)
    (tmp_path / "stale-1.json").write_text(json.dumps(stale.to_json()))
    with Devnet(DevnetConfig(with_l2=False, fork_url=fork.url, deployments_dir=tmp_path)) as world:
        assert "SwapRouter" not in world.l1.book.contracts
        assert world.l1.book.pools == ()
        assert world.l1.book.address("QuoterV2") == fork.origin_book.address("QuoterV2")


def test_a_session_on_devnet_fork_mode_trades_the_discovered_pools(
    fork: Fork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from oms_chain.model.intent import Side
    from oms_chain.service import TradingSession

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OMS_CHAIN_HOME", raising=False)
    folder = fork.home / "deployments"
    with Devnet(DevnetConfig(with_l2=False, fork_url=fork.url, deployments_dir=folder)) as world:
        runtime: dict[str, Any] = {"pid": 0, "chains": world.describe()}
        assert runtime["chains"]["l1"]["address_book"]["pools"] == []

        async def run() -> tuple[list[str], list[str], list[str]]:
            session = TradingSession.from_devnet_runtime(
                runtime, f"sqlite:///{tmp_path / 's.db'}", TRADER.private_key,
                with_exchange=False, poll_interval=0.1,
            )  # fmt: skip
            async with session:
                inst = session.instrument("ETH/USDC")
                two_hop = session.instrument("WBTC/DAI")  # no WBTC/DAI pool: through WETH
                v2 = session.venues()["uniswap-v2-1"]
                path = await v2.swap_path(two_hop, Side.SELL)  # type: ignore[attr-defined]
                return sorted(session.venues()), session.venues_for(inst), list(path.tokens)

        venues, trading, tokens = asyncio.run(run())
    assert venues == ["uniswap-v2-1", "uniswap-v3-3000-1", "uniswap-v3-500-1"]
    assert sorted(trading) == venues
    book = fork.origin_book
    assert tokens == [book.address(s).lower() for s in ("WBTC", "WETH", "DAI")]


@pytest.mark.slow
def test_oms_devnet_up_fork_url_then_quote_and_swap_without_a_config(fork: Fork) -> None:
    """The forked-mainnet walk: ``oms devnet up --fork-url`` (the origin's book has no pools),
    then ``oms quote`` and ``oms swap`` against the running fork with the devnet defaults."""
    import signal
    import time

    runtime = fork.home / "fork-runtime.json"
    env = {**fork.env, "OMS_CHAIN_RUNTIME": str(runtime)}
    up = subprocess.Popen(
        [*OMS, "devnet", "up", "--no-l2", "--no-exchange", "--fork-url", fork.origin_url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not runtime.is_file():
            assert up.poll() is None, up.stderr.read() if up.stderr else ""
            assert time.monotonic() < deadline, "oms devnet up wrote no runtime file in 120 s"
            time.sleep(0.1)
        chains = json.loads(runtime.read_text())["chains"]
        assert chains["l1"]["chain_id"] == 1 and chains["l1"]["address_book"]["pools"] == []
        quoted = _oms(env, "quote", "--sell", "WETH", "--buy", "USDC", "--amount", "1")
        assert len(quoted["quotes"]) == 3 and quoted["chain_id"] == 1
        swapped = _oms(
            env, "swap", "--sell", "ETH", "--buy", "USDC", "--amount", "1", "--no-exchange"
        )
        assert swapped["status"] == "filled", swapped
        assert all(k["venue"].endswith("-1") for k in swapped["children"])
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.communicate()
