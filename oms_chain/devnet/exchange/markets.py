"""Symbols of the simulated exchange and their Binance filters (PRICE_FILTER, LOT_SIZE, NOTIONAL).

Money is :class:`~decimal.Decimal` throughout. Every symbol is checked so that
``price digits + quantity digits <= 8``: a fill's quote amount (price x quantity) is then exact
at the 8 decimal places Binance shows balances with, so balances never need rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from oms_chain.devnet.exchange.errors import bad_precision, filter_failure

__all__ = [
    "ASSET_DECIMALS",
    "DEFAULT_PRICES_USD",
    "SymbolSpec",
    "decimal_places",
    "default_markets",
    "fmt",
]

ASSET_DECIMALS = 8
"""Decimal places of every balance, quantity and price on the wire (Binance's 8)."""

DEFAULT_PRICES_USD: Mapping[str, Decimal] = {
    "ETH": Decimal(3000),
    "BTC": Decimal(60000),
    "USDC": Decimal(1),
}
"""USD prices the default markets start at; the same set as the devnet AMMs
(``oms_chain.devnet.deploy.PRICES_USD``: WETH 3000, WBTC 60000, USDC 1)."""

_QUANT = Decimal(1).scaleb(-ASSET_DECIMALS)


def fmt(value: Decimal) -> str:
    """Format a decimal the way Binance does on the wire: fixed point, 8 decimals."""
    return f"{value.quantize(_QUANT):f}"


def decimal_places(value: Decimal) -> int:
    """Number of significant fractional digits of ``value`` (``Decimal('1.50')`` -> 1)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolSpec:
    """One spot market: ids, filters and a starting reference price.

    ``tick_size`` / ``min_price`` / ``max_price`` form PRICE_FILTER, ``step_size`` / ``min_qty`` /
    ``max_qty`` form LOT_SIZE, ``min_notional`` / ``max_notional`` form NOTIONAL (applied to
    MARKET orders against the last trade price, like ``applyMinToMarket``).
    """

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal = Decimal("9000000")
    min_price: Decimal | None = None
    max_price: Decimal = Decimal("1000000")
    reference_price: Decimal = Decimal(0)
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if decimal_places(self.tick_size) + decimal_places(self.step_size) > ASSET_DECIMALS:
            raise ValueError(
                f"{self.symbol}: tick_size {self.tick_size} and step_size {self.step_size} "
                f"together have more than {ASSET_DECIMALS} decimals; quote amounts would need "
                "rounding"
            )
        if self.min_price is None:
            object.__setattr__(self, "min_price", self.tick_size)

    @property
    def lower_id(self) -> str:
        """The lowercase id used in stream names (``ethusdc@depth``)."""
        return self.symbol.lower()

    def check_precision(self, name: str, value: Decimal) -> None:
        """Raise -1111 when ``value`` has more than 8 decimals."""
        if decimal_places(value) > ASSET_DECIMALS:
            raise bad_precision(name)

    def check_price(self, price: Decimal) -> None:
        """PRICE_FILTER: min/max price and tick size (-1013 ``Filter failure: PRICE_FILTER``)."""
        min_price = self.min_price if self.min_price is not None else self.tick_size
        if price < min_price or price > self.max_price or (price - min_price) % self.tick_size:
            raise filter_failure("PRICE_FILTER")

    def check_quantity(self, qty: Decimal) -> None:
        """LOT_SIZE: min/max quantity and step size. Raises -1013 ``Filter failure: LOT_SIZE``."""
        if qty < self.min_qty or qty > self.max_qty or (qty - self.min_qty) % self.step_size:
            raise filter_failure("LOT_SIZE")

    def check_notional(self, notional: Decimal, *, market: bool = False) -> None:
        """NOTIONAL: price x quantity within [min_notional, max_notional]; MARKET orders are held
        to the minimum only (``applyMinToMarket`` true, ``applyMaxToMarket`` false)."""
        if notional < self.min_notional or (not market and notional > self.max_notional):
            raise filter_failure("NOTIONAL")

    def floor_to_step(self, qty: Decimal) -> Decimal:
        """Round a quantity down to a multiple of the step size."""
        return (qty // self.step_size) * self.step_size

    def floor_to_tick(self, price: Decimal) -> Decimal:
        """Round a price down to a multiple of the tick size."""
        return (price // self.tick_size) * self.tick_size

    def ceil_to_tick(self, price: Decimal) -> Decimal:
        """Round a price up to a multiple of the tick size."""
        floored = self.floor_to_tick(price)
        return floored if floored == price else floored + self.tick_size

    def exchange_info(self) -> dict[str, object]:
        """This symbol as an entry of ``GET /api/v3/exchangeInfo`` ``symbols``."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": ASSET_DECIMALS,
            "quoteAsset": self.quote,
            "quotePrecision": ASSET_DECIMALS,
            "quoteAssetPrecision": ASSET_DECIMALS,
            "baseCommissionPrecision": ASSET_DECIMALS,
            "quoteCommissionPrecision": ASSET_DECIMALS,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price or self.tick_size),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 0,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "NONE",
            "allowedSelfTradePreventionModes": ["NONE"],
        }


def default_markets(prices_usd: Mapping[str, Decimal] = DEFAULT_PRICES_USD) -> list[SymbolSpec]:
    """ETHUSDC, BTCUSDC and ETHBTC at the devnet's USD prices (ETH 3000, BTC 60000, USDC 1)."""
    eth, btc, usdc = prices_usd["ETH"], prices_usd["BTC"], prices_usd["USDC"]
    return [
        SymbolSpec(
            symbol="ETHUSDC",
            base="ETH",
            quote="USDC",
            tick_size=Decimal("0.01"),
            step_size=Decimal("0.0001"),
            min_qty=Decimal("0.0001"),
            max_qty=Decimal("9000"),
            min_notional=Decimal("5"),
            reference_price=eth / usdc,
        ),
        SymbolSpec(
            symbol="BTCUSDC",
            base="BTC",
            quote="USDC",
            tick_size=Decimal("0.01"),
            step_size=Decimal("0.00001"),
            min_qty=Decimal("0.00001"),
            max_qty=Decimal("9000"),
            min_notional=Decimal("5"),
            reference_price=btc / usdc,
        ),
        SymbolSpec(
            symbol="ETHBTC",
            base="ETH",
            quote="BTC",
            tick_size=Decimal("0.00001"),
            step_size=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            max_qty=Decimal("100000"),
            min_notional=Decimal("0.0001"),
            max_price=Decimal("1000"),
            reference_price=eth / btc,
        ),
    ]
