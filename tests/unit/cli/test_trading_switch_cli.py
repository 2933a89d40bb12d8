"""``oms halt`` / ``oms resume-trading`` record the kill switch in the event store, where every
engine that opens the store later finds it; ``--dry-run`` writes nothing; live targets from a
config ask for confirmation (refused without a terminal unless ``--yes``)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest

from oms_chain.cli import main
from oms_chain.engine import Engine
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.model.orders import OrderStatus
from oms_chain.risk import RiskGate, RiskLimits, TradingState
from oms_chain.store import open_store
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
_IDS = itertools.count()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _engine_on(url: str, side: str = "buy") -> tuple[TradingState, OrderStatus]:
    """Start an engine on ``url``; its trading state and what happens to a new intent."""
    clock = ManualClock()
    venue = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)})
    with open_store(url) as store:
        engine = Engine(
            store=store, venues=[venue], risk=RiskGate(RiskLimits(), clock=clock), clock=clock
        )
        engine.set_reference_price(PAIR.id, Decimal(2000))
        await engine.start()
        try:
            parent = await engine.submit(
                Intent.create(
                    intent_id=f"after-switch-{next(_IDS)}",
                    account="acct",
                    instrument=PAIR,
                    side=side,
                    quantity="1",
                    venues=["paper"],
                    now_ns=clock.now_ns(),
                    max_slippage_bps=50,
                )
            )
            return engine.trading_state, parent.status
        finally:
            await engine.stop()


def test_halt_is_seen_by_the_next_engine_and_resume_trading_lifts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    code, out, _ = _run(capsys, "halt", "--store", url, "--reason", "desk closed", "--json")
    assert code == 0
    assert json.loads(out) == {
        "store": url,
        "previous": "active",
        "state": "halted",
        "reason": "desk closed",
    }
    state, status = asyncio.run(_engine_on(url))
    assert (state, status) == (TradingState.HALTED, OrderStatus.REJECTED)

    code, out, _ = _run(capsys, "resume-trading", "--store", url)
    assert code == 0 and "trading is active (was halted)" in out
    state, status = asyncio.run(_engine_on(url))
    assert (state, status) == (TradingState.ACTIVE, OrderStatus.FILLED)


def test_halt_reducing_lets_only_reducing_intents_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    assert asyncio.run(_engine_on(url, "buy"))[1] is OrderStatus.FILLED  # long 1 ETH
    code, out, _ = _run(capsys, "halt", "--reducing", "--store", url)
    assert code == 0 and "reduce-only" in out
    assert asyncio.run(_engine_on(url, "buy")) == (TradingState.REDUCING, OrderStatus.REJECTED)
    assert asyncio.run(_engine_on(url, "sell")) == (TradingState.REDUCING, OrderStatus.FILLED)


def test_halt_twice_records_one_event_and_dry_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desk.db"
    url = f"sqlite:///{path}"
    code, out, _ = _run(capsys, "halt", "--store", url, "--dry-run", "--json")
    assert code == 0 and json.loads(out)["dry_run"] is True and not path.exists()
    assert _run(capsys, "halt", "--store", url)[0] == 0
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    code, out, _ = _run(capsys, "halt", "--store", url, "--json")
    assert code == 0 and json.loads(out)["previous"] == "halted"
    with open_store(url) as store:
        assert [r.event_type for r in store.read_all()] == ["TradingStateChanged"]
    assert _run(capsys, "resume-trading", "--store", url, "--dry-run")[0] == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def _live_config(tmp_path: Path) -> Path:
    config = tmp_path / "live.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "live.db"}"\n\n'
        '[risk]\nmax_order_notional = "10000"\n\n'
        '[[chains]]\nname = "mainnet"\nchain_id = 1\nrpc_url = "http://127.0.0.1:9"\n\n'
        '[[accounts]]\nname = "desk"\nsigner = "env_key"\nprivate_key_env = "DESK_KEY"\n'
    )
    return config


def test_a_live_swap_without_yes_and_without_a_terminal_is_refused_before_anything_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    config = _live_config(tmp_path)
    args = ["swap", "--config", str(config), "--sell", "ETH", "--buy", "USDC", "--amount", "2"]
    code, out, err = _run(capsys, *args)
    assert code == 4
    assert err.splitlines()[-1].startswith("error: live target (chain mainnet (1))")
    assert "--yes" in err and "plan" in err  # the plan was shown (on stderr)
    assert not (tmp_path / "live.db").exists()
    code, out, err = _run(capsys, *args, "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["live"] == ["chain mainnet (1)"] and plan["amount"] == "2"
    assert not (tmp_path / "live.db").exists()


def test_a_live_order_asks_on_a_terminal_and_a_no_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    config = _live_config(tmp_path)
    args = ["order", "--config", str(config), "--side", "sell", "--symbol", "ETH/USDC"]
    code, _, err = _run(capsys, *args, "--quantity", "3", "--duration", "1h")
    assert code == 4 and "send this to chain mainnet (1)?" in err
    assert err.endswith("[y/N]: error: not confirmed; nothing was sent\n") or err.endswith(
        "[y/N]:error: not confirmed; nothing was sent\n"
    )
    assert not (tmp_path / "live.db").exists()


def test_log_file_gets_structured_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "oms.log"
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    assert (
        _run(capsys, "--log-file", str(log), "--log-level", "debug", "halt", "--store", url)[0] == 0
    )
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all(set(r) >= {"ts", "level", "logger", "msg"} for r in records)
    code, _, err = _run(capsys, "--log-file", str(log), "orders", "--store", "mysql://x")
    assert code == 2 and len(err.strip().splitlines()) == 1
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["logger"] == "oms_chain.cli" and "mysql" in last["msg"] and "exc" in last
