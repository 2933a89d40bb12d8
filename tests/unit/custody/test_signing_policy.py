"""Signing policy: load-time validation, every request in or out of policy, volume windows,
Safe typed data, and no key material anywhere."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.custody import LocalSigner, PolicySigner, PolicyViolation, SigningPolicy
from oms_chain.custody.safe import Call, SafeTransaction
from oms_chain.model import ConfigError, ManualClock
from oms_chain.model.events import SigningRefused
from oms_chain.testing.signer import SignerConformance

KEY = "0x" + "4c" * 32
ME = Account.from_key(KEY).address
ROUTER = "0x" + "11" * 20
USDC = "0x" + "22" * 20
WETH = "0x" + "33" * 20
SAFE = "0x" + "44" * 20
MULTISEND = "0x" + "55" * 20
EVIL = "0x" + "66" * 20
SWAP_SIG = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
SWAP = keccak(text=SWAP_SIG)[:4]
APPROVE = keccak(text="approve(address,uint256)")[:4]
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
MAX_SWAP = 1_000_000
MAX_VALUE = 10**18

POLICY = f"""
[signers."{ME}"]
chains = [1, 10, 31337]
max_value = "{MAX_VALUE}"
transfers_to = ["self", "0x000000000000000000000000000000000000dEaD"]
typed_data_contracts = ["0x00000000000000000000000000000000000c0ffe"]

[[signers."{ME}".rules]]
name = "swap"
contract = "{ROUTER}"
function = "{SWAP_SIG}"
args."0.0" = {{ one_of = ["{USDC}", "{WETH}"] }}
args."0.1" = {{ one_of = ["{USDC}", "{WETH}"] }}
args."0.3" = {{ equals = "self" }}
args."0.5" = {{ max = "{MAX_SWAP}" }}

