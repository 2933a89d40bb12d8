"""API tokens: random 32-byte secrets handed out once, kept only as their SHA-256.

A token is ``oms_<token_id>_<secret>``: ``token_id`` (8 hex digits) names it in listings and
revocations, ``secret`` is ``secrets.token_urlsafe(32)``. The table ``api_tokens`` lives in the
event store's database (SQLite file or PostgreSQL), beside the event tables and outside the hash
chain: a token is access control, not trading history. It holds the SHA-256 of the whole token,
its scope (``read`` or ``trade``), a name, and when it was created and revoked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from oms_chain.model.checks import check_str
from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import InvalidInput
from oms_chain.store.url import redact_url

__all__ = [
    "Scope",
    "TokenInfo",
    "TokenStore",
    "UnknownToken",
    "check_token_id",
    "check_token_request",
]

_TOKEN = re.compile(r"^oms_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    created_ns BIGINT NOT NULL,
    revoked_ns BIGINT
)
"""


def check_token_request(name: object, scope: object) -> None:
    """Refuse a token name that is not 1-64 letters, digits, spaces or ``._@-`` (starting
    with a letter or digit), or a scope other than ``read`` / ``trade``, with
    :class:`InvalidInput` naming it."""
    check_str(name, "token name")
    assert isinstance(name, str)
    if not _NAME.match(name):
        raise InvalidInput(
            f"token name {name!r:.80} must be 1-64 letters, digits, spaces or ._@- and "
            "start with a letter or digit"
        )
    if not isinstance(scope, Scope | str):
        raise InvalidInput(f"token scope must be 'read' or 'trade', got {scope!r:.40}")
    _scope(scope)


def check_token_id(token_id: object) -> str:
    """``token_id`` if it is 8 hex digits (as :meth:`TokenStore.list` shows), else
    :class:`InvalidInput`."""
    if not isinstance(token_id, str) or not re.fullmatch(r"[0-9a-f]{8}", token_id):
        raise InvalidInput(f"token id {token_id!r:.40} must be 8 hex digits (see `oms token list`)")
    return token_id


class UnknownToken(InvalidInput):
    """No token with that id (``oms token revoke``)."""


