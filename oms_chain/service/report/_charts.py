"""PNG plots of a report (matplotlib, Agg backend; optional: the ``charts`` extra)."""

from __future__ import annotations

import io
from typing import Any

from oms_chain.service.report._metrics import ExecutionReport

__all__ = ["MAX_PRICE_PLOTS", "charts_unavailable", "report_charts"]

_TS = 1_000_000_000
#: Price-with-fills plots, and bars of the venue-split plot, drawn at most (the most recent
#: parents with fills); pick others with ``oms report --parent``. The tables have them all.
MAX_PRICE_PLOTS = 20


def charts_unavailable() -> str | None:
    """Why plots cannot be drawn here (a sentence), or None when matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return (
            "matplotlib is not installed (pip install 'oms-chain[charts]'), "
            "so the report has tables only"
        )
    return None


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def report_charts(report: ExecutionReport) -> list[tuple[str, bytes]]:
    """(title, PNG bytes) of each plot that has data: price with fills per parent, venue split,
    slippage distribution, risk timeline. Needs matplotlib (see :func:`charts_unavailable`)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    out: list[tuple[str, bytes]] = []
    for p in [p for p in report.parents if p.fills][-MAX_PRICE_PLOTS:]:
        fig = Figure(figsize=(7, 3.2), dpi=90)
        ax = fig.add_subplot()
        t0 = p.ts_submit_ns
        venues = sorted({f.venue for f in p.fills})
        for v in venues:
            pts = [f for f in p.fills if f.venue == v]
            ax.scatter(
                [(f.ts_ns - t0) / _TS for f in pts],
                [float(f.price) for f in pts],
                s=[20 + 40 * float(f.quantity / p.filled_quantity) for f in pts],
                label=f"fills on {v}",
            )
        if p.arrival_price is not None:
            ax.axhline(float(p.arrival_price), color="grey", linestyle="--", label="arrival")
        if p.avg_price is not None:
            ax.axhline(float(p.avg_price), color="green", linestyle=":", label="average")
        ax.set_xlabel("seconds after submit")
        ax.set_ylabel(f"price ({p.quote})")
        ax.legend(fontsize="small")
        fig.tight_layout()
        out.append((f"{p.order_id}: price with fills", _png(fig)))
    shown = [p for p in report.parents if p.venues][-MAX_PRICE_PLOTS:]
    split = [(p.order_id, v.venue, float(v.share)) for p in shown for v in p.venues]
    if split:
        fig = Figure(figsize=(7, 0.9 + 0.3 * len(shown)), dpi=90)
        ax = fig.add_subplot()
        names = [p.order_id for p in shown]
        left = dict.fromkeys(names, 0.0)
        for venue in sorted({v for _, v, _ in split}):
            widths = [next((s for o, v, s in split if o == n and v == venue), 0.0) for n in names]
            ax.barh(names, widths, left=[left[n] for n in names], label=venue)
            for n, w in zip(names, widths, strict=True):
                left[n] += w
        ax.set_xlabel("share of filled quantity")
        ax.set_xlim(0, 1)
        ax.legend(fontsize="small")
        fig.tight_layout()
        out.append(("venue split", _png(fig)))
    slips = [float(p.slippage_bps) for p in report.parents if p.slippage_bps is not None]
    if slips:
        fig = Figure(figsize=(7, 3), dpi=90)
        ax = fig.add_subplot()
        ax.hist(slips, bins=min(20, max(1, len(slips))))
        ax.set_xlabel("slippage vs arrival (bps, positive = cost)")
        ax.set_ylabel("parents")
        fig.tight_layout()
        out.append(("slippage distribution", _png(fig)))
    valued = [r for r in report.risk if r.value is not None]
    if valued:
        fig = Figure(figsize=(7, 3), dpi=90)
        ax = fig.add_subplot()
        t0 = valued[0].ts_ns
        for kind in sorted({r.kind for r in valued}):
            xs = [(r.ts_ns - t0) / _TS for r in valued if r.kind == kind]
            ys = [float(r.value or 0) for r in valued if r.kind == kind]
            ax.scatter(xs, ys, label=kind)
        ax.set_xlabel("seconds after the first risk event")
        ax.set_ylabel("delta / metric value")
        ax.legend(fontsize="small")
        fig.tight_layout()
        out.append(("risk over time", _png(fig)))
    return out
