"""``oms token create|list|revoke``: API tokens for ``oms serve`` (stored hashed beside the
event store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oms_chain.cli._app import app
from oms_chain.cli._args import ConfigOption, JsonOption, TradeStoreOption
from oms_chain.cli._output import console, print_json, say, table
from oms_chain.cli._session import _default_store_url, _require_existing_store

token_app = typer.Typer(
    help="API tokens for `oms serve`: created once, stored only as their SHA-256.",
    rich_markup_mode=None,
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


def _scope(value: str) -> str:
    if value not in ("read", "trade"):
        raise typer.BadParameter(f"must be read or trade, got {value!r:.40}")
    return value


def _existing_store(store: str | None, config: Path | None) -> str:
    """The store's URL, once it is known to be an existing event store (nothing created)."""
    from oms_chain.store import open_store

    url = _default_store_url(store, config)
    _require_existing_store(url)
    open_store(url, read_only=True).close()
    return url


def _iso(ns: int | None) -> str:
    import datetime as dt

    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@token_app.command("create")
def create_cmd(
    name: Annotated[str, typer.Option("--name", help="Who or what holds the token.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="read (views and the stream) or trade (also submit and cancel).",
            callback=_scope,
        ),
    ] = "read",
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once (only its SHA-256 is kept). The event store is created
    when missing, as `oms swap` would."""
    from oms_chain.service.api import TokenStore
    from oms_chain.service.api.tokens import check_token_request
    from oms_chain.store import open_store

    check_token_request(name, scope)
    url = _default_store_url(store, config)
    open_store(url).close()  # checks the URL (and that it is an event store) first
    with TokenStore(url) as tokens:
        token, info = tokens.create(name, scope)
    if as_json:
        print_json(
            {
                "token": token,
                "token_id": info.token_id,
                "name": info.name,
                "scope": info.scope.value,
            }
        )
        return
    say(token)
    import sys

    print(
        f"token {info.token_id} ({info.scope.value}) for {info.name!r}: shown once, keep it",
        file=sys.stderr,
    )


@token_app.command("list")
def list_cmd(
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List every token (id, name, scope, created, revoked); never the secrets."""
    url = _existing_store(store, config)
    from oms_chain.service.api import TokenStore

    with TokenStore(url, create=False) as tokens:
        rows = tokens.list()
    if as_json:
        print_json(
            [
                {
                    "token_id": t.token_id,
                    "name": t.name,
                    "scope": t.scope.value,
                    "created_ns": t.created_ns,
                    "revoked_ns": t.revoked_ns,
                }
                for t in rows
            ]
        )
        return
    out = table("API tokens", ("id", "name", "scope", "created", "revoked"))
    for t in rows:
        out.add_row(t.token_id, t.name, t.scope.value, _iso(t.created_ns), _iso(t.revoked_ns))
    console.print(out)


@token_app.command("revoke")
def revoke_cmd(
    token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="From `oms token list`.")],
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: the API refuses it from the next request on."""
    from oms_chain.service.api import TokenStore
    from oms_chain.service.api.tokens import check_token_id

    check_token_id(token_id)
    url = _existing_store(store, config)
    with TokenStore(url, create=False) as tokens:
        info = tokens.revoke(token_id)
    if as_json:
        print_json({"token_id": info.token_id, "revoked_ns": info.revoked_ns})
        return
    say(f"revoked token {info.token_id} ({info.name!r}) at {_iso(info.revoked_ns)}")
