"""Binance spot JSON shapes of orders, trades, accounts and user-stream events.

Field names and their order follow Binance's REST and user-data-stream documentation; numbers
that are money are strings with 8 decimals, ids and times are integers (milliseconds).
"""

from __future__ import annotations

import zlib
from decimal import Decimal

from oms_chain.devnet.exchange.markets import SymbolSpec, fmt
from oms_chain.devnet.exchange.matching import BUY, Account, MatchingEngine, Order, Trade

__all__ = [
    "account_json",
    "account_trade_json",
    "balance_event",
    "cancel_json",
    "execution_report",
    "new_order_json",
    "order_json",
    "public_trade_json",
    "ticker_event",
    "ticker_json",
]


def order_json(order: Order) -> dict[str, object]:
    """``GET /api/v3/order`` / ``openOrders`` / ``allOrders`` entry."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fmt(order.stop_price),
        "icebergQty": fmt(Decimal(0)),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.is_working,
        "workingTime": order.working_time,
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "selfTradePreventionMode": "NONE",
    }


def new_order_json(order: Order, trades: tuple[Trade, ...], resp_type: str) -> dict[str, object]:
    """``POST /api/v3/order`` answer for ``newOrderRespType`` ACK, RESULT or FULL."""
    ack: dict[str, object] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }
    if resp_type == "ACK":
        return ack
    result = {
        **ack,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        **({"stopPrice": fmt(order.stop_price)} if order.stop_price else {}),
        "workingTime": order.working_time,
        "selfTradePreventionMode": "NONE",
    }
    if resp_type == "RESULT":
        return result
    fills = []
    for trade in trades:
        is_buyer = order.side == BUY
        fills.append(
            {
                "price": fmt(trade.price),
                "qty": fmt(trade.qty),
                "commission": fmt(trade.buyer_commission if is_buyer else trade.seller_commission),
                "commissionAsset": trade.base_asset if is_buyer else trade.quote_asset,
                "tradeId": trade.trade_id,
            }
        )
    return {**result, "fills": fills}


def cancel_json(order: Order, transact_time: int) -> dict[str, object]:
    """``DELETE /api/v3/order`` answer: ``clientOrderId`` is the id of the cancel request."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.cancel_client_order_id,
        "transactTime": transact_time,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        **({"stopPrice": fmt(order.stop_price)} if order.stop_price else {}),
        "selfTradePreventionMode": "NONE",
    }


def public_trade_json(trade: Trade) -> dict[str, object]:
    """``GET /api/v3/trades`` entry."""
    return {
        "id": trade.trade_id,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "time": trade.time,
        "isBuyerMaker": trade.buyer_is_maker,
        "isBestMatch": True,
    }


def account_trade_json(trade: Trade, account_id: str, as_buyer: bool) -> dict[str, object]:
    """``GET /api/v3/myTrades`` entry seen from one side of the trade."""
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.buyer_order_id if as_buyer else trade.seller_order_id,
        "orderListId": -1,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "commission": fmt(trade.buyer_commission if as_buyer else trade.seller_commission),
        "commissionAsset": trade.base_asset if as_buyer else trade.quote_asset,
        "time": trade.time,
        "isBuyer": as_buyer,
        "isMaker": trade.buyer_is_maker if as_buyer else not trade.buyer_is_maker,
        "isBestMatch": True,
    }


def account_json(account: Account, now: int) -> dict[str, object]:
    """``GET /api/v3/account`` answer."""
    assets = sorted(set(account.free) | set(account.locked))
    maker_bps = int(account.maker_fee * 10000)
    taker_bps = int(account.taker_fee * 10000)
    return {
        "makerCommission": maker_bps,
        "takerCommission": taker_bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(account.maker_fee),
            "taker": fmt(account.taker_fee),
            "buyer": fmt(Decimal(0)),
            "seller": fmt(Decimal(0)),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": account.update_time or now,
        "accountType": "SPOT",
        "balances": [
            {"asset": a, "free": fmt(account.free[a]), "locked": fmt(account.locked[a])}
            for a in assets
        ],
        "permissions": ["SPOT"],
        "uid": zlib.crc32(account.account_id.encode()),
    }


