"""Build our own Solidity contracts (``contracts/src``) into ``build/contracts/<Name>.json``.

The compiler is a native ``solc`` when one is installed (on ``PATH`` or by py-solc-x), else the
solc-js shim in ``scripts/solc`` run by ``node``. All sources are compiled together through the
standard-JSON interface with the optimizer on (200 runs) for the ``cancun`` EVM, which every node
we run (Anvil 1.7 defaults to a later fork) executes. The build is incremental: a manifest records
the hash of every source, the compiler version and the settings, and nothing is compiled when
none of them changed. ``python -m oms_chain.devnet.solidity`` builds (``make setup`` runs it).

A wheel carries the artifacts built when it was made (``oms_chain/_data/contracts``);
:func:`load_artifact` reads them there, and from ``build/contracts`` in a checkout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from packaging.version import InvalidVersion, Version
from solcx.exceptions import SolcError, SolcNotInstalled
from solcx.install import get_executable
from solcx.wrapper import get_solc_version

from oms_chain.devnet.paths import build_dir, node_modules, package_data, repo_root, setup_hint
from oms_chain.model.errors import DevnetError, ToolchainMissing

__all__ = [
    "EVM_VERSION",
    "IMPORT_PACKAGES",
    "MIN_SOLC_VERSION",
    "OPTIMIZER_RUNS",
    "REMAPPINGS",
    "BuildReport",
    "CompileError",
    "artifacts_dir",
    "build_contracts",
    "build_output_dir",
    "find_solc",
    "load_artifact",
    "main",
    "shim_path",
]

EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
#: Oldest compiler our sources accept (``pragma solidity ^0.8.24``).
MIN_SOLC_VERSION = Version("0.8.24")

#: npm packages our sources import, mapped the way foundry.toml maps them for forge: an import
#: of ``@openzeppelin/...`` is the source unit ``node_modules/@openzeppelin/...`` of the root.
IMPORT_PACKAGES = ("@openzeppelin/contracts", "@chainlink/contracts")
REMAPPINGS = ("@openzeppelin/=node_modules/@openzeppelin/", "@chainlink/=node_modules/@chainlink/")

_MANIFEST = ".manifest.json"
_MANIFEST_FORMAT = 1
_OUTPUTS = [
    "abi",
    "metadata",
    "evm.bytecode.object",
    "evm.bytecode.linkReferences",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.linkReferences",
]


class CompileError(DevnetError):
    """solc rejected our sources (or could not run); the message holds solc's own diagnostics."""

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        #: The standard-JSON error objects solc reported, if any.
        self.errors: tuple[Mapping[str, Any], ...] = tuple(errors)


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What :func:`build_contracts` did.

    ``compiled`` is empty when the build was already up to date; ``warnings`` holds solc's
    formatted warnings of this compilation.
    """

    out_dir: Path
    solc: Path
    solc_version: str
    compiled: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def up_to_date(self) -> bool:
        """True when nothing had to be compiled."""
        return not self.compiled and not self.removed


def shim_path() -> Path:
    """The solc-js shim: ``scripts/solc`` of the checkout, or of the per-user folder where
    ``oms setup`` puts it beside npm's solc-js."""
    return repo_root() / "scripts" / "solc"


def build_output_dir() -> Path:
    """Where :func:`build_contracts` writes artifacts by default: ``build/contracts``."""
    return build_dir() / "contracts"


def artifacts_dir() -> Path:
    """Where artifacts of our contracts are read: the wheel's ``_data/contracts`` when the
    package carries them, else ``build/contracts``."""
    packaged = package_data() / "contracts"
    return packaged if packaged.is_dir() else build_output_dir()


def _native_version(binary: Path) -> Version | None:
    try:
        return get_solc_version(binary)
    except (OSError, subprocess.SubprocessError, SolcError, InvalidVersion, ValueError):
        return None


