"""docs/reports.md: its Python example runs, and it names every option of `oms report`."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from oms_chain.cli import app

PAGE = Path(__file__).resolve().parents[3] / "docs" / "reports.md"


def test_the_reports_page_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(PAGE), "exec"), {})


def test_the_reports_page_names_every_option() -> None:
    command = typer.main.get_command(app).commands["report"]  # type: ignore[attr-defined]
    text = PAGE.read_text()
    for param in command.params:
        for opt in param.opts:
            if opt != "--help":
                assert f"`{opt}" in text, opt
