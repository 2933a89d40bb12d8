"""The event stream: every event of the store over a websocket, live, resumable by position."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from oms_chain.model.errors import OmsError
from oms_chain.service.api._http import (
    _CONFIG,
    _SESSION,
    _WAKE,
    StreamQuery,
    _bearer,
    _check_token,
    _query,
    _Refusal,
)
from oms_chain.service.api.models import EventOut
from oms_chain.service.api.tokens import Scope

_log = logging.getLogger("oms_chain.service.api.app")  # the API's one logger


async def stream(request: web.Request) -> web.StreamResponse:
    """Events over a websocket, in position order from ``after``, without gaps or repeats."""
    app = request.app
    q = _query(request, StreamQuery)
    header_token = _bearer(request)
    if header_token is not None:
        _check_token(app, header_token, Scope.READ)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    if header_token is None:
        try:
            msg = await ws.receive(timeout=app[_CONFIG].ws_auth_timeout_s)
            token = msg.json().get("token") if msg.type is WSMsgType.TEXT else None
            if not isinstance(token, str):
                raise ValueError("no token")
            _check_token(app, token, Scope.READ)
        except _Refusal as exc:
            await ws.send_json(
                {"type": "error", "status": exc.status, "kind": exc.kind, "error": str(exc)}
            )
            await ws.close(code=4000 + exc.status)
            return ws
        except (ValueError, TimeoutError, AttributeError, TypeError):
            await ws.send_json(
                {
                    "type": "error",
                    "status": 401,
                    "kind": "unauthenticated",
                    "error": 'send {"token": "<token>"} as the first message',
                }
            )
            await ws.close(code=4401)
            return ws
    session = app[_SESSION]
    store = session.store
    wake = app[_WAKE]
    last = store.last_position() if q.after is None else q.after
    await ws.send_json({"type": "ready", "after": last})
    closed = asyncio.Event()

    async def reader() -> None:
        with contextlib.suppress(Exception):
            async for _ in ws:
                pass
        closed.set()

    reading = asyncio.create_task(reader())
    idle = app[_CONFIG].ws_idle_poll_s
    try:
        while not closed.is_set() and not ws.closed:
            pending = wake.current()  # taken before reading: a commit after the read wakes us
            batch = list(store.read_all(from_position=last, limit=500))
            for rec in batch:
                await ws.send_str(
                    '{"type":"event","event":' + EventOut.of(rec).model_dump_json() + "}"
                )
                last = rec.position
            if len(batch) == 500:
                continue
            waiter = asyncio.ensure_future(pending.wait())
            stopper = asyncio.ensure_future(closed.wait())
            await asyncio.wait({waiter, stopper}, timeout=idle, return_when="FIRST_COMPLETED")
            waiter.cancel()
            stopper.cancel()
    except (ConnectionResetError, RuntimeError):
        pass  # the client went away
    except OmsError as exc:  # the store went away (the session is closing): say so, then close
        _log.warning("stream stopped: %s", exc)
        with contextlib.suppress(Exception):
            await ws.send_json(
                {
                    "type": "error",
                    "status": 503,
                    "kind": "unavailable",
                    "error": f"{exc}; reconnect with after={last}",
                }
            )
        with contextlib.suppress(Exception):
            await ws.close(code=1011)
    finally:
        reading.cancel()
        with contextlib.suppress(BaseException):
            await reading
        await ws.close()
    return ws
