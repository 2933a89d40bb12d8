"""A wheel built from this checkout works outside it, as ``pip install oms-chain`` gives it.

The wheel is built once, installed with the ``[postgres]`` extra into a fresh venv in a tmp
folder (no system site-packages; pip's cache makes it quick), and used from a project folder
outside the checkout: no Makefile, no ``node_modules``, no ``build``. Every command runs with
``XDG_CACHE_HOME`` in that tmp folder, so the per-user folder is ``<tmp>/cache/oms-chain``.
Anvil and forge come from ``oms setup`` (npm, from npm's cache when warm) or, in the Foundry
user's case, from ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oms_chain._locations import checkout_root

pytestmark = pytest.mark.slow

REPO = checkout_root()
if REPO is None:  # pragma: no cover - this file runs from a checkout
    pytest.skip("needs the source checkout to build a wheel from", allow_module_level=True)

_OMS_VARS = ("OMS_CHAIN_HOME", "OMS_CHAIN_DEPLOYMENTS", "OMS_CHAIN_RUNTIME", "OMS_STORE_URL")


@dataclass(frozen=True)
class Install:
    """The wheel, the venv it is installed in, and a user project folder beside them."""

    wheel: Path
    venv: Path
    project: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, cache: Path, *, path_extra: tuple[Path, ...] = ()) -> dict[str, str]:
        """The environment of a user with this venv first on ``PATH`` and no Foundry."""
        env = {k: v for k, v in os.environ.items() if k not in _OMS_VARS}
        for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
            env.pop(var, None)
        system_path = [
            p
            for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and not (Path(p) / "anvil").exists() and not p.startswith(str(REPO))
        ]
        env["PATH"] = os.pathsep.join([*map(str, path_extra), str(self.bin), *system_path])
        env["XDG_CACHE_HOME"] = str(cache)
        env["COLUMNS"] = "200"
        return env

    def run(
        self, args: list[str], env: dict[str, str], timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.project, env=env, capture_output=True, text=True, timeout=timeout
        )


def _check(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (
        f"{proc.args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _check(
        subprocess.run(
            [*pip, "wheel", "--no-deps", "-w", str(dist), str(REPO)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    )
    (wheel,) = dist.glob("oms_chain-*.whl")
    venv = root / "venv"
    _check(
        subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    )
    assert REPO is not None
    _check(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                *pip[1:],
                "install",
                "-c",
                str(REPO / "constraints.txt"),
                f"{wheel}[postgres]",
                "pytest",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    )
    project = root / "project"
    project.mkdir()
    return Install(wheel, venv, project)


@pytest.fixture(scope="module")
def cache(install: Install, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-user cache folder into which ``oms setup`` installed the toolchain."""
    cache = tmp_path_factory.mktemp("user-cache")
    proc = _check(install.run(["oms", "setup"], install.env(cache), timeout=900))
    assert "oms setup: installing" in proc.stderr
    assert "@foundry-rs/anvil-linux-amd64@" in proc.stderr and "solc@" in proc.stderr
    return cache


def test_the_wheel_carries_books_artifacts_protocol_bytecode_the_shim_and_the_pins(
    install: Install,
) -> None:
    names = set(zipfile.ZipFile(install.wheel).namelist())
    data = "oms_chain/_data/"
    assert {
        f"{data}deployments/{c}.json" for c in ("mainnet", "arbitrum", "optimism", "base")
    } <= names
    assert not any(n.startswith(f"{data}deployments/devnet-") for n in names)
    assert {f"{data}contracts/DevToken.json", f"{data}contracts/DevOracle.json"} <= names
    protocol = [n for n in names if n.startswith(f"{data}protocol/")]
    assert (
        f"{data}protocol/@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"
        in names
    )
    assert (
        f"{data}protocol/@safe-global/safe-contracts/build/artifacts/contracts/Safe.sol/Safe.json"
        in names
    )
    assert f"{data}protocol/canonical-weth/build/contracts/WETH9.json" in names
    from oms_chain.devnet.artifacts import PROTOCOL_ARTIFACTS

    assert len(protocol) == len(PROTOCOL_ARTIFACTS)
    assert {f"{data}solc/solc", f"{data}toolchain/package.json"} <= names
    info = zipfile.ZipFile(install.wheel).getinfo(f"{data}solc/solc")
    assert (info.external_attr >> 16) & 0o111, "the shim must stay executable"
    static = "oms_chain/service/api/static/"
    assert {f"{static}index.html", f"{static}app.js", f"{static}style.css"} <= names


def test_the_packaged_v2_pair_is_the_canonical_init_code(install: Install) -> None:
    code = (
        "from oms_chain.devnet.artifacts import load_protocol_artifact as a; "
        "print(a('UniswapV2Pair').bytecode_hash, a('UniswapV2Pair').path)"
    )
    proc = _check(
        install.run([str(install.bin / "python"), "-c", code], install.env(install.project))
    )
    digest, path = proc.stdout.split()
    assert digest == "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
    assert str(install.venv) in path


def test_without_a_toolchain_devnet_up_says_oms_setup_in_one_line(
    install: Install, tmp_path: Path
) -> None:
    proc = install.run(["oms", "devnet", "up", "--no-l2", "--no-exchange"], install.env(tmp_path))
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "`oms setup`" in lines[0] and "make setup" not in lines[0]


