"""``oms submit`` queues an intent (idempotently, refusing another under a known id), ``oms
workers`` lists leases and the queue's depth; bad input is refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oms_chain.cli import main
from oms_chain.model import Asset, Intent, SpotPair
from oms_chain.store import Leases, SqliteEventStore, open_store

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)
S = 1_000_000_000


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _intent_file(tmp_path: Path, quantity: str = "1") -> Path:
    intent = Intent.create(
        intent_id="q1",
        account="acct",
        instrument=PAIR,
        side="buy",
        quantity=quantity,
        venues=["paper"],
        now_ns=1_700_000_000 * S,
        max_slippage_bps=50,
    )
    path = tmp_path / f"intent-{quantity}.json"
    path.write_text(json.dumps(intent.to_payload()))
    return path


def test_submit_queues_once_and_workers_lists_the_lease(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/oms.db"
    path = _intent_file(tmp_path)
    code, out, _ = _run(capsys, "submit", "--intent", str(path), "--store", url, "--json")
    assert code == 0 and json.loads(out) == {"intent_id": "q1", "queued": True, "open_intents": 1}
    code, out, _ = _run(capsys, "submit", "--intent", str(path), "--store", url)
    assert code == 0 and "already queued" in out
    code, _, err = _run(
        capsys, "submit", "--intent", str(_intent_file(tmp_path, "2")), "--store", url
    )
    assert code == 2 and "another payload" in err

    with open_store(url) as store:
        assert isinstance(store, SqliteEventStore)
        (claimed,) = Leases(store).claim("w-a", ttl_ns=60 * S)
        assert claimed.intent_id == "q1"
    code, out, _ = _run(capsys, "workers", "--store", url, "--json")
    listed = json.loads(out)
    assert code == 0 and listed["open_intents"] == 1 and listed["live_workers"] == ["w-a"]
    (lease,) = listed["leases"]
    assert lease["resource"] == "parent:q1" and lease["epoch"] == 1 and lease["live"]
    code, out, _ = _run(capsys, "workers", "--store", url)
    assert code == 0 and "parent:q1" in out and "w-a" in out


def test_submit_refuses_a_bad_intent_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/oms.db"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"intent_id": "x"}))
    code, _, err = _run(capsys, "submit", "--intent", str(bad), "--store", url)
    assert code == 2 and "intent" in err
    bad.write_text("{not json")
    code, _, err = _run(capsys, "submit", "--intent", str(bad), "--store", url)
    assert code == 2 and "not JSON" in err
    code, _, err = _run(capsys, "submit", "--intent", str(tmp_path / "none.json"), "--store", url)
    assert code == 2 and "cannot read" in err
    assert not (tmp_path / "oms.db").exists()
    code, _, err = _run(capsys, "worker", "--store", url, "--ttl", "0")
    assert code == 2 and "--ttl" in err


def test_submit_with_needs_is_claimed_only_by_a_worker_holding_the_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/oms.db"
    path = _intent_file(tmp_path)
    address = "0x" + "Ab" * 20
    for bad in ("account:1:0x12", "account:x:" + address, "Bad Resource"):
        code, _, err = _run(capsys, "submit", "--intent", str(path), "--store", url, "--needs", bad)
        assert code == 2 and "--needs" in err, err
    assert not (tmp_path / "oms.db").exists()  # refused before the store was opened
    code, _, _ = _run(
        capsys, "submit", "--intent", str(path), "--store", url, "--needs", f"account:1:{address}"
    )
    assert code == 0
    with open_store(url) as store:
        assert isinstance(store, SqliteEventStore)
        leases = Leases(store)
        assert leases.claim("w-a", ttl_ns=60 * S, holding=[]) == []
        (claimed,) = leases.claim("w-b", ttl_ns=60 * S, holding=[f"account:1:{address.lower()}"])
        assert claimed.intent_id == "q1"
