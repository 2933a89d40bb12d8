"""The HTTP and websocket API and the dashboard of a trading session (``oms serve``).

:func:`create_app` builds the aiohttp application over an open
:class:`~oms_chain.service.TradingSession` and a :class:`TokenStore` (hashed tokens, scoped
``read`` or ``trade``, in the event store's database); :class:`ApiConfig` holds its limits.
The request and response bodies are the pydantic models of :mod:`.models`; ``/openapi.json`` is
generated from them. See ``docs/api.md``.
"""

from oms_chain.service.api.app import ApiConfig, create_app, run_api
from oms_chain.service.api.limits import RateLimiter
from oms_chain.service.api.openapi import openapi_document
from oms_chain.service.api.tokens import Scope, TokenInfo, TokenStore, UnknownToken

__all__ = [
    "ApiConfig",
    "RateLimiter",
    "Scope",
    "TokenInfo",
    "TokenStore",
    "UnknownToken",
    "create_app",
    "openapi_document",
    "run_api",
]
