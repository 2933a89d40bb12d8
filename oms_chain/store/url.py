"""``open_store(url)``: pick and open a backend from a store URL.

Accepted URLs (SQLAlchemy's convention for SQLite paths):

- ``sqlite:///relative/path/file.db`` — a file relative to the working directory;
- ``sqlite:////absolute/path/file.db`` — an absolute path (four slashes);
- ``sqlite:///:memory:`` — a private in-memory store (tests);
- ``postgresql://user:password@host:port/dbname`` (also ``postgres://``), with any libpq
  parameters in the query string.

SQLite options go in the query string: ``?synchronous=FULL`` (``OFF|NORMAL|FULL|EXTRA``,
default ``NORMAL``) and ``?busy_timeout_ms=30000``.
"""

from __future__ import annotations

import os
from typing import cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from oms_chain.store.base import EventStore
from oms_chain.store.errors import InvalidStoreUrl

__all__ = ["open_store", "redact_url"]

_EXAMPLES = "sqlite:///path/file.db, sqlite:///:memory: or postgresql://user@host:5432/dbname"
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe for messages and logs)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable url>"


def open_store(url: str, *, create: bool = True, read_only: bool = False) -> EventStore:
    """Open the event store at ``url``, creating it (file, tables) first unless ``create=False``.

    Pass ``create=False`` where an empty new store would be a mistake. ``read_only=True``
    (``oms audit verify``) never changes the store: it must exist already, nothing is created,
    migrated or switched, and writes raise :class:`~oms_chain.store.errors.StoreReadOnly`.

    Raises:
        InvalidStoreUrl: unknown scheme, malformed URL, missing directory or unknown option
            (the message says what is accepted); with ``create=False``, no store there.
        StoreUnavailable: a PostgreSQL server cannot be reached.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreUrl(f"store URL must look like {_EXAMPLES}; got {url!r}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        return _open_sqlite(url, create and not read_only, read_only)
    if scheme in ("postgresql", "postgres"):
        from oms_chain.store.postgres import PostgresEventStore

        return PostgresEventStore(url, create=create and not read_only, read_only=read_only)
    raise InvalidStoreUrl(
        f"unsupported store URL scheme {scheme!r} in {redact_url(url)!r}; use {_EXAMPLES}"
    )


def _open_sqlite(url: str, create: bool, read_only: bool) -> EventStore:
    from oms_chain.store.sqlite import SqliteEventStore, Synchronous

    rest = url[len("sqlite://") :]
    path, _, query = rest.partition("?")
    if not path.startswith("/") or len(path) < 2:
        raise InvalidStoreUrl(
            f"SQLite store URL {url!r} has no path; use sqlite:///relative/file.db, "
            f"sqlite:////absolute/file.db or sqlite:///:memory:"
        )
    path = path[1:]
    options = dict(parse_qsl(query, keep_blank_values=True))
    synchronous = options.pop("synchronous", "NORMAL").upper()
    if synchronous not in _SYNCHRONOUS:
        raise InvalidStoreUrl(
            f"SQLite option synchronous={synchronous!r} in {url!r} is not one of "
            f"{', '.join(_SYNCHRONOUS)}"
        )
    timeout_text = options.pop("busy_timeout_ms", "30000")
    if not timeout_text.isdigit():
        raise InvalidStoreUrl(
            f"SQLite option busy_timeout_ms={timeout_text!r} in {url!r} must be a whole number "
            f"of milliseconds"
        )
    if options:
        raise InvalidStoreUrl(
            f"unknown SQLite store option(s) {', '.join(sorted(options))} in {url!r}; known: "
            f"synchronous, busy_timeout_ms"
        )
    if path != ":memory:":
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise InvalidStoreUrl(
                f"directory {directory!r} of SQLite store {url!r} does not exist; create it first"
            )
    return SqliteEventStore(
        path,
        synchronous=cast(Synchronous, synchronous),
        busy_timeout_ms=int(timeout_text),
        url=url,
        create=create,
        read_only=read_only,
    )