def find_solc() -> Path:
    """Return the ``solc`` to compile with.

    In order of preference: a native ``solc`` on ``PATH``, one installed by py-solc-x (newest
    first), each only if it is at least :data:`MIN_SOLC_VERSION`; else the solc-js shim
    ``scripts/solc`` when ``node`` and ``node_modules/solc`` are present.

    Raises:
        ToolchainMissing: no usable compiler; the message says to run ``make setup`` (in a
            checkout) or ``oms setup``.
    """
    shim = shim_path().resolve()
    on_path = shutil.which("solc")
    candidates: list[Path] = []
    if on_path and Path(on_path).resolve() != shim:
        candidates.append(Path(on_path))
    try:
        installed = sorted(solcx.get_installed_solc_versions(), reverse=True)
    except OSError:
        installed = []
    for version in installed:
        if version >= MIN_SOLC_VERSION:
            try:
                candidates.append(Path(get_executable(version)))
            except SolcNotInstalled:
                continue
    for candidate in candidates:
        found = _native_version(candidate)
        if found is not None and found >= MIN_SOLC_VERSION:
            return candidate

    if not shim.is_file():
        raise ToolchainMissing(
            f"no solc >= {MIN_SOLC_VERSION} found and the solc-js shim {shim} is missing; "
            f"{setup_hint()}"
        )
    if shutil.which("node") is None:
        raise ToolchainMissing(
            f"no solc >= {MIN_SOLC_VERSION} found and `node` (needed by the solc-js shim) is not "
            f"on PATH; install Node.js, then {setup_hint()}"
        )
    if not (node_modules() / "solc" / "package.json").is_file():
        raise ToolchainMissing(
            f"no solc >= {MIN_SOLC_VERSION} found and npm's solc-js is not installed under "
            f"{node_modules()}; {setup_hint()}"
        )
    return shim


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _binary_fingerprint(binary: Path) -> list[Any]:
    """Identity of a compiler install, so its version need not be asked again when unchanged."""
    parts: list[Path] = [binary.resolve()]
    if binary.resolve() == shim_path().resolve():
        parts += [node_modules() / "solc" / "package.json", node_modules() / "solc" / "soljson.js"]
    fingerprint: list[Any] = []
    for part in parts:
        try:
            st = part.stat()
        except OSError:
            fingerprint.append([str(part), None])
        else:
            fingerprint.append([str(part), st.st_size, st.st_mtime_ns])
    return fingerprint


def _compiler_version(binary: Path, previous: Mapping[str, Any]) -> str:
    fingerprint = _binary_fingerprint(binary)
    cached = previous.get("compiler", {})
    if cached.get("fingerprint") == fingerprint and isinstance(cached.get("version"), str):
        return str(cached["version"])
    try:
        return str(get_solc_version(binary, with_commit_hash=True))
    except (OSError, subprocess.SubprocessError, SolcError, InvalidVersion) as exc:
        raise ToolchainMissing(f"cannot run {binary} --version ({exc}); {setup_hint()}") from exc


def _settings() -> dict[str, Any]:
    return {
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "evmVersion": EVM_VERSION,
        "remappings": list(REMAPPINGS),
        "outputSelection": {"*": {"*": list(_OUTPUTS)}},
    }


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == _MANIFEST_FORMAT else {}


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _hex(obj: Any) -> str:
    raw = obj if isinstance(obj, str) else ""
    return raw if raw.startswith("0x") else f"0x{raw}"


def _format_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(
        str(e.get("formattedMessage") or e.get("message") or e).rstrip() for e in errors
    )


def _compile(
    binary: Path, root: Path, sources: Mapping[str, Path], solc_version: str
) -> dict[str, Any]:
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": _settings(),
    }
    try:
        output: dict[str, Any] = solcx.compile_standard(
            standard_input,
            base_path=root,
            # node_modules may be a symlink out of the checkout (a shared toolchain folder)
            allow_paths=[root, node_modules().resolve()],
            solc_binary=binary,
        )
    except SolcError as exc:
        errors = [e for e in (exc.error_dict or []) if e.get("severity") == "error"]
        if errors:
            raise CompileError(
                f"solc {solc_version} rejected contracts/src:\n{_format_errors(errors)}", errors
            ) from None
        detail = (exc.stderr_data or exc.message or "").strip()
        raise CompileError(
            f"{binary} failed (exit {exc.return_code}): {detail}; did you {setup_hint()}?"
        ) from None
    return output


