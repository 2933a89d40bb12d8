"""``oms report`` and :mod:`oms_chain.service.report` over a store built through the real
engine with paper venues: exact slippage, shortfall and venue split; the HTML is one offline
page (no external URL, escaped text, PNGs that decode); CSV and JSON carry the same numbers."""

from __future__ import annotations

import base64
import csv
import json
import re
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_world import HOSTILE, build_store

from oms_chain.cli import main
from oms_chain.model import InvalidInput
from oms_chain.service import report as report_pkg
from oms_chain.service.report import (
    ExecutionReport,
    build_report,
    render_html,
    report_from_store,
    write_csv,
)
from oms_chain.store import open_store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'oms.db'}"
    assert build_store(url) == {"split1": "o-split1", "sell1": "o-sell1"}
    return url


@pytest.fixture(scope="module")
def rep(store_url: str) -> ExecutionReport:
    with open_store(store_url) as es:
        return report_from_store(es, arrival_prices={"o-split1": Decimal(2000)})


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_public_api() -> None:
    assert set(report_pkg.__all__) == {
        "MAX_PRICE_PLOTS", "ExecutionReport", "FillPoint", "ParentExecution", "RiskEvent",
        "VenueShare", "build_report", "charts_unavailable", "render_html", "report_charts",
        "report_from_store", "write_csv",
    }  # fmt: skip


def test_split_parent_exact_slippage_shortfall_and_split(rep: ExecutionReport) -> None:
    p = next(p for p in rep.parents if p.order_id == "o-split1")
    assert (p.side, p.status, p.children, p.algo) == ("buy", "filled", 2, "direct")
    assert p.filled_quantity == 10
    assert p.avg_price == Decimal(2004)  # (6 * 2000 + 4 * 2010) / 10
    assert (p.arrival_price, p.arrival_source) == (Decimal(2000), "given")
    assert p.slippage_bps == Decimal("20.00")
    assert p.fees == (("USDC", Decimal("8.04")),)  # 10 bps of 4 * 2010 on pb
    assert p.shortfall == Decimal("48.04")  # 40 of price + 8.04 of fees
    assert [(v.venue, v.quantity, v.share, v.avg_price) for v in p.venues] == [
        ("pa", Decimal(6), Decimal("0.6"), Decimal(2000)),
        ("pb", Decimal(4), Decimal("0.4"), Decimal(2010)),
    ]
    assert p.time_to_fill_s == Decimal("0.000")  # the manual clock did not move
    assert p.time_to_settle_s is None  # no on-chain child
    assert sorted((f.venue, f.price) for f in p.fills) == [
        ("pa", Decimal(2000)),
        ("pb", Decimal(2010)),
    ]


def test_sell_parent_defaults_to_the_arrival_price_recorded_at_submit(
    store_url: str, rep: ExecutionReport
) -> None:
    p = next(p for p in rep.parents if p.order_id == "o-sell1")
    # the engine's reference at submit was 1995 (set by hand); it sold 2 at 1990
    assert (p.arrival_price, p.arrival_source, p.slippage_bps, p.shortfall) == (
        Decimal(1995), "arrival", Decimal("25.06"), Decimal(10)
    )  # fmt: skip
    with open_store(store_url) as es:
        again = report_from_store(
            es, parents=["o-sell1"], arrival_prices={"o-sell1": Decimal(2000)}
        )
    (q,) = again.parents
    assert q.slippage_bps == Decimal("50.00")  # sold 10 below 2000
    assert q.shortfall == Decimal(20)  # 2 * 10, no fee on pa


def test_orders_written_without_an_arrival_price_fall_back_to_their_first_fill(
    store_url: str,
) -> None:
    from oms_chain.model.events import OrderInitialized, event_from_payload

    with open_store(store_url) as es:
        events = []
        for rec in es.read_all():
            payload = dict(rec.payload)
            if rec.event_type == "OrderInitialized":  # as an engine before arrival prices wrote
                assert payload.pop("arrival_price") is not None
                payload.pop("arrival_source")
            events.append(event_from_payload(rec.event_type, rec.version, payload))
    assert any(isinstance(e, OrderInitialized) and e.arrival_price is None for e in events)
    (p,) = build_report(events, parents=["o-sell1"]).parents
    assert (p.arrival_price, p.arrival_source, p.slippage_bps) == (
        Decimal(1990), "first_fill", Decimal("0.00")
    )  # fmt: skip


