"""docs/treasury.md: its policy example loads and uses every section of the format."""

from __future__ import annotations

import re
from pathlib import Path

from oms_chain.treasury import INSTRUMENTS, TreasuryPolicy

PAGE = Path(__file__).resolve().parents[3] / "docs" / "treasury.md"


def test_the_policy_example_loads_with_every_section_and_instrument() -> None:
    text = PAGE.read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    policy = TreasuryPolicy.from_toml(block.group(1))
    assert policy.instruments.allowed == INSTRUMENTS
    assert policy.webhook_url is not None and policy.schedule.twap_slices == 4
    assert [r.signatures for r in policy.approvals] == [2, 3]
    for command in ("plan", "propose", "approve", "execute", "status", "report"):
        assert f"oms treasury {command}" in text