def build_contracts(
    *,
    src_dir: Path | None = None,
    out_dir: Path | None = None,
    solc_binary: Path | None = None,
    force: bool = False,
) -> BuildReport:
    """Compile every ``*.sol`` under ``src_dir`` (default ``contracts/src``) when anything changed.

    Writes ``<ContractName>.json`` to ``out_dir`` (default ``build/contracts``) with ``abi``,
    ``bytecode`` and ``deployedBytecode`` (0x-hex), ``metadata`` (solc's JSON string),
    ``sourceName`` (path relative to the repository root) and ``compiler``. Sources are
    compiled together; source unit names are relative to the repository root, as forge names
    them; imports of ``@openzeppelin/`` and ``@chainlink/`` resolve to ``node_modules`` (see
    :data:`REMAPPINGS`) and get no artifact of their own. Artifacts of contracts that no longer
    exist are removed.

    Raises:
        ToolchainMissing: no compiler (see :func:`find_solc`).
        CompileError: solc reported errors (message holds them, with file and line) or two
            contracts share a name.
    """
    root = repo_root()
    src = (src_dir or root / "contracts" / "src").resolve()
    out = (out_dir or build_output_dir()).resolve()
    binary = solc_binary or find_solc()
    manifest_path = out / _MANIFEST
    previous = _read_manifest(manifest_path)

    files = sorted(p for p in src.rglob("*.sol") if p.is_file())
    sources: dict[str, Path] = {}
    for path in files:
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = path.as_posix()
        sources[name] = path
    hashes = {name: _sha256(path) for name, path in sources.items()}
    for package in IMPORT_PACKAGES:
        # imported library code changes only with its npm version: a new version rebuilds
        manifest = node_modules() / package / "package.json"
        hashes[f"node_modules/{package}/package.json"] = (
            _sha256(manifest) if manifest.is_file() else "missing"
        )
    solc_version = _compiler_version(binary, previous)
    settings = _settings()

    old_artifacts: list[str] = list(previous.get("artifacts", []))
    up_to_date = (
        not force
        and previous.get("sources") == hashes
        and previous.get("compiler", {}).get("version") == solc_version
        and previous.get("settings") == settings
        and all((out / f"{name}.json").is_file() for name in old_artifacts)
    )
    if up_to_date:
        return BuildReport(out, binary, solc_version)

    out.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    if sources:
        output = _compile(binary, root, sources, solc_version)
        warnings = [
            str(e.get("formattedMessage") or e.get("message")).rstrip()
            for e in output.get("errors", [])
            if e.get("severity") != "error"
        ]
        for source_name, contracts in sorted(output.get("contracts", {}).items()):
            if source_name not in sources:
                continue  # an imported library's unit (node_modules/...): not ours to ship
            for contract_name, data in sorted(contracts.items()):
                if contract_name in artifacts:
                    other = artifacts[contract_name]["sourceName"]
                    raise CompileError(
                        f"contract name {contract_name!r} is defined in both {other} and "
                        f"{source_name}; artifacts are stored by name, so rename one"
                    )
                evm = data.get("evm", {})
                artifacts[contract_name] = {
                    "contractName": contract_name,
                    "sourceName": source_name,
                    "abi": data.get("abi", []),
                    "bytecode": _hex(evm.get("bytecode", {}).get("object")),
                    "deployedBytecode": _hex(evm.get("deployedBytecode", {}).get("object")),
                    "linkReferences": evm.get("bytecode", {}).get("linkReferences", {}),
                    "deployedLinkReferences": evm.get("deployedBytecode", {}).get(
                        "linkReferences", {}
                    ),
                    "metadata": data.get("metadata", ""),
                    "compiler": {
                        "name": "solc",
                        "version": solc_version,
                        "evmVersion": EVM_VERSION,
                        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
                    },
                }
    for name, artifact in artifacts.items():
        _write_json(out / f"{name}.json", artifact)
    removed = sorted(set(old_artifacts) - set(artifacts))
    for name in removed:
        (out / f"{name}.json").unlink(missing_ok=True)
    _write_json(
        manifest_path,
        {
            "format": _MANIFEST_FORMAT,
            "compiler": {"version": solc_version, "fingerprint": _binary_fingerprint(binary)},
            "settings": settings,
            "sources": hashes,
            "artifacts": sorted(artifacts),
        },
    )
    return BuildReport(
        out, binary, solc_version, tuple(sorted(artifacts)), tuple(removed), tuple(warnings)
    )


def load_artifact(name: str, *, out_dir: Path | None = None) -> dict[str, Any]:
    """The artifact of one of our contracts, e.g. ``load_artifact("DevToken")``.

    Returns the dict written by :func:`build_contracts` (``abi``, ``bytecode``, ...).

    Raises:
        ToolchainMissing: the artifact has not been built; run ``make setup`` (checkout) or
            reinstall the wheel.
        DevnetError: the artifact file exists but is not valid JSON.
    """
    out = out_dir or artifacts_dir()
    path = out / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in out.glob("*.json")) if out.is_dir() else []
        hint = f" (built: {', '.join(known)})" if known else ""
        raise ToolchainMissing(
            f"no artifact for contract {name!r} at {path}{hint}; {setup_hint()} to build "
            "contracts/src"
        )
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise DevnetError(
            f"artifact {path} is not valid JSON ({exc}); delete it and {setup_hint()}"
        ) from exc
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the contracts, print what happened; exit 1 with solc's errors."""
    parser = argparse.ArgumentParser(
        prog="python -m oms_chain.devnet.solidity", description="Build contracts/src."
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    try:
        report = build_contracts(force=args.force)
    except DevnetError as exc:
        print(f"contract build failed: {exc}", file=sys.stderr)
        return 1
    for warning in report.warnings:
        print(warning, file=sys.stderr)
    where = os.path.relpath(report.out_dir)
    if report.up_to_date:
        print(f"contracts up to date in {where} (solc {report.solc_version})")
    else:
        print(
            f"compiled {len(report.compiled)} contracts into {where} with solc "
            f"{report.solc_version} ({report.solc})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