def test_risk_timeline_in_time_order(rep: ExecutionReport) -> None:
    assert [(r.kind, r.value, r.threshold) for r in rep.risk] == [
        ("alert raised", Decimal(1200), Decimal(1000)),
        ("hedge", Decimal("8.5"), Decimal(8)),
    ]
    assert rep.risk[1].detail == (
        "sell 0.5 spot:paper:ETH/paper:USDC at spot 1990: delta 8.5 outside band 8"
    )
    assert rep.risk[0].subject == "var-limit (var_99)"


def test_filters_and_their_errors(store_url: str) -> None:
    with open_store(store_url) as es:
        assert [p.order_id for p in report_from_store(es, parents=["o-split1"]).parents] == [
            "o-split1"
        ]
        late = report_from_store(es, since_ns=10**19)
        assert (late.parents, late.risk) == ((), ())
        with pytest.raises(InvalidInput, match="no parent order 'nope'"):
            report_from_store(es, parents=["nope"])
    bad_args = [
        {"since_ns": -1},
        {"since_ns": True},
        {"parents": [""]},
        {"arrival_prices": {"o-1": Decimal(0)}},
        {"arrival_prices": {"o-1": 2.5}},
    ]
    for bad in bad_args:
        with pytest.raises(InvalidInput):
            build_report([], **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        render_html("not a report")  # type: ignore[arg-type]


def test_html_is_offline_escaped_and_its_images_are_png(rep: ExecutionReport) -> None:
    page = render_html(rep)
    parsed = _Page()
    parsed.feed(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, attrs)
    assert not [t for t, _ in parsed.tags if t in ("script", "link", "iframe", "object")]
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert HOSTILE in "".join(parsed.text)  # shown as text, in the risk table
    images = [a["src"] for t, a in parsed.tags if t == "img" and "chart" in (a.get("class") or "")]
    assert len(images) == 5  # price+fills for 2 parents, venue split, slippage, risk
    for src in images:
        assert src is not None and src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_MAGIC)
    assert "o-split1" in page and "48.04" in page and "20.00" in page


