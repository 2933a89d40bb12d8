"""docs/hedging.md: its policy TOML example loads and names every policy key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from oms_chain.risk import HedgePolicy

PAGE = Path(__file__).resolve().parents[3] / "docs" / "hedging.md"


def test_the_policy_example_loads_and_names_every_key():
    text = PAGE.read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    policy = HedgePolicy.from_toml(block.group(1))
    assert (policy.name, policy.band, policy.cooldown_s) == ("eth-band", 2, 30.0)
    keys = {m.group(1) for m in re.finditer(r"^(\w+) =", block.group(1), re.M)}
    names = {f.name for f in dataclasses.fields(HedgePolicy)}
    assert keys == names - {"scalp_move_pct"}
    assert "scalp_move_pct" in block.group(1)
