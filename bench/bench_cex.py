"""CEX venue: depth-diff messages applied per second by our book vs ccxt.pro's, and place→ack
latency through CcxtVenue vs a bare ccxt ``create_order``.

(a) Book: for Binance-protocol exchanges CcxtVenue keeps its local book in our own
``DepthBook``: each raw websocket text frame goes to ``DepthBook.on_frame`` (orjson decode,
update-id checks, levels applied as scaled-integer prices with the exchange's quantity strings,
sorted keys kept with bisect). We measure that on Binance-format diff messages generated
in-process (no network), after a 1000-level snapshot installed with ``apply_snapshot`` as the
venue does after its REST fetch. Baseline, same messages, same run: ccxt.pro's path, which the
venue used before and still uses for other exchanges: the websocket client decodes the frame
(``handle_text_or_binary_message``: orjson when installed), ``binance.handle_message`` dispatches
``depthUpdate`` to ``handle_order_book``, which checks the ids against the nonce and applies the
levels to ccxt's ``OrderBook`` (snapshot installed with ``OrderBook.reset``). A floor is shown
as well: the same messages applied to two plain dicts of floats, no checks, no order. Each rate
is the best of ``REPEATS`` interleaved runs (the machine is shared). All three books must end
equal. Target: ≥ 20k diff messages/s on one core (the anchor from ccxt's tracker: ~1k/s across
~2,900 symbols), judged on messages of 1-20 changed levels a side (~21 in all); messages of 1-3
a side are measured as well, since the rate depends mostly on the number of levels per message.

(b) Latency: an in-process simulator (no agents) on loopback; ``CcxtVenue.place`` (user stream
off, so both sides do the same REST work) vs ``binance.create_order`` of bare ccxt, resting limit
orders, interleaved in blocks so drift hits both. p50 / p99 in ms and the ratio of medians.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from oms_chain.devnet.exchange import ExchangeSimulator, SimulatorConfig
from oms_chain.model import IntentId, Side, client_order_id
from oms_chain.venues import PlaceOrder
from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig, DepthBook

MESSAGES = 30_000
BOOK_LEVELS = 1000  # the snapshot depth ccxt asks Binance for (watchOrderBookLimit)
TARGET_DIFFS_PER_S = 20_000
REPEATS = 3
ORDERS = 300
BLOCK = 50
OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}
_MARKET = {
    "id": "ETHUSDC",
    "symbol": "ETH/USDC",
    "base": "ETH",
    "quote": "USDC",
    "baseId": "ETH",
    "quoteId": "USDC",
    "type": "spot",
    "spot": True,
    "active": True,
    "precision": {"amount": 0.0001, "price": 0.01},
    "limits": {},
}


def _diff_messages(n: int, max_levels: int = 20, seed: int = 7) -> tuple[dict[str, Any], list[str]]:
    """A 1000-level snapshot around 3000.00 and ``n`` consecutive Binance diff messages
    (1..``max_levels`` changed levels a side, a fifth of them deletions), as JSON text frames."""
    rng = random.Random(seed)
    mid = 300_000  # in ticks of 0.01
    snapshot = {
        "bids": [[(mid - i) / 100, rng.randint(1, 5000) / 1000] for i in range(1, BOOK_LEVELS + 1)],
        "asks": [[(mid + i) / 100, rng.randint(1, 5000) / 1000] for i in range(1, BOOK_LEVELS + 1)],
        "nonce": 1_000,
        "timestamp": None,
        "datetime": None,
        "symbol": "ETH/USDC",
    }
    frames = []
    update_id = 1_000
    for k in range(n):
        mid += rng.randint(-2, 2)

        def levels(sign: int, mid: int = mid) -> list[list[str]]:
            out = []
            for _ in range(rng.randint(1, max_levels)):
                price = (mid + sign * rng.randint(1, 60)) / 100
                qty = "0.00000000" if rng.random() < 0.2 else f"{rng.randint(1, 5000) / 1000:.8f}"
                out.append([f"{price:.8f}", qty])
            return out

        first = update_id + 1
        update_id += rng.randint(1, 5)
        message = {
            "e": "depthUpdate",
            "E": 1_700_000_000_000 + k,
            "s": "ETHUSDC",
            "U": first,
            "u": update_id,
            "b": levels(-1),
            "a": levels(+1),
        }
        frames.append(json.dumps(message, separators=(",", ":")))
    return snapshot, frames


async def _ccxt_book_rate(snapshot: dict[str, Any], frames: list[str]) -> tuple[float, Any]:
    exchange = ccxt_pro.binance({"options": OPTIONS})
    try:
        exchange.set_markets([_MARKET])
        client = exchange.client("ws://127.0.0.1:9/stream")  # never connected: frames fed below
        book = exchange.order_book({}, None)  # as watch_order_book with CcxtVenue's depth=None
        exchange.orderbooks["ETH/USDC"] = book
        book.reset(dict(snapshot))
        started = time.perf_counter()
        for frame in frames:
            client.handle_text_or_binary_message(frame)
        elapsed = time.perf_counter() - started
        if book["nonce"] != json.loads(frames[-1])["u"]:
            raise AssertionError("ccxt dropped diff messages (nonce behind); the bench is wrong")
        return len(frames) / elapsed, book
    finally:
        await exchange.close()


def _dict_book_rate(snapshot: dict[str, Any], frames: list[str]) -> tuple[float, dict[str, Any]]:
    bids = {float(p): float(q) for p, q in snapshot["bids"]}
    asks = {float(p): float(q) for p, q in snapshot["asks"]}
    loads = json.loads
    started = time.perf_counter()
    for frame in frames:
        message = loads(frame)
        for side, key in ((bids, "b"), (asks, "a")):
            for price, qty in message[key]:
                p, q = float(price), float(qty)
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
    elapsed = time.perf_counter() - started
    return len(frames) / elapsed, {"bids": bids, "asks": asks}


def _our_book_rate(snapshot: dict[str, Any], frames: list[str]) -> tuple[float, DepthBook]:
    book = DepthBook("ETHUSDC")
    # the REST snapshot as Binance writes it: decimal strings with 8 decimals
    bids = [[f"{p:.8f}", f"{q:.8f}"] for p, q in snapshot["bids"]]
    asks = [[f"{p:.8f}", f"{q:.8f}"] for p, q in snapshot["asks"]]
    if not book.apply_snapshot(snapshot["nonce"], bids, asks):
        raise AssertionError("our book refused the snapshot; the bench is wrong")
    on_frame = book.on_frame
    started = time.perf_counter()
    for frame in frames:
        on_frame(frame)
    elapsed = time.perf_counter() - started
    if book.last_update_id != json.loads(frames[-1])["u"]:
        raise AssertionError("our book dropped diff messages (update id behind)")
    return len(frames) / elapsed, book


def _ours_equal(ours: DepthBook, ccxt_book: Any) -> bool:
    def as_floats(levels: list[tuple[Decimal, Decimal]]) -> list[tuple[float, float]]:
        return [(float(p), float(q)) for p, q in levels]

    return as_floats(ours.bids()) == [tuple(x[:2]) for x in ccxt_book["bids"]] and as_floats(
        ours.asks()
    ) == [tuple(x[:2]) for x in ccxt_book["asks"]]


def _book_rates(max_levels: int) -> dict[str, Any]:
    """Best-of-``REPEATS`` rates of our book, ccxt.pro's and the dict floor on one stream."""
    snapshot, frames = _diff_messages(MESSAGES, max_levels=max_levels)
    ours_best = ccxt_best = dict_best = 0.0
    equal = True
    for _ in range(REPEATS):
        ours_rate, ours = _our_book_rate(snapshot, frames)
        ccxt_rate, ccxt_book = asyncio.run(_ccxt_book_rate(snapshot, frames))
        dict_rate, plain = _dict_book_rate(snapshot, frames)
        equal = equal and _books_equal(ccxt_book, plain) and _ours_equal(ours, ccxt_book)
        ours_best = max(ours_best, ours_rate)
        ccxt_best = max(ccxt_best, ccxt_rate)
        dict_best = max(dict_best, dict_rate)
    levels = sum(len(m["b"]) + len(m["a"]) for m in map(json.loads, frames)) / len(frames)
    return {
        "ours": ours_best,
        "ccxt": ccxt_best,
        "dict": dict_best,
        "levels": levels,
        "equal": equal,
    }