def test_without_matplotlib_the_page_has_tables_and_says_why(
    rep: ExecutionReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    page = render_html(rep)
    assert "<img" not in page
    assert 'id="no-charts"' in page and "matplotlib is not installed" in page
    assert "48.04" in page


def test_cli_writes_html_csv_and_json_with_the_same_numbers(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    args = ["report", "--store", store_url, "--arrival", "o-split1=2000", "--json"]
    assert main([*args, "--out", str(out), "--csv", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["order_id"]: r for r in doc["parents"]}
    assert (rows["o-split1"]["slippage_bps"], rows["o-split1"]["shortfall"]) == ("20.00", "48.04")
    assert rows["o-split1"]["venues"][1] == {
        "venue": "pb", "quantity": "4.00", "share": "0.4", "avg_price": "2010"
    }  # fmt: skip
    assert [r["kind"] for r in doc["risk"]] == ["alert raised", "hedge"]
    assert sorted(Path(p).name for p in doc["written"]) == [
        "parents.csv", "r.html", "risk.csv", "venues.csv"
    ]  # fmt: skip
    assert out.read_text().startswith("<!DOCTYPE html>")
    with (tmp_path / "parents.csv").open() as f:
        parents = {r["order_id"]: r for r in csv.DictReader(f)}
    assert (parents["o-split1"]["shortfall"], parents["o-split1"]["fees"]) == (
        "48.04", "USDC 8.04"
    )  # fmt: skip
    with (tmp_path / "venues.csv").open() as f:
        assert [(r["order_id"], r["venue"], r["share"]) for r in csv.DictReader(f)] == [
            ("o-split1", "pa", "0.6"), ("o-split1", "pb", "0.4"), ("o-sell1", "pa", "1")
        ]  # fmt: skip
    with (tmp_path / "risk.csv").open() as f:
        risk = list(csv.DictReader(f))
    assert risk[0]["detail"] == HOSTILE  # CSV keeps the text as it was


def test_cli_table_and_since(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", store_url, "--since", "2200-01-01T00:00:00"]) == 0
    assert "0 parent orders" in capsys.readouterr().out
    assert main(["report", "--store", store_url, "--parent", "o-sell1", "--since", "1d"]) == 0
    assert "0 parent orders" in capsys.readouterr().out  # the store's clock is in 2001
    assert main(["report", "--store", store_url, "--since", "2001-09-01"]) == 0
    text = capsys.readouterr().out
    assert "o-split1" in text and "pa 60%, pb 40%" in text and "2 risk events" in text


def test_write_csv_needs_an_existing_folder(rep: ExecutionReport, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        write_csv(rep, tmp_path / "nope")


def test_time_to_settle_is_the_last_child_reaching_final(store_url: str) -> None:
    from oms_chain.model.events import SettlementUpdated, event_from_payload
    from oms_chain.model.ids import EventId, TxHash
    from oms_chain.model.orders import SettlementState, SettlementStatus

    with open_store(store_url) as es:
        events = [event_from_payload(r.event_type, r.version, r.payload) for r in es.read_all()]
    base = build_report(events, parents=["o-sell1"]).parents[0]
    (child,) = [e.order_id for e in events if type(e).__name__ == "ChildOrderCreated"
                and e.parent_id == "o-sell1"]  # type: ignore[attr-defined]  # fmt: skip
    t0, tx = base.ts_submit_ns, TxHash("0x" + "ab" * 32)

    def moved(status: SettlementStatus, after_s: float) -> SettlementUpdated:
        ts = t0 + int(after_s * 1e9)
        return SettlementUpdated(
            event_id=EventId(f"s-{status.value}"), ts_event=ts, ts_init=ts, order_id=child,
            settlement=SettlementState(tx_hash=tx, status=status, block_number=7),
        )  # fmt: skip

    _S = SettlementStatus
    path = [moved(_S.SUBMITTED, 0.5), moved(_S.INCLUDED, 3), moved(_S.FINAL, 12.25)]
    (p,) = build_report([*events, *path], parents=["o-sell1"]).parents
    assert p.time_to_settle_s == Decimal("12.250")
    reorged = [*path[:2], moved(_S.REORGED, 4)]
    (q,) = build_report([*events, *reorged], parents=["o-sell1"]).parents
    assert q.time_to_settle_s is None  # not final (yet)


def test_price_plots_are_capped_and_the_page_says_so(rep: ExecutionReport) -> None:
    from dataclasses import replace

    from oms_chain.service.report import MAX_PRICE_PLOTS

    many = tuple(replace(rep.parents[0], order_id=f"p{i}") for i in range(MAX_PRICE_PLOTS + 1))
    page = render_html(ExecutionReport(parents=many, risk=(), events_read=0))
    assert page.count('<img class="chart"') == MAX_PRICE_PLOTS + 2  # + venue split, slippage
    assert f"last {MAX_PRICE_PLOTS} of {MAX_PRICE_PLOTS + 1} parents" in page
    assert page.count("<tr><td class=t>p") == 3 * (MAX_PRICE_PLOTS + 1)  # every parent + 2 venues
    assert "p0: price with fills" not in page and "p20: price with fills" in page


@settings(max_examples=60, deadline=None)
@given(subject=st.text(max_size=40), detail=st.text(max_size=80))
def test_any_text_in_the_page_is_text_not_markup(subject: str, detail: str) -> None:
    from oms_chain.service.report import RiskEvent

    event = RiskEvent(
        ts_ns=1, kind="alert raised", subject=subject, value=None, threshold=None, detail=detail
    )
    monkey = ExecutionReport(parents=(), risk=(event,), events_read=1)
    parsed = _Page()
    parsed.feed(render_html(monkey))
    tags = [t for t, _ in parsed.tags]
    assert set(tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p",
                         "table", "thead", "tbody", "tr", "th", "td"}, tags  # fmt: skip
    assert tags.count("td") == 6


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_any_since_text_parses_or_is_one_invalid_input(text: str) -> None:
    from datetime import UTC, datetime

    from oms_chain.cli.report import _since_ns

    try:
        ns = _since_ns(text, datetime(2026, 1, 1, tzinfo=UTC))
    except InvalidInput as exc:
        assert str(exc).startswith("--since")
    else:
        assert isinstance(ns, int) and ns >= 0


def test_since_before_the_epoch_in_its_zone_is_the_epoch() -> None:
    from datetime import UTC, datetime

    from oms_chain.cli.report import _since_ns

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert _since_ns("1970-01-01T00:00:00+01:00", now) == 0
    assert _since_ns("2026-01-01T00:00:01.5Z", now) == 1_767_225_601_500_000_000
    assert _since_ns("2h", now) == 1_767_218_400_000_000_000
