"""Price histories from ccxt klines and CSV files feed historical VaR."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from _riskbook_fixtures import ETH, NOW

from oms_chain.model import InvalidInput
from oms_chain.risk import (
    Holding,
    MarketSnapshot,
    closes_from_klines,
    historical_var,
    load_price_history,
    price_history_from_klines,
)


def test_klines_give_their_closes_oldest_first():
    rows = [[1_000, 1, 2, 0.5, 1.5, 10], [2_000, 1.5, 2, 1, 1.25, 3], [3_000, 1, 1, 1, 2.0, 1]]
    assert closes_from_klines(rows).tolist() == [1.5, 1.25, 2.0]
    hist = price_history_from_klines({"ETH": rows, "BTC": rows})
    assert set(hist) == {"ETH", "BTC"}
    with pytest.raises(InvalidInput, match=r"klines\[3\] timestamp 2000 is not after"):
        closes_from_klines([*rows, [2_000, 1, 1, 1, 1, 1]])
    with pytest.raises(InvalidInput, match="close must be positive"):
        closes_from_klines([[1, 1, 1, 1, 0.0, 1]])
    with pytest.raises(InvalidInput, match="same length"):
        price_history_from_klines({"ETH": rows, "BTC": rows[:2]})


def test_a_csv_file_loads_into_historical_var(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("date,ETH\n2024-01-01,100\n2024-01-02,110\n2024-01-03,99\n")
    hist = load_price_history(path)
    assert list(hist) == ["ETH"] and hist["ETH"].tolist() == [100.0, 110.0, 99.0]
    market = MarketSnapshot(now_ns=NOW, spots={"ETH": Decimal(2000)})
    res = historical_var(
        [Holding(instrument=ETH, quantity=Decimal(1))], market, hist, confidence=0.5
    )
    assert float(res.var) == pytest.approx(200.0, rel=1e-12)  # the -10 % day, 1 of 2 scenarios
    assert np.isfinite(float(res.es))


def test_bad_csv_cells_name_the_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("ts,ETH\n1,100\n2,abc\n")
    with pytest.raises(InvalidInput, match=r"line 3, column 'ETH': 'abc' is not a positive price"):
        load_price_history(path)
    with pytest.raises(InvalidInput, match="cannot read price history"):
        load_price_history(tmp_path / "missing.csv")
    (tmp_path / "t.csv").write_text("time\n1\n")
    with pytest.raises(InvalidInput, match="no price column"):
        load_price_history(tmp_path / "t.csv")
