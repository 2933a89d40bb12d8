"""``oms risk`` and ``oms risk surface``: the numbers are the risk library's, bad files are one
line and exit code 2."""

from __future__ import annotations

import json
import math
from decimal import Decimal as D
from pathlib import Path

import pytest

from oms_chain.cli import main
from oms_chain.cli.risk import _load_portfolio, _synthetic
from oms_chain.risk import liquidation_prices, portfolio_margin, portfolio_risk

PORTFOLIO = """
[market]
spots = { ETH = 2000 }
vols = { ETH = 0.7 }
daily_vols = { ETH = 0.04 }

[[holdings]]
kind = "spot"
underlying = "ETH"
quantity = 1.5
venue = "wallet:1"

[[holdings]]
kind = "perpetual"
underlying = "ETH"
quantity = -3
venue = "deribit"
entry_price = 2100

[[holdings]]
kind = "option"
underlying = "ETH"
option = "call"
strike = 2400
expiry_days = 30
quantity = -5
venue = "deribit"

[[holdings]]
kind = "cash"
symbol = "USDC"
quantity = 20000
venue = "deribit"
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_risk_json_reports_the_library_numbers(tmp_path: Path, capsys) -> None:
    f = tmp_path / "p.toml"
    f.write_text(PORTFOLIO)
    code, out, err = run(["risk", "--portfolio", str(f), "--json"], capsys)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    held, market, _ = _load_portfolio(f, 1_700_000_000 * 10**9)
    eth = portfolio_risk(held, market).by_underlying["ETH"]
    margin = portfolio_margin(held, market)
    liq = liquidation_prices(held, market)["ETH"]
    # the CLI priced at its own "now": 30 days to expiry either way, so the numbers agree
    assert doc["greeks"]["ETH"]["delta"] == str(eth.delta.quantize(D("0.0001")))
    assert doc["margin"]["excess"] == str(margin.excess.quantize(D("0.01")))
    assert doc["liquidation"]["ETH"]["above"] == str(liq.above.quantize(D("0.01")))  # type: ignore[union-attr]
    assert doc["liquidation"]["ETH"]["below"] is None
    assert D(doc["var"]["es"]) > D(doc["var"]["var"]) > 0
    code, out, _ = run(["risk", "--portfolio", str(f)], capsys)
    assert code == 0 and "Greeks by underlying" in out and "Liquidation prices" in out


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("quantity = 1.5", "quantity = 'lots'"), "holdings[0].quantity: 'lots' is not a number"),
        (("quantity = 1.5", "quantity = nan"), "must be a finite number"),
        (('kind = "spot"', 'kind = "bond"'), "holdings[0].kind: expected one of"),
        (("strike = 2400", "strike = -1"), "holdings[2].strike: must be > 0"),
        (("expiry_days = 30", "expiry_days = 99999"), "expiry_days: at most 3650"),
        (('option = "call"', 'option = "straddle"'), "option: expected call or put"),
        (("entry_price = 2100", "entry_pric = 2100"), "holdings[1].entry_pric: unknown key"),
        (("spots = { ETH = 2000 }", "spots = { BTC = 2000 }"), "no market.spots entry for ETH"),
        (("vols = { ETH = 0.7 }", "vols = {}"), "no market.vols entry for ETH"),
        (("[market]", "[markets]"), "portfolio.markets: unknown key"),
    ],
)
def test_a_bad_portfolio_file_is_one_line_naming_the_key(
    tmp_path: Path, capsys, edit: tuple[str, str], says: str
) -> None:
    f = tmp_path / "p.toml"
    f.write_text(PORTFOLIO.replace(*edit, 1))
    code, out, err = run(["risk", "--portfolio", str(f)], capsys)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and says in line, line


def test_surface_of_the_devnet_parameter_set_passes_the_arbitrage_checks(capsys) -> None:
    code, out, _ = run(["risk", "surface", "eth", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["symbol"] == "ETH" and doc["arbitrage"]["ok"] is True
    assert [s["days"] for s in doc["slices"]] == [7, 30, 90]


def test_surface_fit_to_a_quotes_file_recovers_the_smile(tmp_path: Path, capsys) -> None:
    surface = _synthetic("ETH")
    t = float(surface.expiries[1])
    lines = ["# forward=2000", "strike,days,kind,bid,ask"]
    for k in range(1200, 3001, 100):
        vol = float(surface.implied_vol([k], [t])[0])
        lines.append(f"{k},30,{'call' if k >= 2000 else 'put'},{vol - 0.002:.6f},{vol + 0.002:.6f}")
    f = tmp_path / "q.csv"
    f.write_text("\n".join(lines) + "\n")
    code, out, _ = run(["risk", "surface", "ETH", "--quotes", str(f), "--json"], capsys)
    assert code == 0
    (fitted,) = json.loads(out)["slices"]
    want = float(surface.implied_vol([2000], [t])[0])
    assert math.isclose(fitted["vol_atm"], want, abs_tol=5e-4)


def test_an_arbitrageable_quote_set_is_flagged_with_the_expiry(tmp_path: Path, capsys) -> None:
    # the 60-day smile has less total variance than the 30-day one: calendar arbitrage
    lines = ["# forward=2000"]
    for days, vol in ((30, 0.9), (60, 0.4)):
        for k in range(1400, 2701, 100):
            lines.append(f"{k},{days},call,{vol - 0.001},{vol + 0.001}")
    f = tmp_path / "q.csv"
    f.write_text("\n".join(lines) + "\n")
    code, out, _ = run(["risk", "surface", "ETH", "--quotes", str(f), "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["arbitrage"]["ok"] is False
    assert {(c["days_1"], c["days_2"]) for c in doc["arbitrage"]["calendar"]} == {(30, 60)}
