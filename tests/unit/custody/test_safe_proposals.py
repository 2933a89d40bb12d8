"""Safe proposals as events: proposed, signed and executed fold into one proposal per SafeTx
hash, survive a reopen of the store, and two writers cannot interleave one Safe's stream; the
EOA executor of the account seam sends exactly one call."""

from __future__ import annotations

import pytest
from eth_account import Account

from oms_chain.chain.executor import CallExecutor, EoaExecutor
from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.calls import Call
from oms_chain.custody.local import LocalSigner
from oms_chain.custody.safe import OwnerSignature, SafeTransaction
from oms_chain.custody.safe.proposals import ProposalLog, proposal_stream, read_proposals
from oms_chain.model.errors import InvalidInput
from oms_chain.store import open_store
from oms_chain.store.errors import ConcurrencyConflict

SAFE = "0x1111111111111111111111111111111111111111"
TOKEN = "0x2222222222222222222222222222222222222222"
KEYS = ["0x" + f"{i:064x}" for i in (11, 12)]


def _tx(nonce: int = 0) -> SafeTransaction:
    return SafeTransaction(safe=SAFE, chain_id=31337, to=TOKEN, data=b"\x01\x02", nonce=nonce)


def _sigs(tx: SafeTransaction) -> list[OwnerSignature]:
    out = []
    for key in KEYS:
        signed = Account.unsafe_sign_hash(tx.safe_tx_hash, key)
        out.append(OwnerSignature.eoa(Account.from_key(key).address, bytes(signed.signature)))
    return out


def test_proposed_signed_executed_fold_into_one_proposal_that_survives_a_reopen(
    tmp_path: object,
) -> None:
    url = f"sqlite:///{tmp_path}/oms.db"
    store = open_store(url)
    clock = iter(range(1, 100))
    log = ProposalLog(store, 31337, SAFE, lambda: next(clock))
    tx = _tx()
    log.proposed(tx, proposer="0xrelayer", what="swap", calls=[f"{TOKEN}:0:0x0102"])
    log.signed(tx, _sigs(tx))
    log.executed(tx, relayer="0xrelayer", tx_hash="0x" + "ab" * 32)
    (p,) = log.proposals()
    assert p.nonce == 0 and p.safe_tx_hash == "0x" + tx.safe_tx_hash.hex()
    assert list(p.signers) == [Account.from_key(k).address for k in KEYS]
    assert p.execution is not None and p.execution.tx_hash == "0x" + "ab" * 32
    row = p.to_row()
    assert (row["what"], row["calls"], row["sent_ns"]) == ("swap", [f"{TOKEN}:0:0x0102"], 3)
    store.close()

    again = open_store(url)
    assert read_proposals(again) == read_proposals(again, safe=SAFE.upper().replace("X", "x"))
    assert [q.to_row() for q in ProposalLog(again, 31337, SAFE, int).proposals()] == [row]
    assert read_proposals(again, safe=TOKEN) == []
    records = again.read_stream(proposal_stream(31337, SAFE))
    assert [r.event_id for r in records] == [
        f"{proposal_stream(31337, SAFE)}#{i}" for i in (1, 2, 3, 4)
    ]
    assert not any(KEYS[0][2:] in str(r.payload) for r in records)
    again.close()


def test_two_writers_cannot_interleave_one_safes_stream_and_the_loser_catches_up(
    tmp_path: object,
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/oms.db")
    first = ProposalLog(store, 31337, SAFE, int)
    second = ProposalLog(store, 31337, SAFE, int)
    first.proposed(_tx(0), proposer="a", what="one", calls=[])
    with pytest.raises(ConcurrencyConflict):
        second.proposed(_tx(1), proposer="b", what="two", calls=[])
    # the loser re-read the stream: it sees the winner's proposal and its retry is appended
    assert [p.proposed.what for p in second.proposals()] == ["one"]
    second.proposed(_tx(1), proposer="b", what="two", calls=[])
    assert [p.nonce for p in read_proposals(store, safe=SAFE)] == [0, 1]
    with pytest.raises(InvalidInput, match="not for this log's Safe"):
        first.proposed(
            SafeTransaction(safe=TOKEN, chain_id=31337, to=TOKEN, nonce=0),
            proposer="a",
            what="x",
            calls=[],
        )
    store.close()


async def test_an_eoa_executor_sends_exactly_one_call() -> None:
    rpc = RpcClient(["http://127.0.0.1:9"])
    signer = LocalSigner(KEYS[0])
    eoa = EoaExecutor(rpc, TxSender(rpc, chain_info(31337), signer))
    assert isinstance(eoa, CallExecutor)
    assert (eoa.address, eoa.batches, eoa.nonce_of("0xab", 7)) == (signer.address, False, 7)
    call = Call.to_address(TOKEN.lower(), b"\x00")
    for calls in ([], [call, call]):
        with pytest.raises(InvalidInput, match="exactly one Call"):
            await eoa.execute_calls(calls, what="x")
    with pytest.raises(InvalidInput, match="call target"):
        Call.to_address("0x12")
    await rpc.close()


def test_read_proposals_filters_by_chain_and_safe_and_reads_only_the_proposal_streams(
    tmp_path: object,
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/oms.db")
    for chain_id in (1, 10, 31337):  # 1 is a prefix of 10 as text: the filter is on '1/'
        for safe in (SAFE, TOKEN):
            tx = SafeTransaction(safe=safe, chain_id=chain_id, to=TOKEN, nonce=chain_id)
            ProposalLog(store, chain_id, safe, int).proposed(
                tx, proposer="a", what=f"{chain_id}", calls=[]
            )

    def seen(**kw: object) -> list[tuple[str, str]]:
        return [(p.proposed.what, p.proposed.safe.lower()) for p in read_proposals(store, **kw)]

    assert len(seen()) == 6
    assert seen(chain_id=1) == [("1", SAFE), ("1", TOKEN)]
    assert seen(chain_id=10, safe=TOKEN) == [("10", TOKEN)]
    assert seen(safe=SAFE) == [("1", SAFE), ("10", SAFE), ("31337", SAFE)]
    assert seen(chain_id=5) == []
    for bad in (0, -1, True, "1"):
        with pytest.raises(InvalidInput, match="chain_id"):
            read_proposals(store, chain_id=bad)  # type: ignore[arg-type]
    store.close()
