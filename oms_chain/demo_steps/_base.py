"""What every checked demo step shares: the result record, the check that raises
:class:`DemoCheckFailed`, small devnet and formatting helpers, the timers."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.errors import DevnetError

__all__ = ["DemoCheckFailed", "StepResult", "timed", "timed_async"]

_MAX_UINT = 2**256 - 1
NS = 10**9
DAY_NS = 86_400 * NS


class DemoCheckFailed(DevnetError):
    """A demo step's check did not hold: the message names the step, expected and seen."""


@dataclass
class StepResult:
    """One demo step: ``status`` is ``ok`` or ``skipped`` (``reason`` says why); ``checks``
    lists what was checked and held; ``detail`` carries the step's numbers (JSON-ready)."""

    name: str
    status: str = "ok"
    reason: str = ""
    checks: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _check(step: str, ok: bool, what: str, result: StepResult, seen: object = None) -> None:
    if not ok:
        raise DemoCheckFailed(
            f"demo step '{step}': check failed: {what}"
            + ("" if seen is None else f" (seen: {seen})")
        )
    result.checks.append(what)


def _erc20(chain: DevnetChain, symbol: str) -> Any:
    return chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)


def _eth(chain: DevnetChain) -> Any:
    return chain.w3.eth  # web3's address / hash NewTypes: the demo passes checked strings


def _send(chain: DevnetChain, fn: Any, sender: str, label: str, value: int = 0) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        fn.transact({"from": sender, "value": value}), timeout=60, poll_latency=0.01
    )
    if receipt["status"] != 1:
        raise DevnetError(f"{label} reverted")
    return receipt


def _usdc(units: int) -> str:
    return f"{Decimal(units).scaleb(-6):,.6f}"


def _d(x: Decimal, places: str = "0.01") -> str:
    return f"{x.quantize(Decimal(places)):,}"


def _transfer_data(to: str, amount: int) -> bytes:
    return keccak(text="transfer(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], [to, amount]
    )


def _hex(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _missing(module: str, extra: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"the '{extra}' extra is not installed (pip install 'oms-chain[{extra}]')"
    return None


async def _until(what: str, ok: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``ok`` (the engine works in the background) until it holds, or fail the step."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        if loop.time() > deadline:
            raise DemoCheckFailed(f"demo step {what} did not happen in {timeout} s")
        await asyncio.sleep(0.1)


def timed(fn: Callable[[], StepResult]) -> StepResult:
    """Run a step and record its wall time."""
    started = time.perf_counter()
    out = fn()
    out.seconds = round(time.perf_counter() - started, 2)
    return out


async def timed_async(fn: Callable[[], Any]) -> StepResult:
    """Await a step and record its wall time."""
    started = time.perf_counter()
    out: StepResult = await fn()
    out.seconds = round(time.perf_counter() - started, 2)
    return out
