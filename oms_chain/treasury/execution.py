"""How the treasury desk follows an ``execTransaction`` to its final block and records it (the
desk's base class): the receipt waited for ``safe.confirmations`` blocks (the settlement tracker
rebroadcasting our own signed bytes after a reorg or a drop), a Safe nonce used by someone else
found by its ``ExecutionSuccess`` log, ``ProposalExecuted`` / ``ProposalReverted`` /
``ProposalReorged`` appended; and the relayer that journals its signed bytes before sending."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from oms_chain.chain.registry import ChainInfo, chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import SentTransaction, TxSender
from oms_chain.chain.tracker import SettlementTracker
from oms_chain.chain.types import Receipt
from oms_chain.custody.base import SignedTransaction, Signer
from oms_chain.model.errors import FinalError, InvalidInput, OmsError
from oms_chain.model.ids import TxHash
from oms_chain.model.orders import SettlementStatus
from oms_chain.store import EventStore, NewEvent
from oms_chain.treasury.policy import TreasuryPolicy
from oms_chain.treasury.proposals import Proposal
from oms_chain.treasury.run import RunState, run_state
from oms_chain.venues.amm._calls import WalletFlows

__all__ = ["ExecutionReverted"]

_NS = 1_000_000_000
_EXECUTION_SUCCESS = "0x" + keccak(text="ExecutionSuccess(bytes32,uint256)").hex()


class ExecutionReverted(FinalError):
    """A proposal's ``execTransaction`` was mined but reverted; recorded ``ProposalReverted``.
    The Safe nonce is unused and the signatures stay valid: ``execute`` again sends a new one."""


def _treasury_chain(chain_id: int) -> ChainInfo:
    """The registry's entry for ``chain_id``, or a bare one for a chain it does not know."""
    try:
        return chain_info(chain_id)
    except InvalidInput:
        return ChainInfo(chain_id=chain_id, name="treasury")


class _JournaledRelayer:
    """The relayer :class:`SafeAccount` sends through, recording the signed bytes first."""

    def __init__(self, sender: TxSender, on_signed: Callable[[SentTransaction], Any]) -> None:
        self._sender = sender
        self._on_signed = on_signed

    @property
    def signer(self) -> Signer:
        return self._sender.signer

    async def send(
        self,
        *,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        gas: int | None = None,
        what: str = "transaction",
    ) -> SentTransaction:
        return await self._sender.send(
            to=to, data=data, value=value, gas=gas, what=what, on_signed=self._on_signed
        )


