"""oms_chain.testing.until: returns once the condition holds, fails naming what it waited for,
refuses a guard that is not a positive number."""

from __future__ import annotations

import pytest

from oms_chain.model.errors import InvalidInput
from oms_chain.testing.waiting import until


async def test_returns_once_the_check_holds_and_fails_naming_the_wait() -> None:
    calls = iter([False, False, True])
    await until("third poll", lambda: next(calls), seconds=1, poll_s=0.001)
    with pytest.raises(AssertionError, match="timed out waiting for the fill"):
        await until("the fill", lambda: False, seconds=0.01, poll_s=0.001)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "1", None])
async def test_a_bad_guard_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput, match="seconds"):
        await until("x", lambda: True, seconds=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="poll_s"):
        await until("x", lambda: True, poll_s=bad)  # type: ignore[arg-type]
