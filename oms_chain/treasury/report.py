"""The governance report of a treasury run, from its events: before / after exposure, Greeks and
VaR, the hedges compared and chosen with their cost, what was executed (gas, amounts, guards)
and the audit trail of who signed what. One offline HTML page (matplotlib PNGs inlined, when
matplotlib is installed) plus CSV files, suitable for a governance forum post.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from oms_chain.service.report import charts_unavailable
from oms_chain.store import EventStore
from oms_chain.treasury.policy import TreasuryPolicy
from oms_chain.treasury.run import RunState, budget_spent

__all__ = ["MEASURES", "render_report", "report_rows", "write_report"]

#: The measurement fields of the before / after table, in order.
MEASURES = (
    "spot", "equity", "delta", "delta_usd", "delta_share", "gamma_1pct_usd", "vega_1pt",
    "theta_day", "var_1d",
)  # fmt: skip

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}"
    "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left}th{background:#f3f3f3}"
    "img{display:block;margin:.5em 0 1.5em;max-width:100%}.chosen{background:#eef8ee}"
    "pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap}"
)


def _ts(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def report_rows(
    st: RunState, store: EventStore, policy: TreasuryPolicy
) -> dict[str, list[list[str]]]:
    """The report's tables (header row first), keyed by CSV file stem."""
    plan = st.plan or {}
    before = plan.get("before") or {}
    after = st.after or {}
    tables: dict[str, list[list[str]]] = {}
    tables["treasury_exposure"] = [["measure", "before", "after"]] + [
        [m, str(before.get(m, "")), str(after.get(m, ""))] for m in MEASURES
    ]
    chosen = plan.get("chosen")
    cands = [["#", "instrument", "legs", "cost_usd", "notional_usd", "delta_share_after",
              "var_1d_after", "refused_by", "reason", "chosen"]]  # fmt: skip
    for i, c in enumerate(plan.get("candidates", [])):
        legs = "; ".join(
            f"{g['side']} {g['quantity']} {g['instrument'] or 'spot'}" for g in c["legs"]
        )
        a = c.get("after") or {}
        cands.append([
            str(i), c["instrument"], legs, c["cost_usd"], c["notional_usd"],
            str(a.get("delta_share", "")), str(a.get("var_1d", "")), c["refused"] or "",
            c["reason"], "yes" if i == chosen else "",
        ])  # fmt: skip
    tables["treasury_candidates"] = cands
    props = [["proposal", "nonce", "kind", "notional_usd", "premium_usd", "signatures_needed",
              "rule", "signed_by", "tx_hash", "block", "gas_used", "success", "safe_sent",
              "safe_received", "quoted_usd", "vs_quote_bps"]]  # fmt: skip
    for p in st.proposals:
        ex = st.executed.get(p.proposal_id, {})
        props.append([
            p.proposal_id, str(p.nonce), p.kind, str(p.notional_usd), str(p.premium_usd),
            str(p.signatures), p.rule, " ".join(sorted(st.signatures.get(p.proposal_id, {}))),
            str(ex.get("tx_hash", "")), str(ex.get("block", "")), str(ex.get("gas_used", "")),
            str(ex.get("success", "")), _flows(ex.get("sent", {}), policy),
            _flows(ex.get("received", {}), policy), str(p.expected_usd),
            _vs_quote(p, ex, policy),
        ])  # fmt: skip
    tables["treasury_proposals"] = props
    audit = [["time", "event", "proposal", "who / what"]]
    for e in st.events:
        p = e.payload
        who = {
            "SignatureCollected": p.get("owner", ""),
            "ProposalCreated": p.get("safe_tx_hash", ""),
            "ProposalSent": p.get("tx_hash", ""),
            "ProposalExecuted": f"{p.get('tx_hash', '')} gas {p.get('gas_used', '')}",
            "OwnersNotified": p.get("url", ""),
        }.get(e.event_type, "")
        audit.append([_ts(e.ts_event), e.event_type, str(p.get("proposal_id", "")), str(who)])
    tables["treasury_audit"] = audit
    ts = int(before.get("ts_ns", 0) or 0)
    spent = budget_spent(store, max(ts, st.events[-1].ts_event if st.events else 0),
                         policy.limits.budget_period_days)  # fmt: skip
    tables["treasury_budget"] = [
        ["premium_budget_usd", "period_days", "spent_in_period_usd", "left_usd"],
        [str(policy.limits.premium_budget_usd), str(policy.limits.budget_period_days),
         str(spent), str(policy.limits.premium_budget_usd - spent)],
    ]  # fmt: skip
    return tables


def _vs_quote(p: Any, executed: dict[str, Any], policy: TreasuryPolicy) -> str:
    """A sale slice's proceeds against its quote, in bps (options fill at their signed quote:
    the executor's guard reverts anything else)."""
    if p.kind != "twap_sale" or not executed or not p.expected_usd:
        return "at quote" if executed and p.kind != "twap_sale" else ""
    stable = next(a for a in policy.assets if a.underlying is None)
    got = Decimal(executed.get("received", {}).get(str(stable.address), "0"))
    got = got.scaleb(-stable.decimals)
    return f"{(got - p.expected_usd) / p.expected_usd * 10_000:.1f}"


