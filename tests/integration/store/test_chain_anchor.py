"""Audit anchors on the devnet L1: the real ``AuditAnchor`` contract, sent through ``TxSender``
with a local signer, read back from ``eth_getLogs``, and ``oms audit`` against them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from store_conformance import ev

from oms_chain.chain.anchor import publish_anchor, read_chain_anchors
from oms_chain.chain.registry import chain_info
from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import Anchor, open_store, verify_audit
from oms_chain.store.events import canonical_record, chain_hash


def _oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "oms.db"
    with open_store(f"sqlite:///{path}") as store:
        for i in range(1, 6):
            store.append(f"s{i % 2}", [ev(i)], None)
    return path


def _head(path: Path) -> Anchor:
    with open_store(f"sqlite:///{path}", read_only=True) as store:
        report = verify_audit(store)
        return Anchor(report.head_position, report.head_hash, store.store_id(), "head")


def _rehash_all(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE events SET payload = ? WHERE position = 1", ('{"n":"forged"}',))
        prev = "0" * 64
        for row in db.execute(
            "SELECT position, stream_id, stream_version, event_id, event_type, version, payload, "
            "ts_event, ts_init, causation_id, correlation_id FROM events ORDER BY position"
        ).fetchall():
            record = canonical_record(
                position=row[0], stream_id=row[1], stream_version=row[2], event_id=row[3],
                event_type=row[4], version=row[5], payload_json=row[6], ts_event=row[7],
                ts_init=row[8], causation_id=row[9], correlation_id=row[10],
            )  # fmt: skip
            digest = chain_hash(prev, record)
            db.execute(
                "UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?",
                (prev, digest, row[0]),
            )
            prev = digest
        db.execute("UPDATE chain_head SET hash = ? WHERE id = 1", (prev,))


async def test_published_anchor_is_read_back_from_the_contract_logs(
    l1: DevnetChain, store_file: Path
) -> None:
    head = _head(store_file)
    contract = l1.book.address("AuditAnchor")
    signer = LocalSigner(l1.accounts[3].private_key)
    async with RpcClient([l1.rpc_url]) as rpc:
        sender = TxSender(rpc, chain_info(l1.chain_id), signer)
        done = await publish_anchor(sender, rpc, contract, head)
        found = await read_chain_anchors(rpc, contract, head.store_id or "")
        by_other = await read_chain_anchors(
            rpc, contract, head.store_id or "", writer=l1.accounts[4].address
        )
        # The same writer cannot anchor an older position over it: refused before signing.
        older = Anchor(3, head.hash, head.store_id, "older")
        with pytest.raises(TransactionWouldRevert, match="PositionRewound"):
            await publish_anchor(sender, rpc, contract, older)
        after = await read_chain_anchors(rpc, contract, head.store_id or "")
    assert (done.chain_id, done.contract, done.writer) == (l1.chain_id, contract, signer.address)
    assert [(a.position, a.hash, a.store_id) for a in found] == [(5, head.hash, head.store_id)]
    assert done.tx_hash in found[0].source and signer.address in found[0].source
    assert by_other == []
    assert len(after) == 1


def test_oms_audit_anchor_on_chain_then_verify_catches_a_full_rehash(
    l1: DevnetChain, store_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{store_file}"
    contract = l1.book.address("AuditAnchor")
    made = _oms(
        "audit", "anchor", "--store", url, "--rpc-url", l1.rpc_url, "--contract", contract,
        "--file", str(tmp_path / "a.jsonl"), "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    row = json.loads(made.stdout)
    assert row["position"] == 5 and row["chain_id"] == l1.chain_id and row["block"] > 0
    (line,) = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert (line["hash"], line["published"]["tx_hash"]) == (row["hash"], row["tx_hash"])
    chain_args = ("--anchor-chain", l1.rpc_url, "--anchor-contract", contract)
    ok = _oms("audit", "verify", "--store", url, *chain_args)
    assert ok.returncode == 0 and "matches 1 anchor(s)" in ok.stdout, ok.stderr
    _rehash_all(store_file)
    assert _oms("audit", "verify", "--store", url).returncode == 0  # the chain alone is fooled
    caught = _oms("audit", "verify", "--store", url, *chain_args)
    assert caught.returncode == 3
    assert "BROKEN at position 5" in caught.stderr and row["tx_hash"] in caught.stderr


def test_verify_against_a_chain_without_anchors_of_the_store_fails(
    l1: DevnetChain, store_file: Path
) -> None:
    contract = l1.book.address("AuditAnchor")
    proc = _oms(
        "audit", "verify", "--store", f"sqlite:///{store_file}",
        "--anchor-chain", l1.rpc_url, "--anchor-contract", contract,
    )  # fmt: skip
    assert proc.returncode == 3 and "no anchor of store" in proc.stderr, proc.stderr
