"""Waiting on real components in tests: poll a condition until it holds, with a hang guard.

A test against a running chain, exchange simulator or engine cannot be told when a fill or a
receipt arrives; it polls. :func:`until` polls ``check`` at a fixed interval and fails with
what it waited for once the guard is used up. The guard counts polls, not wall-clock seconds, so
a loaded machine (each poll slower) gets more time, never less: ``seconds`` is a hang guard,
not a speed expectation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from oms_chain.model.errors import InvalidInput

__all__ = ["until"]


async def until(
    what: str, check: Callable[[], object], seconds: float = 60, *, poll_s: float = 0.05
) -> None:
    """Return once ``check()`` is truthy; raise ``AssertionError`` naming ``what`` after about
    ``seconds / poll_s`` polls (at least one).

    Raises:
        InvalidInput: ``seconds`` or ``poll_s`` not a positive finite number.
    """
    for name, value in (("seconds", seconds), ("poll_s", poll_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e7:
            raise InvalidInput(f"{name} must be a positive number of seconds, not {value!r}")
    for _ in range(max(1, int(seconds / poll_s))):
        if check():
            return
        await asyncio.sleep(poll_s)
    if check():
        return
    raise AssertionError(f"timed out waiting for {what}")
