"""The Deribit venue's HTTP session guard: an order write is never silently re-sent.

ccxt sends Deribit orders as HTTP GET, and aiohttp re-sends a GET once when a reused keep-alive
connection drops — after the server may have executed it. :func:`no_silent_resend` is an aiohttp
client middleware that refuses that re-send for order writes, so a dropped answer surfaces as an
ambiguous outcome (ccxt maps :class:`OrderResendRefused` to a network error) and the venue
reconciles by label.
"""

from __future__ import annotations

import aiohttp

__all__ = ["ORDER_WRITES", "OrderResendRefused", "no_silent_resend"]

#: Deribit's order writes: a GET that must never be re-sent behind our back.
ORDER_WRITES = ("/private/buy", "/private/sell", "/private/edit")


class OrderResendRefused(aiohttp.ClientConnectionError):
    """The connection dropped while an order write was in flight; aiohttp would have re-sent
    the GET (and the exchange may have executed it already), so it is not re-sent. ccxt maps
    this to a network error; the venue reconciles by label."""


async def no_silent_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Pass ``request`` on; a connection lost during an order write raises
    :class:`OrderResendRefused` instead of letting aiohttp re-send it."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never connected: provably not sent
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        if request.url.path.endswith(ORDER_WRITES):
            raise OrderResendRefused(
                f"connection lost during {request.method} {request.url.path}; not re-sent"
            ) from exc
        raise
