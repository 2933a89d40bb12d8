"""Owner signature sets checked offline: every bad set refused, every good one sorted and packed."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import (
    Call,
    OwnerSignature,
    SafeTransaction,
    SignatureRejected,
    check_signatures,
    pack_signatures,
    parse_signatures,
    sign_safe_transaction,
)
from oms_chain.model import InvalidInput

KEYS = ["0x" + f"{i:02x}" * 32 for i in range(1, 6)]
SIGNERS = [LocalSigner(k) for k in KEYS]
OWNERS = [s.address for s in SIGNERS[:3]]  # the last two are strangers
SAFE = "0x" + "44" * 20
TX = SafeTransaction(safe=SAFE, chain_id=1, to="0x" + "12" * 20, value=5, nonce=9)
OTHER_TX = SafeTransaction(safe=SAFE, chain_id=1, to="0x" + "12" * 20, value=6, nonce=9)
GOOD = [asyncio.run(sign_safe_transaction(s, TX)) for s in SIGNERS]
WRONG = [asyncio.run(sign_safe_transaction(s, OTHER_TX)) for s in SIGNERS]


@settings(max_examples=300)
@given(
    picks=st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=5),
    threshold=st.integers(1, 3),
)
def test_a_signature_set_passes_exactly_when_safe_would_accept_it(
    picks: list[tuple[int, bool]], threshold: int
) -> None:
    sigs = [GOOD[i] if right else WRONG[i] for i, right in picks]
    owners_signed = [SIGNERS[i].address for i, _ in picks]
    ok = (
        all(right for _, right in picks)
        and all(o in OWNERS for o in owners_signed)
        and len(set(owners_signed)) == len(owners_signed)
        and len(owners_signed) >= threshold
    )
    if not ok:
        with pytest.raises(SignatureRejected):
            check_signatures(sigs, TX, owners=OWNERS, threshold=threshold)
        return
    checked = check_signatures(sigs, TX, owners=OWNERS, threshold=threshold)
    assert [int(s.owner, 16) for s in checked] == sorted(int(o, 16) for o in owners_signed)
    packed = pack_signatures(checked, TX)
    assert len(packed) == 65 * len(checked)
    again = parse_signatures(packed, TX)
    assert again == checked
    check_signatures(again, TX, owners=OWNERS, threshold=threshold, ordered=True)


def test_eth_sign_approved_hash_and_contract_signatures_pack_in_owner_order() -> None:
    a, b, c = sorted(SIGNERS[:3], key=lambda s: int(s.address, 16))
    eth = Account.sign_message(encode_defunct(primitive=TX.safe_tx_hash), KEYS[SIGNERS.index(a)])
    sigs = [
        OwnerSignature.contract(c.address, b"\x07" * 70),
        OwnerSignature.approved_hash(b.address),
        OwnerSignature.eth_sign(a.address, bytes(eth.signature)),
    ]
    checked = check_signatures(
        sigs, TX, owners=OWNERS, threshold=3, executor=b.address, valid_contract_signers=[c.address]
    )
    packed = pack_signatures(checked, TX)
    assert packed[64] == bytes(eth.signature)[64] + 4  # eth_sign slot: v + 4
    assert packed[65 + 64] == 1 and packed[130 + 64] == 0  # approved hash, then contract
    assert int.from_bytes(packed[130 + 32 : 130 + 64], "big") == 195  # data offset after 3 slots
    assert parse_signatures(packed, TX) == checked


@pytest.mark.parametrize(
    "bad",
    [
        lambda: OwnerSignature.eoa("0x" + "12" * 20, b"\x00" * 64),
        lambda: OwnerSignature.eoa("0x" + "12" * 20, b"\x00" * 64 + b"\x05"),
        lambda: OwnerSignature.eth_sign("nope", b"\x00" * 65),
        lambda: SafeTransaction(safe=SAFE, chain_id=0, to=SAFE, nonce=0),
        lambda: SafeTransaction(safe=SAFE, chain_id=1, to=SAFE, nonce=-1),
        lambda: SafeTransaction(safe=SAFE, chain_id=1, to=SAFE, nonce=0, operation=2),
        lambda: SafeTransaction(safe=SAFE, chain_id=1, to=SAFE, nonce=0, data="zz"),
        lambda: Call("0x12", b""),
        lambda: parse_signatures(b"\x01" * 10, TX),
    ],
)
def test_malformed_values_are_refused_when_built(bad: object) -> None:
    with pytest.raises(InvalidInput):
        bad()  # type: ignore[operator]