def _flows(flows: dict[str, str], policy: TreasuryPolicy) -> str:
    names = {str(a.address).lower(): a for a in policy.assets if a.address}
    parts = []
    for token, units in flows.items():
        spec = names.get(token.lower())
        if spec is None:
            parts.append(f"{units} of {token}")
        else:
            parts.append(f"{Decimal(units).scaleb(-spec.decimals)} {spec.symbol}")
    return ", ".join(parts)


def _table(rows: Sequence[Sequence[str]], highlight: int | None = None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join(
        f"<tr{' class=chosen' if highlight is not None and i == highlight else ''}>"
        + "".join(f"<td>{escape(str(c))}</td>" for c in r)
        + "</tr>"
        for i, r in enumerate(rows[1:])
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _charts(st: RunState, policy: TreasuryPolicy) -> list[tuple[str, bytes]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    plan = st.plan or {}
    before, after = plan.get("before") or {}, st.after or {}
    out: list[tuple[str, bytes]] = []
    fig = Figure(figsize=(6, 3), dpi=90)
    ax = fig.add_subplot()
    labels = ["before", "after"] if after else ["before"]
    shares = [float(before.get("delta_share", 0))] + (
        [float(after["delta_share"])] if after else []
    )
    ax.bar(labels, shares, color=["#c66", "#6a6"][: len(labels)])
    ax.axhspan(float(policy.exposure.low()), float(policy.exposure.high()), color="#9c9", alpha=0.3,
               label="policy band")  # fmt: skip
    ax.axhline(float(policy.exposure.target_share), color="grey", linestyle="--", label="target")
    ax.set_ylabel(f"{policy.exposure.underlying} delta / treasury value")
    ax.legend(loc="lower right")
    out.append(("Exposure against the band", _png(fig)))
    cands = [c for c in plan.get("candidates", []) if c.get("after")]
    if cands:
        fig = Figure(figsize=(7, 3.4), dpi=90)
        ax = fig.add_subplot()
        xs = [float(c["cost_usd"]) for c in cands]
        ys = [float(c["after"]["var_1d"]) for c in cands]
        ax.scatter(xs, ys, c=["#6a6" if c["refused"] is None else "#c66" for c in cands])
        chosen = plan.get("chosen")
        if chosen is not None:
            c = plan["candidates"][chosen]
            ax.scatter([float(c["cost_usd"])], [float(c["after"]["var_1d"])], s=160,
                       facecolors="none", edgecolors="black", label="chosen")  # fmt: skip
            ax.legend()
        ax.set_xlabel("cost (USD; negative = premium received)")
        ax.set_ylabel("1-day VaR99 after (USD)")
        out.append(
            ("Hedges compared: cost and residual risk (red: refused by the policy)", _png(fig))
        )
    if after:
        fig = Figure(figsize=(6, 3), dpi=90)
        ax = fig.add_subplot()
        ax.bar(["before", "after"], [float(before["var_1d"]), float(after["var_1d"])])
        ax.set_ylabel("1-day VaR99 (USD)")
        out.append(("Value at risk", _png(fig)))
    return out


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_report(st: RunState, store: EventStore, policy: TreasuryPolicy) -> str:
    """The run's report as one self-contained HTML page."""
    tables = report_rows(st, store, policy)
    plan = st.plan or {}
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>Treasury run {escape(st.run_id)}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(policy.name)}: treasury run {escape(st.run_id)}</h1>",
        f"<p>Safe {escape(policy.safe.address)} on chain {policy.safe.chain_id}; stage "
        f"<b>{escape(st.stage)}</b>; band {policy.exposure.low()}..{policy.exposure.high()} of "
        f"{escape(policy.exposure.underlying)} delta / value.</p>",
        "<h2>Why this hedge</h2>",
        f"<pre>{escape(str(plan.get('explanation', 'not planned yet')))}</pre>",
    ]
    missing = charts_unavailable()
    if missing is None and plan:
        for title, png in _charts(st, policy):
            data = base64.b64encode(png).decode()
            parts.append(f"<h3>{escape(title)}</h3><img alt='{escape(title)}' "
                         f"src='data:image/png;base64,{data}'>")  # fmt: skip
    elif missing:
        parts.append(f"<p>{escape(missing)}</p>")
    sections = [
        ("Exposure, Greeks and VaR before / after", "treasury_exposure", None),
        ("Hedges compared", "treasury_candidates", plan.get("chosen")),
        ("Proposals and execution", "treasury_proposals", None),
        ("Premium budget", "treasury_budget", None),
        ("Audit trail: who signed and sent what", "treasury_audit", None),
    ]
    for title, key, hl in sections:
        parts.append(f"<h2>{escape(title)}</h2>{_table(tables[key], hl)}")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(st: RunState, store: EventStore, policy: TreasuryPolicy, out: Path) -> list[Path]:
    """Write ``report.html`` and one CSV per table into the folder ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    html = out / f"treasury-{st.run_id}.html"
    html.write_text(render_report(st, store, policy), encoding="utf-8")
    paths = [html]
    for stem, rows in report_rows(st, store, policy).items():
        path = out / f"{stem}-{st.run_id}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        paths.append(path)
    return paths
