"""Where the node toolchain, the build output and the packaged data live on this machine.

Two layouts (see :mod:`oms_chain._locations`): a source checkout uses its own ``node_modules``
and ``build`` folders; a wheel install uses a per-user folder (``~/.cache/oms-chain``, or
``$XDG_CACHE_HOME/oms-chain``) for everything written at run time and ``oms_chain/_data`` for
what the wheel carries. ``$OMS_CHAIN_HOME`` overrides the writable folder in both.

Foundry binaries (``anvil``, ``forge``, ``cast``) are looked for in the checkout's
``node_modules`` first (the pinned build the tests are written against), then on ``PATH``; outside a
checkout on ``PATH`` first (Foundry users have them), then in the per-user folder where
``oms setup`` installs them.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Literal

from oms_chain._locations import HOME_ENV, checkout_root, home, package_data, setup_hint
from oms_chain.model.errors import InvalidInput, ToolchainMissing

__all__ = [
    "HOME_ENV",
    "FoundryTool",
    "build_dir",
    "home",
    "node_bin",
    "node_modules",
    "npm_platform",
    "package_data",
    "protocol_artifact_file",
    "repo_root",
    "setup_hint",
]

FoundryTool = Literal["anvil", "forge", "cast"]
_FOUNDRY_TOOLS: frozenset[str] = frozenset({"anvil", "forge", "cast"})


def repo_root() -> Path:
    """The writable oms-chain folder (:func:`home`): the checkout root in a checkout.

    Kept under its old name for callers that build paths such as ``scripts/solc`` from it.
    """
    return home()


def node_modules() -> Path:
    """The ``node_modules`` folder of the toolchain (it may not exist before setup)."""
    return home() / "node_modules"


def build_dir() -> Path:
    """The ``build`` folder for generated output (devnet state, caches, the demo store)."""
    return home() / "build"


def protocol_artifact_file(relative: str) -> Path:
    """A third-party artifact by its path inside ``node_modules`` (e.g.
    ``@uniswap/v2-core/build/UniswapV2Pair.json``): the wheel's copy under
    ``_data/protocol`` when the package carries one, else the npm package's file."""
    packaged = package_data() / "protocol" / relative
    return packaged if packaged.is_file() else node_modules() / relative


def npm_platform() -> str:
    """The suffix of the Foundry npm package built for this machine, e.g. ``linux-amd64``."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "linux")
    machine = platform.machine().lower()
    arch = "arm64" if machine in {"arm64", "aarch64"} else "amd64"
    return f"{system}-{arch}"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def node_bin(tool: FoundryTool) -> Path:
    """Path of a Foundry binary (``anvil``, ``forge`` or ``cast``).

    In a checkout (without ``$OMS_CHAIN_HOME``) its ``node_modules`` build wins over ``PATH``;
    otherwise ``PATH`` wins over the per-user toolchain that ``oms setup`` installs.

    Raises:
        InvalidInput: ``tool`` is not one of the Foundry tools.
        ToolchainMissing: the binary is neither on ``PATH`` nor installed; the message says
            which setup command installs it.
    """
    if tool not in _FOUNDRY_TOOLS:
        raise InvalidInput(f"unknown Foundry tool {tool!r}; expected one of anvil, forge, cast")
    suffix = ".exe" if sys.platform == "win32" else ""
    package = f"@foundry-rs/{tool}-{npm_platform()}"
    installed = node_modules() / package / "bin" / f"{tool}{suffix}"
    found = shutil.which(tool)
    on_path = Path(found) if found else None
    pinned_first = checkout_root() is not None and checkout_root() == home()
    candidates = [installed, on_path] if pinned_first else [on_path, installed]
    for candidate in candidates:
        if candidate is not None and _executable(candidate):
            return candidate
    raise ToolchainMissing(
        f"{tool} not found on PATH nor at {installed} (npm package {package}); {setup_hint()} "
        f"or install Foundry so that `{tool}` is on PATH"
    )