def _books_equal(ccxt_book: Any, plain: dict[str, Any]) -> bool:
    bids = sorted(plain["bids"].items(), reverse=True)
    asks = sorted(plain["asks"].items())
    return [tuple(x[:2]) for x in ccxt_book["bids"]] == bids and [
        tuple(x[:2]) for x in ccxt_book["asks"]
    ] == asks


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _latency() -> dict[str, list[float]]:
    sim = ExchangeSimulator(
        SimulatorConfig(agents=False, weight_limit=10**9, order_limit_10s=10**9)
    )
    await sim.start()
    balances = {"USDC": Decimal(10**9), "ETH": Decimal(10**6)}
    sim.create_account("venue", "venue-secret", balances)
    sim.create_account("bare", "bare-secret", balances)
    urls = sim.binance_urls(ccxt_pro.binance().urls["api"])
    venue = CcxtVenue(
        CcxtVenueConfig(
            exchange="binance",
            api_key="venue",
            secret="venue-secret",
            options=OPTIONS,
            urls=urls,
            enable_rate_limit=False,
            rate_per_s=10_000.0,
            burst=1_000,
        )
    )
    bare = ccxt_async.binance(
        {"apiKey": "bare", "secret": "bare-secret", "enableRateLimit": False, "options": OPTIONS}
    )
    bare.urls["api"] = urls
    out: dict[str, list[float]] = {"venue": [], "bare": []}
    try:
        await venue.start(user_stream=False)
        await bare.load_markets()
        instrument = venue.market("ETH/USDC").instrument
        for i in range(20):  # warm up both connections
            await bare.create_order("ETH/USDC", "limit", "buy", 0.01, 2000 + i % 50)
            await venue.place(
                PlaceOrder(
                    client_order_id=client_order_id(IntentId(f"warm{i}"), 0),
                    instrument=instrument,
                    side=Side.BUY,
                    quantity=Decimal("0.01"),
                    limit_price=Decimal(2000 + i % 50),
                )
            )
        for block in range(ORDERS // BLOCK):
            for j in range(BLOCK):
                i = block * BLOCK + j
                buy = i % 2 == 0
                price = 2900 + i % 50 if buy else 3100 + i % 50
                started = time.perf_counter()
                await bare.create_order("ETH/USDC", "limit", "buy" if buy else "sell", 0.01, price)
                out["bare"].append(time.perf_counter() - started)
            for j in range(BLOCK):
                i = block * BLOCK + j
                buy = i % 2 == 0
                request = PlaceOrder(
                    client_order_id=client_order_id(IntentId(f"lat{i}"), 0),
                    instrument=instrument,
                    side=Side.BUY if buy else Side.SELL,
                    quantity=Decimal("0.01"),
                    limit_price=Decimal(2900 + i % 50 if buy else 3100 + i % 50),
                )
                started = time.perf_counter()
                await venue.place(request)
                out["venue"].append(time.perf_counter() - started)
    finally:
        await venue.close()
        await bare.close()
        await sim.stop()
    return out


def run() -> dict[str, Any]:
    """Run both parts; rates per second on one core, latencies in ms, ratios to baselines."""
    big = _book_rates(20)
    small = _book_rates(3)
    lat = asyncio.run(_latency())
    venue_p50 = statistics.median(lat["venue"])
    bare_p50 = statistics.median(lat["bare"])
    return {
        "book_diff_msgs_per_s": round(big["ours"], 1),
        "baseline_ccxt_book_diff_msgs_per_s": round(big["ccxt"], 1),
        "book_vs_ccxt_ratio": round(big["ours"] / big["ccxt"], 3),
        "floor_dict_diff_msgs_per_s": round(big["dict"], 1),
        "book_vs_dict_floor": round(big["ours"] / big["dict"], 3),
        "book_level_changes_per_msg": round(big["levels"], 1),
        "book_level_changes_per_s": round(big["ours"] * big["levels"], 1),
        "book_small_diff_msgs_per_s": round(small["ours"], 1),
        "baseline_ccxt_book_small_diff_msgs_per_s": round(small["ccxt"], 1),
        "book_small_vs_ccxt_ratio": round(small["ours"] / small["ccxt"], 3),
        "books_equal": big["equal"] and small["equal"],
        "book_target_20k_msgs_per_s_met": big["ours"] >= TARGET_DIFFS_PER_S,
        "baseline_ccxt_target_20k_msgs_per_s_met": big["ccxt"] >= TARGET_DIFFS_PER_S,
        "venue_place_ack_p50_ms": round(venue_p50 * 1000, 3),
        "venue_place_ack_p99_ms": round(_pct(lat["venue"], 0.99) * 1000, 3),
        "bare_ccxt_create_order_p50_ms": round(bare_p50 * 1000, 3),
        "bare_ccxt_create_order_p99_ms": round(_pct(lat["bare"], 0.99) * 1000, 3),
        "venue_vs_bare_p50_ratio": round(venue_p50 / bare_p50, 3),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:36} {value}")
