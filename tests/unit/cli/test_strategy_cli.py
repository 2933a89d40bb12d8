"""``oms strategy KIND --dry-run`` on synthetic quotes, with the preview's clock fixed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import oms_chain.cli.strategy as strategy_cli
from oms_chain.cli import main

EXPIRY_NS = 1_800_000_000 * 10**9  # 2027-01-15T08:00:00Z
NOW_NS = EXPIRY_NS - 30 * 86_400 * 10**9


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategy_cli, "_now_ns", lambda: NOW_NS)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code = main(["strategy", *args, "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


def test_iron_condor_preview_is_a_credit_with_textbook_extremes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = _run(capsys, "iron-condor", "--underlying", "eth", "--expiry", "2027-01-15",
               "--strikes", "1800,1900,2100,2200", "--size", "1", "--spot", "2000")  # fmt: skip
    legs = doc["legs"]
    assert isinstance(legs, list)
    assert [(x["side"], x["contract"]) for x in legs] == [
        ("buy", "ETH-15JAN27-1800-P"),
        ("sell", "ETH-15JAN27-1900-P"),
        ("sell", "ETH-15JAN27-2100-C"),
        ("buy", "ETH-15JAN27-2200-C"),
    ]
    # buys pay the ask, sells get the bid; the net is their sum
    for x in legs:
        assert x["price"] == (x["ask"] if x["side"] == "buy" else x["bid"])
    net = Decimal(str(doc["net_premium"]))
    assert net == sum(Decimal(x["premium"]) for x in legs) and net < 0
    assert doc["premium_kind"] == "credit"
    assert Decimal(str(doc["max_profit"])) == -net
    assert Decimal(str(doc["max_loss"])) == 100 + net
    assert doc["breakevens"] == [str(1900 + net), str(2100 - net)]
    assert doc["exact"] is True
    payoff = doc["payoff"]
    assert isinstance(payoff, list) and len(payoff) >= 21
    at_2000 = next(r for r in payoff if r["price"] == "2000")
    assert (at_2000["payoff"], Decimal(at_2000["pnl"])) == ("0", -net)


def test_straddle_greeks_total_is_the_sum_of_legs_and_unbounded_profit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = _run(capsys, "straddle", "--underlying", "ETH", "--expiry", "2027-01-15",
               "--strikes", "2000", "--size", "0.5")  # fmt: skip
    assert doc["max_profit"] == "unbounded" and doc["premium_kind"] == "debit"
    greeks = doc["greeks"]
    assert isinstance(greeks, dict)
    total = sum(Decimal(x["delta"]) for x in greeks["legs"])
    assert abs(total - Decimal(greeks["total"]["delta"])) <= Decimal("2e-6")
    assert Decimal(greeks["total"]["gamma"]) > 0
    assert Decimal(doc["margin"]["initial"]) >= 0  # type: ignore[index]


def test_calendar_preview_values_the_far_leg_at_the_near_expiry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = _run(capsys, "calendar", "--underlying", "ETH", "--expiry", "2027-01-15",
               "--far-expiry", "2027-02-12", "--strikes", "2000", "--size", "1",
               "--type", "put")  # fmt: skip
    assert doc["exact"] is False
    assert [x["contract"] for x in doc["legs"]] == ["ETH-15JAN27-2000-P", "ETH-12FEB27-2000-P"]  # type: ignore[union-attr]
    assert doc["max_profit"] != "unbounded" and doc["max_loss"] != "unbounded"


def test_chart_is_written_only_where_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "bfly.png"
    doc = _run(capsys, "butterfly", "--underlying", "ETH", "--expiry", "2027-01-15",
               "--strikes", "1900,2000,2100", "--size", "1", "--chart", str(out))  # fmt: skip
    assert doc["chart"] == str(out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_without_dry_run_a_quoting_venue_refuses_to_execute(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["strategy", "straddle", "--underlying", "ETH", "--expiry", "2027-01-15",
                 "--strikes", "2000", "--size", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "executing needs --venue onchain" in err and "--dry-run" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy", "all-or-unwind"], "needs --venue: one for every leg (2"),
        (["--policy", "all-or-unwind", "--venue", "onchain"], "goes atomically"),
        (
            ["--policy", "all-or-unwind", "--venue", "deribit", "--hedge-band", "9"],
            "--hedge-band is for --policy hedge-residual",
        ),
        (["--policy", "hedge-residual", "--venue", "deribit"], "needs --hedge-venue"),
        (["--venue", "onchain", "--venue", "deribit"], "need --policy all-or-unwind"),
        (["--leg-time-limit", "5", "--dry-run"], "is for --policy all-or-unwind"),
        (["--policy", "sometimes"], "--policy must be one of"),
        (["--venue", "onchain"], "at least one --maker"),
        (["--maker", "http://127.0.0.1:1"], "--maker and --executor are for --venue onchain"),
        (["--venue", "onchain", "--maker", "http://x", "--dry-run"], "--venue onchain executes"),
        (["--max-premium", "lots", "--dry-run"], "--max-premium must be a number"),
    ],
)
def test_execution_arguments_are_checked_before_anything_is_opened(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code = main(["strategy", "straddle", "--underlying", "ETH", "--expiry", "2027-01-15",
                 "--strikes", "2000", "--size", "1", *extra])  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err


def test_list_and_show_need_their_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategy", "show", "--store", "sqlite:///:memory:"]) == 2
    assert "show needs the structure's ID" in capsys.readouterr().err
    assert main(["strategy", "straddle"]) == 2
    assert "needs --underlying, --expiry, --strikes, --size" in capsys.readouterr().err
    assert main(["strategy", "list", "--store", "sqlite:///:memory:", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_table_output_shows_legs_premium_payoff_and_greeks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--wide", "strategy", "bull-call-spread", "--underlying", "ETH", "--expiry",
                 "2027-01-15", "--strikes", "2000,2200", "--size", "1", "--dry-run"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    for text in ("ETH-15JAN27-2000-C", "net premium", "(debit)", "breakevens", "payoff at expiry",
                 "Greeks now", "margin: initial"):  # fmt: skip
        assert text in out, text


def test_a_cross_venue_dry_run_shows_every_leg_with_its_venue_and_the_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = _run(capsys, "iron-condor", "--underlying", "ETH", "--expiry", "2027-01-15",
               "--strikes", "1800,1900,2100,2200", "--size", "2", "--policy", "hedge-residual",
               "--venue", "deribit", "--venue", "onchain", "--venue", "deribit", "--venue",
               "onchain", "--hedge-venue", "deribit", "--hedge-instrument",
               "eth-15jan27-2000-p", "--leg-time-limit", "12.5", "--id", "ic-x")  # fmt: skip
    assert doc["policy"] == "hedge-residual" and doc["structure_id"] == "ic-x"
    assert [(leg["contract"], leg["venue"]) for leg in doc["legs"]] == [  # type: ignore[attr-defined]
        ("ETH-15JAN27-1800-P", "deribit"),
        ("ETH-15JAN27-1900-P", "onchain"),
        ("ETH-15JAN27-2100-C", "deribit"),
        ("ETH-15JAN27-2200-C", "onchain"),
    ]
    assert doc["send_order"] == [1, 3, 0, 2]  # the on-chain RFQ legs first
    assert doc["leg_time_limit_s"] == "12.5" and doc["unwind_slippage_bps"] == "500"
    assert doc["hedge"] == {"venue": "deribit", "instrument": "ETH-15JAN27-2000-P",
                            "band_usd": "500", "time_limit_s": "120"}  # fmt: skip
