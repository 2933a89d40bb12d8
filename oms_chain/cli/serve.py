"""``oms serve``: the HTTP / websocket API and the dashboard over one trading session."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from oms_chain.cli._app import app
from oms_chain.cli._args import (
    ChainOption,
    ConfigOption,
    KeyEnvOption,
    TradeStoreOption,
    _parser,
    _seconds,
)
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
    portfolio: Annotated[
        Path | None,
        typer.Option(
            "--portfolio",
            help="Portfolio TOML (see `oms risk --help`): holdings outside the engine, spots, "
            "vols and daily vols that /api/v1/risk/* prices with the engine's positions.",
        ),
    ] = None,
    hedge_policy: Annotated[
        Path | None,
        typer.Option(
            "--hedge-policy",
            help="Hedge policy TOML (docs/hedging.md) that /api/v1/hedger starts and stops.",
        ),
    ] = None,
    hedge_interval: Annotated[
        float,
        typer.Option(
            "--hedge-interval",
            parser=_parser(_seconds, "--hedge-interval", 3600.0),
            help="Seconds between the hedger's evaluations.",
        ),
    ] = 5.0,
    structure_vol: Annotated[
        str,
        typer.Option(
            "--structure-vol",
            metavar="VOL",
            help="With --config naming an on-chain options venue: the vol every leg of a "
            "structure posted to /api/v1/structures is margined at.",
        ),
    ] = "0.6",
) -> None:
    """Serve the API (/api/v1, /openapi.json, docs at /docs) and the dashboard (/) until
    Ctrl-C. Every API call needs a token from `oms token create` (same --store). With --config
    naming an on-chain options venue (kind = "options", chain, makers) the options venues are
    opened and POST /api/v1/structures opens structures in the chain's BatchExecutor."""
    import asyncio
    import contextlib
    import ipaddress
    from decimal import Decimal, InvalidOperation

    from oms_chain.service.api import TokenStore, create_app, run_api
    from oms_chain.service.api.structure_routes import install_structures, session_desk

    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InvalidInput(f"--host {host!r:.60} is not an IP address or localhost") from None
    try:
        vol = Decimal(structure_vol)
    except InvalidOperation:
        vol = Decimal("NaN")
    if not vol.is_finite() or not 0 < vol < 5:
        raise InvalidInput(f"--structure-vol must be a number in (0, 5), got {structure_vol!r:.40}")
    if portfolio is not None:  # bad files are refused before anything opens
        import time

        from oms_chain.cli.risk import _load_portfolio

        _load_portfolio(portfolio, time.time_ns())
        load_alert_rules(portfolio)
    if hedge_policy is not None:
        from oms_chain.risk import HedgePolicy

        HedgePolicy.load(hedge_policy)
    options = config is not None and _onchain_options(config)
    url = _default_store_url(store, config)
    session, url = _trading_session(
        chain=chain, store=url, key_env=key_env, config=config, exchange=exchange, options=options
    )

    async def run() -> None:
        async with session, contextlib.AsyncExitStack() as stack:
            skipped: list[str] = []
            desk = (
                await stack.enter_async_context(
                    session_desk(session, vol=vol, on_skip=skipped.append)
                )
                if options
                else None
            )
            with TokenStore(url) as tokens:
                if not any(t.active for t in tokens.list()):
                    say(
                        "no active token yet: create one with `oms token create --name me "
                        "--scope trade`"
                    )
                application = create_app(session, tokens)
                _install_risk(application, session, portfolio, hedge_policy, hedge_interval)
                if desk is not None:
                    install_structures(application, desk)
                    say(
                        "structures: POST /api/v1/structures opens them in one transaction "
                        "of the chain's BatchExecutor"
                    )
                elif options:
                    why = "; ".join(skipped) or "no chain with RFQ makers"
                    say(f"structures: not taken ({why})")
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


def _onchain_options(config: Path) -> bool:
    """Whether the config names an on-chain options venue (the structures need one)."""
    from oms_chain.engine import load_config

    return any(v.kind == "options" and v.exchange is None for v in load_config(config).venues)


