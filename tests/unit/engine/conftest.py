"""Fixtures for engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from engine_world import World, build_world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = build_world(max_order_notional=Decimal(50_000))
    await w.engine.start()
    yield w
    await w.engine.stop()
