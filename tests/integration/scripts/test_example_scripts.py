"""The example scripts under scripts/ run as documented, one per kind of user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )


def test_dao_safe_swap_executes_a_two_of_three_safe_transaction() -> None:
    proc = _run("scripts/dao_safe_swap.py", "--usdc", "100000")
    assert proc.returncode == 0, proc.stderr
    assert "(= quote)" in proc.stdout and "threshold 2" in proc.stdout


def test_dao_safe_swap_rejects_bad_input_with_one_line() -> None:
    proc = _run("scripts/dao_safe_swap.py", "--slippage-bps", "-4")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


def test_trader_swap_matches_the_quote_and_rejects_bad_amounts() -> None:
    ok = _run("scripts/trader_swap.py", "--eth", "2.5")
    assert ok.returncode == 0, ok.stderr
    assert "exact to the wei" in ok.stdout
    for bad in ("-1", "abc", "NaN"):
        proc = _run("scripts/trader_swap.py", "--eth", bad)
        assert proc.returncode != 0 and "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_developer_example_passes_under_pytest() -> None:
    proc = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "scripts/example_strategy_test.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_dao_treasury_hedge_brings_the_delta_back_into_the_band(tmp_path: Path) -> None:
    proc = _run("scripts/dao_treasury_hedge.py", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "inside band" in proc.stdout and "(band 0.38..0.42)" in proc.stdout
    assert "signed 2/2" in proc.stdout
    html = (tmp_path / "report" / "treasury-jump.html").read_text()
    assert "Audit trail" in html and "SignatureCollected" in html and "<img" in html


def test_dao_treasury_hedge_rejects_a_bad_jump_with_one_line() -> None:
    proc = _run("scripts/dao_treasury_hedge.py", "--jump", "abc")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
