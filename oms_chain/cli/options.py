"""``oms options chain``: strikes x expiries with bid / ask / IV / delta from every options
venue, side by side (premiums shown in USD per whole underlying on both venues; Deribit's
premiums in the underlying are converted explicitly at its index price)."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from oms_chain.cli._app import _runtime_file, app
from oms_chain.cli._args import JsonOption, RpcUrlOption
from oms_chain.cli._output import console, print_json
from oms_chain.model.errors import InvalidInput, OmsError

options_app = typer.Typer(help="Options venues: chains, Greeks.", rich_markup_mode=None)
app.add_typer(options_app, name="options")

_YEAR_S = 365 * 24 * 3600
_ALIASES = {"ETH": ("ETH", "WETH"), "BTC": ("BTC", "WBTC")}


def _devnet_deribit_url() -> str | None:
    import json

    try:
        chains = json.loads(_runtime_file().read_text())["chains"]
    except (OSError, ValueError, KeyError):
        return None
    dx = chains.get("deribit") or {}
    url = dx.get("rest_url") or dx.get("url")
    return str(url) if url else None


def _expiry_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--expiry must be a date like 2026-12-11, got {text!r}") from None


def _row(
    venue: str,
    name: str,
    expiry_ns: int,
    strike: Decimal,
    kind: str,
    bid: Decimal | None,
    ask: Decimal | None,
    iv: Decimal | None,
    delta: Decimal | None,
) -> dict[str, Any]:
    day = dt.datetime.fromtimestamp(expiry_ns // 1_000_000_000, dt.UTC)
    return {
        "venue": venue,
        "name": name,
        "expiry": day.strftime("%Y-%m-%d %H:%M"),
        "strike": str(strike),
        "kind": kind,
        "bid": None if bid is None else str(bid.quantize(Decimal("0.01"))),
        "ask": None if ask is None else str(ask.quantize(Decimal("0.01"))),
        "iv": None if iv is None else str(iv.quantize(Decimal("0.0001"))),
        "delta": None if delta is None else str(delta.quantize(Decimal("0.0001"))),
    }


async def deribit_rows(
    url: str, currency: str, expiry: dt.date | None, key: str | None, secret: str | None
) -> list[dict[str, Any]]:
    """Chain rows of a Deribit-protocol exchange at ``url`` (public data; no key needed)."""
    from oms_chain.venues.cex import CcxtVenueConfig
    from oms_chain.venues.options import DeribitOptionsConfig, DeribitOptionsVenue, premium_in_quote

    cfg = DeribitOptionsConfig(
        ccxt=CcxtVenueConfig(
            exchange="deribit",
            api_key=key,
            secret=secret,
            urls={"rest": url, "ws": url.replace("http", "ws", 1).rstrip("/") + "/ws/api/v2"},
        ),
        currencies=(currency,),
    )
    rows = []
    async with DeribitOptionsVenue(cfg) as venue:
        for t in await venue.option_chain(currency):
            day = dt.datetime.fromtimestamp(t.contract.expiry_ns // 1_000_000_000, dt.UTC).date()
            if expiry is not None and day != expiry:
                continue
            spot = t.underlying_price

            def usd(p: Decimal | None, spot: Decimal | None = spot) -> Decimal | None:
                return None if p is None or spot is None else premium_in_quote(p, spot)

            rows.append(
                _row(
                    str(venue.venue_id),
                    t.name,
                    t.contract.expiry_ns,
                    t.contract.strike,
                    t.contract.option_kind.value,
                    usd(t.bid),
                    usd(t.ask),
                    t.mark_iv,
                    t.delta,
                )
            )
    return rows


async def onchain_rows(
    rpc_url: str, makers: list[str], currency: str, expiry: dt.date | None
) -> list[dict[str, Any]]:
    """Chain rows of our on-chain market: bid / ask are the makers' RFQ answers for one whole
    underlying; IV and delta are implied from the mid by ``risk.pricing`` at the feed's spot."""
    import secrets

    from oms_chain.chain.addressbook import load_address_book
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.local import LocalSigner
    from oms_chain.model.intent import Side
    from oms_chain.risk.pricing import bsm, implied_vol
    from oms_chain.store import open_store
    from oms_chain.venues.amm.account import ChainAccount
    from oms_chain.venues.options import OnchainOptionsConfig, OnchainOptionsVenue

    rpc = RpcClient([rpc_url])
    try:
        chain_id = int(await rpc.call("eth_chainId", []), 16)
        book = load_address_book(chain_id)
        account = ChainAccount(
            rpc,
            chain_info(chain_id),
            LocalSigner("0x" + secrets.token_hex(32)),  # a read-only taker: it signs nothing
            open_store("sqlite:///:memory:"),
        )
        cfg = OnchainOptionsConfig(market=book.address("OptionsMarket"), makers=tuple(makers))
        rows = []
        async with OnchainOptionsVenue(account, cfg) as venue:
            now = await venue.chain_time()
            for c in venue.instruments():
                if c.underlying.symbol not in _ALIASES.get(currency, (currency,)):
                    continue
                day = dt.datetime.fromtimestamp(c.expiry_ns // 1_000_000_000, dt.UTC).date()
                if expiry is not None and day != expiry:
                    continue
                unit = Decimal(1)
                prices: dict[Side, Decimal | None] = {}
                for side in (Side.SELL, Side.BUY):
                    try:
                        prices[side] = (await venue.quote(c, side, unit)).avg_price
                    except OmsError:
                        prices[side] = None
                bid, ask = prices[Side.SELL], prices[Side.BUY]
                iv = delta = None
                if bid is not None and ask is not None:
                    spot = float(await venue.index_price(c))
                    t = max(c.expiry_ns // 1_000_000_000 - now, 1) / _YEAR_S
                    is_call = c.option_kind.value == "call"
                    mid = float((bid + ask) / 2)
                    found = implied_vol(mid, is_call, spot, float(c.strike), t, 0.0)
                    vol = float(found.vol)
                    if vol == vol:  # not NaN
                        iv = Decimal(repr(vol))
                        g = bsm(is_call, spot, float(c.strike), t, 0.0, 0.0, vol)
                        delta = Decimal(repr(float(g.delta)))
                rows.append(
                    _row(
                        str(venue.venue_id),
                        str(venue.series_id(c)),
                        c.expiry_ns,
                        c.strike,
                        c.option_kind.value,
                        bid,
                        ask,
                        iv,
                        delta,
                    )
                )
        await account.close()
    finally:
        await rpc.close()
    return rows


@options_app.command("chain")
def chain_cmd(
    currency: Annotated[str, typer.Argument(help="Underlying: ETH or BTC.")],
    venue: Annotated[
        str,
        typer.Option(
            "--venue", metavar="ID", help="deribit, onchain, or all (default) that can be reached."
        ),
    ] = "all",
    expiry: Annotated[
        str | None, typer.Option("--expiry", metavar="DATE", help="Only this expiry (UTC date).")
    ] = None,
    deribit_url: Annotated[
        str | None,
        typer.Option(
            "--deribit-url",
            metavar="URL",
            help="Deribit-protocol REST URL (default: the devnet's).",
        ),
    ] = None,
    rpc_url: RpcUrlOption = None,
    maker: Annotated[
        list[str] | None,
        typer.Option("--maker", metavar="URL", help="RFQ maker URL of the on-chain market."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Strikes x expiries with bid / ask (USD per whole underlying), IV and delta from every
    options venue side by side."""
    code = currency.strip().upper()
    if code not in _ALIASES:
        raise InvalidInput(f"currency must be ETH or BTC, got {currency!r}")
    if venue not in ("all", "deribit", "onchain"):
        raise InvalidInput(f"--venue must be deribit, onchain or all, got {venue!r}")
    day = _expiry_day(expiry)
    rows: list[dict[str, Any]] = []
    if venue in ("all", "deribit"):
        url = deribit_url or _devnet_deribit_url()
        if url is None and venue == "deribit":
            raise InvalidInput("no --deribit-url given and no devnet Deribit exchange running")
        if url is not None:
            rows += asyncio.run(deribit_rows(url, code, day, None, None))
    if venue in ("all", "onchain"):
        if not maker and venue == "onchain":
            raise InvalidInput("the on-chain market trades by RFQ: give at least one --maker URL")
        if maker:
            from oms_chain.cli._app import _devnet_url

            rows += asyncio.run(onchain_rows(rpc_url or _devnet_url(None), maker, code, day))
    rows.sort(key=lambda r: (r["expiry"], Decimal(r["strike"]), r["kind"], r["venue"]))
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{code} options (premiums in USD per 1 {code})")
    for col in ("venue", "name", "expiry", "strike", "kind", "bid", "ask", "iv", "delta"):
        table.add_column(col, justify="right" if col not in ("venue", "name", "kind") else "left")
    for r in rows:
        table.add_row(*("" if r[k] is None else str(r[k]) for k in r))
    console.print(table)