def execution_report(
    order: Order, execution_type: str, trade: Trade | None, event_time: int
) -> dict[str, object]:
    """User-data-stream ``executionReport`` for one change of ``order``."""
    last_qty = last_price = last_quote = commission = Decimal(0)
    commission_asset: str | None = None
    trade_id = -1
    is_maker = False
    transaction_time = order.update_time
    if trade is not None:
        is_buyer = order.side == BUY
        last_qty, last_price, last_quote = trade.qty, trade.price, trade.quote_qty
        commission = trade.buyer_commission if is_buyer else trade.seller_commission
        commission_asset = trade.base_asset if is_buyer else trade.quote_asset
        trade_id = trade.trade_id
        is_maker = trade.buyer_is_maker if is_buyer else not trade.buyer_is_maker
        transaction_time = trade.time
    canceled = execution_type == "CANCELED" and order.cancel_client_order_id
    return {
        "e": "executionReport",
        "E": event_time,
        "s": order.symbol,
        # on a cancel, "c" is the cancel request's id and "C" the order's own
        "c": order.cancel_client_order_id if canceled else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt(order.orig_qty),
        "p": fmt(order.price),
        "P": fmt(order.stop_price),
        "F": fmt(Decimal(0)),
        "g": -1,
        "C": order.client_order_id if canceled else "",
        "x": execution_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt(last_qty),
        "z": fmt(order.executed_qty),
        "L": fmt(last_price),
        "n": fmt(commission),
        "N": commission_asset,
        "T": transaction_time,
        "t": trade_id,
        "v": 0,
        "I": 0,
        "w": order.is_open and order.is_working,
        "m": is_maker,
        "M": False,
        "O": order.time,
        "Z": fmt(order.cum_quote),
        "Y": fmt(last_quote),
        "Q": fmt(order.orig_quote_qty),
        **({"W": order.working_time} if order.is_working else {}),  # only once on the book
        "V": "NONE",
    }


def balance_event(account: Account, assets: frozenset[str], event_time: int) -> dict[str, object]:
    """User-data-stream ``outboundAccountPosition`` for the changed ``assets``."""
    return {
        "e": "outboundAccountPosition",
        "E": event_time,
        "u": account.update_time or event_time,
        "B": [
            {"a": a, "f": fmt(account.free[a]), "l": fmt(account.locked[a])} for a in sorted(assets)
        ],
    }


def ticker_json(engine: MatchingEngine, spec: SymbolSpec) -> dict[str, object]:
    """``GET /api/v3/ticker/24hr`` entry: rolling 24 h statistics of ``spec``'s trades."""
    now = engine.now_ms()
    window_start = now - 86_400_000
    history = engine.trades[spec.symbol]
    window = [t for t in history if t.time >= window_start]
    before = [t for t in history if t.time < window_start]
    (bid, ask) = engine.best_bid_ask(spec.symbol)
    zero = Decimal(0)
    if window:
        open_price, last = window[0].price, window[-1]
        volume = sum((t.qty for t in window), zero)
        quote_volume = sum((t.quote_qty for t in window), zero)
        change = last.price - open_price
        stats = {
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_price * 100):.3f}",
            "weightedAvgPrice": fmt(quote_volume / volume),
            "prevClosePrice": fmt(before[-1].price if before else open_price),
            "lastPrice": fmt(last.price),
            "lastQty": fmt(last.qty),
        }
        first_id, last_id, count = window[0].trade_id, last.trade_id, len(window)
        high, low = max(t.price for t in window), min(t.price for t in window)
    else:
        open_price = high = low = volume = quote_volume = zero
        stats = {
            "priceChange": fmt(zero),
            "priceChangePercent": "0.000",
            "weightedAvgPrice": fmt(zero),
            "prevClosePrice": fmt(zero),
            "lastPrice": fmt(zero),
            "lastQty": fmt(zero),
        }
        first_id = last_id = -1
        count = 0
    return {
        "symbol": spec.symbol,
        **stats,
        "bidPrice": fmt(bid[0] if bid else zero),
        "bidQty": fmt(bid[1] if bid else zero),
        "askPrice": fmt(ask[0] if ask else zero),
        "askQty": fmt(ask[1] if ask else zero),
        "openPrice": fmt(open_price),
        "highPrice": fmt(high),
        "lowPrice": fmt(low),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": window_start,
        "closeTime": now,
        "firstId": first_id,
        "lastId": last_id,
        "count": count,
    }


def ticker_event(
    ticker: dict[str, object], event_time: int, *, mini: bool = False
) -> dict[str, object]:
    """``<symbol>@ticker`` stream event (``24hrTicker``) from a :func:`ticker_json` row, or the
    ``<symbol>@miniTicker`` one (``24hrMiniTicker``) with ``mini=True``."""
    if mini:
        return {
            "e": "24hrMiniTicker",
            "E": event_time,
            "s": ticker["symbol"],
            "c": ticker["lastPrice"],
            "o": ticker["openPrice"],
            "h": ticker["highPrice"],
            "l": ticker["lowPrice"],
            "v": ticker["volume"],
            "q": ticker["quoteVolume"],
        }
    return {
        "e": "24hrTicker",
        "E": event_time,
        "s": ticker["symbol"],
        "p": ticker["priceChange"],
        "P": ticker["priceChangePercent"],
        "w": ticker["weightedAvgPrice"],
        "x": ticker["prevClosePrice"],
        "c": ticker["lastPrice"],
        "Q": ticker["lastQty"],
        "b": ticker["bidPrice"],
        "B": ticker["bidQty"],
        "a": ticker["askPrice"],
        "A": ticker["askQty"],
        "o": ticker["openPrice"],
        "h": ticker["highPrice"],
        "l": ticker["lowPrice"],
        "v": ticker["volume"],
        "q": ticker["quoteVolume"],
        "O": ticker["openTime"],
        "C": ticker["closeTime"],
        "F": ticker["firstId"],
        "L": ticker["lastId"],
        "n": ticker["count"],
    }
