"""Execution-quality and risk reports from the event store (``oms report``): per parent the
arrival and average price, slippage, implementation shortfall, venue split, fees and gas, time
to fill and to final settlement; hedger decisions and portfolio alerts over time. Rendered as
one offline HTML page (matplotlib PNGs inlined), CSV files and JSON."""

from oms_chain.service.report._charts import MAX_PRICE_PLOTS, charts_unavailable, report_charts
from oms_chain.service.report._metrics import (
    ExecutionReport,
    FillPoint,
    ParentExecution,
    RiskEvent,
    VenueShare,
    build_report,
    report_from_store,
)
from oms_chain.service.report._render import render_html, write_csv

__all__ = [
    "MAX_PRICE_PLOTS",
    "ExecutionReport",
    "FillPoint",
    "ParentExecution",
    "RiskEvent",
    "VenueShare",
    "build_report",
    "charts_unavailable",
    "render_html",
    "report_charts",
    "report_from_store",
    "write_csv",
]
