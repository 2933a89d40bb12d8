"""docs/risk-portfolio.md: its margin TOML example loads and names every config key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from oms_chain.risk import PortfolioMarginConfig

PAGE = Path(__file__).resolve().parents[3] / "docs" / "risk-portfolio.md"


def test_the_margin_config_example_loads_and_lists_every_key_with_its_default():
    block = re.search(r"```toml\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert block is not None
    cfg = PortfolioMarginConfig.from_toml(block.group(1))
    assert cfg == PortfolioMarginConfig()
    keys = {m.group(1) for m in re.finditer(r"^(\w+) =", block.group(1), re.M)}
    names = {f.name for f in dataclasses.fields(PortfolioMarginConfig)}
    assert keys == names


def test_the_python_examples_run_in_order(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    prices = [2000.0 * (1 + 0.01 * ((i * 7) % 5 - 2)) for i in range(60)]
    (tmp_path / "eth.csv").write_text(
        "date,ETH\n" + "".join(f"2024-01-{i + 1:02d},{p}\n" for i, p in enumerate(prices))
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    out = capsys.readouterr().out
    assert "no liquidation price below spot" in out  # the short calls liquidate upwards
