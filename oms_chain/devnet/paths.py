"""Where the repository, its node toolchain and its build output live on this machine.

The repository root is found from the package location (an editable install or a checkout) and
can be overridden with the ``OMS_CHAIN_HOME`` environment variable.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Literal

import oms_chain
from oms_chain.model.errors import InvalidInput, ToolchainMissing

__all__ = ["FoundryTool", "build_dir", "node_bin", "node_modules", "repo_root"]

#: Environment variable that points oms-chain at a repository root other than its own.
HOME_ENV = "OMS_CHAIN_HOME"

FoundryTool = Literal["anvil", "forge", "cast"]
_FOUNDRY_TOOLS: frozenset[str] = frozenset({"anvil", "forge", "cast"})


def repo_root() -> Path:
    """The repository root: ``$OMS_CHAIN_HOME`` if set, else the folder above the package."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(oms_chain.__file__).resolve().parents[1]


def node_modules() -> Path:
    """The ``node_modules`` folder of the repository (it may not exist before ``make setup``)."""
    return repo_root() / "node_modules"


def build_dir() -> Path:
    """The ``build`` folder for generated, uncommitted output (contract artifacts, caches)."""
    return repo_root() / "build"


def _npm_platform() -> str:
    """The suffix of the Foundry npm package built for this machine, e.g. ``linux-amd64``."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "linux")
    machine = platform.machine().lower()
    arch = "arm64" if machine in {"arm64", "aarch64"} else "amd64"
    return f"{system}-{arch}"


def node_bin(tool: FoundryTool) -> Path:
    """Path of a Foundry binary (``anvil``, ``forge`` or ``cast``) installed by npm.

    Raises:
        InvalidInput: ``tool`` is not one of the Foundry tools.
        ToolchainMissing: the binary is not installed; run ``make setup``.
    """
    if tool not in _FOUNDRY_TOOLS:
        raise InvalidInput(f"unknown Foundry tool {tool!r}; expected one of anvil, forge, cast")
    suffix = ".exe" if sys.platform == "win32" else ""
    package = f"@foundry-rs/{tool}-{_npm_platform()}"
    binary = node_modules() / package / "bin" / f"{tool}{suffix}"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise ToolchainMissing(
            f"{tool} not found at {binary} (npm package {package}); run `make setup`"
        )
    return binary
