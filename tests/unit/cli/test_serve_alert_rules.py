"""The ``[[alerts]]`` of the portfolio file that ``oms serve --portfolio`` evaluates at
``/api/v1/risk/alerts``: read into alert rules, bad ones refused naming the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oms_chain.cli.risk import _load_portfolio
from oms_chain.cli.serve import load_alert_rules
from oms_chain.model.errors import InvalidInput
from oms_chain.risk import AlertRule, Metric

BASE = """
[market]
spots = { ETH = 2000 }

[[holdings]]
kind = "spot"
underlying = "ETH"
quantity = 1
"""


def _file(tmp_path: Path, alerts: str) -> Path:
    path = tmp_path / "portfolio.toml"
    top = not alerts.startswith("[[")  # a top-level key goes before the first table
    path.write_text(alerts + BASE if top else BASE + alerts, encoding="utf-8")
    return path


def test_alert_tables_become_rules_and_the_portfolio_still_loads(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[[alerts]]\nname = "delta"\nmetric = "abs_delta_usd"\nthreshold = 5000\n'
        "clear_at = 4000\n\n"
        '[[alerts]]\nname = "liq"\nmetric = "liquidation_distance_pct"\nthreshold = 10\n'
        'underlying = "ETH"\n',
    )
    assert load_alert_rules(path) == (
        AlertRule(
            name="delta",
            metric=Metric.ABS_DELTA_USD,
            threshold=Decimal(5000),
            clear_at=Decimal(4000),
        ),
        AlertRule(
            name="liq",
            metric=Metric.LIQUIDATION_DISTANCE_PCT,
            threshold=Decimal(10),
            underlying="ETH",
        ),
    )
    held, _, _ = _load_portfolio(path, 1)
    assert len(held) == 1
    assert load_alert_rules(_file(tmp_path, "")) == ()


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ('[[alerts]]\nname = "x"\nmetric = "gamma"\nthreshold = 1\n', r"alerts\[0\]\.metric"),
        ('[[alerts]]\nname = "x"\nmetric = "var"\n', r"alerts\[0\]\.threshold: missing"),
        ('[[alerts]]\nname = "x"\nmetric = "var"\nthreshold = "lots"\n', r"alerts\[0\]\.thr"),
        ('[[alerts]]\nname = "x"\nmetric = "var"\nthreshold = 1\nlevel = 2\n', r"\.level"),
        ('[[alerts]]\nname = 5\nmetric = "var"\nthreshold = 1\n', r"alerts\[0\]\.name"),
        ('[[alerts]]\nname = "x"\nmetric = "var"\nthreshold = 10\nclear_at = 20\n', "flap"),
        (
            '[[alerts]]\nname = "x"\nmetric = "var"\nthreshold = 1\n\n'
            '[[alerts]]\nname = "x"\nmetric = "var"\nthreshold = 2\n',
            "used twice",
        ),
        ('alerts = "none"\n', "expected"),
    ],
)
def test_a_bad_alert_table_is_refused_naming_it(tmp_path: Path, alerts: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_alert_rules(_file(tmp_path, alerts))
