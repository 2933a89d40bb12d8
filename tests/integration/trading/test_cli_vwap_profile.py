"""The VWAP profile ``oms order --algo vwap`` builds: from the exchange's klines (unmodified
ccxt ``fetch_ohlcv`` against the Binance-speaking simulator over real HTTP) or from a file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from oms_chain.cli._profile import _kline_profile, _kline_timeframe, _read_profile
from oms_chain.devnet.exchange.simulator import SimulatorThread
from oms_chain.model.errors import InvalidInput
from oms_chain.service import local_exchange_urls

SECOND = 10**9


@pytest.mark.parametrize(
    ("duration_s", "buckets", "expected"),
    [
        (4, 2, ("1s", 1)),
        (90, 3, ("1s", 1)),  # 30 s buckets: 1 s klines (90 of them)
        (3600, 4, ("15m", 900)),
        (3600, 60, ("1m", 60)),
        (86400, 10, ("2h", 7200)),
        (30 * 86400, 10, ("1d", 86400)),
        (7200, 10000, ("1m", 60)),  # finer than 1 s buckets are coarsened to fit 1000 klines
    ],
)
def test_kline_interval_is_the_largest_that_fits_a_bucket_within_1000_klines(
    duration_s: int, buckets: int, expected: tuple[str, int]
) -> None:
    assert _kline_timeframe(duration_s * SECOND, buckets) == expected


def test_a_profile_file_takes_commas_spaces_and_lines(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("1, 2\n3\t0\n\n4.50\n")
    assert _read_profile(f, None) == "1,2,3,0,4.50"
    assert _read_profile(f, 5) == "1,2,3,0,4.50"
    with pytest.raises(InvalidInput, match="--slices 4 conflicts with the 5 weights"):
        _read_profile(f, 4)
    for bad in ("0,0", "1,-2", "1,１", "1e3", "", "1,NaN"):
        f.write_text(bad)
        with pytest.raises(InvalidInput, match="--profile"):
            _read_profile(f, None)


def _trade(sim: SimulatorThread, credentials: tuple[str, str], side: str, qty: str) -> None:
    client = ccxt.binance(
        {
            "apiKey": credentials[0],
            "secret": credentials[1],
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    client.urls["api"] = local_exchange_urls(client.urls["api"], sim.url)
    client.create_order("ETH/USDC", "market", side, float(qty))


def test_the_profile_from_klines_puts_the_traded_volume_in_its_bucket(
    exchange_simulator: SimulatorThread,
    exchange_credentials: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = tmp_path / "running.json"
    runtime.write_text(
        json.dumps({"pid": 0, "chains": {"exchange": {"rest_url": exchange_simulator.url}}})
    )
    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(runtime))
    _trade(exchange_simulator, exchange_credentials, "buy", "0.5")
    _trade(exchange_simulator, exchange_credentials, "sell", "1.25")
    profile = _kline_profile("WETH/USDC", 3600 * SECOND, 4, config=None, exchange=True)
    weights = [Decimal(w) for w in profile.split(",")]
    assert len(weights) == 4
    # the trades just made fall in the last quarter of the hour before now
    assert weights[-1] >= Decimal("1.75") and sum(weights[:-1]) <= weights[-1]


def test_a_profile_from_an_exchange_that_does_not_answer_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oms_chain.model.errors import VenueUnavailable

    runtime = tmp_path / "running.json"
    runtime.write_text(
        json.dumps({"pid": 0, "chains": {"exchange": {"rest_url": "http://127.0.0.1:9"}}})
    )
    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(runtime))
    with pytest.raises(VenueUnavailable, match=r"klines .* pass --profile FILE"):
        _kline_profile("ETH/USDC", 60 * SECOND, 3, config=None, exchange=True)
    with pytest.raises(InvalidInput, match="pass --profile FILE"):
        _kline_profile("ETH/USDC", 60 * SECOND, 3, config=None, exchange=False)
