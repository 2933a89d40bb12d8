"""``oms quote`` and ``oms route``: exact quotes and the best split, off-chain, plan only."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from rich.table import Table

from oms_chain.cli._app import _devnet_url, app
from oms_chain.cli._args import (
    BuyOption,
    ChainOption,
    JsonOption,
    RefreshPoolsOption,
    RpcUrlOption,
    SellOption,
    _aliases,
    _decimal_text,
    _exact,
    _exact_base_units,
    _exchange_id,
    _positive_decimal,
    _sell_buy,
)
from oms_chain.cli._output import console, print_json
from oms_chain.model.errors import InvalidInput

if TYPE_CHECKING:
    from oms_chain.chain.addressbook import AddressBook
    from oms_chain.chain.rpc import RpcClient


def _book_symbol(book: Any, symbol: str) -> str:
    """``symbol`` as the address book spells it (ETH -> WETH where only WETH is listed)."""
    names = {name.upper(): name for name in book.tokens}
    for alias in _aliases(symbol):
        if alias in names:
            return str(names[alias])
    return symbol


@app.command()
def quote(
    sell: SellOption,
    buy: BuyOption,
    amount: Annotated[
        str, typer.Option("--amount", metavar="AMOUNT", help="Amount to sell, in whole tokens.")
    ],
    chain: ChainOption = None,
    rpc_url: RpcUrlOption = None,
    refresh_pools: RefreshPoolsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Exact amount out, price impact and gas on every Uniswap pool of the pair (off-chain).

    Pools: those the chain's address book lists, else the ones its Uniswap factories know
    (discovered, cached per chain)."""

    import asyncio

    from oms_chain.venues.amm.quotes import quote_pools

    human = _positive_decimal(amount, "--amount")
    sell, buy = _sell_buy(sell, buy)

    async def run() -> tuple[int, Any, str, str, int, list[Any]]:
        async with _chain_rpc(rpc_url, chain) as rpc:
            chain_id, book, sell_, buy_ = await _pair_book(rpc, chain, sell, buy, refresh_pools)
            base_units = _exact_base_units(human, book.token(sell_).decimals, "--amount", amount)
            quotes = await quote_pools(rpc, book, sell_, buy_, base_units)
            return chain_id, book, sell_, buy_, base_units, quotes

    chain_id, book, sell, buy, base_units, quotes = asyncio.run(run())
    token_out = book.token(buy)
    if as_json:
        print_json(
            {
                "chain_id": chain_id,
                "sell": sell,
                "buy": buy,
                "amount_in": base_units,
                "decimals_out": token_out.decimals,
                "quotes": [{"venue": _quote_venue_id(q, chain_id), **q.as_dict()} for q in quotes],
            },
        )
        return
    table = Table(title=f"sell {human} {sell} for {buy} on {book.name} (exact, off-chain)")
    for col in ("venue", "fee", "pool", f"{buy} out", "impact (bps)", "ticks", "gas (model)"):
        table.add_column(col, justify="left" if col in ("venue", "pool") else "right")
    for q in quotes:
        if q.error is not None:
            table.add_row(
                "Uniswap V3" if q.protocol == "uniswap-v3" else "Uniswap V2",
                f"{q.fee / 10_000:g}%",
                q.pool,
                f"cannot quote: {q.error}",
                "-",
                "-",
                "-",
            )
            continue
        out = Decimal(q.amount_out).scaleb(-token_out.decimals, context=_exact(q.amount_out))
        table.add_row(
            _quote_venue_id(q, chain_id),
            f"{q.fee / 10_000:g}%",
            q.pool,
            f"{out:,.{token_out.decimals}f}" + (" (partial)" if q.filled_in < q.amount_in else ""),
            f"{q.price_impact_bps:.2f}",
            str(q.ticks_crossed),
            f"{q.gas_estimate:,}",
        )
    console.print(table)


_ROUTE_POOL_ID = re.compile(r"v([23])-([0-9]+)-0x[0-9a-f]+", re.ASCII)


def _engine_venue_id(route_venue: str, chain_id: int) -> str:
    """A route source's id as ``oms swap --venue`` takes it (``uniswap-v3-500-31337``); a
    two-hop path keeps its shape with each hop renamed; other ids (``binance``) as they are."""

    def one(part: str) -> str:
        m = _ROUTE_POOL_ID.fullmatch(part)
        if m is None:
            return part
        return (
            f"uniswap-v2-{chain_id}" if m.group(1) == "2" else f"uniswap-v3-{m.group(2)}-{chain_id}"
        )

    return ">".join(one(p) for p in route_venue.split(">"))


