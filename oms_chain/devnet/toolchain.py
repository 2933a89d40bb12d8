"""The npm toolchain (Anvil, forge, solc-js) for a wheel install: what ``oms setup`` does.

A wheel carries everything but the large binaries. ``oms setup`` installs the pinned npm
packages (``@foundry-rs/anvil-<platform>``, ``@foundry-rs/forge-<platform>``, ``solc``, the
versions of the repository's ``package.json``) into the per-user folder (``~/.cache/oms-chain``
or ``$OMS_CHAIN_HOME``) with ``npm install``, and puts the solc-js shim beside them
(``scripts/solc``). Anvil and forge already on ``PATH`` (a Foundry install) are used first, and
are not installed again. In a checkout it runs ``npm ci`` and the contract build, as ``make
setup`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms_chain._locations import checkout_root
from oms_chain.devnet.paths import home, node_modules, npm_platform, package_data
from oms_chain.model.errors import DevnetError, ToolchainMissing

__all__ = ["SetupReport", "install_toolchain", "toolchain_pins"]

#: Where a wheel keeps the toolchain pins (a ``package.json`` written at wheel-build time).
PINS_FILE = Path("toolchain") / "package.json"
#: Where a wheel keeps the solc-js shim.
SHIM_FILE = Path("solc") / "solc"
_FOUNDRY = ("anvil", "forge")
#: The only platform the npm registry serves Foundry builds for (see package.json).
_NPM_FOUNDRY_PLATFORM = "linux-amd64"
_NPM_TIMEOUT_S = 1800.0


@dataclass(frozen=True, slots=True)
class SetupReport:
    """What :func:`install_toolchain` did.

    ``installed`` lists ``name@version`` installed now (empty when all was in place);
    ``tools`` maps ``anvil``, ``forge`` and ``solc`` to the file that will be used.
    """

    home: Path
    installed: tuple[str, ...]
    tools: Mapping[str, Path]
    seconds: float

    @property
    def up_to_date(self) -> bool:
        """True when nothing had to be installed."""
        return not self.installed


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DevnetError(f"cannot read {path} ({exc}); reinstall oms-chain") from exc
    if not isinstance(data, dict):
        raise DevnetError(f"{path} is not a JSON object; reinstall oms-chain")
    return data


def toolchain_pins() -> dict[str, str]:
    """npm package -> exact version of the toolchain for this machine.

    Read from the checkout's ``package.json``, or the copy a wheel carries. Foundry packages
    are left out when npm has no build for this platform (install Foundry on ``PATH`` there).
    """
    root = checkout_root()
    source = root / "package.json" if root is not None else package_data() / PINS_FILE
    data = _read_json(source)
    merged: dict[str, str] = {
        **data.get("dependencies", {}),
        **data.get("optionalDependencies", {}),
    }
    pins: dict[str, str] = {}
    if "solc" in merged:
        pins["solc"] = str(merged["solc"])
    for tool in _FOUNDRY:
        name = f"@foundry-rs/{tool}-{npm_platform()}"
        if name in merged:
            pins[name] = str(merged[name])
    if "solc" not in pins:
        raise DevnetError(f"{source} pins no solc version; reinstall oms-chain")
    return pins


def _installed_version(package: str) -> str | None:
    try:
        data = json.loads((node_modules() / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version is not None else None


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainMissing(
            "`oms setup` needs npm (Node.js >= 18) to install anvil, forge and solc-js; install "
            "Node.js, or install Foundry so that `anvil` and `forge` are on PATH"
        )
    return npm


def _run_npm(args: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(
            [_npm(), *args, "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainMissing(
            f"npm {args[0]} in {cwd} did not finish in {_NPM_TIMEOUT_S:.0f} s; check the "
            "connection to the npm registry and run `oms setup` again"
        ) from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        detail = "; ".join(lines[-3:]) or f"exit {proc.returncode}"
        raise ToolchainMissing(f"npm {args[0]} in {cwd} failed: {detail}")


def _install_shim(target: Path) -> bool:
    """Copy the wheel's solc-js shim to ``target``; True when it was (re)written."""
    source = package_data() / SHIM_FILE
    if not source.is_file():
        raise DevnetError(f"this oms-chain carries no solc-js shim at {source}; reinstall it")
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, target)
    return True


