"""``oms report``: execution quality and risk over time, as HTML (offline), CSV and JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from oms_chain.cli._app import app
from oms_chain.cli._args import JsonOption, StoreOption, _decimal_text, _identifier
from oms_chain.cli._output import console, print_json, say, table
from oms_chain.cli.views import _open_existing_store
from oms_chain.model.errors import InvalidInput

_AGO = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _since_ns(value: str, now: datetime) -> int:
    """``--since``: an ISO-8601 time (UTC unless it says otherwise) or an age like 30m, 2h, 7d."""
    text = value.strip()
    m = _AGO.fullmatch(text)
    if m:
        seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
        return max(0, int(now.timestamp()) - seconds) * 1_000_000_000
    try:
        when = datetime.fromisoformat(text) if text.isascii() and text else None
    except ValueError:
        when = None
    if when is None:
        raise InvalidInput(
            f"--since {value[:40]!r} is neither an ISO-8601 time (2026-12-03T10:00:00Z) nor "
            f"an age (30m, 2h, 7d)"
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not 1970 <= when.year <= 2200:
        raise InvalidInput(f"--since {text!r} is out of range (1970-2200)")
    return max(0, int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000)


def _arrivals(values: list[str]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for v in values:
        order_id, sep, price = v.partition("=")
        if not sep:
            raise InvalidInput(f"--arrival {v[:60]!r} must be ORDER_ID=PRICE")
        _identifier(order_id, "--arrival order id")
        amount = _decimal_text(price, "--arrival price")
        if amount <= 0:
            raise InvalidInput(f"--arrival price must be positive, got {price[:40]!r}")
        out[order_id] = amount
    return out


@app.command()
def report(
    store: StoreOption,
    parent: Annotated[
        list[str] | None,
        typer.Option("--parent", metavar="ID", help="Only this parent order (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="TIME",
            help="Only parents and risk events from TIME (ISO-8601 or 2h).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE.html", help="Write the self-contained HTML report."),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option("--csv", metavar="DIR", help="Write parents.csv, venues.csv, risk.csv here."),
    ] = None,
    arrival: Annotated[
        list[str] | None,
        typer.Option(
            "--arrival",
            metavar="ID=PRICE",
            help=(
                "Benchmark price of a parent (default: the arrival price recorded at submit, "
                "else its first fill; repeatable)."
            ),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Execution quality per parent (arrival, average price, slippage, shortfall, venue split,
    fees, time to fill and settle) and risk over time, from the event store (read-only)."""
    from oms_chain.service.report import render_html, report_from_store, write_csv

    parents = [_identifier(p, "--parent") for p in parent] if parent else None
    since_ns = None if since is None else _since_ns(since, datetime.now(UTC))
    arrivals = _arrivals(arrival or [])
    if out is not None:
        if out.is_dir():
            raise InvalidInput(f"--out {out} is a folder; give a file name")
        if not out.parent.is_dir():
            raise InvalidInput(f"--out: folder {out.parent} does not exist; create it first")
    if csv_dir is not None and not csv_dir.is_dir():
        raise InvalidInput(f"--csv: folder {csv_dir} does not exist; create it first")
    with _open_existing_store(store) as es:
        rep = report_from_store(es, parents=parents, since_ns=since_ns, arrival_prices=arrivals)
    written: list[str] = []
    if out is not None:
        out.write_text(render_html(rep), encoding="utf-8")
        written.append(str(out))
    if csv_dir is not None:
        written.extend(str(p) for p in write_csv(rep, csv_dir))
    if as_json:
        doc = rep.to_json()
        doc["written"] = written
        print_json(doc)
        return
    t = table(
        f"{len(rep.parents)} parent orders",
        ("parent", "side", "instrument", "filled", "avg px", "arrival", "slip bps", "shortfall",
         "venues", "to fill s"),
        right=("filled", "avg px", "arrival", "slip bps", "shortfall", "to fill s"),
    )  # fmt: skip
    for p in rep.parents:
        t.add_row(
            p.order_id,
            p.side,
            p.instrument,
            str(p.filled_quantity),
            "" if p.avg_price is None else f"{p.avg_price:.6g}",
            "" if p.arrival_price is None else f"{p.arrival_price:.6g}",
            "" if p.slippage_bps is None else str(p.slippage_bps),
            "" if p.shortfall is None else f"{p.shortfall:.6g} {p.quote}",
            ", ".join(f"{v.venue} {v.share:.0%}" for v in p.venues),
            "" if p.time_to_fill_s is None else str(p.time_to_fill_s),
        )
    console.print(t)
    if rep.risk:
        say(f"{len(rep.risk)} risk events (hedges, alerts)")
    for w in written:
        say(f"wrote {w}")
