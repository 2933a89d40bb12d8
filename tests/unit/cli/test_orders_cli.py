"""``oms orders`` shows parents with their children, read from a real SQLite event store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from oms_chain.engine import Engine
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import open_store
from oms_chain.venues import Fault, PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)


def _oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('orders') / 'oms.db'}"

    async def trade() -> None:
        clock = ManualClock()
        venue = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)})
        with open_store(url) as store:
            engine = Engine(
                store=store,
                venues=[venue],
                risk=RiskGate(RiskLimits(), clock=clock),
                clock=clock,
            )
            engine.set_reference_price(PAIR.id, Decimal(2000))
            await engine.start()
            for i, side in enumerate(("buy", "sell")):
                await engine.submit(
                    Intent.create(
                        intent_id=f"cli-{i}",
                        account="acct",
                        instrument=PAIR,
                        side=side,
                        quantity="1.25",
                        venues=["paper"],
                        now_ns=clock.now_ns(),
                        max_slippage_bps=50,
                    )
                )
            venue.inject(Fault.REJECT)
            await engine.submit(
                Intent.create(
                    intent_id="cli-rejected",
                    account="acct",
                    instrument=PAIR,
                    side="buy",
                    quantity="2",
                    venues=["paper"],
                    now_ns=clock.now_ns(),
                    max_slippage_bps=50,
                )
            )
            await engine.stop()

    asyncio.run(trade())
    return url


def test_orders_json_lists_parents_with_children(store_url: str) -> None:
    proc = _oms("orders", "--store", store_url, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["side"], r["status"], r["filled"]) for r in rows] == [
        ("buy", "filled", "1.25"),
        ("sell", "filled", "1.25"),
        ("buy", "failed", "0"),  # its only child was rejected by the venue
    ]
    child = rows[0]["children"][0]
    assert (child["venue"], child["status"], child["avg_price"]) == ("paper", "filled", "2000")
    assert child["client_order_id"].startswith("oms-")
    rejected = rows[2]["children"][0]
    assert rejected["status"] == "rejected" and rejected["reason"].startswith("venue:")


def test_orders_table_and_open_filter(store_url: str) -> None:
    proc = _oms("orders", "--store", store_url)
    assert proc.returncode == 0, proc.stderr
    assert "3 parent orders" in proc.stdout and "└" in proc.stdout
    proc = _oms("orders", "--store", store_url, "--open", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_orders_on_a_missing_store_or_bad_limit_is_one_clear_line(tmp_path: Path) -> None:
    proc = _oms("orders", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no event store") and "Traceback" not in proc.stderr
    proc = _oms("orders", "--store", f"sqlite:///{tmp_path / 'none.db'}", "--limit", "0")
    assert proc.returncode == 2 and "'--limit': must be between 1 and 100,000" in proc.stderr
