"""A Safe v1.4.1 as the account a venue trades from (a ``CallExecutor``).

The venue's calls (wrap, approve, swap, option fill) become **one** Safe transaction
(MultiSendCallOnly when several), signed by enough owners (local, remote or policy signers)
and executed by a relayer EOA that pays the gas through its own
:class:`~oms_chain.chain.sender.TxSender` (nonce manager, simulation, settlement tracker). What
the engine tracks is the relayer's transaction, like any other; the assets and the fills are the
Safe's.

Safe nonces are handed out like account nonces: the next one is the Safe's on-chain nonce, or
one past the highest nonce whose execution is still alive (tracked and not dropped or replaced,
or known to the node); one Safe transaction in flight per nonce, under a lock. Every step is an
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
from collections.abc import Callable, Sequence

from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.sender import OnSigned, SentTransaction, TxSender
from oms_chain.custody.base import Signer
from oms_chain.custody.calls import Call
from oms_chain.custody.safe import (
    SafeAccount,
    SignatureRejected,
    check_signatures,
    sign_safe_transaction,
)
from oms_chain.custody.safe.proposals import Proposal, ProposalLog
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import TxHash
from oms_chain.model.orders import SettlementStatus
from oms_chain.store.base import EventStore

__all__ = ["SafeExecutor"]

_DEAD = (SettlementStatus.DROPPED, SettlementStatus.REPLACED)


def _describe(call: Call) -> str:
    return f"{call.to}:{call.value}:0x{call.data[:4].hex()}"


class SafeExecutor:
    """Runs a venue's calls as Safe transactions of ``safe`` (see the module docstring).

    ``owners``: signers of Safe owners; the first ``threshold`` of them that own the Safe sign
    each transaction. ``relayer``: the sender of the EOA that executes and pays gas. Proposal
    events go to ``store``. Build one per Safe and hand it to the venues' account
    (``ChainAccount(..., executor=lambda sender: SafeExecutor(safe, owners, sender, store))``).

    Raises :class:`InvalidInput` for no owners or a Safe on another chain than the relayer.
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
    ) -> None:
        if not owners:
            raise InvalidInput("owners must name at least one signer of a Safe owner")
        if safe.chain_id != relayer.chain.chain_id:
            raise InvalidInput(
                f"Safe {safe.address} is on chain {safe.chain_id}, the relayer on chain "
                f"{relayer.chain.chain_id}"
            )
        self.safe = safe
        self._owners = list(owners)
        self._relayer = relayer
        self._rpc = rpc
        self.log = ProposalLog(store, safe.chain_id, safe.address, clock_ns)
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
            SignatureRejected: fewer owner signers than the threshold, or a signature the
                Safe would refuse; nothing was sent.
            TransactionWouldRevert, BroadcastRejected, BroadcastUncertain: as
                :meth:`TxSender.send` (the relayer's outcome).
        """
        if not calls or not all(isinstance(c, Call) for c in calls):
            raise InvalidInput("calls must be a non-empty sequence of Call")
        async with self._lock:
            owners = await self.safe.owners()
            threshold = await self.safe.threshold()
            signers = [s for s in self._owners if s.address in owners][:threshold]
            if len(signers) < threshold:
                raise SignatureRejected(
                    f"Safe {self.address} needs {threshold} owner signatures; only "
                    f"{len(signers)} of the configured signers own it; nothing was sent"
                )
            nonce = await self._next_nonce()
            tx = await self.safe.transaction(calls, nonce=nonce)
            relayer = str(self._relayer.signer.address)
            self.log.proposed(tx, proposer=relayer, what=what, calls=[_describe(c) for c in calls])
            signatures = [await sign_safe_transaction(s, tx) for s in signers]
            checked = check_signatures(
                signatures,
                tx,
                owners=owners,
                threshold=threshold,
                executor=relayer,
                # contract owners (a threshold group's account, a nested Safe): the Safe asks
                # them through EIP-1271 at execution; ask them the same first
                valid_contract_signers=await self.safe.accepted_contract_signers(
                    tx, signatures, owners
                ),
            )
            self.log.signed(tx, checked)

            async def journal(sent: SentTransaction) -> None:
                self.log.executed(tx, relayer=relayer, tx_hash=sent.tx_hash)
                self._nonce_of[sent.tx_hash.lower()] = nonce
                if on_signed is not None:
                    await on_signed(sent)

            return await self._relayer.send(
                to=self.address,
                data=self.safe.exec_data(tx, checked),
                what=f"{what} (Safe {self.address} nonce {nonce})",
                on_signed=journal,
                gas_margin=gas_margin,
            )

    # -- nonces ----------------------------------------------------------------------------------

    def proposals(self) -> list[Proposal]:
        """This Safe's proposals, oldest first."""
        return self.log.proposals()

    async def _alive(self, tx_hash: str) -> bool:
        tracker = self._relayer.tracker
        try:
            return tracker.state(TxHash(tx_hash)).status not in _DEAD
        except InvalidInput:
            pass
        if self._rpc is None:
            return False
        try:
            return await self._rpc.call("eth_getTransactionByHash", [tx_hash]) is not None
        except RpcError:
            return False
        except RpcUnavailable:
            return True  # cannot tell: keep the nonce taken

    async def _next_nonce(self) -> int:
        current = await self.safe.nonce()
        nxt = current
        for p in self.log.proposals():
            if p.execution is None or p.nonce < current or p.nonce < nxt:
                continue
            if await self._alive(p.execution.tx_hash):
                nxt = p.nonce + 1
        return nxt
