"""A Safe v1.4.1 as the account a venue trades from (a ``CallExecutor``).

The venue's calls (wrap, approve, swap, option fill) become **one** Safe transaction
(MultiSendCallOnly when several), signed by enough owners (local, remote or policy signers)
and executed by a relayer EOA that pays the gas through its own
:class:`~oms_chain.chain.sender.TxSender` (nonce manager, simulation, settlement tracker). What
the engine tracks is the relayer's transaction, like any other; the assets and the fills are the
Safe's.

Safe nonces are handed out like account nonces: the next one is the Safe's on-chain nonce, or
one past the highest nonce whose execution is still alive (pending: tracked and not dropped or
replaced, or known to the node; an execution mined while the Safe's nonce stayed put reverted
and frees its nonce); one Safe transaction in flight per nonce, under a lock. Every step is an
event (:mod:`oms_chain.custody.safe.proposals`): proposed, signed (per owner), executed (the
relayer's signed transaction, recorded before the broadcast and before the venue's own journal).
After a crash:

- killed after the owners signed, before the relayer signed: nothing was sent; the proposal
  stays on record and its nonce is reused by the next transaction (the Safe runs one
  transaction per nonce, so the abandoned one can never run as well);
- killed after the venue journaled the relayer's bytes, before the broadcast: the venue's
  account re-tracks them and the tracker broadcasts those same bytes once; the executor sees
  the execution alive and does not reuse its nonce.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.sender import OnSigned, SentTransaction, TxSender
from oms_chain.chain.types import MalformedReceipt
from oms_chain.custody.base import Signer
from oms_chain.custody.calls import Call
from oms_chain.custody.safe import (
    OwnerSignature,
    SafeAccount,
    SafeTransaction,
    SignatureRejected,
    check_signatures,
    sign_safe_transaction,
)
from oms_chain.custody.safe.proposals import Proposal, ProposalLog
from oms_chain.model.errors import FinalError, InvalidInput
from oms_chain.model.ids import TxHash
from oms_chain.model.orders import SettlementStatus
from oms_chain.store.base import EventStore

__all__ = ["SafeExecutor", "SignatureCollector", "SignaturesExpired", "execution_alive"]


class SignaturesExpired(FinalError):
    """A proposal waiting for owner signatures ended unexecuted (deadline passed, or its
    nonce was used by another transaction); nothing was sent and its nonce is free."""


_DEAD = (SettlementStatus.DROPPED, SettlementStatus.REPLACED)
_MINED = (SettlementStatus.INCLUDED, SettlementStatus.CONFIRMED, SettlementStatus.FINAL)


def _describe(call: Call) -> str:
    return f"{call.to}:{call.value}:0x{call.data[:4].hex()}"


def _check_deadline(deadline_ns: int, now: int) -> None:
    if isinstance(deadline_ns, bool) or not isinstance(deadline_ns, int) or deadline_ns <= now:
        raise InvalidInput(f"deadline_ns must be a unix time in ns after {now}")


Alive = Callable[[str], Awaitable[bool]]


async def execution_alive(tx_hash: str, rpc: RpcClient | None, tracker: Any = None) -> bool:
    """Does execution ``tx_hash`` of a Safe nonce the Safe has not passed yet still hold it?

    Pending (or reorged, to be rebroadcast): yes. Dropped or replaced: no. Mined: the
    Safe's nonce would have moved past it had ``execTransaction`` succeeded, so it reverted
    (e.g. a swap's own guard, GS013) and gives its nonce back; only a successful receipt
    the nonce read has not caught up with yet keeps it taken. A receipt the node no longer
    has while the tracker saw one is a reorg: the bytes will be mined again, taken.
    ``tracker``: the relayer's settlement tracker, when this process has one."""
    asked = False  # the node answered (and, past the next line, has no receipt)
    if rpc is not None:
        try:
            receipt = await rpc.receipt(tx_hash)
        except (RpcUnavailable, MalformedReceipt):
            return True  # cannot tell: keep the nonce taken
        except RpcError:
            receipt = None
        else:
            asked = True
        if receipt is not None:
            return receipt.status == 1
    status = None
    if tracker is not None:
        try:
            status = tracker.state(TxHash(tx_hash)).status
        except InvalidInput:
            status = None
    if status is not None:
        if status in _DEAD:
            return False
        # mined by the tracker's last poll, the Safe's nonce not past it: reverted
        return asked or status not in _MINED
    if rpc is None:
        return False
    try:
        return await rpc.call("eth_getTransactionByHash", [tx_hash]) is not None
    except RpcError:
        return False
    except RpcUnavailable:
        return True  # cannot tell: keep the nonce taken


class SignatureCollector:
    """Owner signatures of a Safe's awaiting proposals, collected from elsewhere: checked
    against the Safe's owners on chain and recorded as events (``oms safe approve`` runs one
    on the owner's side, without the relayer's key). Proposals end at their deadline or when
    their nonce is used by another transaction."""

    def __init__(
        self, safe: SafeAccount, log: ProposalLog, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.safe = safe
        self.log = log
        self._clock_ns = clock_ns

    def proposal(self, safe_tx_hash: str) -> Proposal:
        """The latest proposal of ``safe_tx_hash`` (as last read).

        Raises :class:`InvalidInput` when this Safe has none."""
        wanted = safe_tx_hash.strip().lower()
        found = [p for p in self.log.proposals() if p.safe_tx_hash.lower() == wanted]
        if not found:
            raise InvalidInput(f"Safe {self.safe.address} has no proposal {safe_tx_hash!r}")
        return found[-1]

    async def awaiting(self, safe_tx_hash: str, *, resumable: bool = False) -> Proposal:
        """The proposal, still collecting; expires it (and raises) past its deadline or when
        its nonce was used by another transaction. ``resumable``: also return a proposal whose
        execution was signed while the Safe nonce is still unused (the executor decides
        whether that execution is alive)."""
        self.log.reload()
        p = self.proposal(safe_tx_hash)
        if (
            p.expired is not None
            or p.requested is None
            or (p.execution is not None and not resumable)
        ):
            raise InvalidInput(
                f"Safe proposal {p.safe_tx_hash} is {p.state}, not awaiting signatures"
            )
        if p.execution is not None:
            if p.nonce < await self.safe.nonce():
                raise InvalidInput(
                    f"Safe proposal {p.safe_tx_hash} is executed (tx {p.execution.tx_hash})"
                )
            return p
        reason = None
        if self._clock_ns() > p.requested.deadline_ns:
            reason = f"deadline {p.requested.deadline_ns} passed"
        elif p.nonce < await self.safe.nonce():
            reason = (
                f"Safe nonce {p.nonce} was used on chain (by another transaction, or by this "
                "one executed elsewhere)"
            )
        if reason is not None:
            self.log.expired(p.transaction(), reason=reason)
            raise SignaturesExpired(
                f"Safe proposal {p.safe_tx_hash} expired: {reason}; nothing was sent and "
                f"nonce {p.nonce} is free again"
            )
        return p

    async def submit(self, safe_tx_hash: str, signature: OwnerSignature) -> Proposal:
        """Record one owner's signature (EOA or ``eth_sign`` kind) of an awaiting proposal,
        after checking it recovers to an owner of the Safe; the same owner twice is recorded
        once (also after the proposal's execution was signed, so submitting again to resume it
        after a crash is harmless).

        Raises:
            InvalidInput: unknown proposal, or it is not awaiting signatures.
            SignaturesExpired: its deadline passed (recorded; nonce freed).
            SignatureRejected: the signature is not a current owner's over this SafeTx.
        """
        if not isinstance(signature, OwnerSignature):
            raise InvalidInput(f"signature must be an OwnerSignature, not {type(signature)}")
        p = await self.awaiting(safe_tx_hash, resumable=True)
        if p.execution is not None:
            # its execution was signed (a crash may have kept it from the node): a signature
            # already collected is no news; a new one changes nothing that can still run
            if signature.owner in {s.owner for s in p.submitted}:
                return p
            raise InvalidInput(
                f"Safe proposal {p.safe_tx_hash} is executed (tx {p.execution.tx_hash}), not "
                "awaiting signatures"
            )
        owners = await self.safe.owners()
        check_signatures([signature], p.transaction(), owners=owners, threshold=1)
        if signature.owner not in {s.owner for s in p.submitted}:
            self.log.submitted(p.transaction(), signature)
        return self.proposal(safe_tx_hash)

    async def expire_due(self) -> list[Proposal]:
        """End every awaiting proposal past its deadline (or whose nonce another transaction
        used), freeing its nonce; returns them."""
        out = []
        self.log.reload()
        for p in self.log.proposals():
            if not p.awaiting:
                continue
            try:
                await self.awaiting(p.safe_tx_hash)
            except SignaturesExpired:
                out.append(self.proposal(p.safe_tx_hash))
        return out

    async def _taken(self, alive: Alive) -> tuple[int, set[int]]:
        """The Safe's on-chain nonce and the nonces from it that a live proposal takes: one
        awaiting signatures before its deadline, or one whose execution is still ``alive``."""
        current = await self.safe.nonce()
        now = self._clock_ns()
        taken: set[int] = set()
        for p in self.log.proposals():
            if p.nonce < current:
                continue
            if p.awaiting:
                assert p.requested is not None
                if now <= p.requested.deadline_ns:
                    taken.add(p.nonce)
            elif p.execution is not None and await alive(p.execution.tx_hash):
                taken.add(p.nonce)
        return current, taken

    async def next_nonce(self, alive: Alive) -> int:
        """The lowest Safe nonce from the on-chain one that no live proposal takes (as last
        read; :meth:`ProposalLog.reload` first)."""
        current, taken = await self._taken(alive)
        nxt = current
        while nxt in taken:
            nxt += 1
        return nxt

    async def propose(
        self,
        tx: SafeTransaction,
        *,
        proposer: str,
        what: str,
        calls: Sequence[str],
        deadline_ns: int,
        alive: Alive,
    ) -> Proposal:
        """Record ``tx`` as a proposal awaiting the Safe's threshold of owner signatures until
        ``deadline_ns`` (unix ns). Reads the log again first.

        Raises:
            InvalidInput: a deadline not in the future, ``tx`` for another Safe, or its nonce
                already used on chain or taken by a live proposal (nothing recorded).
        """
        _check_deadline(deadline_ns, self._clock_ns())
        if tx.safe.lower() != str(self.safe.address).lower() or tx.chain_id != self.safe.chain_id:
            raise InvalidInput(
                f"the Safe tx is for Safe {tx.safe} on chain {tx.chain_id}, not "
                f"{self.safe.address} on chain {self.safe.chain_id}"
            )
        self.log.reload()
        current, taken = await self._taken(alive)
        if tx.nonce < current:
            raise InvalidInput(f"nonce {tx.nonce} was used: the Safe's nonce is {current}")
        if tx.nonce in taken:
            raise InvalidInput(
                f"nonce {tx.nonce} is taken by a live proposal of Safe {tx.safe}; wait for "
                "it to execute or expire, or take another nonce"
            )
        threshold = await self.safe.threshold()
        self.log.proposed(tx, proposer=proposer, what=what, calls=calls)
        self.log.requested(tx, threshold=threshold, deadline_ns=deadline_ns)
        return self.proposal("0x" + tx.safe_tx_hash.hex())


class SafeExecutor:
    """Runs a venue's calls as Safe transactions of ``safe`` (see the module docstring).

    ``owners``: signers of Safe owners; the first ``threshold`` of them that own the Safe sign
    each transaction. ``relayer``: the sender of the EOA that executes and pays gas. Proposal
    events go to ``store``. Build one per Safe and hand it to the venues' account
    (``ChainAccount(..., executor=lambda sender: SafeExecutor(safe, owners, sender, store))``).

    ``owners`` may be empty when the owners sign on their own machines: then every
    transaction goes through :meth:`propose` → owners' signatures (:meth:`submit_signature`,
    ``oms safe approve``) → :meth:`execute_ready`, and :meth:`execute_calls` refuses (fewer
    signers than the threshold) — unless ``await_signatures_ns`` is given: then
    :meth:`execute_calls` proposes the calls (deadline: now + ``await_signatures_ns``) and
    waits, the venue's order in flight, "awaiting signatures", checking every ``poll_s``
    seconds (``sleep``) until the owners' signatures are in (``oms safe approve``), then
    executes it; called again with the same calls (a restarted venue), it resumes the awaiting
    proposal instead of proposing them again.

    Raises :class:`InvalidInput` for a Safe on another chain than the relayer.
    """

    def __init__(
        self,
        safe: SafeAccount,
        owners: Sequence[Signer],
        relayer: TxSender,
        store: EventStore,
        *,
        rpc: RpcClient | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        await_signatures_ns: int | None = None,
        poll_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if await_signatures_ns is not None and (
            isinstance(await_signatures_ns, bool)
            or not isinstance(await_signatures_ns, int)
            or await_signatures_ns <= 0
        ):
            raise InvalidInput(
                f"await_signatures_ns must be a positive int (ns), got {await_signatures_ns!r}"
            )
        if not (isinstance(poll_s, int | float) and poll_s > 0):
            raise InvalidInput(f"poll_s must be > 0 seconds, got {poll_s!r}")
        if safe.chain_id != relayer.chain.chain_id:
            raise InvalidInput(
                f"Safe {safe.address} is on chain {safe.chain_id}, the relayer on chain "
                f"{relayer.chain.chain_id}"
            )
        self.safe = safe
        self._owners = list(owners)
        self._relayer = relayer
        self._rpc = rpc
        self._clock_ns = clock_ns
        self._await_ns = await_signatures_ns
        self._poll_s = float(poll_s)
        self._sleep = sleep
        self.log = ProposalLog(store, safe.chain_id, safe.address, clock_ns)
        self.collector = SignatureCollector(safe, self.log, clock_ns)
        self._lock = asyncio.Lock()
        self._nonce_of: dict[str, int] = {
            p.execution.tx_hash.lower(): p.nonce for p in self.log.proposals() if p.execution
        }

    # -- CallExecutor ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The Safe's address: it holds the assets and makes the calls."""
        return str(self.safe.address)

    @property
    def sender(self) -> TxSender:
        """The relayer's sender (it signs and pays for ``execTransaction``)."""
        return self._relayer

    @property
    def batches(self) -> bool:
        """A Safe runs several calls atomically through MultiSendCallOnly: ``True``."""
        return True

    @property
    def send_wait_s(self) -> float:
        """How much longer a venue's send may take because it waits for owners' signatures
        collected elsewhere (``await_signatures_ns``; 0 without)."""
        return 0.0 if self._await_ns is None else self._await_ns / 1e9

    async def account_nonce(self) -> int:
        """The Safe's nonce at the latest block."""
        return await self.safe.nonce()

    def nonce_of(self, tx_hash: str, tx_nonce: int) -> int:
        """The Safe nonce the execution ``tx_hash`` carries (``tx_nonce`` when not ours)."""
        return self._nonce_of.get(tx_hash.lower(), tx_nonce)

    async def reconcile(self) -> None:
        """Read the Safe's nonce and check that the next one can be given out (raises
        :class:`~oms_chain.chain.rpc.RpcUnavailable` when the node cannot say)."""
        async with self._lock:
            self.log.reload()
            await self._next_nonce()

    async def execute_calls(
        self,
        calls: Sequence[Call],
        *,
        what: str,
        on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        """One Safe transaction running ``calls``: propose, sign (threshold owners), check,
        have the relayer simulate, sign and broadcast ``execTransaction``.

        ``on_signed`` runs after the relayer signed, before the broadcast.

        Raises:
            InvalidInput: no calls, or an item is not a :class:`Call`.
            SignatureRejected: fewer owner signers than the threshold (and no
                ``await_signatures_ns``), or a signature the Safe would refuse; nothing was
                sent.
            SignaturesExpired: with ``await_signatures_ns``, the owners' signatures did not
                come in time (recorded; nothing sent).
            TransactionWouldRevert, BroadcastRejected, BroadcastUncertain: as
                :meth:`TxSender.send` (the relayer's outcome).
        """
        if not calls or not all(isinstance(c, Call) for c in calls):
            raise InvalidInput("calls must be a non-empty sequence of Call")
        async with self._lock:
            self.log.reload()  # proposals and signatures other processes recorded
            owners = await self.safe.owners()
            threshold = await self.safe.threshold()
            signers = [s for s in self._owners if s.address in owners][:threshold]
            waiting = None
            if len(signers) < threshold and self._await_ns is not None:
                waiting = await self._awaiting_same(calls) or await self._propose_locked(
                    calls, what, self._clock_ns() + self._await_ns
                )
            elif len(signers) < threshold:
                raise SignatureRejected(
                    f"Safe {self.address} needs {threshold} owner signatures; only "
                    f"{len(signers)} of the configured signers own it; nothing was sent"
                )
            if waiting is None:
                nonce = await self._next_nonce()
                tx = await self.safe.transaction(calls, nonce=nonce)
                relayer = str(self._relayer.signer.address)
                self.log.proposed(
                    tx, proposer=relayer, what=what, calls=[_describe(c) for c in calls]
                )
                signatures = [await sign_safe_transaction(s, tx) for s in signers]
                checked = check_signatures(
                    signatures,
                    tx,
                    owners=owners,
                    threshold=threshold,
                    executor=relayer,
                    # contract owners (a threshold group's account, a nested Safe): the Safe
                    # asks them through EIP-1271 at execution; ask them the same first
                    valid_contract_signers=await self.safe.accepted_contract_signers(
                        tx, signatures, owners
                    ),
                )
                self.log.signed(tx, checked)
                return await self._send(tx, checked, what, on_signed, gas_margin)
        return await self._wait_and_execute(waiting.safe_tx_hash, on_signed, gas_margin)

    async def _wait_and_execute(
        self, safe_tx_hash: str, on_signed: OnSigned | None, gas_margin: int
    ) -> SentTransaction:
        """Until the owners' signatures are in: then execute (:meth:`execute_ready`). Ends with
        :class:`SignaturesExpired` at the deadline (nothing sent)."""
        while True:
            sent = await self.execute_ready(
                safe_tx_hash, on_signed=on_signed, gas_margin=gas_margin
            )
            if sent is not None:
                return sent
            await self._sleep(self._poll_s)

    async def _awaiting_same(self, calls: Sequence[Call]) -> Proposal | None:
        """A live proposal awaiting signatures that runs exactly ``calls`` (a venue's call
        again after a restart), or ``None``."""
        now = self._clock_ns()
        current = await self.safe.nonce()
        for p in reversed(self.log.proposals()):
            if not p.awaiting or p.nonce < current:
                continue
            assert p.requested is not None
            if now > p.requested.deadline_ns:
                continue
            tx = await self.safe.transaction(calls, nonce=p.nonce)
            if "0x" + tx.safe_tx_hash.hex() == p.safe_tx_hash.lower():
                return p
        return None

    async def _send(
        self,
        tx: SafeTransaction,
        checked: Sequence[OwnerSignature],
        what: str,
        on_signed: OnSigned | None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        relayer = str(self._relayer.signer.address)

        async def journal(sent: SentTransaction) -> None:
            self.log.executed(tx, relayer=relayer, tx_hash=sent.tx_hash)
            self._nonce_of[sent.tx_hash.lower()] = tx.nonce
            if on_signed is not None:
                await on_signed(sent)

        return await self._relayer.send(
            to=self.address,
            data=self.safe.exec_data(tx, checked),
            what=f"{what} (Safe {self.address} nonce {tx.nonce})",
            on_signed=journal,
            gas_margin=gas_margin,
        )

    # -- signatures collected elsewhere ------------------------------------------------------------

    async def propose(self, calls: Sequence[Call], *, what: str, deadline_ns: int) -> Proposal:
        """Propose ``calls`` as one Safe transaction whose owner signatures are collected
        elsewhere (``oms safe sign`` on the owners' machines, then :meth:`submit_signature` /
        ``oms safe approve``); the session's own owner signers, if any, sign at once. The
        proposal takes its Safe nonce until it is executed (:meth:`execute_ready`) or ends at
        ``deadline_ns`` (unix ns; :meth:`expire_due`).

        Raises:
            InvalidInput: no calls, an item is not a :class:`Call`, or a deadline not in the
                future.
        """
        if not calls or not all(isinstance(c, Call) for c in calls):
            raise InvalidInput("calls must be a non-empty sequence of Call")
        _check_deadline(deadline_ns, self._clock_ns())
        async with self._lock:
            self.log.reload()
            return await self._propose_locked(calls, what, deadline_ns)

    async def _propose_locked(self, calls: Sequence[Call], what: str, deadline_ns: int) -> Proposal:
        owners = await self.safe.owners()
        threshold = await self.safe.threshold()
        nonce = await self._next_nonce()
        tx = await self.safe.transaction(calls, nonce=nonce)
        await self.collector.propose(
            tx,
            proposer=str(self._relayer.signer.address),
            what=what,
            calls=[_describe(c) for c in calls],
            deadline_ns=deadline_ns,
            alive=self._alive,
        )
        for signer in [s for s in self._owners if s.address in owners][:threshold]:
            self.log.submitted(tx, await sign_safe_transaction(signer, tx))
        return self.proposal("0x" + tx.safe_tx_hash.hex())

    def proposal(self, safe_tx_hash: str) -> Proposal:
        """The latest proposal of ``safe_tx_hash`` (as last read; :class:`InvalidInput` when
        this Safe has none)."""
        return self.collector.proposal(safe_tx_hash)

    async def submit_signature(self, safe_tx_hash: str, signature: OwnerSignature) -> Proposal:
        """:meth:`SignatureCollector.submit` on this Safe's proposals."""
        async with self._lock:
            return await self.collector.submit(safe_tx_hash, signature)

    async def execute_ready(
        self, safe_tx_hash: str, *, on_signed: OnSigned | None = None, gas_margin: int = 0
    ) -> SentTransaction | None:
        """Execute an awaiting proposal once the threshold of signatures is in; ``None`` while
        fewer are (nothing sent). Run it again after a restart: an executed proposal (mined,
        or its relayer transaction still alive) is refused, never sent twice; one whose
        relayer transaction was journaled but never reached the node is signed again (the
        Safe's nonce lets only one execution run).

        Raises:
            InvalidInput: unknown proposal, or executed / expired already.
            SignaturesExpired: the deadline passed or the nonce was used (recorded).
            SignatureRejected: a collected signature is no longer an owner's.
            TransactionWouldRevert, BroadcastRejected, BroadcastUncertain: as
                :meth:`TxSender.send`.
        """
        async with self._lock:
            p = await self.collector.awaiting(safe_tx_hash, resumable=True)
            if p.execution is not None and await self._alive(p.execution.tx_hash):
                raise InvalidInput(
                    f"Safe proposal {p.safe_tx_hash} is executed (tx {p.execution.tx_hash} "
                    "in flight)"
                )
            # an execution that was signed and never reached the node (a crash before the
            # broadcast) is signed again: the Safe runs its nonce once, whichever lands
            threshold = await self.safe.threshold()
            if len(p.submitted) < threshold:
                return None
            if p.nonce != await self.safe.nonce():
                return None  # an earlier Safe transaction runs first
            tx = p.transaction()
            relayer = str(self._relayer.signer.address)
            checked = check_signatures(
                p.signatures(),
                tx,
                owners=await self.safe.owners(),
                threshold=threshold,
                executor=relayer,
            )
            return await self._send(tx, checked, p.proposed.what, on_signed, gas_margin)

    async def expire_due(self) -> list[Proposal]:
        """:meth:`SignatureCollector.expire_due` on this Safe's proposals."""
        async with self._lock:
            return await self.collector.expire_due()

    # -- nonces ----------------------------------------------------------------------------------

    def proposals(self) -> list[Proposal]:
        """This Safe's proposals, oldest first."""
        return self.log.proposals()

    async def _alive(self, tx_hash: str) -> bool:
        """:func:`execution_alive` with this executor's node and relayer tracker."""
        return await execution_alive(tx_hash, self._rpc, self._relayer.tracker)

    async def _next_nonce(self) -> int:
        """:meth:`SignatureCollector.next_nonce` (what is alive asked of the node and the
        relayer's tracker)."""
        return await self.collector.next_nonce(self._alive)
