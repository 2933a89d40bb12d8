"""Where oms-chain finds its files: a source checkout, or an installed wheel plus a user cache.

Two ways to run oms-chain:

* **From a checkout** (``pip install -e .``, ``make setup``): the package sits in the repository,
  whose ``node_modules``, ``build`` and ``deployments`` folders are used as they are.
* **From a wheel** (``pip install oms-chain``): the package carries its read-only data in
  ``oms_chain/_data`` (address books, compiled contract artifacts, third-party protocol
  artifacts, the solc-js shim and the npm toolchain pins), and everything written at run time
  (the npm toolchain that ``oms setup`` installs, devnet state, devnet address books, the demo
  store) goes to a per-user folder, ``$XDG_CACHE_HOME/oms-chain`` (default
  ``~/.cache/oms-chain``).

``$OMS_CHAIN_HOME`` overrides that writable folder in both cases. This module sits outside the
layers (it imports nothing of ours) so that ``chain`` and ``devnet`` can both use it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "HOME_ENV",
    "checkout_root",
    "home",
    "in_checkout",
    "package_data",
    "setup_hint",
    "user_cache_home",
]

#: Environment variable naming the writable oms-chain folder (toolchain, devnet state, books).
HOME_ENV = "OMS_CHAIN_HOME"

_PACKAGE = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or ``None`` for an installed wheel.

    A checkout is recognised by the folder above the package holding ``pyproject.toml`` and
    ``contracts/src``; ``site-packages`` holds neither.
    """
    root = _PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "contracts" / "src").is_dir():
        return root
    return None


def in_checkout() -> bool:
    """True when running from a source checkout (see :func:`checkout_root`)."""
    return checkout_root() is not None


def user_cache_home() -> Path:
    """The per-user folder of a wheel install: ``$XDG_CACHE_HOME/oms-chain`` or
    ``~/.cache/oms-chain``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "oms-chain").resolve()


def home() -> Path:
    """The writable oms-chain folder.

    ``$OMS_CHAIN_HOME`` if set, else the checkout root when running from a checkout (so its
    ``node_modules`` and ``build`` keep being used), else :func:`user_cache_home`.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    root = checkout_root()
    return root if root is not None else user_cache_home()


def package_data() -> Path:
    """``oms_chain/_data``: the read-only data a wheel carries (absent in a checkout)."""
    return _PACKAGE / "_data"


def setup_hint() -> str:
    """The command that installs what is missing: ``make setup`` in a checkout, else
    ``oms setup``."""
    return "run `make setup`" if in_checkout() else "run `oms setup`"
