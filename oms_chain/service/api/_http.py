"""What every route of the API shares: its limits (:class:`ApiConfig`), the query models, the
JSON error middleware, token and rate-limit checks, body and query parsing, the application's
keys and the :class:`Route` record the router and the OpenAPI document are built from."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms_chain.model.errors import (
    EngineNotReady,
    IntentConflict,
    InvalidInput,
    OmsError,
    RetryableError,
    UnknownOrder,
)
from oms_chain.service.api.limits import RateLimiter
from oms_chain.service.api.models import ErrorOut
from oms_chain.service.api.tokens import Scope, TokenInfo, TokenStore
from oms_chain.service.session import TradingSession

__all__ = ["ApiConfig", "EventsQuery", "FillsQuery", "OrdersQuery", "Route", "StreamQuery"]

_log = logging.getLogger("oms_chain.service.api.app")  # the API's one logger

_ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@/#-]{0,199}$"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Limits of the API: request body size (bytes), requests per second and burst per
    token, the largest page, how long the stream waits for its token message, and how often
    an idle stream looks at the store (events written by another process)."""

    max_body_bytes: int = 64 * 1024
    rate_per_s: float = 50.0
    burst: int = 100
    max_page: int = 1000
    ws_auth_timeout_s: float = 5.0
    ws_idle_poll_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "burst", "max_page"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInput(f"ApiConfig.{name} must be a whole number >= 1, got {v!r:.40}")
        for name in ("rate_per_s", "ws_auth_timeout_s", "ws_idle_poll_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1e6:
                raise InvalidInput(
                    f"ApiConfig.{name} must be a positive number below 1e6, got {v!r:.40}"
                )


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrdersQuery(_Query):
    """``status``: ``open`` (working parents) or ``all``; at most ``limit`` newest first."""

    status: str = Field("all", pattern="^(open|all)$")
    limit: int = Field(200, ge=1, le=1000)


class FillsQuery(_Query):
    """Fills of one order (a parent: all its children's) or of every order."""

    order_id: str | None = Field(None, pattern=_ORDER_ID)


class EventsQuery(_Query):
    """Events with ``position > after``, at most ``limit``."""

    after: int = Field(0, ge=0, le=2**62)
    limit: int = Field(100, ge=1, le=1000)


class StreamQuery(_Query):
    """Resume after ``after`` (the last position received); default: from now on."""

    after: int | None = Field(None, ge=0, le=2**62)


_Q = TypeVar("_Q", bound=_Query)


class _Refusal(Exception):
    def __init__(self, status: int, kind: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.headers = headers


def _error(
    status: int,
    kind: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = ErrorOut(error=message, kind=kind, status=status, details=details)
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type="application/json",
        headers=headers,
    )


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False, include_context=False, include_input=False):
        out.append({"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]})
    return out


def _json(model: BaseModel | list[BaseModel], status: int = 200) -> web.Response:
    if isinstance(model, list):
        text = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    else:
        text = model.model_dump_json()
    return web.Response(status=status, text=text, content_type="application/json")


_KIND = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure as a JSON body with its status; a 500 only for a bug (logged)."""
    try:
        return await handler(request)
    except _Refusal as exc:
        return _error(exc.status, exc.kind, str(exc), headers=exc.headers)
    except ValidationError as exc:
        return _error(422, "validation", "the request does not match its schema", _details(exc))
    except IntentConflict as exc:  # an intent id re-used for different content
        differs = [
            {
                "loc": ["body", f],
                "msg": "differs from the intent submitted under this id",
                "type": "intent_conflict",
            }
            for f in exc.fields
        ]
        return _error(409, "intent_conflict", str(exc), differs)
    except UnknownOrder as exc:
        return _error(404, "unknown_order", str(exc))
    except InvalidInput as exc:
        return _error(422, "invalid_input", str(exc))
    except EngineNotReady as exc:
        return _error(409, "refused", str(exc))
    except RetryableError as exc:
        return _error(503, "unavailable", f"{exc}; retry later", headers={"Retry-After": "1"})
    except OmsError as exc:
        return _error(409, "failed", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            message = f"request body too large: at most {request.app[_CONFIG].max_body_bytes} bytes"
        elif exc.status == 404:
            message = f"no such endpoint {request.path!r}; see /openapi.json"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}; see /openapi.json"
        else:
            message = exc.reason or exc.text or "bad request"
        return _error(exc.status, _KIND.get(exc.status, "http_error"), message)
    except Exception:
        _log.exception("internal error answering %s %s", request.method, request.path)
        return _error(500, "internal", "internal error (a bug; see the server log)")


# --- authentication and rate limits ------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _Refusal(
            401,
            "unauthenticated",
            "Authorization header must be 'Bearer <token>'; create a token with `oms token create`",
            **{"WWW-Authenticate": "Bearer"},
        )
    return value.strip()


def _check_token(app: web.Application, token: str | None, needed: Scope) -> TokenInfo:
    if token is None:
        raise _Refusal(
            401,
            "unauthenticated",
            "no token: send 'Authorization: Bearer <token>' (create one with `oms token create`)",
            **{"WWW-Authenticate": "Bearer"},
        )
    info = app[_TOKENS].authenticate(token)
    if info is None:
        raise _Refusal(
            401,
            "unauthenticated",
            "token refused: unknown, malformed or revoked (`oms token list` shows the active ones)",
            **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    wait = app[_LIMITER].take(info.token_id)
    if wait > 0:
        raise _Refusal(
            429,
            "rate_limited",
            f"too many requests for token {info.token_id}; retry in {wait:.2f} s",
            **{"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if not info.scope.allows(needed):
        raise _Refusal(
            403,
            "forbidden",
            f"token {info.token_id} is read-only; this endpoint needs a 'trade' token "
            "(`oms token create --scope trade`)",
        )
    return info


def _query(request: web.Request, model: type[_Q]) -> _Q:
    keys = list(request.query.keys())
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise _Refusal(422, "validation", f"query parameter {dup[0]!r} given more than once")
    return model.model_validate(dict(request.query))


_B = TypeVar("_B", bound=BaseModel)


async def _json_body(request: web.Request, model: type[_B]) -> _B:
    if request.content_type != "application/json":
        raise _Refusal(
            415,
            "unsupported_media_type",
            f"send the body as application/json, not {request.content_type or 'nothing'}",
        )
    raw = await request.read()
    return model.model_validate_json(raw)


# --- the application ---------------------------------------------------------------------

_SESSION = web.AppKey("session", TradingSession)
_TOKENS = web.AppKey("tokens", TokenStore)
_LIMITER = web.AppKey("limiter", RateLimiter)
_CONFIG = web.AppKey("config", ApiConfig)


class _Wakeup:
    """Wakes every waiting stream when the engine commits events."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def bump(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


_WAKE = web.AppKey("wake", _Wakeup)
_PUMP: web.AppKey[asyncio.Task[None]] = web.AppKey("pump")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: what it needs and what it answers (the router and the OpenAPI document
    are both built from the route table)."""

    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    scope: Scope | None
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    many: bool = False
    body: type[BaseModel] | None = None
    query: type[_Query] | None = None
    path_params: tuple[str, ...] = ()
    websocket: bool = False
    #: set: the route answers 404 ``not_configured`` (this text) on a server without its part
    not_configured: str | None = None


def _session(request: web.Request, needed: Scope) -> TradingSession:
    _check_token(request.app, _bearer(request), needed)
    return request.app[_SESSION]
