"""Shared by the threshold integration tests: the participant processes a test started are
stopped at its end (resumed first if the test SIGSTOPped one)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def procs() -> Iterator[list[Any]]:
    """A list to put started ``ParticipantProcess`` objects in."""
    running: list[Any] = []
    yield running
    for p in running:
        if p.process.poll() is None:
            os.kill(p.process.pid, signal.SIGCONT)
        p.stop()