def _quote_venue_id(q: Any, chain_id: int) -> str:
    """The venue id of a pool quote (``uniswap-v2-31337``, ``uniswap-v3-500-31337``)."""
    if q.protocol == "uniswap-v2":
        return f"uniswap-v2-{chain_id}"
    return f"{q.protocol}-{q.fee}-{chain_id}"


def _renamed(value: Any, ids: dict[str, str]) -> Any:
    """``value`` (JSON-shaped) with every string found in ``ids`` replaced by its new name."""
    if isinstance(value, dict):
        return {k: _renamed(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def _local_exchange_urls(urls: Any, rest_url: str) -> Any:
    """ccxt's ``urls['api']`` pointed at the local exchange ``rest_url`` (``--exchange-url``)."""
    from oms_chain.service import local_exchange_urls

    try:
        return local_exchange_urls(urls, rest_url)
    except InvalidInput:
        raise InvalidInput(
            f"--exchange-url must be http(s)://host:port, got {rest_url!r}"
        ) from None


@app.command("route")
def route_cmd(
    sell: SellOption,
    buy: BuyOption,
    amount: Annotated[
        str,
        typer.Option(
            "--amount",
            metavar="AMOUNT",
            help="Whole tokens: to sell, or to buy with --exact-output.",
        ),
    ],
    exact_output: Annotated[
        bool,
        typer.Option("--exact-output", help="Buy exactly --amount of --buy for the least input."),
    ] = False,
    chain: ChainOption = None,
    rpc_url: RpcUrlOption = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url",
            metavar="URL",
            help="REST URL of an exchange speaking --exchange's API (its book).",
        ),
    ] = None,
    exchange: Annotated[
        str, typer.Option("--exchange", metavar="ID", help="ccxt exchange id for --exchange-url.")
    ] = "binance",
    gas_price_gwei: Annotated[
        str | None,
        typer.Option("--gas-price-gwei", metavar="GWEI", help="Gas price (default: the node's)."),
    ] = None,
    refresh_pools: RefreshPoolsOption = False,
    as_json: JsonOption = False,
) -> None:
    """The best split of an order across the pair's Uniswap pools, two-hop paths and an exchange
    book (exact, off-chain; nothing is executed), compared with the best single venue and the
    5 % greedy split."""
    import asyncio
    from decimal import ROUND_FLOOR

    from oms_chain.routing import route, route_exact_output
    from oms_chain.routing.live import source_from_exchange_book, sources_for_pair

    human = _positive_decimal(amount, "--amount")
    gas_price_wei: int | None = None
    if gas_price_gwei is not None:
        gwei = _decimal_text(gas_price_gwei, "--gas-price-gwei")
        if not gwei.is_finite() or gwei < 0:
            raise InvalidInput(f"--gas-price-gwei must be >= 0, got {gas_price_gwei}")
        gas_price_wei = int(gwei.scaleb(9, context=_exact(gwei)).to_integral_value(ROUND_FLOOR))
    sell, buy = _sell_buy(sell, buy)
    if exchange_url is not None:
        _exchange_id(exchange)
    api_urls: Any = None
    if exchange_url is not None:
        import ccxt.pro as ccxt_pro

        try:
            api_urls = getattr(ccxt_pro, exchange)().urls["api"]
        except AttributeError:
            raise InvalidInput(f"--exchange {exchange!r} is not a ccxt exchange id") from None

    async def pool_sources() -> tuple[int, Any, str, str, int, int, int, list[Any]]:
        async with _chain_rpc(rpc_url, chain) as rpc:
            chain_id, book, sell_, buy_ = await _pair_book(rpc, chain, sell, buy, refresh_pools)
            sized = book.token(buy_ if exact_output else sell_)
            base_units = _exact_base_units(human, sized.decimals, "--amount", amount)
            block = await rpc.block_number()
            gas_price = await rpc.gas_price() if gas_price_wei is None else gas_price_wei
            sources = await sources_for_pair(
                rpc, book, sell_, buy_, gas_price_wei=gas_price, block_identifier=block
            )
            return chain_id, book, sell_, buy_, base_units, block, gas_price, sources

    chain_id, book, sell, buy, base_units, block, gas_price, sources = asyncio.run(pool_sources())
    token_in, token_out = book.token(sell), book.token(buy)
    if exchange_url is not None:
        from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig

        async def book_source() -> Any:
            config = CcxtVenueConfig(
                exchange=exchange,
                options={
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]},
                },
                urls=_local_exchange_urls(api_urls, exchange_url),
                book_timeout_s=3.0,
            )
            venue = CcxtVenue(config)
            try:
                await venue.start(user_stream=False)
                return await source_from_exchange_book(
                    venue,
                    sell,
                    buy,
                    sell_decimals=token_in.decimals,
                    buy_decimals=token_out.decimals,
                )
            finally:
                await venue.close()

        sources.append(asyncio.run(book_source()))
    plan = route_exact_output(sources, base_units) if exact_output else route(sources, base_units)
    ids = {str(s.venue): _engine_venue_id(str(s.venue), chain_id) for s in sources}
    data = _renamed(plan.to_dict(), ids)
    if as_json:
        print_json(
            {
                "chain_id": chain_id,
                "block": block,
                "sell": sell,
                "buy": buy,
                "mode": plan.mode,
                "decimals_in": token_in.decimals,
                "decimals_out": token_out.decimals,
                "gas_price_wei": gas_price,
                "sources": [ids[str(s.venue)] for s in sources],
                "plan": data,
            },
        )
        return

    def tokens(value: int, decimals: int) -> str:
        return f"{Decimal(value) / Decimal(10**decimals):,.{min(decimals, 6)}f}"

    gas_decimals = token_in.decimals if exact_output else token_out.decimals
    gas_symbol = sell if exact_output else buy
    what = f"buy {human} {buy} with {sell}" if exact_output else f"sell {human} {sell} for {buy}"
    table = Table(title=f"route: {what} on {book.name}, block {block} (plan only)")
    for col in ("venue", "kind", f"{sell} in", f"{buy} out", f"gas ({gas_symbol})", "impact bps"):
        table.add_column(col, justify="left" if col in ("venue", "kind") else "right")
    for leg in plan.legs:
        table.add_row(
            ids.get(str(leg.venue), str(leg.venue)),
            leg.kind,
            tokens(leg.amount_in, token_in.decimals),
            tokens(leg.amount_out, token_out.decimals),
            tokens(leg.fixed_cost, gas_decimals),
            f"{leg.price_impact_bps}",
        )
    table.add_section()
    table.add_row(
        "total",
        plan.mode,
        tokens(plan.amount_in, token_in.decimals),
        tokens(plan.expected_output, token_out.decimals),
        tokens(plan.gas_cost, gas_decimals),
        f"{plan.price_impact_bps}",
    )
    console.print(table)
    if exact_output:
        console.print(f"net input (swaps + gas): {tokens(plan.net_input or 0, token_in.decimals)}")
    else:
        console.print(f"net output (after gas): {tokens(plan.net_output, token_out.decimals)}")
    console.print(f"venue fees (est.): {tokens(plan.fees, token_out.decimals)} {buy}")
    if plan.best_single is not None:
        console.print(
            f"vs best single venue ({ids.get(plan.best_single.name, plan.best_single.name)}): "
            f"{plan.vs_best_single_bps:+} bps"
        )
    if plan.greedy is not None:
        console.print(f"vs 5 % greedy split: {plan.vs_greedy_bps:+} bps")


