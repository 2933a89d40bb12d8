"""One self-contained HTML page (plots inlined as PNG data URIs, every text escaped) and CSV."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from oms_chain.model.errors import InvalidInput
from oms_chain.service.report._charts import MAX_PRICE_PLOTS, charts_unavailable, report_charts
from oms_chain.service.report._metrics import ExecutionReport

__all__ = ["render_html", "write_csv"]

_PARENT_COLS = (
    ("order_id", "parent"),
    ("instrument", "instrument"),
    ("side", "side"),
    ("algo", "algo"),
    ("status", "status"),
    ("quantity", "qty"),
    ("filled_quantity", "filled"),
    ("arrival_price", "arrival"),
    ("arrival_source", "arrival from"),
    ("avg_price", "avg price"),
    ("slippage_bps", "slippage bps"),
    ("shortfall", "shortfall"),
    ("shortfall_currency", "in"),
    ("fees", "fees / gas"),
    ("children", "children"),
    ("time_to_fill_s", "to fill s"),
    ("time_to_settle_s", "to final s"),
)
_VENUE_COLS = ("order_id", "venue", "quantity", "share", "avg_price")
_RISK_COLS = ("time", "kind", "subject", "value", "threshold", "detail")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:0.2em 0.5em;text-align:right}
th{background:#f3f3f3}td.t{text-align:left}
img{display:block;margin:0.5em 0 1.5em;max-width:100%}
.note{color:#a33}
"""


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items())
    return str(v)


def _table(cols: Sequence[str], rows: Sequence[Sequence[object]], table_id: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = "".join(
            f"<td{'' if isinstance(v, int | float) else ' class=t'}>{escape(_cell(v))}</td>"
            for v in r
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _ts(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _venue_rows(report: ExecutionReport) -> list[list[object]]:
    return [
        [p.order_id, v.venue, str(v.quantity), str(v.share), str(v.avg_price)]
        for p in report.parents
        for v in p.venues
    ]


def _risk_rows(report: ExecutionReport) -> list[list[object]]:
    return [
        [_ts(r.ts_ns), r.kind, r.subject, _cell(r.value), _cell(r.threshold), r.detail]
        for r in report.risk
    ]


def render_html(report: ExecutionReport, *, title: str = "oms-chain execution report") -> str:
    """The report as one HTML page that needs no network: tables of every number and, when
    matplotlib is installed, the plots as inline PNGs (else a line saying why there are none).
    Symbols, ids and messages are HTML-escaped."""
    if not isinstance(report, ExecutionReport):
        raise InvalidInput(f"render_html needs an ExecutionReport, got {type(report).__name__}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{len(report.parents)} parent orders, {len(report.risk)} risk events, "
        f"{report.events_read} events read.</p>",
        "<h2>Execution quality</h2>",
    ]
    rows = [p.to_row() for p in report.parents]
    parts.append(
        _table(
            [h for _, h in _PARENT_COLS], [[r[k] for k, _ in _PARENT_COLS] for r in rows], "parents"
        )
    )
    parts.append("<h2>Venue split</h2>")
    parts.append(_table(_VENUE_COLS, _venue_rows(report), "venues"))
    parts.append("<h2>Risk over time</h2>")
    if report.risk:
        parts.append(_table(_RISK_COLS, _risk_rows(report), "risk"))
    else:
        parts.append("<p>No hedger decisions or portfolio alerts in the store.</p>")
    parts.append("<h2>Plots</h2>")
    why = charts_unavailable()
    if why is not None:
        parts.append(f'<p class="note" id="no-charts">No plots: {escape(why)}.</p>')
    else:
        charts = report_charts(report)
        with_fills = sum(1 for p in report.parents if p.fills)
        if with_fills > MAX_PRICE_PLOTS:
            parts.append(
                f"<p>Price plots and venue split for the last {MAX_PRICE_PLOTS} of {with_fills} "
                f"parents with fills (choose others with --parent; the tables have all).</p>"
            )
        if not charts:
            parts.append("<p>Nothing to plot (no fills, no risk events).</p>")
        for name, png in charts:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<h3>{escape(name)}</h3>")
            parts.append(
                f'<img class="chart" alt="{escape(name, quote=True)}" '
                f'src="data:image/png;base64,{data}">'
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_csv(report: ExecutionReport, directory: Path) -> list[Path]:
    """Write ``parents.csv``, ``venues.csv`` and ``risk.csv`` (the same numbers as the page)
    into an existing ``directory``; returns the paths."""
    if not isinstance(directory, Path) or not directory.is_dir():
        raise InvalidInput(f"CSV directory {directory} does not exist (create it first)")
    tables: dict[str, tuple[list[str], list[list[object]]]] = {
        "parents.csv": (
            [k for k, _ in _PARENT_COLS],
            [[_cell(p.to_row()[k]) for k, _ in _PARENT_COLS] for p in report.parents],
        ),
        "venues.csv": (list(_VENUE_COLS), _venue_rows(report)),
        "risk.csv": (
            ["ts_ns", *_RISK_COLS[1:]],
            [[r.ts_ns, r.kind, r.subject, _cell(r.value), _cell(r.threshold), r.detail]
             for r in report.risk],
        ),
    }  # fmt: skip
    paths = []
    for name, (cols, rows) in tables.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([_cell(v) for v in r] for r in rows)
        path = directory / name
        path.write_text(buf.getvalue(), encoding="utf-8")
        paths.append(path)
    return paths
