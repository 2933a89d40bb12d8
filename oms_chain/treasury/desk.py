"""The treasury desk: plan -> propose -> collect signatures -> execute -> re-measure, every step
an event in the event store (stream ``treasury-<run id>``), so any step can be resumed.

Events (payloads JSON, Decimals as strings; ids derive from the run, proposal and owner, so a
repeated step appends nothing):

* ``TreasuryPlanned``: the measurement, every candidate with its cost / residual risk / refusal,
  the choice and its explanation, and the proposals (Safe nonce, calls, signatures needed).
* ``ProposalCreated``: one per proposal, with its SafeTx hash; ``OwnersNotified`` once the
  webhook answered 2xx.
* ``SignatureCollected``: an owner's signature, checked against the SafeTx hash and the
  Safe's owners before it is recorded.
* ``ProposalSent``: the relayer's signed ``execTransaction`` (hash and raw bytes), recorded
  *before* broadcasting; ``ProposalExecuted``: its receipt once mined (gas, block, the Safe's
  ``ExecutionSuccess``, the stable-coin flows of the Safe).
* ``ProposalReverted``: the ``execTransaction`` was mined but reverted (the Safe nonce is
  unused, the owners' signatures stay valid): the proposal is ``reverted``; ``execute`` sends a
  new ``execTransaction`` for it (a new relayer nonce), or plan a new run to abandon it.
* ``TreasuryRemeasured``: the treasury after the last proposal settled.
* ``ProposalReorged``: an executed proposal's block left the chain (found when ``execute`` runs
  again); the proposal counts as sent again: the same signed bytes are followed (rebroadcast by
  the settlement tracker) to their new block, recorded again, and the treasury re-measured.

Never twice: a proposal already executed is skipped; a proposal whose ``execTransaction`` was
signed before a crash is rebroadcast from its recorded bytes (same hash) and followed; a
proposal whose Safe nonce was consumed by someone else is found by its ``ExecutionSuccess`` log
and recorded, not sent. The Safe contract itself refuses a SafeTx a second time (its nonce).

The run as its events tell it is :mod:`oms_chain.treasury.run`; following an execution to its
final block and recording it, :mod:`oms_chain.treasury.execution` (the desk's base class).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from eth_abi import encode as abi_encode
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.chain.addressbook import AddressBook, load_address_book
from oms_chain.chain.nonces import NonceManager, StoreNonceJournal
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import SentTransaction, TxSender
from oms_chain.custody.base import Signer
from oms_chain.custody.safe import (
    OwnerSignature,
    SafeAccount,
    SafeAddresses,
    SafeTransaction,
    SignatureKind,
    SignatureRejected,
    check_signatures,
    pack_signatures,
)
from oms_chain.model.errors import FinalError, InvalidInput, OmsError
from oms_chain.store import EventStore
from oms_chain.treasury.execution import (
    ExecutionReverted,
    _Execution,
    _JournaledRelayer,
    _treasury_chain,
)
from oms_chain.treasury.measure import Measurement, measure, read_balances
from oms_chain.treasury.options_book import ExpiredPosition, MarketBook, OptionBook
from oms_chain.treasury.plan import Plan, make_plan
from oms_chain.treasury.policy import TreasuryPolicy
from oms_chain.treasury.proposals import (
    Proposal,
    SpotRouter,
    build_proposals,
    expiry_proposal,
    spot_quoter,
)
from oms_chain.treasury.run import RunState, budget_spent, run_state

__all__ = [
    "ApprovalMissing",
    "ExecutionReverted",
    "RunState",
    "TreasuryDesk",
    "budget_spent",
    "run_state",
]

_NS = 1_000_000_000
_CHECK_N = keccak(text="checkNSignatures(bytes32,bytes,bytes,uint256)")[:4]
_LOG_CHUNK_BLOCKS = 2_000  # eth_getLogs range per request (providers cap the range)


class ApprovalMissing(FinalError, ValueError):
    """A proposal lacks the owner signatures its policy rule asks for; nothing was sent."""


class TreasuryDesk(_Execution):
    """One treasury (``policy``) on one node (``rpc``) with its event ``store``.

    ``clock_ns`` stamps ``ts_init``; event times (``ts_event``) are chain time, which is what
    quote deadlines, TWAP slots and the budget period count in. An execution counts once
    ``safe.confirmations`` blocks include it (polled every ``poll_s`` seconds). With
    ``safe.route``, spot sales are split across the pools of ``address_book`` (default: the
    chain's address book). A proposal whose Safe nonce was used elsewhere is looked for in the
    Safe's logs ``log_chunk_blocks`` blocks per request from its creation block.
    """

    def __init__(
        self,
        policy: TreasuryPolicy,
        store: EventStore,
        rpc: RpcClient,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        receipt_timeout_s: float = 60.0,
        poll_s: float = 1.0,
        address_book: AddressBook | None = None,
        log_chunk_blocks: int = _LOG_CHUNK_BLOCKS,
    ) -> None:
        chunk = log_chunk_blocks
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise InvalidInput(f"log_chunk_blocks must be an integer >= 1, got {chunk!r}")
        self.policy = policy
        self.store = store
        self.rpc = rpc
        self.clock_ns = clock_ns
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self.log_chunk_blocks = log_chunk_blocks
        self.multisend = policy.safe.multisend or load_address_book(policy.safe.chain_id).address(
            "MultiSendCallOnly"
        )
        self._book: OptionBook | None = None
        self._address_book = address_book

    # -- plumbing -------------------------------------------------------------------------------

    def _router(self) -> SpotRouter | None:
        if not self.policy.safe.route:
            return None
        book = self._address_book or load_address_book(self.policy.safe.chain_id)
        return SpotRouter(self.rpc, self.policy, book)

    async def book(self) -> OptionBook | None:
        """The options market view (opened once), or ``None`` when no options are allowed."""
        s = self.policy.safe
        if self._book is None and s.options_market and s.options_executor:
            self._book = await MarketBook.open(
                self.rpc, s.chain_id, s.options_market, s.options_executor, s.makers
            )
        return self._book

    async def close(self) -> None:
        """Close the options market view."""
        if isinstance(self._book, MarketBook):
            await self._book.close()
        self._book = None

    def _safe(self) -> SafeAccount:
        s = self.policy.safe.address
        addresses = SafeAddresses(
            singleton=s, proxy_factory=s, fallback_handler=s, multisend_call_only=self.multisend
        )
        return SafeAccount(self.rpc, s, self.policy.safe.chain_id, addresses)

    async def measure(self) -> Measurement:
        """The treasury now."""
        return await measure(self.rpc, self.policy, await self.book())

    # -- steps ----------------------------------------------------------------------------------

    async def plan(self, run_id: str, *, instruments: Sequence[str] | None = None) -> RunState:
        """Measure, plan and record the run (once: a recorded plan is returned as it is).

        Raises :class:`~oms_chain.treasury.plan.PolicyViolation` naming the rule; nothing is
        recorded then."""
        st = self.state(run_id)
        if st.plan is not None:
            return st
        before = await self.measure()
        spent = budget_spent(self.store, before.ts_ns, self.policy.limits.budget_period_days)
        router = self._router() if "twap_sale" in self.policy.instruments.allowed else None
        quote = (
            (router.quote if router is not None else spot_quoter(self.rpc, self.policy))
            if "twap_sale" in self.policy.instruments.allowed
            else None
        )
        plan = await make_plan(
            self.policy,
            before,
            book=await self.book(),
            spot_quote=quote,
            spent_usd=spent,
            instruments=instruments,
        )
        proposals = await self._proposals(run_id, plan, before)
        payload = {
            "plan": plan.to_json(),
            "proposals": [p.to_json() for p in proposals],
            "spent_usd": str(spent),
        }
        self._append(run_id, "planned", "TreasuryPlanned", payload, before.ts_ns)
        return self.state(run_id)

    async def plan_expiry(self, run_id: str) -> RunState:
        """Record a run that closes out the executor's expired options: one Safe transaction
        (settle each unsettled series from its feed's first round after expiry, then the
        executor redeems every long and withdraws every short); the payouts stay in the
        executor, which counts as the treasury. Nothing expired: the run records that, with no
        proposal. A recorded run is returned as it is.

        Raises :class:`InvalidInput` when the policy has no options market, and
        :class:`~oms_chain.model.errors.VenueRejected` when a feed has no round after expiry."""
        st = self.state(run_id)
        if st.plan is not None:
            return st
        book = await self.book()
        s = self.policy.safe
        if not isinstance(book, MarketBook) or s.options_market is None:
            raise InvalidInput(
                "the policy names no options market: set 'safe.options_market' and "
                "'safe.options_executor' to close out expired options"
            )
        before = await self.measure()
        expired: list[ExpiredPosition] = await book.expired()
        proposals = []
        if expired:
            nonce = await self._safe().nonce()
            proposals = [
                expiry_proposal(self.policy, expired, run_id=run_id, nonce=nonce,
                                now_s=before.ts_ns // _NS)
            ]  # fmt: skip
        what = proposals[0].description if proposals else "no expired option position"
        plan: dict[str, Any] = {
            "kind": "expiry",
            "before": before.to_json(),
            "target_delta": str(before.delta),
            "needed_delta": "0",
            "budget_left_usd": "0",
            "candidates": [],
            "chosen": None,
            "explanation": what,
        }
        payload = {"plan": plan, "proposals": [p.to_json() for p in proposals], "spent_usd": "0"}
        self._append(run_id, "planned", "TreasuryPlanned", payload, before.ts_ns)
        return self.state(run_id)

    async def _proposals(self, run_id: str, plan: Plan, before: Measurement) -> list[Proposal]:
        if plan.chosen is None:
            return []
        nonce = await self._safe().nonce()
        sale = plan.chosen.instrument == "twap_sale"
        quote = spot_quoter(self.rpc, self.policy) if sale else None
        router = self._router() if sale else None
        safe_only = dict(before.balances)
        if self.policy.safe.options_executor is not None:
            # the executor's own balances are not the Safe's to move
            safe_only = await read_balances(self.rpc, _only_safe(self.policy))
        return await build_proposals(
            self.policy,
            plan.chosen,
            run_id=run_id,
            first_nonce=nonce,
            now_s=before.ts_ns // _NS,
            balances=safe_only,
            spot_quote=quote,
            router=router,
        )

    async def propose(self, run_id: str, out_dir: Any = None) -> RunState:
        """Record every proposal (with its SafeTx hash), write the Transaction Builder batch
        files to ``out_dir`` (``<proposal id>.json``) and notify the owners' webhook."""
        import json
        from pathlib import Path

        st = self.state(run_id)
        if st.plan is None:
            raise InvalidInput(f"run {run_id!r} has no plan; run `oms treasury plan` first")
        ts = await self.chain_ns()
        block = await self.rpc.block_number()  # where a search for its execution starts
        for p in st.proposals:
            h = "0x" + p.safe_tx(self.policy, self.multisend).safe_tx_hash.hex()
            if p.proposal_id not in st.created:
                payload = {**p.to_json(), "safe_tx_hash": h, "block": block}
                self._append(run_id, f"{p.proposal_id}:created", "ProposalCreated", payload, ts)
            if out_dir is not None:
                path = Path(out_dir) / f"{p.proposal_id}.json"
                batch = p.batch(self.policy).to_json(self.clock_ns() // 1_000_000)
                path.write_text(json.dumps(batch, indent=2))
        st = self.state(run_id)
        if self.policy.webhook_url and st.proposals and not st.notified:
            await self._notify(st)
            self._append(run_id, "notified", "OwnersNotified", {"url": self.policy.webhook_url}, ts)
        return self.state(run_id)

    async def _notify(self, st: RunState) -> None:
        assert self.policy.webhook_url is not None
        body = {
            "treasury": self.policy.name,
            "safe": self.policy.safe.address,
            "run": st.run_id,
            "explanation": (st.plan or {}).get("explanation", ""),
            "proposals": [
                {
                    "proposal_id": p.proposal_id,
                    "nonce": p.nonce,
                    "safe_tx_hash": st.safe_tx_hashes.get(p.proposal_id),
                    "signatures_needed": p.signatures,
                    "description": p.description,
                }
                for p in st.proposals
            ],
        }
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    self.policy.webhook_url, json=body, timeout=aiohttp.ClientTimeout(total=10)
                ) as resp,
            ):
                if resp.status >= 300:
                    raise OmsError(f"webhook {self.policy.webhook_url} answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OmsError(
                f"webhook {self.policy.webhook_url} unreachable ({type(exc).__name__}); the "
                "proposals are recorded, run propose again to notify"
            ) from None

    async def add_signature(self, run_id: str, proposal_id: str, token: str) -> RunState:
        """Record ``OWNER:0xSIGNATURE`` for a proposal: an EOA owner's 65 bytes from
        ``oms safe sign`` (checked offline: it recovers to that owner for the proposal's SafeTx
        hash) or, when ``OWNER`` is a contract (e.g. a threshold group's account, token
        ``OWNER:contract:0xSIGNATURE`` from ``oms safe sign --threshold-group``), its EIP-1271
        signature (checked by the Safe itself: ``checkNSignatures`` with one signature). The
        owner must own the Safe.

        Raises :class:`InvalidInput` / :class:`~oms_chain.custody.safe.SignatureRejected`."""
        st = self.state(run_id)
        p = _proposal(st, proposal_id)
        owner, _, hex_sig = (part.strip() for part in token.partition(":"))
        declared_contract = hex_sig.startswith("contract:")  # `oms safe sign --threshold-group`
        if not is_address(owner):
            raise InvalidInput(f"signature {token[:20]!r}… does not start with an owner address")
        try:
            raw = bytes.fromhex(hex_sig.removeprefix("contract:").removeprefix("0x"))
        except ValueError:
            raise InvalidInput(
                f"signature {token[:20]!r}… is not OWNER:0xHEX (or OWNER:contract:0xHEX)"
            ) from None
        code = await self.rpc.call("eth_getCode", [owner, "latest"])
        contract = code not in (None, "0x", "0x0")
        if declared_contract and not contract:
            raise InvalidInput(f"signature owner {owner} is given as a contract but has no code")
        try:
            sig = (OwnerSignature.contract if contract else OwnerSignature.eoa)(owner, raw)
        except ValueError:
            raise InvalidInput(f"signature {token[:20]!r}… is not OWNER:0xHEX") from None
        tx = p.safe_tx(self.policy, self.multisend)
        owners = await self._safe().owners()
        if contract:
            if sig.owner not in owners:
                raise SignatureRejected(f"{sig.owner} is not an owner of Safe {tx.safe}")
            await self._safe_accepts(tx, sig)
        else:
            check_signatures([sig], tx, owners=owners, threshold=1)
        payload = {
            "proposal_id": p.proposal_id,
            "owner": sig.owner,
            "kind": sig.kind.value,
            "signature": "0x" + sig.data.hex(),
        }
        event_id = f"{p.proposal_id}:sig:{sig.owner}"
        if st.signatures.get(p.proposal_id, {}).get(sig.owner) is None:
            self._append(run_id, event_id, "SignatureCollected", payload, await self.chain_ns())
        return self.state(run_id)

    async def _safe_accepts(self, tx: SafeTransaction, sig: OwnerSignature) -> None:
        call = _CHECK_N + abi_encode(
            ["bytes32", "bytes", "bytes", "uint256"],
            [tx.safe_tx_hash, tx.hash_preimage, pack_signatures([sig], tx), 1],
        )
        try:
            await self.rpc.call("eth_call", [{"to": tx.safe, "data": "0x" + call.hex()}, "latest"])
        except OmsError as exc:
            raise SignatureRejected(
                f"the Safe does not accept the EIP-1271 signature of {sig.owner} for Safe tx "
                f"0x{tx.safe_tx_hash.hex()}: {exc}"
            ) from None

    async def execute(self, run_id: str, relayer: Signer) -> RunState:
        """Execute every proposal that may run now, in nonce order, then re-measure when all
        have. Stops (without error) at a TWAP slice whose time has not come.

        Raises:
            ApprovalMissing: a proposal has fewer signatures than its policy rule asks (or than
                the Safe's threshold); nothing of it was sent.
            FinalError: the proposal's quotes expired (plan a new run).
        """
        st = self.state(run_id)
        if st.plan is None or not st.created:
            raise InvalidInput(f"run {run_id!r} has no proposals; run plan and propose first")
        st = await self.check_executed(run_id)
        safe = self._safe()
        info = _treasury_chain(self.policy.safe.chain_id)
        for p in sorted(st.proposals, key=lambda x: x.nonce):
            if p.proposal_id in st.executed:
                continue
            tx = p.safe_tx(self.policy, self.multisend)
            sent = st.sent.get(p.proposal_id)
            if sent is not None:
                await self._resume_sent(run_id, p, sent)
                st = self.state(run_id)
                continue
            current = await safe.nonce()
            if current > p.nonce:
                await self._found_elsewhere(run_id, p, "0x" + tx.safe_tx_hash.hex())
                st = self.state(run_id)
                continue
            now_s = await self.chain_ns() // _NS
            if now_s < p.not_before:
                break
            if p.expires is not None and now_s >= p.expires:
                raise FinalError(
                    f"proposal {p.proposal_id}: its quotes expired at {p.expires} (chain time "
                    f"{now_s}); nothing was sent; plan a new run"
                )
            kinds = st.signature_kinds.get(p.proposal_id, {})
            sigs = [
                OwnerSignature(
                    to_checksum_address(o), SignatureKind(kinds.get(o, "eoa")), bytes.fromhex(s[2:])
                )
                for o, s in st.signatures.get(p.proposal_id, {}).items()
            ]
            threshold = await safe.threshold()
            need = max(p.signatures, threshold)
            if len(sigs) < need:
                rule = p.rule if p.signatures >= threshold else "the Safe's threshold"
                raise ApprovalMissing(
                    f"proposal {p.proposal_id} ({p.notional_usd:,.2f} USD) needs {need} owner "
                    f"signatures by {rule}, has {len(sigs)}; nothing was sent"
                )

            attempt = st.reverts_of(p.proposal_id)  # a reverted one is sent anew

            async def journal(
                s: SentTransaction,
                pid: str = p.proposal_id,
                ts_ns: int = now_s * _NS,
                n: int = attempt,
            ) -> None:
                payload = {
                    "proposal_id": pid,
                    "tx_hash": s.tx_hash,
                    "raw": "0x" + s.signed.raw.hex(),
                    "sender": s.signed.sender,
                    "nonce": s.signed.nonce,
                }
                event_id = f"{pid}:sent" + (f":{n}" if n else "")
                self._append(run_id, event_id, "ProposalSent", payload, ts_ns)

            # the relayer's nonces come from the journal the engine's accounts keep in the
            # same store, so an engine account with the same key never gets the same nonce
            nonces = NonceManager(
                self.rpc, info.chain_id, relayer.address, journal=StoreNonceJournal(self.store)
            )
            relay = _JournaledRelayer(TxSender(self.rpc, info, relayer, nonces=nonces), journal)
            out = await safe.execute(tx, sigs, relay, what=f"treasury {p.proposal_id}")
            await self._settle(run_id, p, out.tx_hash, out.signed)
            st = self.state(run_id)
        if st.proposals and len(st.executed) == len(st.proposals) and st.after is None:
            after = await self.measure()
            n = len(st.reorged)  # re-measured once more after every reorg
            self._append(
                run_id,
                "remeasured" + (f":{n}" if n else ""),
                "TreasuryRemeasured",
                {"after": after.to_json()},
                after.ts_ns,
            )
        return self.state(run_id)


def _proposal(st: RunState, proposal_id: str) -> Proposal:
    for p in st.proposals:
        if p.proposal_id == proposal_id:
            return p
    known = [p.proposal_id for p in st.proposals]
    raise InvalidInput(f"run {st.run_id!r} has no proposal {proposal_id!r} (has {known})")


def _only_safe(policy: TreasuryPolicy) -> TreasuryPolicy:
    from dataclasses import replace

    return replace(policy, safe=replace(policy.safe, options_executor=None))
