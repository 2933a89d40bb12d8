"""``oms strategy ... --venue deribit --dry-run`` quotes every leg from the devnet's
Deribit-protocol exchange through unmodified ccxt.deribit (real HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from oms_chain.cli import main
from oms_chain.devnet.deribit.simulator import DeribitThread


def _runtime(tmp_path: Path, sim: DeribitThread) -> Path:
    path = tmp_path / "devnet-running.json"
    path.write_text(
        json.dumps({"chains": {"deribit": {"rest_url": sim.url, "ws_url": sim.ws_url}}})
    )
    return path


def test_iron_condor_dry_run_quotes_the_devnet_exchange(
    deribit_simulator: DeribitThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ex = ccxt.deribit()
    ex.urls["api"] = deribit_simulator.simulator.deribit_urls()
    markets = ex.load_markets()
    eth = [m for m in markets.values() if m["option"] and m["base"] == "ETH"]
    expiry_ms = min(m["expiry"] for m in eth)
    strikes = sorted({m["strike"] for m in eth if m["expiry"] == expiry_ms})
    mid = len(strikes) // 2
    ks = [strikes[mid - 2], strikes[mid - 1], strikes[mid + 1], strikes[mid + 2]]
    day = datetime.fromtimestamp(expiry_ms / 1000, UTC).strftime("%Y-%m-%d")
    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(_runtime(tmp_path, deribit_simulator)))
    argv = ["strategy", "iron-condor", "--underlying", "ETH", "--expiry", day,
            "--strikes", ",".join(f"{k:g}" for k in ks), "--size", "2", "--venue", "deribit",
            "--dry-run", "--json"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "iron_condor" and doc["quotes"].startswith("deribit devnet")
    assert [leg["side"] for leg in doc["legs"]] == ["buy", "sell", "sell", "buy"]
    spot = Decimal(doc["spot"])
    for leg in doc["legs"]:
        # the exchange's own ticker, premium in ETH, converted at its index
        name = next(
            s for s, m in markets.items()
            if m["option"] and m["base"] == "ETH" and m["expiry"] == expiry_ms
            and f"{m['strike']:g}" == leg["contract"].split("-")[2]
            and m["optionType"][0].upper() == leg["contract"][-1]
        )  # fmt: skip
        tk = ex.fetch_ticker(name)
        side = "ask" if leg["side"] == "buy" else "bid"
        expect = (Decimal(str(tk[side])) * spot).quantize(Decimal("0.01"))
        assert Decimal(leg["price"]) == expect
        assert Decimal(leg["vol"]) == Decimal(str(tk["info"]["mark_iv"])) / 100
    width = Decimal(str(ks[1] - ks[0]))
    net = Decimal(doc["net_premium"])
    assert net < 0  # a credit
    assert Decimal(doc["max_profit"]) == -net
    assert Decimal(doc["max_loss"]) == 2 * width + net
    assert Decimal(doc["margin"]["maintenance"]) > 0


def test_a_series_the_exchange_does_not_list_is_named(
    deribit_simulator: DeribitThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(_runtime(tmp_path, deribit_simulator)))
    argv = ["strategy", "straddle", "--underlying", "ETH", "--expiry", "2199-01-02",
            "--strikes", "3000", "--size", "1", "--venue", "deribit", "--dry-run"]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "leg 0 (buy 1 ETH-02JAN99-3000-C): the venue does not list this series" in err