def test_oms_setup_installs_into_the_user_cache_and_a_second_run_is_up_to_date(
    install: Install, cache: Path
) -> None:
    home = cache / "oms-chain"
    assert (home / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil").is_file()
    assert os.access(home / "scripts" / "solc", os.X_OK)
    again = _check(install.run(["oms", "setup", "--json"], install.env(cache)))
    report = json.loads(again.stdout)
    assert report["installed"] == [] and report["home"] == str(home)
    assert report["anvil"].startswith(str(home)) and report["solc"] == str(home / "scripts/solc")
    version = _check(install.run([report["solc"], "--version"], install.env(cache)))
    assert "Version: 0.8." in version.stdout


def _devnet_up(install: Install, env: dict[str, str]) -> Iterator[dict[str, object]]:
    up = subprocess.Popen(
        ["oms", "devnet", "up", "--json"],
        cwd=install.project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        text = ""
        while line := up.stdout.readline():
            text += line
            if line.startswith("}"):
                break
        assert text, up.stderr.read() if up.stderr else ""
        yield json.loads(text)
    finally:
        up.send_signal(signal.SIGINT)
        _out, err = up.communicate(timeout=60)
        assert up.returncode == 0, err


def test_devnet_up_runs_from_the_user_cache_and_stops_on_ctrl_c(
    install: Install, cache: Path
) -> None:
    env = install.env(cache)
    home = cache / "oms-chain"
    for summary in _devnet_up(install, env):
        l1 = summary["l1"]
        assert isinstance(l1, dict) and l1["chain_id"] == 31337
        assert "QuoterV2" in l1["address_book"]["contracts"]
        anvil = Path(os.readlink(f"/proc/{l1['pid']}/exe"))
        assert anvil.is_relative_to(home / "node_modules")
        status = _check(install.run(["oms", "devnet", "status", "--json"], env))
        rows = {r["name"]: r for r in json.loads(status.stdout)}
        assert {"l1", "l2", "exchange"} <= set(rows) and rows["l1"]["block"] > 0
        assert (home / "deployments" / "devnet-31337.json").is_file()
    assert not (home / "build" / "devnet-running.json").exists()


def test_oms_demo_runs_outside_the_checkout(install: Install, cache: Path) -> None:
    proc = _check(install.run(["oms", "demo"], install.env(cache), timeout=600))
    assert "audit chain OK" in proc.stdout
    assert "exact to the wei" in proc.stdout
    assert (cache / "oms-chain" / "build" / "demo" / "oms.db").is_file()


USER_TESTS = '''
"""A user's own tests: every fixture of the oms-chain pytest plugin, no conftest.py."""

import ccxt
import psycopg


def _balance(chain, address):
    return chain.w3.eth.get_balance(address)


def test_l1_is_the_deployed_world_and_is_reverted_after_each_test(l1, devnet_accounts):
    alice, bob = devnet_accounts[0], devnet_accounts[5]
    assert l1.chain_id == 31337
    assert _balance(l1, bob.address) == 1_000_000 * 10**18
    tx = {"from": alice.address, "to": bob.address, "value": 10**18}
    l1.w3.eth.wait_for_transaction_receipt(l1.w3.eth.send_transaction(tx))
    assert _balance(l1, bob.address) == 1_000_001 * 10**18


def test_l1_again_sees_the_fresh_world(l1, devnet_accounts):
    assert _balance(l1, devnet_accounts[5].address) == 1_000_000 * 10**18


def test_l2_is_its_own_chain_with_the_same_accounts(l2, devnet_accounts):
    assert l2.chain_id == 31338
    assert l2.w3.eth.get_balance(devnet_accounts[0].address) > 0


def test_address_book_has_the_protocols_and_tokens(address_book, l1):
    for name in ("WETH", "UniswapV2Router02", "SwapRouter", "QuoterV2"):
        assert len(l1.w3.eth.get_code(address_book.address(name))) > 2
    assert address_book.tokens["USDC"].decimals == 6


def test_exchange_simulator_trades_with_unmodified_ccxt(exchange_simulator, exchange_credentials):
    key, secret = exchange_credentials
    exchange = ccxt.binance({"apiKey": key, "secret": secret, "options": {
        "fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}})
    exchange.urls["api"] = exchange_simulator.simulator.binance_urls(exchange.urls["api"])
    order = exchange.create_order("ETH/USDC", "market", "buy", 0.5)
    assert order["status"] == "closed" and order["filled"] == 0.5


def test_postgres_url_is_an_empty_schema_of_our_own(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (7)")
        assert conn.execute("SELECT x FROM t").fetchone() == (7,)
'''


def test_a_user_project_uses_every_plugin_fixture(install: Install, cache: Path) -> None:
    tests = install.project / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    proc = _check(
        install.run(
            ["pytest", "-q", "-p", "no:cacheprovider", "tests/test_user.py"],
            install.env(cache),
            timeout=600,
        )
    )
    assert "6 passed" in proc.stdout, proc.stdout


def test_a_foundry_user_needs_no_setup_anvil_comes_from_path(
    install: Install, tmp_path: Path
) -> None:
    assert REPO is not None
    foundry = tmp_path / "foundry-bin"
    foundry.mkdir()
    pinned = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    os.symlink(pinned, foundry / "anvil")
    env = install.env(tmp_path, path_extra=(foundry,))
    for summary in _devnet_up(install, env):
        l1 = summary["l1"]
        assert isinstance(l1, dict)
        assert Path(os.readlink(f"/proc/{l1['pid']}/exe")) == pinned.resolve()
    assert not (tmp_path / "oms-chain" / "node_modules").exists()
    assert shutil.which("anvil", path=env["PATH"]) == str(foundry / "anvil")
