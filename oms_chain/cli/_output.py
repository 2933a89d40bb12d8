"""The one formatting layer of every command: consoles, tables (full ids when not a
terminal or with ``--wide``), JSON documents, plans and error lines (one line, or a JSON object
with ``--json``)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


err_console = Console(stderr=True)


class _Output:
    """How tables print: wide (full ids, hashes and URLs) when stdout is not a terminal or with
    ``--wide``; readable on a terminal."""

    wide = False


def _short_price(p: str | None) -> str:
    if p is None:
        return "-"

    return f"{Decimal(p):,.6f}".rstrip("0").rstrip(".")


def _print_plan(plan: dict[str, Any], as_json: bool, stream: Console | None = None) -> None:
    if as_json:
        print(json.dumps(plan, indent=2, default=str))
        return
    title = "plan (dry run: nothing sent, nothing written)" if plan.get("dry_run") else "plan"
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    for key, value in plan.items():
        if key == "dry_run":
            continue
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        table.add_row(key, shown)
    (stream or console).print(table)


def _report_error(message: str, code: int, kind: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": message, "code": code, "kind": kind}), flush=True)
    else:
        err_console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    return code