def _install_risk(
    application: Any,
    session: Any,
    portfolio: Path | None,
    policy_file: Path | None,
    interval: float,
) -> None:
    """The risk context (--portfolio) and the hedger (--hedge-policy) of the API."""
    import dataclasses
    import time
    from decimal import Decimal

    from oms_chain.cli.risk import _load_portfolio
    from oms_chain.model import SystemClock
    from oms_chain.risk import HedgePolicy, MarketSnapshot
    from oms_chain.service.api.risk_routes import (
        HedgerControl,
        RiskContext,
        install_hedger,
        install_risk,
    )
    from oms_chain.service.hedger import Hedger

    held: list[Any] = []
    vols: dict[str, Decimal] = {}
    if portfolio is not None:
        held, snap, daily = _load_portfolio(portfolio, time.time_ns())
        rules = load_alert_rules(portfolio)
        vols = dict(snap.vols)

        async def market() -> MarketSnapshot:
            return dataclasses.replace(snap, now_ns=time.time_ns())

        install_risk(
            application,
            RiskContext(
                market=market,
                holdings=lambda: held,
                account=session.account,
                daily_vols=daily,
                alerts=rules,
            ),
        )
    if policy_file is None:
        return
    pol = HedgePolicy.load(policy_file)
    instrument = session.instrument(pol.instrument)
    clock = SystemClock()

    async def hedge_market() -> MarketSnapshot:
        spot = await session.best_price(instrument, "sell", Decimal(1), list(pol.venues))
        return MarketSnapshot(now_ns=clock.now_ns(), spots={pol.underlying: spot}, vols=vols)

    hedger = Hedger(
        engine=session.engine,
        store=session.store,
        policy=pol,
        instrument=instrument,
        account=session.account,
        clock=clock,
        holdings=lambda: held,
    )
    install_hedger(application, HedgerControl(hedger, hedge_market, interval_s=interval))


_ALERT_KEYS = {"name", "metric", "threshold", "clear_at", "underlying"}


def load_alert_rules(path: Path) -> tuple[Any, ...]:
    """The ``[[alerts]]`` of a portfolio file as alert rules (``GET /api/v1/risk/alerts``):
    ``name``, ``metric`` (``margin_excess``, ``liquidation_distance_pct``, ``abs_delta_usd``,
    ``var``), ``threshold``, optional ``clear_at`` and ``underlying``.

    Raises:
        InvalidInput: an unreadable file, a bad table or value (naming ``alerts[i].key``).
    """
    import tomllib

    from oms_chain.cli.risk import _num, _table
    from oms_chain.risk import AlertRule, AlertState, Metric, RiskReading, evaluate_alerts

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read portfolio {str(path)!r}: {exc}") from None
    rows = data.get("alerts", [])
    if not isinstance(rows, list):
        raise InvalidInput("alerts: expected [[alerts]] tables")
    metrics = {m.value: m for m in Metric}
    rules = []
    for i, row in enumerate(rows):
        where = f"alerts[{i}]"
        _table(row, where, _ALERT_KEYS)
        for key in ("name", "metric", "threshold"):
            if key not in row:
                raise InvalidInput(f"{where}.{key}: missing")
        if row["metric"] not in metrics:
            raise InvalidInput(f"{where}.metric: expected one of {sorted(metrics)}")
        for key in ("name", "underlying"):
            if key in row and not isinstance(row[key], str):
                raise InvalidInput(f"{where}.{key}: expected a string")
        clear = row.get("clear_at")
        rules.append(
            AlertRule(
                name=row["name"],
                metric=metrics[row["metric"]],
                threshold=_num(row["threshold"], f"{where}.threshold"),
                clear_at=None if clear is None else _num(clear, f"{where}.clear_at"),
                underlying=row.get("underlying"),
            )
        )
    evaluate_alerts(rules, RiskReading(ts_ns=0), AlertState())  # unique names
    return tuple(rules)
