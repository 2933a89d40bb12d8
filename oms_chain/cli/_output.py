"""The one formatting layer of every command: consoles, tables (full ids when not a
terminal or with ``--wide``), JSON documents, plans and error lines (one line, or a JSON object
with ``--json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
"""Tables and results (stdout)."""
err_console = Console(stderr=True)
"""Progress, hints and error lines (stderr)."""


class _Output:
    """How tables print: wide (full ids, hashes and URLs) when stdout is not a terminal or with
    ``--wide``; readable on a terminal."""

    wide = False


def print_json(doc: Any, *, indent: int | None = 2) -> None:
    """``doc`` as one JSON document on stdout (values JSON does not know, as text)."""
    print(json.dumps(doc, indent=indent, default=str), flush=True)


def table(title: str | None, columns: Iterable[str], *, right: Iterable[str] = ()) -> Table:
    """A table with ``columns`` (those in ``right`` right-aligned) for :data:`console`."""
    out = Table(title=title)
    right = set(right)
    for col in columns:
        out.add_column(col, justify="right" if col in right else "left")
    return out


def print_fields(title: str, row: dict[str, Any], stream: Console | None = None) -> None:
    """``row`` as a two-column table (field, value); lists and mappings as JSON text."""
    out = table(title, ("field", "value"))
    for key, value in row.items():
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        out.add_row(key, shown)
    (stream or console).print(out)


def say(text: str, stream: Console | None = None) -> None:
    """One line of plain text (no markup guessing, no wrapping of ids and paths)."""
    (stream or console).print(text, highlight=False, soft_wrap=True, markup=False)


def _short_price(p: str | None) -> str:
    if p is None:
        return "-"

    return f"{Decimal(p):,.6f}".rstrip("0").rstrip(".")


def _print_plan(plan: dict[str, Any], as_json: bool, stream: Console | None = None) -> None:
    if as_json:
        print_json(plan)
        return
    title = "plan (dry run: nothing sent, nothing written)" if plan.get("dry_run") else "plan"
    print_fields(title, {k: v for k, v in plan.items() if k != "dry_run"}, stream)


def _report_error(message: str, code: int, kind: str, as_json: bool) -> int:
    if as_json:
        print_json({"error": message, "code": code, "kind": kind}, indent=None)
    else:
        err_console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    return code
