"""The served API as the API tests see it (imported by their conftest and by the tests)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from oms_chain.model import ManualClock
from oms_chain.service import TradingSession
from oms_chain.service.api import TokenStore


@dataclass
class Api:
    """The served API: its base URL, an HTTP client, the session, the tokens and the clock."""

    url: str
    http: aiohttp.ClientSession
    session: TradingSession
    tokens: TokenStore
    clock: ManualClock
    trade: str
    read: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}
