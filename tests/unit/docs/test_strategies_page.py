"""docs/strategies.md: its Python examples run in order and print what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"


def test_the_python_examples_run_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 3
    scope: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), scope)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "buy 2 ETH-15JAN27-1800-P"
    assert "-65.0" in out
    assert "65.0 135.0 (Decimal('1867.5'), Decimal('2132.5'))" in out
    assert "False 60.00000000" in out
    png = scope["png"]
    assert isinstance(png, bytes) and png[:4] == b"\x89PNG"


def test_every_builder_and_cli_kind_is_on_the_page() -> None:
    import oms_chain.strategies as st
    from oms_chain.cli.strategy import _KINDS

    text = PAGE.read_text(encoding="utf-8")
    builders = [n for n in st.__all__ if n[0].islower() and callable(getattr(st, n))]
    for name in builders:
        assert f"`{name}" in text or f"{name}(" in text, name
    for kind in _KINDS:
        assert f"`{kind}`" in text, kind
