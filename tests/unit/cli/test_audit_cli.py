"""``oms audit verify`` / ``oms audit export`` on a real SQLite store file."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from oms_chain.store import NewEvent, open_store


def _oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "oms.db"
    with open_store(f"sqlite:///{path}") as store:
        for i in range(5):
            store.append(
                f"order-{i % 2}",
                [
                    NewEvent(
                        event_id=f"e{i}",
                        event_type="OrderAccepted",
                        version=1,
                        payload={"qty": str(i)},
                        ts_event=i,
                        ts_init=i,
                    )
                ],
                expected_version=None,
            )
    return path


def test_verify_passes_on_an_untouched_store(store_file: Path) -> None:
    proc = _oms("audit", "verify", "--store", f"sqlite:///{store_file}")
    assert proc.returncode == 0, proc.stderr
    assert "OK: 5 events" in proc.stdout


def test_verify_names_the_first_tampered_row(store_file: Path) -> None:
    with sqlite3.connect(store_file) as db:
        db.execute("UPDATE events SET payload = ? WHERE position = 3", ('{"qty":"999"}',))
    proc = _oms("audit", "verify", "--store", f"sqlite:///{store_file}")
    assert proc.returncode == 3
    assert "BROKEN at position 3" in proc.stderr and "Traceback" not in proc.stderr


def test_export_writes_jsonl_and_csv(store_file: Path, tmp_path: Path) -> None:
    jsonl, csv_path = tmp_path / "a.jsonl", tmp_path / "a.csv"
    assert (
        _oms(
            "audit", "export", "--store", f"sqlite:///{store_file}", "--out", str(jsonl)
        ).returncode
        == 0
    )
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["position"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    proc = _oms(
        "audit",
        "export",
        "--store",
        f"sqlite:///{store_file}",
        "--out",
        str(csv_path),
        "--format",
        "csv",
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list(csv.DictReader(csv_path.open()))) == 5


def test_bad_store_url_and_format_are_one_line_errors(tmp_path: Path, store_file: Path) -> None:
    missing = _oms("audit", "verify", "--store", f"sqlite:///{tmp_path / 'nope.db'}")
    assert missing.returncode == 2 and "no event store" in missing.stderr
    bad = _oms("audit", "verify", "--store", "mysql://x")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and bad.stderr.startswith("error:")
    fmt = _oms(
        "audit",
        "export",
        "--store",
        f"sqlite:///{store_file}",
        "--out",
        str(tmp_path / "x"),
        "--format",
        "xml",
    )
    assert fmt.returncode == 2 and "--format" in fmt.stderr


def test_verify_json_reports_the_checked_chain(store_file: Path) -> None:
    proc = _oms("audit", "verify", "--json", "--store", f"sqlite:///{store_file}")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["ok"], doc["checked"], doc["head_position"], doc["problems"]) == (True, 5, 5, [])
    assert len(doc["head_hash"]) == 64 or doc["head_hash"].startswith("0x")


def test_verify_json_on_a_tampered_store_is_an_error_object_with_exit_3(store_file: Path) -> None:
    with sqlite3.connect(store_file) as db:
        db.execute("UPDATE events SET payload = ? WHERE position = 3", ('{"qty":"999"}',))
    before = store_file.read_bytes()
    proc = _oms("audit", "verify", "--store", f"sqlite:///{store_file}", "--json")
    assert proc.returncode == 3 and proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["code"] == 3 and doc["kind"] == "AuditBroken"
    assert "BROKEN at position 3" in doc["error"] and "BROKEN at position 3" in doc["problems"][0]
    assert store_file.read_bytes() == before


def test_export_json_names_the_file_and_the_count(store_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.csv"
    proc = _oms(
        "audit", "export", "--json", "--store", f"sqlite:///{store_file}", "--out", str(out),
        "--format", "csv",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["events"], doc["out"], doc["format"]) == (5, str(out), "csv")
    assert len(out.read_text().splitlines()) == 6  # header + 5 events
