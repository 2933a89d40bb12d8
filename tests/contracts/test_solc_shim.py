"""The solc-js shim (scripts/solc) and the contract build (oms_chain.devnet.solidity)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import solcx
from packaging.version import Version
from solcx.wrapper import get_solc_version

from oms_chain.devnet.paths import node_modules, repo_root
from oms_chain.devnet.solidity import (
    CompileError,
    build_contracts,
    find_solc,
    load_artifact,
)
from oms_chain.model.errors import ToolchainMissing

SHIM = repo_root() / "scripts" / "solc"

SMALL = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract Counter {
    uint256 public count;
    function bump(uint256 by) external returns (uint256) { count += by; return count; }
}
"""


def _standard_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }


def _write_fake_solc(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "solc"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'solc, the solidity compiler commandline interface'\n"
        f"echo 'Version: {version}+commit.00000000.Linux.g++'\n"
    )
    fake.chmod(0o755)
    return fake


@pytest.fixture
def no_solcx_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """py-solc-x sees an empty install folder."""
    empty = tmp_path / "solcx-empty"
    empty.mkdir()
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(empty))


# --- the shim -------------------------------------------------------------------------------


def test_shim_version_prints_two_native_lines_parsed_by_py_solc_x_as_0_8_37() -> None:
    out = subprocess.run([SHIM, "--version"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith("Version: 0.8.37+commit.")
    assert lines[1].endswith(".Linux.g++")
    assert len(lines) == 2
    assert get_solc_version(SHIM) == Version("0.8.37")
    assert str(get_solc_version(SHIM, with_commit_hash=True)).startswith("0.8.37+commit.")


def test_shim_compile_gives_the_same_bytecode_as_solc_js_called_directly() -> None:
    data = _standard_input({"Counter.sol": SMALL})
    via_shim = solcx.compile_standard(data, solc_binary=SHIM)
    direct = subprocess.run(
        [
            "node",
            "-e",
            "const s = require(process.argv[1]);"
            "process.stdout.write(s.compile(require('fs').readFileSync(0, 'utf8')));",
            str(node_modules() / "solc"),
        ],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    want = json.loads(direct)["contracts"]["Counter.sol"]["Counter"]["evm"]["bytecode"]["object"]
    got = via_shim["contracts"]["Counter.sol"]["Counter"]["evm"]["bytecode"]["object"]
    assert got == want
    assert len(got) > 100


def test_shim_reads_imports_from_base_and_include_paths_only_inside_allowed_dirs(
    tmp_path: Path,
) -> None:
    project, lib, secret = tmp_path / "project", tmp_path / "lib", tmp_path / "secret"
    for folder in (project, lib, secret):
        folder.mkdir()
    header = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
    (lib / "Base.sol").write_text(header + "contract Base { uint256 public x = 7; }\n")
    (secret / "Hidden.sol").write_text(header + "contract Hidden {}\n")
    sources = {
        "Main.sol": header + 'import "Base.sol";\ncontract Main is Base {}\n',
        "Peek.sol": header + f'import "{secret / "Hidden.sol"}";\ncontract Peek {{}}\n',
    }

    def run(*flags: str) -> tuple[dict[str, Any], list[str]]:
        proc = subprocess.run(
            [SHIM, *flags, "--standard-json"],
            input=json.dumps(_standard_input(sources)),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        )
        output: dict[str, Any] = json.loads(proc.stdout)
        errors = [e["message"] for e in output.get("errors", []) if e["severity"] == "error"]
        return output, errors

    _, errors = run("--base-path", str(project))
    assert any("Base.sol" in e and "File not found" in e for e in errors), errors
    assert any("outside of allowed directories" in e for e in errors), errors

    output, errors = run(
        "--base-path", str(project), "--include-path", str(lib), f"--allow-paths={secret}"
    )
    assert errors == []
    assert "Main" in output["contracts"]["Main.sol"]
    assert "Base" in output["contracts"]["Base.sol"]
    assert "Hidden" in output["contracts"][str(secret / "Hidden.sol")]


def test_shim_without_a_mode_exits_1_with_a_message_on_stderr() -> None:
    proc = subprocess.run([SHIM, "Token.sol"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "only --version and --standard-json are supported" in proc.stderr


def test_shim_without_node_modules_solc_fails_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    lonely = tmp_path / "scripts" / "solc"
    shutil.copy2(SHIM, lonely)
    proc = subprocess.run([lonely, "--version"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "npm package 'solc' not found" in proc.stderr
    assert "make setup" in proc.stderr


# --- find_solc --------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_solcx_installs")
def test_find_solc_without_node_or_native_solc_raises_toolchain_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(ToolchainMissing, match="make setup"):
        find_solc()


@pytest.mark.usefixtures("no_solcx_installs")
def test_find_solc_falls_back_to_the_shim_when_only_node_is_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = shutil.which("node")
    assert node is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert find_solc().resolve() == SHIM.resolve()


@pytest.mark.usefixtures("no_solcx_installs")
def test_find_solc_prefers_a_recent_native_solc_and_skips_an_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = shutil.which("node")
    assert node is not None
    recent = _write_fake_solc(tmp_path / "recent", "0.8.30")
    old = _write_fake_solc(tmp_path / "old", "0.8.19")
    (tmp_path / "old" / "node").symlink_to(node)
    monkeypatch.setenv("PATH", f"{recent.parent}{os.pathsep}{old.parent}")
    assert find_solc() == recent
    monkeypatch.setenv("PATH", str(old.parent))
    assert find_solc().resolve() == SHIM.resolve()


# --- build_contracts / load_artifact ------------------------------------------------------


def test_invalid_source_raises_compile_error_naming_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Broken.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "contract Broken {\n    function f() external { undefinedThing(); }\n}\n"
    )
    with pytest.raises(CompileError) as info:
        build_contracts(src_dir=src, out_dir=tmp_path / "out", solc_binary=SHIM)
    message = str(info.value)
    assert "Broken.sol:4:" in message
    assert "Undeclared identifier" in message
    assert info.value.errors and info.value.errors[0]["severity"] == "error"
    assert not (tmp_path / "out" / "Broken.json").exists()


def test_build_is_incremental_and_rebuilds_when_a_source_changes(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    counter = src / "Counter.sol"
    counter.write_text(SMALL)
    (src / "Extra.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract Extra {}\n"
    )

    first = build_contracts(src_dir=src, out_dir=out, solc_binary=SHIM)
    assert first.compiled == ("Counter", "Extra")
    artifact = json.loads((out / "Counter.json").read_text())
    assert set(artifact) >= {"abi", "bytecode", "deployedBytecode", "metadata", "sourceName"}
    assert artifact["bytecode"].startswith("0x6080")
    written_at = (out / "Counter.json").stat().st_mtime_ns

    second = build_contracts(src_dir=src, out_dir=out, solc_binary=SHIM)
    assert second.up_to_date
    assert (out / "Counter.json").stat().st_mtime_ns == written_at

    os.utime(counter)  # a new mtime with the same content: hashes match, nothing to do
    assert build_contracts(src_dir=src, out_dir=out, solc_binary=SHIM).up_to_date

    counter.write_text(SMALL.replace("count += by", "count += by + 1"))
    (src / "Extra.sol").unlink()
    third = build_contracts(src_dir=src, out_dir=out, solc_binary=SHIM)
    assert third.compiled == ("Counter",)
    assert third.removed == ("Extra",)
    assert not (out / "Extra.json").exists()
    assert json.loads((out / "Counter.json").read_text())["bytecode"] != artifact["bytecode"]


def test_our_contracts_build_into_artifacts_with_abi_and_bytecode(tmp_path: Path) -> None:
    report = build_contracts(out_dir=tmp_path, solc_binary=SHIM)
    assert {"DevToken", "DevOracle"} <= set(report.compiled)
    token = load_artifact("DevToken", out_dir=tmp_path)
    assert token["sourceName"] == "contracts/src/DevToken.sol"
    functions = {item.get("name") for item in token["abi"]}
    assert {"mint", "transfer", "approve", "transferFrom", "setFaucet", "decimals"} <= functions
    oracle = load_artifact("DevOracle", out_dir=tmp_path)
    functions = {item.get("name") for item in oracle["abi"]}
    assert {"latestRoundData", "getRoundData", "description", "decimals"} <= functions
    assert json.loads(oracle["metadata"])["settings"]["evmVersion"] == "cancun"


def test_load_artifact_of_unknown_name_names_the_contract_and_make_setup(
    tmp_path: Path,
) -> None:
    with pytest.raises(ToolchainMissing) as info:
        load_artifact("NoSuchContract", out_dir=tmp_path)
    assert "'NoSuchContract'" in str(info.value)
    assert "make setup" in str(info.value)


def test_npm_imports_resolve_through_node_modules_and_ship_no_artifacts(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "UsesLibraries.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        'import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";\n'
        "import {AggregatorV3Interface} from "
        '"@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";\n'
        'contract Positions is ERC1155("") {\n'
        "    function price(AggregatorV3Interface feed) external view returns (int256 a) {\n"
        "        (, a,,,) = feed.latestRoundData();\n    }\n}\n"
    )
    report = build_contracts(src_dir=src, out_dir=out, solc_binary=SHIM)
    assert report.compiled == ("Positions",)
    assert sorted(p.name for p in out.glob("[!.]*.json")) == ["Positions.json"]
    metadata = json.loads(load_artifact("Positions", out_dir=out)["metadata"])
    assert "node_modules/@openzeppelin/contracts/token/ERC1155/ERC1155.sol" in metadata["sources"]
    assert ":@openzeppelin/=node_modules/@openzeppelin/" in metadata["settings"]["remappings"]


def test_options_contracts_build_below_the_contract_size_limit() -> None:
    build_contracts()  # the checkout's build (incremental: nothing to do after make setup)
    for name in ("OptionsMarket", "BatchExecutor"):
        runtime = load_artifact(name)["deployedBytecode"]
        assert 0 < (len(runtime) - 2) // 2 <= 24_576, name  # EIP-170