def _tools(root: Path) -> dict[str, Path]:
    from oms_chain.devnet.paths import node_bin

    tools: dict[str, Path] = {}
    for tool in _FOUNDRY:
        try:
            tools[tool] = node_bin(tool)  # type: ignore[arg-type]
        except ToolchainMissing:
            continue
    shim = root / "scripts" / "solc"
    if shim.is_file():
        tools["solc"] = shim
    return tools


def _setup_checkout(root: Path, progress: Callable[[str], None], started: float) -> SetupReport:
    from oms_chain.devnet.solidity import build_contracts

    pins = toolchain_pins()
    missing = [f"{p}@{v}" for p, v in pins.items() if _installed_version(p) != v]
    if missing:
        progress(f"installing the npm toolchain into {root / 'node_modules'} (npm ci) ...")
        _run_npm(["ci"], root)
    report = build_contracts()
    if not report.up_to_date:
        progress(f"compiled {len(report.compiled)} contracts into {report.out_dir}")
    return SetupReport(root, tuple(missing), _tools(root), time.monotonic() - started)


def install_toolchain(*, progress: Callable[[str], None] = print) -> SetupReport:
    """Install what the devnet needs at run time into the per-user folder; idempotent.

    ``progress`` receives one line before a download starts and one when it is done.

    Raises:
        ToolchainMissing: npm is missing or failed (the message holds npm's last lines).
        DevnetError: this install of oms-chain lacks its packaged data.
    """
    started = time.monotonic()
    root = home()
    if checkout_root() is not None and checkout_root() == root:
        return _setup_checkout(root, progress, started)

    pins = toolchain_pins()
    on_path = {tool for tool in _FOUNDRY if shutil.which(tool)}
    wanted = {
        package: version
        for package, version in pins.items()
        if not any(package == f"@foundry-rs/{tool}-{npm_platform()}" for tool in on_path)
    }
    missing = {p: v for p, v in wanted.items() if _installed_version(p) != v}
    installed: list[str] = []
    if missing:
        names = ", ".join(f"{p}@{v}" for p, v in sorted(missing.items()))
        progress(f"installing {names} into {root} with npm (once; about 130 MB) ...")
        root.mkdir(parents=True, exist_ok=True)
        manifest = {
            "name": "oms-chain-toolchain",
            "private": True,
            "description": "npm toolchain of oms-chain, installed by `oms setup`",
            "dependencies": dict(sorted(wanted.items())),
        }
        (root / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _run_npm(["install", "--prefer-offline"], root)
        still = [p for p, v in missing.items() if _installed_version(p) != v]
        if still:
            raise ToolchainMissing(
                f"npm install in {root} finished but {', '.join(still)} is not there; "
                "run `oms setup` again"
            )
        installed = [f"{p}@{v}" for p, v in sorted(missing.items())]
    if _install_shim(root / "scripts" / "solc"):
        installed.append("scripts/solc")
    tools = _tools(root)
    absent = [tool for tool in _FOUNDRY if tool not in tools]
    if absent and npm_platform() != _NPM_FOUNDRY_PLATFORM:
        raise ToolchainMissing(
            f"npm has Foundry builds for {_NPM_FOUNDRY_PLATFORM} only, not {npm_platform()}; "
            f"install Foundry so that {' and '.join(absent)} are on PATH"
        )
    seconds = time.monotonic() - started
    if installed:
        progress(f"installed in {seconds:.1f} s")
    return SetupReport(root, tuple(installed), tools, seconds)