class _Execution:
    """The desk's run records and execution following (a base class of
    :class:`~oms_chain.treasury.desk.TreasuryDesk`, which sets these attributes)."""

    policy: TreasuryPolicy
    store: EventStore
    rpc: RpcClient
    clock_ns: Callable[[], int]
    receipt_timeout_s: float
    poll_s: float
    log_chunk_blocks: int
    multisend: ChecksumAddress

    async def chain_ns(self) -> int:
        """The latest block's timestamp in ns."""
        block = await self.rpc.get_block("latest")
        return int(block["timestamp"], 16) * _NS if block else 0

    def _append(
        self, run_id: str, event_id: str, kind: str, payload: dict[str, Any], ts: int
    ) -> None:
        event = NewEvent(
            event_id=f"{run_id}:{event_id}",
            event_type=kind,
            version=1,
            payload=payload,
            ts_event=ts,
            ts_init=self.clock_ns(),
            correlation_id=f"treasury-{run_id}",
        )
        self.store.append(f"treasury-{run_id}", [event], None)

    def state(self, run_id: str) -> RunState:
        """The run as recorded."""
        return run_state(self.store, run_id)

    async def check_executed(self, run_id: str) -> RunState:
        """Check that every recorded execution is still in its block; one whose block left the
        chain (a reorg deeper than ``safe.confirmations``) is recorded ``ProposalReorged``: it
        counts as sent again (``execute`` follows the same signed bytes to their new block,
        never signs a second one while they can land) and the run is re-measured after it."""
        st = self.state(run_id)
        for pid, done in list(st.executed.items()):
            if "block_hash" not in done:
                continue
            receipt = await self.rpc.receipt(done["tx_hash"])
            if receipt is not None and receipt.block_hash == done["block_hash"]:
                continue
            payload = {
                "proposal_id": pid,
                "tx_hash": done["tx_hash"],
                "block": done["block"],
                "block_hash": done["block_hash"],
                "now_in_block": receipt.block_number if receipt is not None else None,
            }
            n = st.reorgs_of(pid)
            self._append(
                run_id, f"{pid}:reorged:{n}", "ProposalReorged", payload, await self.chain_ns()
            )
            st = self.state(run_id)
        return st

    async def _resume_sent(self, run_id: str, p: Proposal, sent: dict[str, Any]) -> None:
        if "sender" in sent:
            signed = SignedTransaction(
                raw=bytes.fromhex(sent["raw"][2:]),
                tx_hash=TxHash(sent["tx_hash"]),
                sender=to_checksum_address(sent["sender"]),
                nonce=int(sent["nonce"]),
            )
            await self._settle(run_id, p, sent["tx_hash"], signed)
            return
        receipt = await self.rpc.receipt(sent["tx_hash"])
        if receipt is None:
            # the bytes may never have reached the node: the same bytes give the same hash;
            # "already known" or "nonce too low" (it was mined or replaced): the wait tells
            with contextlib.suppress(OmsError):
                await self.rpc.call("eth_sendRawTransaction", [sent["raw"]])
        await self._settle(run_id, p, sent["tx_hash"])

    def _safe_tx_hash(self, p: Proposal) -> str:
        return p.safe_tx(self.policy, self.multisend).safe_tx_hash.hex()

    async def _found_elsewhere(self, run_id: str, p: Proposal, safe_tx_hash: str) -> None:
        """Look for the Safe's ``ExecutionSuccess`` of ``safe_tx_hash`` from the block the
        proposal was created in (0 for runs recorded before it was kept), ``log_chunk_blocks``
        blocks per ``eth_getLogs``."""
        start = self.state(run_id).created_block or 0
        latest = await self.rpc.block_number()
        while start <= latest:
            end = min(latest, start + self.log_chunk_blocks - 1)
            logs = await self.rpc.call(
                "eth_getLogs",
                [{"address": self.policy.safe.address, "fromBlock": hex(start),
                  "toBlock": hex(end), "topics": [_EXECUTION_SUCCESS, safe_tx_hash]}],
            )  # fmt: skip
            for log in logs or []:
                await self._settle(run_id, p, str(log["transactionHash"]))
                return
            start = end + 1
        raise FinalError(
            f"proposal {p.proposal_id}: the Safe's nonce moved past {p.nonce} without executing "
            "it (another transaction took the nonce); plan a new run"
        )

    async def _final(self, p: Proposal, tx_hash: str) -> Receipt:
        """The receipt once ``safe.confirmations`` blocks include it and it is still canonical
        (a reorg that drops it: wait for it again)."""
        need = self.policy.safe.confirmations
        what = f"treasury {p.proposal_id}"
        receipt = await self._mined(tx_hash, what)
        while True:
            if await self.rpc.block_number() - receipt.block_number + 1 >= need:
                again = await self.rpc.receipt(tx_hash)
                if again is not None and again.block_hash == receipt.block_hash:
                    return again
                receipt = await self._mined(tx_hash, what)
                continue
            await asyncio.sleep(self.poll_s)

    async def _mined(self, tx_hash: str, what: str) -> Receipt:
        """The receipt once mined, whether it succeeded or reverted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receipt_timeout_s
        while True:
            receipt = await self.rpc.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if loop.time() > deadline:
                raise OmsError(
                    f"{what}: {tx_hash} not mined within {self.receipt_timeout_s:g} s; "
                    "run execute again"
                )
            await asyncio.sleep(self.poll_s)

    async def _tracked_final(self, p: Proposal, signed: SignedTransaction) -> Receipt | None:
        """Our signed ``execTransaction`` followed by the engine's settlement tracker until
        ``safe.confirmations`` blocks include it: a reorg (receipt gone or moved) and a drop
        from the pool are rebroadcast from the same bytes. ``None`` when the relayer's nonce
        went to another transaction (the Safe may still have executed the SafeTx: the caller
        looks for its log)."""
        info = _treasury_chain(self.policy.safe.chain_id)
        tracker = SettlementTracker(self.rpc, info, clock_ns=self.clock_ns)
        tracker.track(signed)
        need = self.policy.safe.confirmations
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receipt_timeout_s
        included = (SettlementStatus.INCLUDED, SettlementStatus.CONFIRMED, SettlementStatus.FINAL)
        while True:
            await tracker.poll()
            state = tracker.state(signed.tx_hash)
            if state.status is SettlementStatus.REPLACED:
                return None
            if state.status is SettlementStatus.DROPPED:
                raise FinalError(
                    f"proposal {p.proposal_id}: execTransaction {signed.tx_hash} was dropped "
                    "and the node refuses it again; the Safe nonce is unused, plan a new run"
                )
            if state.status in included and state.confirmations + 1 >= need:
                receipt = await self.rpc.receipt(signed.tx_hash)
                if receipt is not None and receipt.block_number == state.block_number:
                    return receipt
            if loop.time() > deadline:
                raise OmsError(
                    f"treasury {p.proposal_id}: {signed.tx_hash} not settled within "
                    f"{self.receipt_timeout_s:g} s ({state.status.value}); run execute again"
                )
            await asyncio.sleep(self.poll_s)

    async def _settle(
        self, run_id: str, p: Proposal, tx_hash: str, signed: SignedTransaction | None = None
    ) -> None:
        if signed is None:
            receipt = await self._final(p, tx_hash)
        else:
            found = await self._tracked_final(p, signed)
            if found is None:
                await self._found_elsewhere(run_id, p, "0x" + self._safe_tx_hash(p))
                return
            receipt = found
        if receipt.status != 1:
            await self._reverted(run_id, p, receipt)
        safe = self.policy.safe.address.lower()
        success = any(
            log.address.lower() == safe
            and log.topics
            and log.topics[0].lower() == _EXECUTION_SUCCESS
            for log in receipt.logs
        )
        flows = WalletFlows.from_receipt(receipt, self.policy.safe.address)
        mined, ts = await self._mined_fields(p, receipt)
        payload = {
            **mined,
            "confirmations": self.policy.safe.confirmations,
            "success": success,
            "premium_usd": str(p.premium_usd),
            "sent": {to_checksum_address(k): str(v) for k, v in flows.sent.items()},
            "received": {to_checksum_address(k): str(v) for k, v in flows.received.items()},
        }
        n = self.state(run_id).reorgs_of(p.proposal_id)
        event_id = f"{p.proposal_id}:executed" + (f":{n}" if n else "")
        self._append(run_id, event_id, "ProposalExecuted", payload, ts)
        if not success:
            raise FinalError(
                f"proposal {p.proposal_id}: execTransaction {tx_hash} mined but the Safe reported "
                "ExecutionFailure; the nonce is used, plan a new run"
            )

    async def _mined_fields(self, p: Proposal, receipt: Receipt) -> tuple[dict[str, Any], int]:
        """What every receipt event records, and the including block's time (ns)."""
        block = await self.rpc.get_block(receipt.block_number)
        ts = int(block["timestamp"], 16) * _NS if block else await self.chain_ns()
        fields = {
            "proposal_id": p.proposal_id,
            "tx_hash": receipt.tx_hash,
            "block": receipt.block_number,
            "block_hash": receipt.block_hash,
            "gas_used": receipt.gas_used,
        }
        return fields, ts

    async def _reverted(self, run_id: str, p: Proposal, receipt: Receipt) -> None:
        """Record a mined-but-reverted ``execTransaction`` and raise :class:`ExecutionReverted`."""
        st = self.state(run_id)
        n = st.reverts_of(p.proposal_id)
        mined, ts = await self._mined_fields(p, receipt)
        payload = {**mined, "safe_nonce": p.nonce}
        self._append(run_id, f"{p.proposal_id}:reverted:{n}", "ProposalReverted", payload, ts)
        raise ExecutionReverted(
            f"proposal {p.proposal_id}: execTransaction {receipt.tx_hash} reverted on chain "
            f"(block {receipt.block_number}, gas {receipt.gas_used}); the Safe nonce {p.nonce} "
            "is unused and the signatures stay valid: run execute again to send it anew, or "
            "plan a new run to abandon it"
        )
