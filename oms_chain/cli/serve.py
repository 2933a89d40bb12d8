"""``oms serve``: the HTTP / websocket API and the dashboard over one trading session."""

from __future__ import annotations

from typing import Annotated

import typer

from oms_chain.cli._app import app
from oms_chain.cli._args import ChainOption, ConfigOption, KeyEnvOption, TradeStoreOption
from oms_chain.cli._output import say
from oms_chain.cli._session import _default_store_url, _trading_session
from oms_chain.model.errors import InvalidInput


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise typer.BadParameter(f"must be 0-65535 (0: any free port), got {value}")
    return value


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port (0: any free one).", callback=_port)
    ] = 8787,
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    chain: ChainOption = None,
    key_env: KeyEnvOption = None,
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
) -> None:
    """Serve the API (/api/v1, /openapi.json) and the dashboard (/) until Ctrl-C. Every API
    call needs a token from `oms token create` (same --store)."""
    import asyncio
    import ipaddress

    from oms_chain.service.api import TokenStore, create_app, run_api

    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InvalidInput(f"--host {host!r:.60} is not an IP address or localhost") from None
    url = _default_store_url(store, config)
    session, url = _trading_session(
        chain=chain, store=url, key_env=key_env, config=config, exchange=exchange
    )

    async def run() -> None:
        async with session:
            with TokenStore(url) as tokens:
                if not any(t.active for t in tokens.list()):
                    say(
                        "no active token yet: create one with `oms token create --name me "
                        "--scope trade`"
                    )
                application = create_app(session, tokens)
                await run_api(
                    application,
                    host,
                    port,
                    on_ready=lambda u: say(
                        f"serving {u} (dashboard {u}/, API {u}/api/v1, "
                        f"OpenAPI {u}/openapi.json); Ctrl-C stops"
                    ),
                )

    asyncio.run(run())