class Scope(Enum):
    """What a token may do: ``read`` (every GET and the stream) or ``trade`` (also submit and
    cancel)."""

    READ = "read"
    TRADE = "trade"

    def allows(self, needed: Scope) -> bool:
        """Whether a token of this scope may call an endpoint that needs ``needed``."""
        return self is Scope.TRADE or needed is Scope.READ


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token (never its secret): id, name, scope, created and revoked (ns, UTC)."""

    token_id: str
    name: str
    scope: Scope
    created_ns: int
    revoked_ns: int | None

    @property
    def active(self) -> bool:
        return self.revoked_ns is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _scope(value: Scope | str) -> Scope:
    if isinstance(value, Scope):
        return value
    try:
        return Scope(value)
    except ValueError:
        raise InvalidInput(f"token scope must be 'read' or 'trade', got {value!r:.40}") from None


class TokenStore:
    """The ``api_tokens`` table of the event store at ``store_url`` (created when missing).

    Thread-safe; every method validates its arguments before touching the database.

    Raises (constructor):
        InvalidInput: ``store_url`` is not a ``sqlite:///`` or ``postgresql://`` URL.
    """

    def __init__(self, store_url: str, *, clock: Clock | None = None, create: bool = True) -> None:
        check_str(store_url, "store_url", rule="a sqlite:/// or postgresql:// URL")
        self._url = store_url
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        scheme = store_url.split("://", 1)[0].lower() if "://" in store_url else ""
        self._conn: Any
        if scheme == "sqlite":
            path = store_url[len("sqlite:///") :].partition("?")[0]
            if not store_url.startswith("sqlite:///") or not path:
                raise InvalidInput(f"SQLite store URL {store_url!r} has no path")
            target = path if create else f"file:{quote(path)}?mode=rw"
            try:
                self._conn = sqlite3.connect(
                    target, check_same_thread=False, timeout=30, uri=not create
                )
            except sqlite3.Error as exc:
                raise InvalidInput(f"cannot open the token table in {store_url!r}: {exc}") from None
            self._param = "?"
        elif scheme in ("postgresql", "postgres"):
            try:
                import psycopg
            except ImportError:
                raise InvalidInput(
                    "a PostgreSQL store needs psycopg: pip install 'oms-chain[postgres]'"
                ) from None
            try:
                self._conn = psycopg.connect(store_url, autocommit=False)
            except psycopg.Error as exc:
                raise InvalidInput(
                    f"cannot reach the PostgreSQL store {redact_url(store_url)!r}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
            self._param = "%s"
        else:
            raise InvalidInput(
                f"tokens live beside the event store: expected a sqlite:/// or postgresql:// "
                f"store URL, got {redact_url(store_url)!r}"
            )
        self._have_table = True
        with self._lock:
            if create:
                self._conn.execute(_SCHEMA)
            else:
                self._have_table = self._table_exists()
            self._conn.commit()

    def _table_exists(self) -> bool:
        try:
            if self._param == "?":
                row = self._conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'api_tokens'"
                ).fetchone()
                return row is not None
            row = self._conn.execute("SELECT to_regclass('api_tokens')").fetchone()
            return row is not None and row[0] is not None
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{self._url!r} is not a usable SQLite store: {exc}") from None

    def _sql(self, text: str) -> str:
        return text.replace("?", self._param)

    def create(self, name: str, scope: Scope | str) -> tuple[str, TokenInfo]:
        """A new token named ``name`` with ``scope``; returns ``(token, info)``. The token is
        shown this once: only its SHA-256 is stored.

        Raises:
            InvalidInput: a name that is not 1-64 letters, digits, `` ._@-``, or a bad scope.
        """
        check_token_request(name, scope)
        sc = _scope(scope)
        if not self._have_table:
            raise InvalidInput("this token store was opened with create=False: cannot create")
        token_id = secrets.token_hex(4)
        token = f"oms_{token_id}_{secrets.token_urlsafe(32)}"
        now = self._clock.now_ns()
        with self._lock:
            self._conn.execute(
                self._sql(
                    "INSERT INTO api_tokens (token_id, name, scope, sha256, created_ns) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (token_id, name, sc.value, _digest(token), now),
            )
            self._conn.commit()
        return token, TokenInfo(token_id, name, sc, now, None)

    def list(self) -> list[TokenInfo]:
        """Every token ever created (revoked ones too), oldest first."""
        if not self._have_table:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT token_id, name, scope, created_ns, revoked_ns FROM api_tokens "
                "ORDER BY created_ns, token_id"
            ).fetchall()
            self._conn.commit()
        return [TokenInfo(r[0], r[1], Scope(r[2]), int(r[3]), r[4]) for r in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke token ``token_id`` (from :meth:`list`); revoking twice keeps the first time.

        Raises:
            UnknownToken: no such token (the message lists how to find the ids).
        """
        check_token_id(token_id)
        if not self._have_table:
            raise UnknownToken(f"no token with id {token_id}: this store has no tokens yet")
        now = self._clock.now_ns()
        with self._lock:
            self._conn.execute(
                self._sql(
                    "UPDATE api_tokens SET revoked_ns = ? WHERE token_id = ? AND revoked_ns IS NULL"
                ),
                (now, token_id),
            )
            self._conn.commit()
        for info in self.list():
            if info.token_id == token_id:
                return info
        raise UnknownToken(f"no token with id {token_id}; `oms token list` shows them")

    def authenticate(self, token: str) -> TokenInfo | None:
        """The active token ``token`` is, or ``None`` (malformed, unknown or revoked)."""
        if not isinstance(token, str):
            return None
        m = _TOKEN.match(token)
        if m is None or not self._have_table:
            return None
        with self._lock:
            row = self._conn.execute(
                self._sql(
                    "SELECT token_id, name, scope, created_ns, revoked_ns, sha256 FROM api_tokens "
                    "WHERE token_id = ?"
                ),
                (m.group(1),),
            ).fetchone()
            self._conn.commit()
        if row is None or not hmac.compare_digest(str(row[5]), _digest(token)):
            return None
        if row[4] is not None:
            return None
        return TokenInfo(row[0], row[1], Scope(row[2]), int(row[3]), None)

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
