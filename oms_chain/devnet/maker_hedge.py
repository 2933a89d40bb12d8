"""Where the devnet's options maker can hedge besides the chain's pool: a spot exchange account,
through unmodified ccxt (the devnet's Binance-protocol simulator).

:class:`HedgeExchange` is what :class:`~oms_chain.devnet.options_maker.OptionsMaker` needs: the
all-in cost of a hedge (order book walked, taker fee included) and the trade itself.
:class:`CcxtHedge` implements it over a synchronous ccxt exchange; the maker's ``hedge()`` is
synchronous (tests call it directly; its thread runs it in a worker).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from oms_chain.model.errors import DevnetError

__all__ = ["CcxtHedge", "HedgeExchange", "exchange_symbol"]

#: token symbols on chain -> the exchange's asset (wrapped tokens trade as the native asset)
_ASSET = {"WETH": "ETH", "WBTC": "BTC"}


def exchange_symbol(underlying: str, quote: str) -> str:
    """The exchange's pair for on-chain token symbols: ``WETH``, ``USDC`` -> ``ETH/USDC``."""
    return f"{_ASSET.get(underlying.upper(), underlying.upper())}/{quote.upper()}"


@runtime_checkable
class HedgeExchange(Protocol):
    """A spot account the maker can hedge on."""

    def cost(self, symbol: str, quantity: Decimal) -> Decimal | None:
        """Quote paid to buy ``quantity`` base (> 0), or minus the quote received to sell
        ``-quantity`` (< 0), fees included; ``None`` when the book cannot fill it."""
        ...

    def trade(self, symbol: str, quantity: Decimal) -> tuple[str, Decimal]:
        """Buy (> 0) or sell (< 0) ``quantity`` at market: ``(order id, signed base filled)``."""
        ...


class CcxtHedge:
    """:class:`HedgeExchange` over a synchronous ccxt ``exchange`` (credentials and URLs set;
    for the simulator: ``urls['api'] = simulator.binance_urls(...)``). Markets are loaded on
    first use; the taker fee is the market's (ccxt's ``taker``)."""

    def __init__(self, exchange: Any) -> None:
        self._x = exchange
        self._loaded = False
        self._fees: dict[str, Decimal] = {}

    @classmethod
    def binance_simulator(
        cls, api_key: str, secret: str, urls: Mapping[str, Any] | Any
    ) -> CcxtHedge:
        """A ccxt ``binance`` client on the devnet simulator: ``urls`` rewrites ccxt's
        ``urls['api']`` (``lambda api: simulator.binance_urls(api)``) or is the rewritten dict."""
        import ccxt

        x = ccxt.binance(
            {
                "apiKey": api_key,
                "secret": secret,
                "options": {
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]},
                },
            }
        )
        x.urls["api"] = urls(x.urls["api"]) if callable(urls) else dict(urls)
        return cls(x)

    def _market(self, symbol: str) -> dict[str, Any]:
        if not self._loaded:
            self._x.load_markets()
            self._loaded = True
        try:
            return dict(self._x.market(symbol))
        except Exception as exc:  # ccxt's BadSymbol
            raise DevnetError(f"the hedge exchange lists no {symbol}: {exc}") from None

    def taker_fee(self, symbol: str) -> Decimal:
        """The account's taker fee rate on ``symbol`` (ccxt ``fetch_trading_fee``; the market's
        default when the exchange does not say), asked once."""
        if symbol not in self._fees:
            market = self._market(symbol)
            try:
                rate = self._x.fetch_trading_fee(symbol).get("taker")
            except Exception:  # not supported by every exchange: the market's default
                rate = None
            self._fees[symbol] = Decimal(str(rate if rate is not None else market.get("taker", 0)))
        return self._fees[symbol]

    def cost(self, symbol: str, quantity: Decimal) -> Decimal | None:
        """See :meth:`HedgeExchange.cost` (the top 100 levels of the book)."""
        fee = self.taker_fee(symbol)
        book = self._x.fetch_order_book(symbol, 100)
        levels = book["asks"] if quantity > 0 else book["bids"]
        left, notional = abs(quantity), Decimal(0)
        for price, size, *_ in levels:
            take = min(left, Decimal(str(size)))
            notional += take * Decimal(str(price))
            left -= take
            if left == 0:
                break
        if left > 0:
            return None
        return notional * (1 + fee) if quantity > 0 else -notional * (1 - fee)

    def trade(self, symbol: str, quantity: Decimal) -> tuple[str, Decimal]:
        """See :meth:`HedgeExchange.trade`."""
        self._market(symbol)
        amount = self._x.amount_to_precision(symbol, float(abs(quantity)))
        side = "buy" if quantity > 0 else "sell"
        try:
            order = self._x.create_order(symbol, "market", side, float(amount))
        except Exception as exc:  # ccxt's exchange errors
            raise DevnetError(f"hedge {side} {amount} {symbol} failed: {exc}") from exc
        filled = Decimal(str(order.get("filled") or amount))
        return str(order["id"]), filled if quantity > 0 else -filled
