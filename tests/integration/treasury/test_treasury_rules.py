"""The treasury's rules on the devnet: approval thresholds by size, policy refusals at planning,
owners notified once, and a restart between any two steps never executing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from treasury_helpers import jump

from oms_chain.chain.rpc import RpcClient
from oms_chain.cli import main
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import sign_safe_transaction
from oms_chain.devnet.options_maker import OptionsMakerThread
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import EventStore, open_store
from oms_chain.treasury import (
    ApprovalMissing,
    PolicyViolation,
    RunState,
    TreasuryDesk,
    TreasuryPolicy,
)

T = TypeVar("T")


def _desk_run(
    l1: DevnetChain,
    policy: TreasuryPolicy,
    store: EventStore,
    step: Callable[[TreasuryDesk], Awaitable[T]],
) -> T:
    async def go() -> T:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            try:
                return await step(desk)
            finally:
                await desk.close()

    return asyncio.run(go())


def _sign_all(
    l1: DevnetChain, policy: TreasuryPolicy, store: EventStore, keys: tuple[str, ...]
) -> None:
    async def step(desk: TreasuryDesk) -> None:
        st = desk.state("jump")
        for p in st.proposals:
            tx = p.safe_tx(policy, desk.multisend)
            for key in keys:
                sig = await sign_safe_transaction(LocalSigner(key), tx)
                await desk.add_signature("jump", p.proposal_id, f"{sig.owner}:0x{sig.data.hex()}")

    _desk_run(l1, policy, store, step)


def _types(store: EventStore, run: str = "jump") -> list[str]:
    return [e.event_type for e in store.read_stream(f"treasury-{run}")]


def _relayer_nonce(l1: DevnetChain) -> int:
    return int(l1.w3.eth.get_transaction_count(l1.accounts[9].address))


def test_a_proposal_above_the_approval_threshold_needs_the_third_signature(
    l1: DevnetChain, treasury: DevTreasury, maker: OptionsMakerThread, tmp_path: Path
) -> None:
    text = policy_toml(
        l1, treasury, makers=[maker.url], allowed=["collar"], approvals=[(0, 2), (50_000, 3)]
    )
    policy = TreasuryPolicy.from_toml(text)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    jump(l1, 3450)
    st = _desk_run(l1, policy, store, lambda d: d.plan("jump"))
    (p,) = st.proposals
    assert p.notional_usd > 50_000 and p.signatures == 3 and p.rule.startswith("approvals[1]")
    _desk_run(l1, policy, store, lambda d: d.propose("jump"))
    _sign_all(l1, policy, store, treasury.owner_keys[:2])  # the Safe's own threshold: 2
    relayer = LocalSigner(l1.accounts[9].private_key)
    before = _relayer_nonce(l1)
    with pytest.raises(ApprovalMissing, match=r"needs 3 owner signatures by approvals\[1\]"):
        _desk_run(l1, policy, store, lambda d: d.execute("jump", relayer))
    assert _relayer_nonce(l1) == before and "ProposalSent" not in _types(store)
    _sign_all(l1, policy, store, treasury.owner_keys[2:])
    done = _desk_run(l1, policy, store, lambda d: d.execute("jump", relayer))
    assert done.stage == "remeasured" and len(done.signatures[p.proposal_id]) == 3


@pytest.mark.parametrize(
    ("allowed", "budget", "ask", "rule"),
    [
        (["puts"], 20_000, ["collar"], "instruments.allowed"),
        (["puts", "put_spread"], 0, None, "limits.premium_budget_usd"),
    ],
)
def test_a_policy_violation_is_refused_at_planning_naming_the_rule(
    l1: DevnetChain,
    treasury: DevTreasury,
    maker: OptionsMakerThread,
    tmp_path: Path,
    allowed: list[str],
    budget: int,
    ask: list[str] | None,
    rule: str,
) -> None:
    text = policy_toml(l1, treasury, makers=[maker.url], allowed=allowed, premium_budget_usd=budget)
    policy = TreasuryPolicy.from_toml(text)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    jump(l1, 3450)
    with pytest.raises(PolicyViolation) as err:
        _desk_run(l1, policy, store, lambda d: d.plan("jump", instruments=ask))
    assert rule in err.value.rules and rule in str(err.value)
    assert _types(store) == []  # nothing recorded
    path = tmp_path / "policy.toml"
    path.write_text(text)
    url = f"sqlite:///{tmp_path / 't.db'}"
    args = ["treasury", "plan", str(path), "--run", "jump", "--store", url, "--rpc-url", l1.rpc_url]
    args += ["--json", *[a for n in ask or [] for a in ("--instrument", n)]]
    assert main(args) == 4  # refused
    assert _types(store) == []


def test_owners_are_notified_once_through_the_webhook(
    l1: DevnetChain, treasury: DevTreasury, maker: OptionsMakerThread, tmp_path: Path
) -> None:
    posts: list[dict[str, Any]] = []

    async def scenario() -> None:
        async def hook(request: web.Request) -> web.Response:
            posts.append(await request.json())
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        text = policy_toml(
            l1, treasury, makers=[maker.url], webhook_url=f"http://127.0.0.1:{port}/hook"
        )
        policy = TreasuryPolicy.from_toml(text)
        store = open_store(f"sqlite:///{tmp_path / 't.db'}")
        try:
            async with RpcClient([l1.rpc_url]) as rpc:
                desk = TreasuryDesk(policy, store, rpc)
                await desk.plan("jump")
                await desk.propose("jump", tmp_path)
                await desk.propose("jump", tmp_path)  # again: recorded and notified already
                await desk.close()
        finally:
            await runner.cleanup()
        assert _types(store).count("OwnersNotified") == 1
        assert _types(store).count("ProposalCreated") == 1

    jump(l1, 3450)
    asyncio.run(scenario())
    (body,) = posts
    assert body["safe"] == treasury.safe and body["proposals"][0]["signatures_needed"] == 2
    assert body["proposals"][0]["safe_tx_hash"].startswith("0x")
    assert (tmp_path / f"{body['proposals'][0]['proposal_id']}.json").is_file()


class _Crash(BaseException):
    """The process dies here (not an Exception: nothing catches it)."""


@pytest.mark.parametrize(
    ("dies_at", "after_recording", "broadcast"),
    [
        ("ProposalSent", True, False),  # signed and journaled, never broadcast
        ("ProposalExecuted", False, True),  # mined, the receipt not recorded yet
        ("TreasuryRemeasured", False, True),  # executed, not re-measured yet
    ],
)
def test_a_crash_in_execute_resumes_without_a_second_transaction(
    l1: DevnetChain,
    treasury: DevTreasury,
    maker: OptionsMakerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dies_at: str,
    after_recording: bool,
    broadcast: bool,
) -> None:
    policy = TreasuryPolicy.from_toml(policy_toml(l1, treasury, makers=[maker.url]))
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    jump(l1, 3450)
    for _ in range(2):  # each step twice: the second finds it done and records nothing
        _desk_run(l1, policy, store, lambda d: d.plan("jump"))
        _desk_run(l1, policy, store, lambda d: d.propose("jump"))
        _sign_all(l1, policy, store, treasury.owner_keys[:2])
    assert _types(store).count("TreasuryPlanned") == 1
    assert _types(store).count("SignatureCollected") == 2
    relayer = LocalSigner(l1.accounts[9].private_key)
    original = TreasuryDesk._append

    def dies(self: TreasuryDesk, run: str, eid: str, kind: str, *a: Any) -> None:
        if kind == dies_at and not after_recording:
            raise _Crash
        original(self, run, eid, kind, *a)
        if kind == dies_at:
            raise _Crash

    monkeypatch.setattr(TreasuryDesk, "_append", dies)
    nonce_before = _relayer_nonce(l1)
    with pytest.raises(_Crash):
        _desk_run(l1, policy, store, lambda d: d.execute("jump", relayer))
    assert _relayer_nonce(l1) == nonce_before + (1 if broadcast else 0)
    monkeypatch.setattr(TreasuryDesk, "_append", original)
    done = _desk_run(l1, policy, store, lambda d: d.execute("jump", relayer))
    sent = done.sent["jump-p0"]["tx_hash"]
    assert done.executed["jump-p0"]["tx_hash"] == sent  # the journaled transaction
    assert done.stage == "remeasured" and _relayer_nonce(l1) == nonce_before + 1
    again = _desk_run(l1, policy, store, lambda d: d.execute("jump", relayer))
    assert again.stage == "remeasured" and _relayer_nonce(l1) == nonce_before + 1
    assert _types(store).count("ProposalExecuted") == 1
    assert _types(store).count("TreasuryRemeasured") == 1


def test_a_proposal_executed_by_someone_else_is_recorded_not_sent(
    l1: DevnetChain, treasury: DevTreasury, maker: OptionsMakerThread, tmp_path: Path
) -> None:
    policy = TreasuryPolicy.from_toml(policy_toml(l1, treasury, makers=[maker.url]))
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    jump(l1, 3450)
    _desk_run(l1, policy, store, lambda d: d.plan("jump"))
    _desk_run(l1, policy, store, lambda d: d.propose("jump"))
    _sign_all(l1, policy, store, treasury.owner_keys[:2])

    async def outside(desk: TreasuryDesk) -> str:  # e.g. an owner pressed Execute in the app
        from oms_chain.chain.registry import chain_info
        from oms_chain.chain.sender import TxSender
        from oms_chain.custody.safe import OwnerSignature

        st = desk.state("jump")
        (p,) = st.proposals
        sigs = [
            OwnerSignature.eoa(o, bytes.fromhex(s[2:]))
            for o, s in st.signatures[p.proposal_id].items()
        ]
        other = LocalSigner(l1.accounts[8].private_key)
        sent = await desk._safe().execute(
            p.safe_tx(policy, desk.multisend), sigs, TxSender(desk.rpc, chain_info(31337), other)
        )
        return sent.tx_hash

    tx_hash = _desk_run(l1, policy, store, outside)
    assert l1.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    nonce_before = _relayer_nonce(l1)
    done = _desk_run(
        l1, policy, store, lambda d: d.execute("jump", LocalSigner(l1.accounts[9].private_key))
    )
    assert done.stage == "remeasured" and _relayer_nonce(l1) == nonce_before
    assert done.executed["jump-p0"]["success"] is True
    low, high = policy.exposure.low(), policy.exposure.high()
    assert low <= Decimal(done.after["delta_share"]) <= high  # type: ignore[index]


def test_a_contract_owner_signs_through_eip_1271_and_a_bad_one_is_refused(
    l1: DevnetChain, maker: OptionsMakerThread, tmp_path: Path
) -> None:
    from oms_chain.custody.safe import SafeAccount, SafeAddresses, SignatureRejected
    from oms_chain.devnet.options_market import set_feed_price
    from oms_chain.devnet.treasury import create_treasury

    set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal(3000), sender=l1.accounts[0].address
    )
    council_key = l1.accounts[7].private_key
    council = create_treasury(l1, [council_key], 1, eth=0, usdc=0, salt=1271)  # a 1-of-1 Safe
    keys = tuple(a.private_key for a in l1.accounts[5:7])
    treasury = create_treasury(l1, keys, 2, eth=100, usdc=450_000, contract_owners=[council.safe])
    policy = TreasuryPolicy.from_toml(policy_toml(l1, treasury, makers=[maker.url]))
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    jump(l1, 3450)

    async def scenario() -> RunState:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            st = await desk.plan("jump")
            await desk.propose("jump")
            (p,) = st.proposals
            tx = p.safe_tx(policy, desk.multisend)
            ms = l1.book.address("MultiSendCallOnly")
            addresses = SafeAddresses(
                singleton=ms, proxy_factory=ms, fallback_handler=ms, multisend_call_only=ms
            )
            inner = SafeAccount(rpc, council.safe, 31337, addresses)
            good = await LocalSigner(council_key).sign_hash(inner.message_hash(tx.hash_preimage))
            bad = await LocalSigner(council_key).sign_hash(inner.message_hash(b"other"))
            with pytest.raises(SignatureRejected, match="EIP-1271"):
                await desk.add_signature("jump", p.proposal_id, f"{council.safe}:0x{bad.hex()}")
            await desk.add_signature("jump", p.proposal_id, f"{council.safe}:0x{good.hex()}")
            eoa = await sign_safe_transaction(LocalSigner(keys[0]), tx)
            await desk.add_signature("jump", p.proposal_id, f"{eoa.owner}:0x{eoa.data.hex()}")
            done = await desk.execute("jump", LocalSigner(l1.accounts[9].private_key))
            await desk.close()
            return done

    done = asyncio.run(scenario())
    assert done.stage == "remeasured"
    assert set(done.signature_kinds["jump-p0"].values()) == {"eoa", "contract"}
