"""The treasury policy file: a valid file loads; every bad key is refused by name."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms_chain.model.errors import ConfigError
from oms_chain.treasury import TreasuryPolicy, load_policy

ADDR = "0x" + "12" * 20

GOOD = f"""
name = "Example DAO"
[safe]
chain_id = 31337
address = "{ADDR}"
options_executor = "{ADDR}"
options_market = "{ADDR}"
makers = ["http://127.0.0.1:9"]
swap_router = "{ADDR}"
quoter = "{ADDR}"

[[assets]]
symbol = "ETH"
native = true
underlying = "ETH"
[[assets]]
symbol = "WETH"
address = "{ADDR}"
underlying = "ETH"
[[assets]]
symbol = "USDC"
address = "{ADDR}"
decimals = 6
stable = true

[prices]
ETH = "fixed:3000"

[exposure]
underlying = "ETH"
target_share = 0.40
band = 0.05

[instruments]
allowed = ["twap_sale", "puts", "collar"]

[limits]
premium_budget_usd = 20000
budget_period_days = 7
max_slippage_bps = 100
max_notional_usd = 1000000

[[approvals]]
above_usd = 0
signatures = 2
[[approvals]]
above_usd = 250000
signatures = 3
"""


def _data() -> dict[str, Any]:
    return tomllib.loads(GOOD)


def test_a_valid_policy_loads_with_its_band_and_approval_rules(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(GOOD)
    policy = load_policy(path)
    assert policy.exposure.low() == Decimal("0.35") and policy.exposure.high() == Decimal("0.45")
    assert policy.signatures_needed(Decimal(100_000)) == (2, "approvals[0] (above 0 USD)")
    assert policy.signatures_needed(Decimal(300_000))[0] == 3
    assert policy.schedule.twap_slices == 4 and policy.webhook_url is None


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["limits"].update(premium_budget_usd=-1), "limits.premium_budget_usd"),
        (lambda d: d["limits"].pop("max_slippage_bps"), "limits.max_slippage_bps"),
        (lambda d: d["exposure"].update(band=2), "exposure.band"),
        (lambda d: d["exposure"].update(underlying="BTC"), "exposure.underlying"),
        (lambda d: d["safe"].update(address="0x12"), "safe.address"),
        (lambda d: d["safe"].update(colour="red"), "safe.colour"),
        (lambda d: d["instruments"].update(allowed=["calls"]), "instruments.allowed[0]"),
        (lambda d: d["prices"].update(ETH="oracle"), "prices.ETH"),
        (lambda d: d["assets"][2].pop("stable"), "assets[2].underlying"),
        (lambda d: d["approvals"][1].update(signatures=0), "approvals[1].signatures"),
        (lambda d: d["safe"].pop("quoter"), "safe.quoter"),
        (lambda d: d["safe"].pop("options_executor"), "safe.options_executor"),
        (lambda d: d.update(extra=1), "'extra'"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(edit: Any, key: str) -> None:
    data = _data()
    edit(data)
    with pytest.raises(ConfigError) as err:
        TreasuryPolicy.from_mapping(data)
    assert key in str(err.value)


def test_a_file_that_is_not_toml_or_missing_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_policy(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_policy(tmp_path / "missing.toml")
