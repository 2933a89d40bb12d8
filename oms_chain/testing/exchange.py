"""An in-process exchange simulator for async tests (each test's own, on its event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig

__all__ = ["running_simulator"]


@asynccontextmanager
async def running_simulator(
    config: SimulatorConfig,
    accounts: Mapping[str, tuple[str, Mapping[str, Decimal | int]]],
    *,
    seed_steps: int | None = 4,
) -> AsyncIterator[ExchangeSimulator]:
    """Start a simulator with ``accounts`` (``{api_key: (secret, balances)}``), stop it after.

    ``seed_steps``: the agents seed the book with that many steps and then stay paused (a
    still market the test moves by stepping them); ``None`` leaves them running.
    """
    from oms_chain.devnet.exchange import ExchangeSimulator

    simulator = ExchangeSimulator(config)
    await simulator.start()
    try:
        if seed_steps is not None:
            simulator.pause_agents()
            simulator.step_agents(seed_steps)
        for key, (secret, balances) in accounts.items():
            simulator.create_account(key, secret, balances)
        yield simulator
    finally:
        await simulator.stop()
