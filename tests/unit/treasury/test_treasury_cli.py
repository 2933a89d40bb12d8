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


def test_approve_with_an_owner_that_is_no_address_is_refused_and_records_nothing(
    tmp_path: Path,
) -> None:
    """Refused before any node is asked (the RPC URL listens nowhere)."""
    import asyncio

    from oms_chain.chain.rpc import RpcClient
    from oms_chain.model.errors import InvalidInput
    from oms_chain.store import NewEvent, open_store
    from oms_chain.treasury import TreasuryDesk, TreasuryPolicy

    proposal = {
        "proposal_id": "w1-p0", "index": 0, "nonce": 0, "kind": "put", "calls": [],
        "notional_usd": "1000", "premium_usd": "10", "signatures": 2, "rule": "default",
        "description": "test", "not_before": 0, "expires": None,
    }  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    planned = {"plan": {"chosen": None}, "proposals": [proposal], "spent_usd": "0"}
    store.append("treasury-w1", [NewEvent("w1:planned", "TreasuryPlanned", 1, planned, 1, 1)], None)
    # MultiSendCallOnly named in the policy: no devnet address book needed (a fresh clone has none)
    multisend = 'multisend = "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D"\n'
    policy = TreasuryPolicy.from_toml(GOOD.replace("[safe]\n", "[safe]\n" + multisend, 1))

    async def approve() -> None:
        async with RpcClient(["http://127.0.0.1:1"]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            with pytest.raises(InvalidInput, match="owner address"):
                await desk.add_signature("w1", "w1-p0", "alice:0x1234")

    asyncio.run(approve())
    assert [e.event_type for e in store.read_stream("treasury-w1")] == ["TreasuryPlanned"]
