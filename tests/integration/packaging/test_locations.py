"""Where a checkout finds toolchain, books and artifacts; what ``$OMS_CHAIN_HOME`` changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from oms_chain._locations import checkout_root, home, in_checkout, setup_hint
from oms_chain.chain.addressbook import UnknownAddress, deployments_dir, load_address_book
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.paths import node_bin, node_modules, protocol_artifact_file
from oms_chain.devnet.solidity import artifacts_dir, load_artifact
from oms_chain.devnet.toolchain import toolchain_pins
from oms_chain.model.errors import ToolchainMissing

ROOT = checkout_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="runs from the source checkout")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("OMS_CHAIN_HOME", "OMS_CHAIN_DEPLOYMENTS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _fake_tool(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    return tool


def test_a_checkout_uses_its_own_folders_and_says_make_setup(clean_env: pytest.MonkeyPatch) -> None:
    assert in_checkout() and home() == ROOT
    assert node_modules() == ROOT / "node_modules"
    assert artifacts_dir() == ROOT / "build" / "contracts"
    assert deployments_dir() == ROOT / "deployments"
    assert setup_hint() == "run `make setup`"


def test_in_a_checkout_its_pinned_anvil_wins_over_one_on_path(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_tool(tmp_path / "bin", "anvil")
    clean_env.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert node_bin("anvil").is_relative_to(ROOT / "node_modules")


def test_with_oms_chain_home_anvil_on_path_wins_over_the_homes_toolchain(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake_tool(tmp_path / "bin", "anvil")
    clean_env.setenv("OMS_CHAIN_HOME", str(tmp_path / "home"))
    clean_env.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert node_bin("anvil") == fake


def test_with_oms_chain_home_and_no_anvil_anywhere_the_error_names_both_places(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("OMS_CHAIN_HOME", str(tmp_path))
    clean_env.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolchainMissing) as info:
        node_bin("forge")
    message = str(info.value)
    assert str(tmp_path / "node_modules" / "@foundry-rs") in message and "PATH" in message
    assert "make setup" in message


def test_a_book_in_the_writable_folder_wins_and_committed_books_stay_visible(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("OMS_CHAIN_DEPLOYMENTS", str(tmp_path))
    data = json.loads((ROOT / "deployments" / "mainnet.json").read_text())
    assert load_address_book(1).name == data["name"]
    data["name"] = "my-mainnet"
    (tmp_path / "mine.json").write_text(json.dumps(data))
    assert load_address_book(1).name == "my-mainnet"
    with pytest.raises(UnknownAddress, match=str(tmp_path)):
        load_address_book(999_999_999)


def test_an_explicit_folder_is_the_only_one_searched(tmp_path: Path) -> None:
    with pytest.raises(UnknownAddress, match="no address book for chain 1 in"):
        load_address_book(1, tmp_path)


def test_in_a_checkout_artifacts_come_from_node_modules_and_build(
    clean_env: pytest.MonkeyPatch,
) -> None:
    rel = "@uniswap/v2-core/build/UniswapV2Pair.json"
    assert protocol_artifact_file(rel) == ROOT / "node_modules" / rel
    assert load_protocol_artifact("UniswapV2Pair").path == ROOT / "node_modules" / rel
    assert load_artifact("DevToken")["contractName"] == "DevToken"


def test_the_toolchain_pins_are_the_package_json_versions() -> None:
    assert ROOT is not None
    package = json.loads((ROOT / "package.json").read_text())
    pins = toolchain_pins()
    assert pins["solc"] == package["dependencies"]["solc"]
    optional = package["optionalDependencies"]
    assert pins["@foundry-rs/anvil-linux-amd64"] == optional["@foundry-rs/anvil-linux-amd64"]
    assert pins["@foundry-rs/forge-linux-amd64"] == optional["@foundry-rs/forge-linux-amd64"]
