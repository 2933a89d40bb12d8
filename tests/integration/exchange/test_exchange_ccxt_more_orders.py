"""Unmodified ccxt ``binance`` against the simulator: system status, trading fees, edit_order
(``POST /api/v3/order/cancelReplace``) and stop-limit orders triggered by the last trade price.

The market here is still and empty (the ``quiet`` fixture: no agents): two helper accounts trade
with each other through the engine at exact prices, so every trigger and fill price is known.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest
from exchange_helpers import API_KEY, rest_client, trade_at

from oms_chain.devnet.exchange import ExchangeSimulator, check_invariants

SYMBOL = "ETH/USDC"
D = Decimal


@pytest.fixture
async def client(quiet: ExchangeSimulator) -> AsyncIterator[Any]:
    exchange = rest_client(quiet)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


def error_body(exc: BaseException) -> Any:
    """The JSON body Binance answered, as ccxt quotes it in the exception text."""
    text = str(exc)
    return json.loads(text[text.index("{") :])


async def test_fetch_status_is_ok_and_maintenance_when_the_simulator_says_so(
    client: Any, quiet: ExchangeSimulator
) -> None:
    status = await client.fetch_status()
    assert status["status"] == "ok" and status["info"] == {"status": 0, "msg": "normal"}
    quiet.maintenance = True
    status = await client.fetch_status()
    assert status["status"] == "maintenance"
    assert status["info"] == {"status": 1, "msg": "system_maintenance"}


async def test_maintenance_is_switched_through_the_admin_endpoint(
    client: Any, quiet: ExchangeSimulator
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{quiet.url}/_sim/maintenance", json={"on": True}) as response:
            assert await response.json() == {"maintenance": True}
        assert (await client.fetch_status())["status"] == "maintenance"
        async with http.post(f"{quiet.url}/_sim/maintenance", json={"on": False}) as response:
            assert await response.json() == {"maintenance": False}
        async with http.get(f"{quiet.url}/_sim/state") as response:
            state = await response.json()
    assert state["maintenance"] is False and state["anchor"] == {"anchored": False, "failures": 0}
    assert (await client.fetch_status())["status"] == "ok"


async def test_fetch_trading_fee_of_one_symbol_asks_for_that_symbol(client: Any) -> None:
    fee = await client.fetch_trading_fee("BTC/USDC")
    assert fee["symbol"] == "BTC/USDC" and fee["maker"] == 0.001 and fee["taker"] == 0.001
    assert fee["info"]["symbol"] == "BTCUSDC"


async def test_fetch_trading_fees_gives_the_accounts_rates_for_every_market(
    client: Any, quiet: ExchangeSimulator
) -> None:
    quiet.create_account("vip", "vip-secret", {}, maker_fee=D("0.0002"), taker_fee=D("0.0004"))
    fees = await client.fetch_trading_fees()
    assert set(fees) == {"ETH/USDC", "BTC/USDC", "ETH/BTC"}
    assert fees["ETH/USDC"]["maker"] == 0.001 and fees["ETH/USDC"]["taker"] == 0.001
    assert fees["ETH/BTC"]["info"] == {
        "symbol": "ETHBTC",
        "makerCommission": "0.001",
        "takerCommission": "0.001",
    }
    vip = rest_client(quiet, apiKey="vip", secret="vip-secret")
    try:
        vip_fees = await vip.fetch_trading_fees()
        assert vip_fees["BTC/USDC"]["maker"] == 0.0002 and vip_fees["BTC/USDC"]["taker"] == 0.0004
    finally:
        await vip.close()


async def test_trading_fees_need_a_valid_signature(quiet: ExchangeSimulator) -> None:
    wrong = rest_client(quiet, secret="not-the-secret")
    try:
        await wrong.load_markets()
        with pytest.raises(ccxt.AuthenticationError):
            await wrong.fetch_trading_fees()
    finally:
        await wrong.close()


async def test_edit_order_cancels_and_replaces_keeping_funds_exact(
    client: Any, quiet: ExchangeSimulator
) -> None:
    first = await client.create_order(SYMBOL, "limit", "buy", 1, 2500)
    edited = await client.edit_order(first["id"], SYMBOL, "limit", "buy", 2, 2400)
    assert edited["id"] != first["id"] and edited["status"] == "open"
    assert edited["amount"] == 2 and edited["price"] == 2400
    old = await client.fetch_order(first["id"], SYMBOL)
    assert old["status"] == "canceled"
    assert [o["id"] for o in await client.fetch_open_orders(SYMBOL)] == [edited["id"]]
    account = quiet.engine.accounts["acct-" + API_KEY]
    assert account.locked["USDC"] == D(4800) and account.free["USDC"] == D(100_000 - 4800)
    assert check_invariants(quiet.engine) == []


async def test_edit_order_of_an_unknown_order_fails_and_places_nothing(
    client: Any, quiet: ExchangeSimulator
) -> None:
    with pytest.raises(ccxt.ExchangeError) as err:
        await client.edit_order("999", SYMBOL, "limit", "buy", 1, 2400)
    assert error_body(err.value) == {
        "code": -2022,
        "msg": "Order cancel-replace failed.",
        "data": {
            "cancelResult": "FAILURE",
            "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
            "newOrderResponse": None,
        },
    }
    assert await client.fetch_open_orders(SYMBOL) == []


async def test_edit_order_with_a_bad_price_is_refused_before_the_cancel(client: Any) -> None:
    first = await client.create_order(SYMBOL, "limit", "sell", 1, 3500)
    with pytest.raises(ccxt.InvalidOrder):  # PRICE_FILTER: max price 1,000,000
        await client.edit_order(first["id"], SYMBOL, "limit", "sell", 1, 2_000_000)
    assert (await client.fetch_order(first["id"], SYMBOL))["status"] == "open"


async def test_cancel_replace_whose_new_order_is_unfunded_cancels_and_says_partially_failed(
    client: Any, quiet: ExchangeSimulator
) -> None:
    first = await client.create_order(SYMBOL, "limit", "buy", 1, 2500)
    with pytest.raises(ccxt.ExchangeError) as err:
        await client.edit_order(first["id"], SYMBOL, "limit", "buy", 100, 2500)  # 250,000 USDC
    body = error_body(err.value)
    assert body["code"] == -2021 and body["msg"] == "Order cancel-replace partially failed."
    assert body["data"]["cancelResult"] == "SUCCESS"
    assert body["data"]["cancelResponse"]["status"] == "CANCELED"
    assert body["data"]["newOrderResult"] == "FAILURE"
    assert body["data"]["newOrderResponse"] == {
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
    }
    assert (await client.fetch_order(first["id"], SYMBOL))["status"] == "canceled"
    assert await client.fetch_open_orders(SYMBOL) == []
    assert check_invariants(quiet.engine) == []


async def test_cancel_replace_allow_failure_places_the_new_order_even_if_the_cancel_fails(
    client: Any, quiet: ExchangeSimulator
) -> None:
    # ccxt's implicit method for the endpoint: unmodified ccxt signing, our parameters
    with pytest.raises(ccxt.ExchangeError) as err:
        await client.privatePostOrderCancelReplace(
            {
                "symbol": "ETHUSDC",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.5",
                "price": "2500",
                "cancelReplaceMode": "ALLOW_FAILURE",
                "cancelOrderId": "777",
                "newClientOrderId": "allow-1",
            }
        )
    body = error_body(err.value)
    assert body["code"] == -2021 and body["data"]["cancelResult"] == "FAILURE"
    assert body["data"]["newOrderResult"] == "SUCCESS"
    assert body["data"]["newOrderResponse"]["clientOrderId"] == "allow-1"
    (placed,) = await client.fetch_open_orders(SYMBOL)
    assert placed["clientOrderId"] == "allow-1" and placed["price"] == 2500


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"cancelReplaceMode": "SOMETIMES"}, -1130),
        ({"cancelReplaceMode": None}, -1102),
        ({"cancelOrderId": None}, -1102),
        ({"stopPrice": "2400"}, -1106),
        ({"price": "abc"}, -1100),
        ({"quantity": "0.00001"}, -1013),
    ],
)
async def test_malformed_cancel_replace_changes_nothing(
    client: Any, quiet: ExchangeSimulator, extra: dict[str, Any], code: int
) -> None:
    first = await client.create_order(SYMBOL, "limit", "buy", 1, 2500)
    params = {
        "symbol": "ETHUSDC",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.5",
        "price": "2400",
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrderId": first["id"],
    }
    params.update(extra)
    with pytest.raises(ccxt.BaseError) as err:
        await client.privatePostOrderCancelReplace({k: v for k, v in params.items() if v})
    assert error_body(err.value)["code"] == code
    assert [o["id"] for o in await client.fetch_open_orders(SYMBOL)] == [first["id"]]


async def test_stop_loss_limit_sell_waits_off_the_book_then_fills_when_last_price_falls(
    client: Any, quiet: ExchangeSimulator
) -> None:
    trade_at(quiet, "3000")
    order = await client.create_order(
        SYMBOL, "STOP_LOSS_LIMIT", "sell", 0.5, 2890, {"stopPrice": 2900}
    )
    assert order["status"] == "open" and order["triggerPrice"] == 2900
    assert order["info"]["type"] == "STOP_LOSS_LIMIT"
    fetched = await client.fetch_order(order["id"], SYMBOL)
    assert fetched["info"]["isWorking"] is False and fetched["info"]["stopPrice"] == "2900.00000000"
    assert quiet.engine.depth("ETHUSDC")[2] == []  # not on the book while waiting
    balance = await client.fetch_balance()
    assert balance["ETH"]["used"] == 0.5

    trade_at(quiet, "2950")  # above the stop: nothing happens
    assert (await client.fetch_order(order["id"], SYMBOL))["filled"] == 0
    quiet.engine.place(
        "taker", "ETHUSDC", "BUY", "LIMIT", quantity=D(1), price=D(2895), time_in_force="GTC"
    )
    trade_at(quiet, "2900")  # reaches the stop: it works as LIMIT 2890 and takes the 2895 bid

    done = await client.fetch_order(order["id"], SYMBOL)
    assert done["status"] == "closed" and done["filled"] == 0.5 and done["average"] == 2895
    assert done["info"]["isWorking"] is True
    balance = await client.fetch_balance()
    # 0.5 x 2895 = 1447.5 USDC, minus the 0.1 % taker fee 1.4475
    assert balance["USDC"]["total"] == float(D(100_000) + D("1447.5") - D("1.4475"))
    assert balance["ETH"]["total"] == 9.5
    assert check_invariants(quiet.engine) == []


async def test_take_profit_limit_buy_triggers_when_last_price_falls_to_the_stop(
    client: Any, quiet: ExchangeSimulator
) -> None:
    trade_at(quiet, "3000")
    order = await client.create_order(
        SYMBOL, "TAKE_PROFIT_LIMIT", "buy", 1, 2810, {"stopPrice": 2800}
    )
    assert (await client.fetch_balance())["USDC"]["used"] == 2810
    trade_at(quiet, "2801")
    assert (await client.fetch_order(order["id"], SYMBOL))["info"]["isWorking"] is False
    trade_at(quiet, "2800")
    # triggered with no ask at or below 2810 left: it rests as a limit bid
    working = await client.fetch_order(order["id"], SYMBOL)
    assert working["status"] == "open" and working["info"]["isWorking"] is True
    assert quiet.engine.best_bid_ask("ETHUSDC")[0] == (D(2810), D(1))


async def test_unified_stop_loss_price_makes_ccxt_send_a_stop_loss_limit(
    client: Any, quiet: ExchangeSimulator
) -> None:
    trade_at(quiet, "3000")
    order = await client.create_order(SYMBOL, "limit", "sell", 0.2, 2790, {"stopLossPrice": 2800})
    assert order["info"]["type"] == "STOP_LOSS_LIMIT" and order["triggerPrice"] == 2800
    (pending,) = quiet.engine.pending_stops("ETHUSDC")
    assert (pending.stop_price, pending.price, pending.side) == (2800, 2790, "SELL")


async def test_stop_orders_that_would_trigger_at_once_are_refused(
    client: Any, quiet: ExchangeSimulator
) -> None:
    trade_at(quiet, "3000")
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await client.create_order(SYMBOL, "STOP_LOSS_LIMIT", "sell", 1, 3000, {"stopPrice": 3100})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await client.create_order(SYMBOL, "TAKE_PROFIT_LIMIT", "sell", 1, 2900, {"stopPrice": 2900})
    assert await client.fetch_open_orders(SYMBOL) == []
    assert (await client.fetch_balance())["ETH"]["used"] == 0


async def test_a_canceled_stop_order_releases_its_funds_and_never_triggers(
    client: Any, quiet: ExchangeSimulator
) -> None:
    trade_at(quiet, "3000")
    order = await client.create_order(
        SYMBOL, "STOP_LOSS_LIMIT", "buy", 1, 3110, {"stopPrice": 3100}
    )
    assert (await client.fetch_balance())["USDC"]["used"] == 3110
    canceled = await client.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert (await client.fetch_balance())["USDC"]["used"] == 0
    trade_at(quiet, "3200")
    assert (await client.fetch_order(order["id"], SYMBOL))["status"] == "canceled"
    assert check_invariants(quiet.engine) == []


async def test_stop_limit_without_stop_price_is_rejected_with_binance_mandatory_parameter(
    quiet: ExchangeSimulator,
) -> None:
    from oms_chain.devnet.exchange import ExchangeApiError

    with pytest.raises(ExchangeApiError) as err:
        quiet.engine.place(
            "maker",
            "ETHUSDC",
            "SELL",
            "STOP_LOSS_LIMIT",
            quantity=D(1),
            price=D(2900),
            time_in_force="GTC",
        )
    assert err.value.code == -1102 and "'stopPrice'" in err.value.msg
    with pytest.raises(ExchangeApiError) as err:
        quiet.engine.place(
            "maker",
            "ETHUSDC",
            "SELL",
            "LIMIT",
            quantity=D(1),
            price=D(2900),
            time_in_force="GTC",
            stop_price=D(2800),
        )
    assert err.value.code == -1106
