"""docs/configuration.md names every config key and every environment variable the code reads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from oms_chain.engine.config import (
    AccountConfig,
    ChainConfig,
    EngineConfig,
    OmsConfig,
    StoreConfig,
    VenueConfig,
)
from oms_chain.risk.limits import RiskLimits

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "configuration.md"

SECTIONS = {
    "[engine]": EngineConfig,
    "[store]": StoreConfig,
    "[risk]": RiskLimits,
    "[[chains]]": ChainConfig,
    "[[venues]]": VenueConfig,
    "[[accounts]]": AccountConfig,
}

_ENV_READS = re.compile(
    r'environ(?:\.get)?[\[(]\s*"([A-Z][A-Z0-9_]+)"'
    r'|getenv\(\s*"([A-Z][A-Z0-9_]+)"'
    r'|envvar="([A-Z][A-Z0-9_]+)"'
    r'|_ENV\s*=\s*"([A-Z][A-Z0-9_]+)"'
)


def _page_sections() -> dict[str, set[str]]:
    """Heading (`## `[engine]`` ...) -> the backticked names in the first column of its table."""
    out: dict[str, set[str]] = {}
    current = ""
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            m = re.search(r"`([^`]+)`", line)
            current = m.group(1) if m else line[3:].strip()
            out.setdefault(current, set())
        elif line.startswith("| `") and current:
            out[current].add(line.split("`")[1])
    return out


def _env_vars_in_code() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "oms_chain").rglob("*.py"):
        for groups in _ENV_READS.findall(path.read_text(encoding="utf-8")):
            found.update(g for g in groups if g)
    return found


def test_page_documents_every_top_level_table() -> None:
    tables = {f.name for f in dataclasses.fields(OmsConfig)}
    documented = {h.strip("[]") for h in _page_sections()}
    assert tables <= documented, f"tables missing from {PAGE.name}: {tables - documented}"


@pytest.mark.parametrize("heading", sorted(SECTIONS))
def test_page_lists_exactly_the_keys_of_each_config_type(heading: str) -> None:
    keys = {f.name for f in dataclasses.fields(SECTIONS[heading])}
    documented = _page_sections().get(heading)
    assert documented is not None, f"no section '## `{heading}`' in {PAGE.name}"
    assert keys - documented == set(), f"{heading}: keys not documented"
    assert documented - keys == set(), f"{heading}: documented keys that do not exist"


def test_page_lists_every_environment_variable_the_code_reads() -> None:
    in_code = _env_vars_in_code()
    assert {"OMS_CHAIN_HOME", "OMS_CHAIN_DEPLOYMENTS", "OMS_LOG_LEVEL"} <= in_code  # the scan works
    documented = _page_sections()["Environment variables read by the code"]
    assert in_code - documented == set(), "environment variables not documented"
