"""``oms treasury``: a bad policy, run id or store is one line and exit code 2; nothing is
written. (The happy path runs end to end in scripts/dao_treasury_hedge.py's test.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_policy import GOOD

from oms_chain.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    capsys.readouterr()
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_policy_with_a_bad_key_is_refused_before_any_node_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(GOOD.replace("band = 0.05", "band = 7"))
    store = f"sqlite:///{tmp_path / 't.db'}"
    code, doc = _run(["treasury", "plan", str(policy), "--run", "w1", "--store", store,
                      "--rpc-url", "http://127.0.0.1:1"], capsys)  # fmt: skip
    assert code == 2 and "exposure.band" in doc["error"]
    assert not (tmp_path / "t.db").exists()


def test_a_bad_run_id_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(GOOD)
    code, doc = _run(["treasury", "status", str(policy), "--run", "a b", "--store",
                      f"sqlite:///{tmp_path / 't.db'}"], capsys)  # fmt: skip
    assert code == 2 and "--run" in doc["error"]


def test_a_report_of_an_unknown_run_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oms_chain.store import NewEvent, open_store

    policy = tmp_path / "policy.toml"
    policy.write_text(GOOD)
    url = f"sqlite:///{tmp_path / 't.db'}"
    with open_store(url) as store:  # a store with something else in it
        store.append("other", [NewEvent("e1", "Other", 1, {}, 1, 1)], 0)
    code, doc = _run(["treasury", "report", str(policy), "--run", "w1", "--store", url,
                      "--out", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == 2 and "w1" in doc["error"] and not (tmp_path / "r").exists()


def test_expire_and_a_bad_route_flag_are_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(GOOD.replace("[safe]\n", '[safe]\nroute = "yes"\n', 1))
    store = f"sqlite:///{tmp_path / 't.db'}"
    code, doc = _run(["treasury", "expire", str(policy), "--run", "x1", "--store", store,
                      "--rpc-url", "http://127.0.0.1:1"], capsys)  # fmt: skip
    assert code == 2 and "safe.route" in doc["error"]
    assert not (tmp_path / "t.db").exists()
