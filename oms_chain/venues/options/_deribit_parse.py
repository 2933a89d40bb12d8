"""What the Deribit venue reads from ccxt's dicts, parsed once into our types: option markets
(contract, steps, fees, Deribit's tiered price ticks), tickers with IV and Greeks, positions and
expiry settlements. Pure functions: no I/O, no venue state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oms_chain.model.assets import Asset
from oms_chain.model.instruments import OptionContract, OptionKind, Settlement
from oms_chain.venues.cex.normalize import CcxtMarket, exact_decimal
from oms_chain.venues.options.types import OptionPosition, OptionSettlement, OptionTicker

__all__ = [
    "BPS",
    "MS_TO_NS",
    "chain_key",
    "contract_key",
    "opt_decimal",
    "option_market",
    "position",
    "settlement",
    "tick_steps",
    "ticker",
]

MS_TO_NS = 1_000_000
BPS = Decimal(10_000)


def opt_decimal(value: object, what: str) -> Decimal | None:
    """``value`` as an exact Decimal; ``None`` (or a NaN float) for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return exact_decimal(value, what=what)


def _iv(value: object, what: str) -> Decimal | None:
    """Deribit reports implied volatility in percent; we keep fractions."""
    d = opt_decimal(value, what)
    return None if d is None else d / 100


def _plain(d: Decimal) -> Decimal:
    """``3000.0`` as ``3000``; a fractional value unchanged."""
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _ts(value: object, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value) * MS_TO_NS
    return default


def contract_key(c: OptionContract) -> tuple[str, Decimal, int, OptionKind]:
    """What names one listed option: underlying code, strike, expiry, call or put (a contract
    built elsewhere with another quantity precision is still the same option)."""
    return (c.underlying.symbol, c.strike, c.expiry_ns, c.option_kind)


def chain_key(t: OptionTicker) -> tuple[int, Decimal, int]:
    """Chain order: expiry, strike, call before put."""
    return (
        t.contract.expiry_ns,
        t.contract.strike,
        0 if t.contract.option_kind is OptionKind.CALL else 1,
    )


def option_market(
    venue: str,
    market: Mapping[str, Any],
    *,
    tick: bool,
    quote_code: str,
    quote_decimals: int,
) -> CcxtMarket:
    """Our view of one ccxt option market of ``venue`` (``tick``: ccxt's precision mode is
    tick sizes, else decimal places)."""
    precision = market.get("precision") or {}

    def step(value: object) -> Decimal | None:
        if value is None:
            return None
        d = exact_decimal(value, what="precision")
        return d if tick else Decimal(1).scaleb(-int(d))

    amount_step = step(precision.get("amount"))
    price_step = step(precision.get("price"))
    minimum = (market.get("limits") or {}).get("amount", {}).get("min")
    if amount_step is None and minimum is not None:
        amount_step = exact_decimal(minimum, what="minimum amount")
    exponent = (amount_step or Decimal(1)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    contract = OptionContract(
        underlying=Asset.cex(venue, str(market["base"]), 8),
        quote=Asset.cex(venue, quote_code, quote_decimals),
        strike=_plain(exact_decimal(market["strike"], what="strike")),
        expiry_ns=int(market["expiry"]) * MS_TO_NS,
        option_kind=OptionKind.CALL if market["optionType"] == "call" else OptionKind.PUT,
        settlement=Settlement.CASH,
        size_decimals=max(0, -exponent),
    )
    taker = opt_decimal(market.get("taker"), "taker fee") or Decimal(0)
    maker = opt_decimal(market.get("maker"), "maker fee") or Decimal(0)
    return CcxtMarket(
        symbol=str(market["symbol"]),
        instrument=contract,
        amount_step=amount_step,
        price_step=price_step,
        taker_fee_bps=taker * BPS,
        maker_fee_bps=maker * BPS,
    )


def tick_steps(market: Mapping[str, Any]) -> list[tuple[Decimal, Decimal]]:
    """Deribit's ``tick_size_steps`` of a ccxt market as (above price, tick), highest first."""
    steps = (market.get("info") or {}).get("tick_size_steps") or []
    return sorted(
        (
            (
                exact_decimal(st["above_price"], what="tick step price"),
                exact_decimal(st["tick_size"], what="tick step"),
            )
            for st in steps
        ),
        reverse=True,
    )


def ticker(
    venue: str, name: str, market: CcxtMarket, g: Mapping[str, Any], ts: int
) -> OptionTicker:
    """An :class:`OptionTicker` from a ccxt greeks / option-chain entry ``g`` of the option
    ``name`` (``ts``: our time, used when the entry has none)."""
    contract = market.instrument
    assert isinstance(contract, OptionContract)

    def num(key: str) -> Decimal | None:
        return opt_decimal(g.get(key), key)

    def price(key: str) -> Decimal | None:
        d = num(key)
        return None if d is None or d <= 0 else market.price(d)

    return OptionTicker(
        venue=venue,
        name=name,
        contract=contract,
        premium_currency=contract.base.symbol,
        bid=price("bidPrice"),
        ask=price("askPrice"),
        mark=price("markPrice"),
        bid_iv=_iv(g.get("bidImpliedVolatility"), "bid iv"),
        ask_iv=_iv(g.get("askImpliedVolatility"), "ask iv"),
        mark_iv=_iv(
            g.get("markImpliedVolatility")
            or g.get("impliedVolatility")
            or (g.get("info") or {}).get("mark_iv"),
            "mark iv",
        ),
        delta=num("delta"),
        gamma=num("gamma"),
        vega=num("vega"),
        theta=num("theta"),
        underlying_price=num("underlyingPrice"),
        ts_event=_ts(g.get("timestamp"), ts),
    )


def position(
    venue: str, name: str, market: CcxtMarket, p: Mapping[str, Any], currency: str
) -> OptionPosition | None:
    """The :class:`OptionPosition` of a ccxt position ``p`` (``name``: Deribit's instrument
    name when the entry lacks one); ``None`` for a flat one."""
    info = p.get("info") or {}
    size = exact_decimal(info.get("size", p.get("contracts") or 0), what="size")
    if size == 0:
        return None
    contract = market.instrument
    assert isinstance(contract, OptionContract)
    return OptionPosition(
        venue=venue,
        name=str(info.get("instrument_name") or name),
        contract=contract,
        quantity=market.amount(size),
        premium_currency=contract.base.symbol,
        average_price=opt_decimal(info.get("average_price"), "average price"),
        mark=opt_decimal(info.get("mark_price"), "mark price"),
        collateral=opt_decimal(info.get("initial_margin"), "margin") or Decimal(0),
        collateral_currency=currency,
    )


def settlement(
    venue: str, contract: OptionContract, s: Mapping[str, Any], currency: str
) -> OptionSettlement:
    """One delivery of Deribit's settlement history: ``payoff`` is the cash delivered in
    ``currency`` (the underlying)."""
    name = str(s["instrument_name"])
    return OptionSettlement(
        venue=venue,
        name=name,
        contract=contract,
        quantity=exact_decimal(s["position"], what="position"),
        settlement_price=exact_decimal(s["index_price"], what="delivery price"),
        payoff=exact_decimal(s["session_profit_loss"], what="delivered cash"),
        payoff_currency=currency,
        reference=f"{name}@{s['timestamp']}",
        ts_event=int(s["timestamp"]) * MS_TO_NS,
    )
