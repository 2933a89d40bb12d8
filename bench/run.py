"""Benchmark runner behind ``make bench``.

Imports every ``bench/bench_*.py`` (or the names given on the command line), calls its
``run() -> dict``, prints one table, and writes all results to ``bench/results/<UTC time>.json``
(plus ``latest.json``). Each benchmark measures its own baseline in the same run and reports
ratios against it, so numbers compare across machines.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    console = Console()
    selected = set(argv)
    files = sorted(p for p in HERE.glob("bench_*.py") if not selected or p.stem in selected)
    results: dict[str, Any] = {}
    failed = False
    for path in files:
        with console.status(f"running {path.stem}…"):
            started = time.perf_counter()
            try:
                metrics = _load(path).run()
            except Exception:
                failed = True
                console.print(f"[red]{path.stem} failed[/]\n{traceback.format_exc()}")
                continue
        results[path.stem] = {
            "seconds": round(time.perf_counter() - started, 2),
            "metrics": metrics,
        }
    table = Table(title="oms-chain benchmarks")
    for col in ("benchmark", "metric", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for name, entry in results.items():
        for metric, value in entry["metrics"].items():
            shown = (
                ("yes" if value else "NO")
                if isinstance(value, bool)
                else f"{value:,.3f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else str(value)
            )
            table.add_row(name, metric, shown)
    console.print(table)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = {
        "when": stamp,
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "results": results,
    }
    for target in (out_dir / f"{stamp}.json", out_dir / "latest.json"):
        target.write_text(json.dumps(payload, indent=2))
    console.print(f"results written to {out_dir / (stamp + '.json')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
