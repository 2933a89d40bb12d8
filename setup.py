"""Wheel build step: put the run-time data a user needs into ``oms_chain/_data``.

Everything else about the package is in ``pyproject.toml``. Building a wheel from a checkout
(after ``make setup``) adds, under ``oms_chain/_data`` of the wheel only (the checkout itself is
not changed):

* ``deployments/*.json``  the committed address books (not the devnet's ``devnet-*.json``);
* ``contracts/*.json``    our contract artifacts, compiled now (incremental) from ``contracts/src``;
* ``protocol/...``        the third-party artifacts the devnet deploys (WETH9, Uniswap v2/v3 core
  and periphery with QuoterV2, Safe 1.4.1), copied from ``node_modules`` under the same relative
  paths, reduced to the fields we read (abi, bytecode, link references);
* ``solc/solc``           the solc-js shim (``scripts/solc``);
* ``toolchain/package.json`` the npm pins ``oms setup`` installs (anvil, forge, solc).

An sdist carries that folder already built, so a wheel built from the sdist needs no npm.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
DATA = Path("oms_chain") / "_data"
#: Fields of a third-party artifact that oms_chain.devnet.artifacts reads.
_PROTOCOL_FIELDS = ("contractName", "abi", "bytecode", "linkReferences")


def _fail(message: str) -> None:
    sys.stderr.write(f"oms-chain wheel build: {message}\n")
    raise SystemExit(1)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")


def collect_data(target: Path) -> None:
    """Write the run-time data of a checkout into ``target`` (``.../oms_chain/_data``)."""
    sys.path.insert(0, str(ROOT))
    try:
        from oms_chain.devnet.artifacts import PROTOCOL_ARTIFACTS
        from oms_chain.devnet.solidity import build_contracts
        from oms_chain.model.errors import OmsError
    finally:
        sys.path.remove(str(ROOT))
    node_modules = ROOT / "node_modules"
    if not node_modules.is_dir():
        _fail(f"{node_modules} is missing; run `make setup` before building a wheel")
    if target.exists():
        shutil.rmtree(target)

    books = (ROOT / "deployments").glob("*.json")
    for book in sorted(p for p in books if not p.name.startswith("devnet-")):
        _write_json(target / "deployments" / book.name, json.loads(book.read_text()))

    try:
        report = build_contracts()
    except OmsError as exc:
        _fail(f"contract build failed: {exc}")
    (target / "contracts").mkdir(parents=True)
    for artifact in sorted(p for p in report.out_dir.glob("*.json") if not p.name.startswith(".")):
        shutil.copyfile(artifact, target / "contracts" / artifact.name)

    for name, rel in sorted(PROTOCOL_ARTIFACTS.items()):
        source = node_modules / rel
        if not source.is_file():
            _fail(f"protocol artifact {name} not found at {source}; run `make setup`")
        data = json.loads(source.read_text())
        _write_json(target / "protocol" / rel, {k: data[k] for k in _PROTOCOL_FIELDS if k in data})

    shim = target / "solc" / "solc"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "scripts" / "solc", shim)
    shim.chmod(0o755)

    package = json.loads((ROOT / "package.json").read_text())
    pins = {**package.get("dependencies", {}), **package.get("optionalDependencies", {})}
    tools = {
        name: version
        for name, version in pins.items()
        if name == "solc" or name.startswith(("@foundry-rs/anvil-", "@foundry-rs/forge-"))
    }
    manifest = {"name": "oms-chain-toolchain", "private": True, "dependencies": tools}
    _write_json(target / "toolchain" / "package.json", manifest)


def _in_checkout() -> bool:
    return (ROOT / "contracts" / "src").is_dir()


class BuildPyWithData(build_py):
    """``build_py`` that also writes ``oms_chain/_data`` into the build folder."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # `pip install -e .`: the checkout's own files are used in place
        if _in_checkout():
            collect_data(Path(self.build_lib) / DATA)
        elif not (Path(self.build_lib) / DATA / "contracts").is_dir():
            _fail("no oms_chain/_data and no checkout to build it from")


class SdistWithData(sdist):
    """``sdist`` that carries ``oms_chain/_data`` built from the checkout."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        collect_data(Path(base_dir) / DATA)


setup(cmdclass={"build_py": BuildPyWithData, "sdist": SdistWithData})