[[signers."{ME}".rules]]
name = "approve-router"
contract = "{USDC}"
function = "approve(address,uint256)"
args."0" = {{ one_of = ["{ROUTER}"] }}
args."1" = {{ max = "1000000000000" }}
"""


def _swap(token_in: str, token_out: str, recipient: str, amount: int) -> bytes:
    return SWAP + abi_encode(
        ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
        [(token_in, token_out, 500, recipient, 2**40, amount, 0, 0)],
    )


def _tx(chain: int, to: str, data: bytes, value: int = 0) -> dict[str, Any]:
    return {
        "type": 2, "chainId": chain, "nonce": 0, "to": to, "value": value, "data": data,
        "gas": 200_000, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9,
    }  # fmt: skip


def _signer(
    events: list[SigningRefused] | None = None,
    policy: str = POLICY,
    clock: ManualClock | None = None,
) -> PolicySigner:
    return PolicySigner(
        LocalSigner(KEY),
        SigningPolicy.from_toml(policy),
        clock=clock or ManualClock(),
        on_refused=None if events is None else events.append,
        multisend_call_only=MULTISEND,
    )


class TestPolicySignerConformance(SignerConformance):
    @pytest.fixture
    def signer(self) -> PolicySigner:
        return _signer()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("chains = [1, 10, 31337]", "chains = []"), "'chains' is required"),
        (
            ('name = "swap"', 'name = "swap"\nselectr = 1'),
            r"rule 1 \('swap'\): unknown key\(s\) selectr",
        ),
        (
            ('args."0.3" = { equals = "self" }', 'args."0.3" = { equals = "bob" }'),
            r"'swap'\) args\.0\.3",
        ),
        (
            ('args."1" = { max = "1000000000000" }', 'args."7" = { max = "1" }'),
            "has only 2 arguments",
        ),
        (
            ('args."1" = { max = "1000000000000" }', 'args."1" = { max = "-1" }'),
            r"'approve-router'\) args\.1 max",
        ),
        (
            (f'contract = "{ROUTER}"', 'contract = "router"'),
            r"'swap'\) contract must be an address",
        ),
        (
            ('function = "approve(address,uint256)"', 'function = "approve(addr)"'),
            "invalid argument types",
        ),
        (('name = "approve-router"', 'name = "swap"'), "rule names must be unique"),
        (("[signers.", "[signerz."), "unknown key"),
    ],
)
def test_a_bad_policy_file_is_refused_on_load_naming_the_rule_and_key(
    patch: tuple[str, str], message: str
) -> None:
    old, new = patch
    assert old in POLICY
    with pytest.raises(ConfigError, match=message):
        SigningPolicy.from_toml(POLICY.replace(old, new, 1))


_addr = st.sampled_from([USDC, WETH, ROUTER, ME, EVIL])


@st.composite
def requests(draw: Any) -> tuple[dict[str, Any], str | None]:
    """A transaction and the rule an independent reading of the policy says it breaks."""
    chain = draw(st.sampled_from([1, 10, 31337, 5, 137]))
    value = draw(st.sampled_from([0, 1, MAX_VALUE, MAX_VALUE + 1]))
    kind = draw(
        st.sampled_from(["transfer", "swap", "approve", "other-selector", "other-contract"])
    )
    if kind == "transfer":
        to = draw(st.sampled_from([ME, EVIL]))
        tx, broken = _tx(chain, to, b"", value), None if to == ME else "transfers_to"
    elif kind == "swap":
        tin, tout, rcpt = draw(_addr), draw(_addr), draw(_addr)
        amount = draw(st.integers(0, 2 * MAX_SWAP))
        tx = _tx(chain, ROUTER, _swap(tin, tout, rcpt, amount), value)
        ok = tin in (USDC, WETH) and tout in (USDC, WETH) and rcpt == ME and amount <= MAX_SWAP
        broken = None if ok else "swap"
    elif kind == "approve":
        spender, amount = draw(_addr), draw(st.integers(0, 2 * 10**12))
        data = APPROVE + abi_encode(["address", "uint256"], [spender, amount])
        tx = _tx(chain, USDC, data, value)
        broken = None if spender == ROUTER and amount <= 10**12 else "approve-router"
    elif kind == "other-selector":
        tx = _tx(chain, USDC, TRANSFER + abi_encode(["address", "uint256"], [ME, 1]), value)
        broken = "allowed_calls"
    else:
        tx = _tx(chain, EVIL, _swap(USDC, WETH, ME, 1), value)
        broken = "allowed_calls"
    if value > MAX_VALUE:
        broken = "max_value"
    if chain not in (1, 10, 31337):
        broken = "chains"
    return tx, broken


@settings(max_examples=300)
@given(requests())
def test_every_out_of_policy_request_is_refused_and_every_in_policy_one_is_signed(
    request: tuple[dict[str, Any], str | None],
) -> None:
    tx, broken = request
    events: list[SigningRefused] = []
    signer = _signer(events)
    if broken is None:
        signed = asyncio.run(signer.sign_transaction(tx))
        assert Account.recover_transaction(signed.raw) == ME and events == []
    else:
        with pytest.raises(PolicyViolation) as info:
            asyncio.run(signer.sign_transaction(tx))
        assert info.value.rule == broken
        assert [(e.rule, e.signer) for e in events] == [(broken, ME)]


def test_rolling_24h_volume_and_value_limits_follow_the_injected_clock() -> None:
    policy = POLICY.replace(
        'args."0.5" = {', 'volume_arg = "0.5"\nmax_volume_24h = "1500000"\nargs."0.5" = {'
    ).replace(f'max_value = "{MAX_VALUE}"', f'max_value = "{MAX_VALUE}"\nmax_value_24h = "3"')
    clock = ManualClock()
    signer = _signer(clock=clock, policy=policy)
    swap = _tx(1, ROUTER, _swap(USDC, WETH, ME, 800_000))
    asyncio.run(signer.sign_transaction(swap))
    with pytest.raises(PolicyViolation, match="24 h volume would be 1600000"):
        asyncio.run(signer.sign_transaction(swap))
    clock.advance(24 * 3600 * 10**9 - 1)
    with pytest.raises(PolicyViolation):
        asyncio.run(signer.sign_transaction(swap))
    clock.advance(1)
    asyncio.run(signer.sign_transaction(swap))
    asyncio.run(signer.sign_transaction(_tx(1, ME, b"", 2)))
    with pytest.raises(PolicyViolation, match="max_value_24h"):
        asyncio.run(signer.sign_transaction(_tx(1, ME, b"", 2)))
    with pytest.raises(ValueError):  # the inner signer refuses: nothing is counted
        asyncio.run(signer.sign_transaction({**_tx(1, ME, b"", 1), "nonce": "x"}))
    asyncio.run(signer.sign_transaction(_tx(1, ME, b"", 1)))  # 2 + 1 = the 24 h limit of 3


def test_safe_transactions_are_checked_through_their_typed_data_calls_and_batches() -> None:
    policy = POLICY.replace(f'[signers."{ME}"]\n', f'[signers."{ME}"]\naccount = "{SAFE}"\n')
    signer = _signer(policy=policy)
    good_swap = Call(ROUTER, _swap(USDC, WETH, SAFE, 10))
    approve = Call(USDC, APPROVE + abi_encode(["address", "uint256"], [ROUTER, 10]))
    for calls in ([good_swap], [approve, good_swap]):
        tx = SafeTransaction.batch(
            safe=SAFE, chain_id=1, nonce=3, calls=calls, multisend_call_only=MULTISEND
        )
        sig = asyncio.run(signer.sign_typed_data(tx.typed_data()))
        assert Account._recover_hash(tx.safe_tx_hash, signature=sig) == ME
    other_safe = SafeTransaction.batch(
        safe=EVIL, chain_id=1, nonce=3, calls=[good_swap], multisend_call_only=MULTISEND
    )
    with pytest.raises(PolicyViolation, match="rule 'safe'"):
        asyncio.run(signer.sign_typed_data(other_safe.typed_data()))
    bad = Call(ROUTER, _swap(USDC, WETH, EVIL, 10))  # recipient is not the Safe
    for calls, multisend in (
        ([bad], MULTISEND),
        ([approve, bad], MULTISEND),
        ([approve, good_swap], EVIL),
    ):
        tx = SafeTransaction.batch(
            safe=SAFE, chain_id=1, nonce=3, calls=calls, multisend_call_only=multisend
        )
        with pytest.raises(PolicyViolation, match=r"swap|delegatecall"):
            asyncio.run(signer.sign_typed_data(tx.typed_data()))


def test_no_key_material_in_logs_events_or_exception_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[SigningRefused] = []
    signer = _signer(events)
    texts = [repr(signer), repr(signer._inner)]
    bad_requests = [
        _tx(5, ME, b""),
        _tx(1, EVIL, b""),
        _tx(1, ROUTER, _swap(USDC, EVIL, ME, 1)),
        _tx(1, ROUTER, b"\x00\x01\x02\x03junk"),
        {"chainId": 1, "to": "nope"},
    ]
    for tx in bad_requests:
        with pytest.raises(Exception) as info:
            asyncio.run(signer.sign_transaction(tx))
        texts += [str(info.value), repr(info.value)]
    for digest in (b"\x00" * 32, b"short"):
        with pytest.raises(Exception) as info:
            asyncio.run(signer.sign_hash(digest))
        texts.append(str(info.value))
    typed = {"types": {}, "primaryType": "X", "domain": {"chainId": 1}, "message": {}}
    with pytest.raises(PolicyViolation) as info:
        asyncio.run(signer.sign_typed_data(typed))
    texts.append(str(info.value))
    texts += [str(e.to_payload()) for e in events] + [caplog.text]
    assert len(events) >= 5
    secret = KEY.removeprefix("0x").lower()
    for text in texts:
        assert secret not in text.lower()
        assert secret[:16] not in text.lower()


_REFUND = st.fixed_dictionaries(
    {
        "gas_price": st.one_of(st.just(0), st.integers(1, 2**256 - 1)),
        "base_gas": st.one_of(st.just(0), st.integers(1, 2**256 - 1)),
        "gas_token": st.one_of(st.just("0x" + "00" * 20), st.sampled_from([USDC, EVIL, ME])),
        "refund_receiver": st.one_of(st.just("0x" + "00" * 20), st.sampled_from([EVIL, ME])),
    }
)


@settings(max_examples=60, deadline=None)
@given(refund=_REFUND)
def test_a_safe_tx_that_pays_a_gas_refund_is_refused_by_default(refund: dict[str, Any]) -> None:
    # Safe v1.4.1 pays (gasUsed + baseGas) * gasPrice in gasToken to refundReceiver: an
    # allowed swap must not carry a refund that drains the Safe
    policy = POLICY.replace(f'[signers."{ME}"]\n', f'[signers."{ME}"]\naccount = "{SAFE}"\n')
    events: list[SigningRefused] = []
    signer = _signer(events, policy=policy)
    tx = SafeTransaction(
        safe=SAFE, chain_id=1, nonce=3, to=ROUTER, data=_swap(USDC, WETH, SAFE, 10), **refund
    )
    pays = (
        refund["gas_price"]
        or refund["base_gas"]
        or int(refund["gas_token"], 16)
        or int(refund["refund_receiver"], 16)
    )
    if pays:
        with pytest.raises(PolicyViolation, match=r"rule 'safe_refund'.*gas refund"):
            asyncio.run(signer.sign_typed_data(tx.typed_data()))
        assert [e.rule for e in events] == ["safe_refund"]
    else:
        sig = asyncio.run(signer.sign_typed_data(tx.typed_data()))
        assert Account._recover_hash(tx.safe_tx_hash, signature=sig) == ME
        assert events == []


def test_a_safe_tx_without_refund_fields_is_refused_as_malformed() -> None:
    from oms_chain.model.errors import InvalidInput

    policy = POLICY.replace(f'[signers."{ME}"]\n', f'[signers."{ME}"]\naccount = "{SAFE}"\n')
    typed = SafeTransaction(
        safe=SAFE, chain_id=1, nonce=3, to=ROUTER, data=_swap(USDC, WETH, SAFE, 10)
    ).typed_data()
    for key in ("gasPrice", "baseGas", "gasToken", "refundReceiver"):
        message = {k: v for k, v in typed["message"].items() if k != key}
        with pytest.raises(InvalidInput, match="malformed message"):
            asyncio.run(_signer(policy=policy).sign_typed_data({**typed, "message": message}))
    bad = {**typed, "message": {**typed["message"], "gasToken": "0xnothex"}}
    with pytest.raises(InvalidInput, match="malformed message"):
        asyncio.run(_signer(policy=policy).sign_typed_data(bad))


def test_a_rule_may_name_a_function_without_arguments() -> None:
    policy = SigningPolicy.from_toml(
        f'[signers."{ME}"]\nchains = [1]\nmax_value = "{MAX_VALUE}"\n'
        f'[[signers."{ME}".rules]]\nname = "wrap"\ncontract = "{WETH}"\nfunction = "deposit()"\n'
    )
    signer = PolicySigner(LocalSigner(KEY), policy, clock=ManualClock())
    deposit = keccak(text="deposit()")[:4]
    tx = {"chainId": 1, "to": WETH, "value": 10**17, "data": deposit, "nonce": 0, "gas": 60_000,
          "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**8}  # fmt: skip
    signer.check_transaction(tx)
    with pytest.raises(PolicyViolation, match="allowed_calls"):
        signer.check_transaction({**tx, "data": keccak(text="withdraw(uint256)")[:4]})
