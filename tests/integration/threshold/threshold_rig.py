"""Helpers of the threshold integration tests: run the ``oms`` CLI as a separate process."""

from __future__ import annotations

import subprocess
import sys


def oms(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m oms_chain.cli ARGS`` with ``env``; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
