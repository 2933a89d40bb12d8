"""A small market maker for the on-chain options market, answering RFQs over loopback HTTP.

``POST /rfq`` with ``{"series_id": 7, "side": "buy", "size": 10, "taker": "0x..."}`` (``side``
is the taker's: ``buy`` means the maker sells and writes) answers ``{"quote": {...},
"signature": "0x..."}``: an EIP-712 quote for this chain and market, priced by
:func:`oms_chain.risk.pricing.bsm_price` from the series' feed (spot), the chain's time (time to
expiry) and a volatility smile, widened by a spread, valid for ``ttl_s`` seconds of chain time.
Errors answer 400 / 409 with ``{"error": "..."}`` (unknown or expired series, bad size, a taker
that is the maker). ``POST /rfq/package`` prices every leg of a structure the same way and signs
them as ONE package quote (see :mod:`oms_chain.devnet.options_maker_package`). ``GET /health``
answers ``{"maker": address}``.

Hedging: :meth:`OptionsMaker.hedge` reads the maker's positions in every series, sums their
Black-Scholes delta per underlying (the same smile it prices with) and trades the difference to
the opposite delta when it exceeds ``hedge_band``: through the chain's Uniswap V2 router
(underlying against the series' quote token), or on a spot exchange account
(:class:`~oms_chain.devnet.maker_hedge.HedgeExchange`, the devnet's Binance-protocol simulator),
as ``MakerConfig.hedge_on`` says (``pool``, ``exchange`` or ``cheapest``: the one whose all-in
cost is lower, the pool's gas included); it returns what it traded. Tests call it when they
choose (deterministic); :class:`OptionsMakerThread` can run it every ``hedge_interval_s``
(what ``oms devnet up`` does, ``cheapest`` when the exchange simulator runs).

Devnet only: the maker's key is a devnet key, its approvals are sent from an unlocked Anvil
account at start, and its hedge swaps take any price the pool gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from aiohttp import web
from eth_account import Account
from eth_utils import to_checksum_address

from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.maker_hedge import HedgeExchange, exchange_symbol
from oms_chain.devnet.options_maker_package import rfq_package
from oms_chain.devnet.options_market import OptionsMarketClient, Quote, SeriesInfo
from oms_chain.devnet.solidity import load_artifact
from oms_chain.model.errors import DevnetError, InvalidInput
from oms_chain.venues.options.quotes import quote_json

__all__ = [
    "HedgeTrade",
    "MakerConfig",
    "OptionsMaker",
    "OptionsMakerThread",
    "run_maker_in_thread",
]

_YEAR_S = 365 * 24 * 3600
_HEDGE_ON = ("pool", "exchange", "cheapest")
_MAX = 2**256 - 1
_APPROVE_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "s", "type": "address"}, {"name": "v", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "deposit",
        "stateMutability": "payable",
        "inputs": [],
        "outputs": [],
    },
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MakerConfig:
    """How the maker prices: ``base_vol`` at the money, ``smile`` added per unit of
        log-moneyness squared, ``spread`` (fraction of the model price, each side), a floor
        ``min_premium`` (quote units per whole underlying), quotes valid ``ttl_s`` seconds and at
        most ``max_size`` contracts. :meth:`OptionsMaker.hedge` trades once the delta is
    ``hedge_band`` whole underlying away from the hedge held, on ``hedge_on``: ``pool`` (the
    chain's Uniswap V2 router), ``exchange`` (the maker's exchange account) or ``cheapest``
    (lower all-in cost; a pool swap counted at ``hedge_gas`` gas at the chain's gas price,
    valued at the WETH feed's spot). ``packages``: answer ``/rfq/package`` (False: only
    single quotes, as a maker without package support)."""

    base_vol: Decimal = Decimal("0.65")
    smile: Decimal = Decimal("0.4")
    spread: Decimal = Decimal("0.02")
    min_premium: Decimal = Decimal("0.5")
    ttl_s: int = 120
    max_size: int = 10_000
    rate: float = 0.0
    hedge_band: Decimal = Decimal("0.05")
    hedge_on: str = "pool"
    hedge_gas: int = 150_000
    packages: bool = True

    def __post_init__(self) -> None:
        if self.hedge_on not in _HEDGE_ON:
            raise InvalidInput(f"hedge_on must be one of {_HEDGE_ON}, got {self.hedge_on!r}")
        if isinstance(self.hedge_gas, bool) or not isinstance(self.hedge_gas, int):
            raise InvalidInput(f"hedge_gas must be an integer, got {self.hedge_gas!r}")
        if self.hedge_gas < 0:
            raise InvalidInput(f"hedge_gas must not be negative, got {self.hedge_gas}")
        if not (Decimal(0) < self.base_vol < Decimal(5)):
            raise InvalidInput(f"base_vol must be in (0, 5), got {self.base_vol}")
        if not (Decimal(0) <= self.spread < Decimal(1)):
            raise InvalidInput(f"spread must be in [0, 1), got {self.spread}")
        if self.ttl_s <= 0 or self.max_size <= 0:
            raise InvalidInput("ttl_s and max_size must be positive")
        if not isinstance(self.hedge_band, Decimal) or self.hedge_band <= 0:
            raise InvalidInput(f"hedge_band must be a positive Decimal, got {self.hedge_band!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeTrade:
    """One hedge trade: ``quantity`` whole underlying bought (positive) or sold (negative)
    against ``quote``, to bring the hedge to ``target`` (minus the options' ``delta``), on
    ``venue`` (``pool``: ``tx_hash`` of the swap; ``exchange``: ``order_id``). ``costs``: the
    all-in cost each venue asked was quoted (quote units paid, negative when received)."""

    underlying: str
    quote: str
    delta: Decimal
    target: Decimal
    quantity: Decimal
    tx_hash: str | None
    venue: str = "pool"
    order_id: str | None = None
    costs: Mapping[str, Decimal] = field(default_factory=dict)


class OptionsMaker:
    """The maker: one key, one market; :meth:`price` and :meth:`quote` are the logic,
    :meth:`start` serves them over HTTP on ``host:port`` (port 0: a free one)."""

    def __init__(
        self,
        market: OptionsMarketClient,
        private_key: str,
        *,
        config: MakerConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        contracts: Mapping[str, str] | None = None,
        exchange: HedgeExchange | None = None,
    ) -> None:
        if exchange is not None and not isinstance(exchange, HedgeExchange):
            raise InvalidInput("exchange must be a HedgeExchange (cost and trade), e.g. CcxtHedge")
        self.market = market
        #: the spot exchange account it may hedge on (``MakerConfig.hedge_on``)
        self.exchange = exchange
        self._symbols: dict[str, str] = {}
        #: the address book's contracts (``UniswapV2Router02`` to hedge on)
        self._book = contracts
        self._key = private_key
        self.address: str = Account.from_key(private_key).address
        self.config = config or MakerConfig()
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._salt = 0
        self._lock = threading.Lock()
        self.url = ""
        self._infos: dict[int, SeriesInfo] = {}  # listing terms never change
        self._feeds: dict[str, Any] = {}
        #: quotes signed so far (tests and monitoring)
        self.quotes_signed = 0
        #: whole underlying held as hedge, by underlying token (what :meth:`hedge` swapped)
        self.hedge_held: dict[str, Decimal] = {}

    # --- setup -------------------------------------------------------------------------------

    def prepare(self, *, wrap_eth: int = 0) -> None:
        """Approve the market for every token of the listed series (and wrap ``wrap_eth`` wei
        of ETH into the first call series' underlying), from the maker's unlocked account."""
        w3 = self.market.w3
        listed = self.market.all_series()
        self._infos.update({s.series_id: s for s in listed})
        tokens = {s.quote for s in listed} | {s.underlying for s in listed}
        router = self._router()
        for token in sorted(tokens):
            c = w3.eth.contract(address=token, abi=_APPROVE_ABI)
            self._send(c.functions.approve(self.market.address, _MAX), f"approve {token}")
            if router is not None:
                self._send(c.functions.approve(router, _MAX), f"approve {token} to the router")
        if wrap_eth:
            calls = [s for s in listed if s.is_call]
            if calls:
                c = w3.eth.contract(address=calls[0].underlying, abi=_APPROVE_ABI)
                self._send(c.functions.deposit(), "wrap ETH", value=wrap_eth)

    def _send(self, fn: Any, what: str, value: int = 0) -> str:
        w3 = self.market.w3
        try:
            tx = fn.transact({"from": self.address, "value": value})
        except Exception as exc:  # web3 raises many types for a revert seen at estimation
            raise DevnetError(f"maker {what} failed: {exc}") from exc
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise DevnetError(f"maker {what} reverted")
        return "0x" + bytes(tx).hex()

    def _router(self) -> str | None:
        return self._book.get("UniswapV2Router02") if self._book is not None else None

    # --- hedging -----------------------------------------------------------------------------

    def delta(self) -> dict[str, Decimal]:
        """The maker's option delta per underlying token (whole underlying; long calls
        positive), at the feeds' spot and chain time, over every listed series."""
        from oms_chain.risk.pricing import bsm

        now = int(self.market.w3.eth.get_block("latest")["timestamp"])
        if len(self._infos) < self.market.series_count():
            self._infos.update({s.series_id: s for s in self.market.all_series()})
        out: dict[str, Decimal] = {}
        for sid, info in sorted(self._infos.items()):
            longs, shorts = self.market.position(self.address, sid)
            if longs == shorts or now >= info.expiry:
                continue
            spot = self.spot(info)
            strike = Decimal(info.strike).scaleb(-info.quote_decimals)
            t = max(info.expiry - now, 1) / _YEAR_S
            g = bsm(
                info.is_call,
                float(spot),
                float(strike),
                t,
                self.config.rate,
                0.0,
                self._vol(spot, strike),
            )
            per = Decimal(repr(float(g.delta))) * Decimal(info.contract_size).scaleb(
                -info.underlying_decimals
            )
            out[info.underlying] = out.get(info.underlying, Decimal(0)) + (longs - shorts) * per
        return out

    def hedge(self) -> list[HedgeTrade]:
        """Trade each underlying's hedge to minus its option delta where the two are
        ``hedge_band`` or more apart, on the venue ``MakerConfig.hedge_on`` picks; returns the
        trades made (each done before the next).

        Raises:
            DevnetError: no venue to hedge on (no Uniswap V2 router in the address book, no
                exchange account), a swap reverted or an exchange order failed.
        """
        on = self.config.hedge_on
        no_exchange = on == "pool" or self.exchange is None
        if on != "exchange" and self._router() is None and no_exchange:
            raise DevnetError("the maker's address book names no UniswapV2Router02 to hedge on")
        if on == "exchange" and self.exchange is None:
            raise DevnetError("hedge_on = 'exchange' but the maker has no exchange account")
        trades = []
        quotes: dict[str, tuple[str, int, int]] = {
            i.underlying: (i.quote, i.underlying_decimals, i.quote_decimals)
            for i in self._infos.values()
        }
        for underlying, delta in sorted(self.delta().items()):
            quote, decimals, quote_decimals = quotes[underlying]
            held = self.hedge_held.get(underlying, Decimal(0))
            target = -delta
            step = Decimal(1).scaleb(-min(decimals, 8))
            qty = (target - held).quantize(step, rounding=ROUND_FLOOR)
            if abs(qty) < self.config.hedge_band:
                continue
            costs = self.hedge_costs(underlying, quote, qty, decimals, quote_decimals)
            venue = min(costs, key=lambda v: costs[v]) if on == "cheapest" else on
            tx: str | None = None
            order_id: str | None = None
            if venue == "exchange":
                assert self.exchange is not None
                order_id, done = self.exchange.trade(self._pair(underlying, quote), qty)
            else:
                tx, done = self._swap(underlying, quote, qty, decimals), qty
            self.hedge_held[underlying] = held + done
            trades.append(
                HedgeTrade(
                    underlying=underlying,
                    quote=quote,
                    delta=delta,
                    target=target,
                    quantity=done,
                    tx_hash=tx,
                    venue=venue,
                    order_id=order_id,
                    costs=costs,
                )
            )
        return trades

    def hedge_costs(
        self, underlying: str, quote: str, qty: Decimal, decimals: int, quote_decimals: int
    ) -> dict[str, Decimal]:
        """The all-in cost of trading ``qty`` underlying (> 0 buy, < 0 sell) on each venue
        ``hedge_on`` may use, in whole quote units (paid; negative: received). The pool's
        includes its fee and price impact (the router's amounts) and ``hedge_gas`` gas at
        the chain's gas price valued at the WETH feed's spot; a venue that cannot fill it is
        left out. Only the configured venue with ``pool`` / ``exchange``."""
        on = self.config.hedge_on
        out: dict[str, Decimal] = {}
        if on in ("pool", "cheapest") and self._router() is not None:
            out["pool"] = self._pool_cost(underlying, quote, qty, decimals, quote_decimals)
        if on in ("exchange", "cheapest") and self.exchange is not None:
            cost = self.exchange.cost(self._pair(underlying, quote), qty)
            if cost is not None:
                out["exchange"] = cost
        if not out:
            raise DevnetError(f"no hedge venue can trade {qty} of {underlying} ({on})")
        return out

    def _router_contract(self) -> Any:
        router = self._router()
        assert router is not None
        return self.market.w3.eth.contract(
            address=to_checksum_address(router), abi=load_protocol_artifact("UniswapV2Router02").abi
        )

    def _pool_cost(
        self, underlying: str, quote: str, qty: Decimal, decimals: int, quote_decimals: int
    ) -> Decimal:
        r = self._router_contract()
        units = int(abs(qty).scaleb(decimals))
        try:
            if qty > 0:
                paid = r.functions.getAmountsIn(units, [quote, underlying]).call()[0]
                amount = Decimal(paid).scaleb(-quote_decimals)
            else:
                got = r.functions.getAmountsOut(units, [underlying, quote]).call()[-1]
                amount = -Decimal(got).scaleb(-quote_decimals)
        except Exception as exc:  # web3 raises many types for a revert (pool too thin)
            raise DevnetError(f"the pool cannot quote {qty} of {underlying}: {exc}") from exc
        return amount + self._gas_cost()

    def _gas_cost(self) -> Decimal:
        """``hedge_gas`` at the chain's gas price in quote units (the WETH feed's spot), or 0
        when no listed series has WETH as its underlying."""
        weth = (self._book or {}).get("WETH")
        info = next((i for i in self._infos.values() if i.underlying == weth), None)
        if info is None or not self.config.hedge_gas:
            return Decimal(0)
        wei = self.config.hedge_gas * int(self.market.w3.eth.gas_price)
        return Decimal(wei).scaleb(-18) * self.spot(info)

    def _pair(self, underlying: str, quote: str) -> str:
        if underlying not in self._symbols:
            from oms_chain.devnet.deploy import ERC20_ABI

            w3 = self.market.w3
            names = [
                str(
                    w3.eth.contract(address=to_checksum_address(t), abi=ERC20_ABI)
                    .functions.symbol()
                    .call()
                )
                for t in (underlying, quote)
            ]
            self._symbols[underlying] = exchange_symbol(*names)
        return self._symbols[underlying]

    def _swap(self, underlying: str, quote: str, qty: Decimal, decimals: int) -> str:
        w3 = self.market.w3
        r = self._router_contract()
        units = int(abs(qty).scaleb(decimals))
        deadline = int(w3.eth.get_block("latest")["timestamp"]) + 600
        if qty > 0:
            fn = r.functions.swapTokensForExactTokens(
                units, _MAX, [quote, underlying], self.address, deadline
            )
        else:
            fn = r.functions.swapExactTokensForTokens(
                units, 0, [underlying, quote], self.address, deadline
            )
        return self._send(fn, f"hedge {qty} of {underlying}")

    # --- pricing -----------------------------------------------------------------------------

    def _vol(self, spot: Decimal, strike: Decimal) -> float:
        moneyness = math.log(float(strike / spot))
        return float(self.config.base_vol) + float(self.config.smile) * moneyness * moneyness

    def spot(self, info: SeriesInfo) -> Decimal:
        """The series feed's latest answer, quote units per whole underlying."""
        feed = self.market.w3.eth.contract(address=info.feed, abi=load_artifact("DevOracle")["abi"])
        _round, answer, _s, _u, _a = feed.functions.latestRoundData().call()
        return Decimal(int(answer)).scaleb(-info.feed_decimals)

    def price(self, info: SeriesInfo, now: int) -> Decimal:
        """Model premium per whole underlying (quote units) at chain time ``now``."""
        from oms_chain.risk.pricing import bsm_price

        spot = self.spot(info)
        strike = Decimal(info.strike).scaleb(-info.quote_decimals)
        t = max(info.expiry - now, 1) / _YEAR_S
        vol = self._vol(spot, strike)
        value = float(
            bsm_price(info.is_call, float(spot), float(strike), t, self.config.rate, 0.0, vol)
        )
        return max(Decimal(repr(value)), self.config.min_premium)

    def quote(self, series_id: int, taker_buys: bool, size: int, taker: str) -> tuple[Quote, bytes]:
        """A signed quote for ``size`` contracts (premium per contract in quote base units,
        rounded in the maker's favour).

        Raises:
            InvalidInput: unknown or expired series, bad size, the taker is the maker.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive integer of contracts, got {size!r}")
        if size > self.config.max_size:
            raise InvalidInput(f"size {size} is above the maker's {self.config.max_size}")
        if taker.lower() == self.address.lower():
            raise InvalidInput("the taker is the maker")
        now = int(self.market.w3.eth.get_block("latest")["timestamp"])
        premium = self.premium(series_id, taker_buys, now)
        q = Quote(
            maker=self.address,
            series_id=series_id,
            maker_sells=taker_buys,
            size=size,
            premium=premium,
            deadline=now + self.config.ttl_s,
            nonce=self.market.nonce(self.address),
            taker=taker,
            allow_partial=True,
            salt=self.next_salt(),
        )
        signature = self.market.sign(q, self._key)
        self.quotes_signed += 1
        return q, signature

    def premium(self, series_id: int, taker_buys: bool, now: int) -> int:
        """Premium per contract (quote base units, at least 1) of ``series_id`` at chain time
        ``now``, widened by the spread and rounded in the maker's favour.

        Raises:
            InvalidInput: the series expired.
        """
        info = self._infos.get(series_id)
        if info is None:
            info = self._infos[series_id] = self.market.series(series_id)
        if now >= info.expiry:
            raise InvalidInput(f"series {series_id} expired at {info.expiry}")
        factor = 1 + self.config.spread if taker_buys else 1 - self.config.spread
        per_contract = (
            self.price(info, now)
            * factor
            * Decimal(info.contract_size).scaleb(-info.underlying_decimals)
            * Decimal(10) ** info.quote_decimals
        )
        rounding = ROUND_CEILING if taker_buys else ROUND_FLOOR
        return max(int(per_contract.to_integral_value(rounding=rounding)), 1)

    def next_salt(self) -> int:
        """A fresh salt for the next signed quote or package (thread-safe)."""
        with self._lock:
            self._salt += 1
            return self._salt

    def sign_package(self, fields: tuple[Any, ...]) -> bytes:
        """The maker's signature of a package's ABI tuple (see ``options_maker_package``)."""
        signature = self.market.sign_package(fields, self._key)
        self.quotes_signed += 1
        return signature

    # --- HTTP --------------------------------------------------------------------------------

    async def _rfq(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise InvalidInput("expected a JSON object")
            side = data.get("side")
            if side not in ("buy", "sell"):
                raise InvalidInput(f"side must be 'buy' or 'sell', got {side!r}")
            sid, size, taker = data.get("series_id"), data.get("size"), data.get("taker")
            if not isinstance(sid, int) or not isinstance(taker, str) or not isinstance(size, int):
                raise InvalidInput("series_id, size (integers) and taker (address) are required")
            q, sig = await asyncio.to_thread(self.quote, sid, side == "buy", size, taker)
        except InvalidInput as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except ValueError as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        quote = quote_json(q)
        return web.json_response({"quote": quote, "signature": "0x" + sig.hex()})

    async def _rfq_package(self, request: web.Request) -> web.Response:
        return await rfq_package(self, request)

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"maker": self.address})

    async def start(self) -> OptionsMaker:
        """Serve ``/rfq`` and ``/health``; :attr:`url` is set once listening."""
        app = web.Application()
        app.router.add_post("/rfq", self._rfq)
        app.router.add_post("/rfq/package", self._rfq_package)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://{self._host}:{port}"
        return self

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OptionsMaker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class OptionsMakerThread:
    """An :class:`OptionsMaker` served from its own thread and event loop (for tests whose
    venue runs in another loop or process)."""

    def __init__(self, maker: OptionsMaker, *, hedge_interval_s: float | None = None) -> None:
        self.maker = maker
        self._hedge_every = hedge_interval_s
        #: why the last hedge failed, if it did (the loop keeps going)
        self.hedge_error: str | None = None
        self._hedger: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="options-maker", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.maker.start())
        if self._hedge_every is not None:
            self._hedger = self._loop.create_task(self._hedging(self._hedge_every))
        self._ready.set()
        self._loop.run_forever()

    async def _close(self) -> None:
        if self._hedger is not None:
            self._hedger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._hedger
        await self.maker.close()

    async def _hedging(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.maker.hedge)
                self.hedge_error = None
            except (DevnetError, OSError, ValueError) as exc:
                self.hedge_error = str(exc)

    def start(self) -> OptionsMakerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise DevnetError("the options maker did not start within 30 s")
        return self

    @property
    def url(self) -> str:
        return self.maker.url

    def stop(self) -> None:
        """Stop serving and join the thread."""
        fut = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def run_maker_in_thread(
    market: OptionsMarketClient,
    private_key: str,
    *,
    config: MakerConfig | None = None,
    contracts: Mapping[str, str] | None = None,
    wrap_eth: int = 0,
    hedge_interval_s: float | None = None,
    exchange: HedgeExchange | None = None,
) -> OptionsMakerThread:
    """Approve (and wrap ``wrap_eth`` wei), then serve a maker for ``market`` from a thread,
    hedging every ``hedge_interval_s`` seconds on the router of ``contracts`` or the
    ``exchange`` account, as ``config.hedge_on`` says (``None``: no hedging loop); call
    ``stop()`` at the end."""
    maker = OptionsMaker(market, private_key, config=config, contracts=contracts, exchange=exchange)
    maker.prepare(wrap_eth=wrap_eth)
    return OptionsMakerThread(maker, hedge_interval_s=hedge_interval_s).start()