def _chain_rpc(rpc_url: str | None, chain: int | None) -> RpcClient:
    """The async RPC client of ``--rpc-url`` (default: the devnet's ``--chain``)."""
    from oms_chain.chain.rpc import RpcClient

    return RpcClient([rpc_url or _devnet_url(chain)], timeout=30.0)


async def _pair_book(
    rpc: RpcClient, chain: int | None, sell: str, buy: str, refresh: bool
) -> tuple[int, AddressBook, str, str]:
    """``(chain id, address book, sell, buy)`` of the node behind ``rpc``, checking that it is
    the ``--chain`` asked for; the symbols as the book spells them, and the book with the pools
    of ``sell``/``buy`` and of each with WETH / USDC (two-hop paths, gas pricing) found from its
    factories when it lists no pools (a live chain, a fork)."""
    from oms_chain.chain.addressbook import load_address_book
    from oms_chain.venues.amm.discovery import pair_candidates, with_discovered_pools

    url = rpc.urls[0]
    try:
        chain_id = await rpc.chain_id()
    except Exception as exc:
        raise InvalidInput(f"{url} does not answer eth_chainId: {exc}") from None
    if chain is not None and chain != chain_id:
        raise InvalidInput(f"--chain {chain} but {url} is chain {chain_id}")
    book = load_address_book(chain_id)
    sell, buy = _book_symbol(book, sell), _book_symbol(book, buy)
    for symbol in (sell, buy):
        book.token(symbol)  # unknown tokens are refused before any pool is searched
    pairs = pair_candidates(book, sell, buy)
    return chain_id, await with_discovered_pools(rpc, book, pairs, refresh=refresh), sell, buy
