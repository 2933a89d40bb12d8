"""A FROST group's ``ThresholdAccount`` as the account a venue trades from.

It is the same seam as the Safe's (a ``CallExecutor``: ``address``, ``sender``, ``batches``,
``execute_calls``, ``account_nonce``, ``nonce_of``, ``reconcile``): the venue's calls (wrap,
approve, swap) become **one** ``execute`` (one call) or ``executeBatch`` (several, all or
nothing) of the account, authorized by the group (:class:`ThresholdSigner.sign_execute`; wrap it
in a :class:`~oms_chain.custody.policy.PolicySigner` to check the calls before a round starts,
and every participant checks them again against its own policy), and sent by a relayer EOA that
pays the gas through its own :class:`~oms_chain.chain.sender.TxSender`, so settlement, reorgs
and drops are tracked like any transaction. The assets and the fills are the account's.

Account nonces are handed out like a Safe's: the account's on-chain ``nonce()``, or one past the
highest nonce whose execution is still alive (tracked and not dropped or replaced); one
execution in flight per nonce, under a lock. The nonce is part of what the group signs, not of
the calldata, so after a restart :meth:`ThresholdExecutor.reconcile` reads the relayer's open
transactions to the account from the node and finds the nonce each one's signature authorizes
(:func:`~oms_chain.custody.threshold.account.signed_nonce`); a crash after the relayer signed
leaves journaled bytes that the venue's tracker re-sends, never a second signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.sender import OnSigned, SentTransaction, TxSender
from oms_chain.custody.threshold.account import AccountCall, signed_nonce
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import TxHash
from oms_chain.model.orders import SettlementStatus

__all__ = ["ExecuteSigner", "ThresholdExecutor"]

_EXECUTE = keccak(text="execute(address,uint256,bytes,uint256,bytes)")[:4]
_EXECUTE_TYPES = ["address", "uint256", "bytes", "uint256", "bytes"]
_BATCH = keccak(text="executeBatch((address,uint256,bytes)[],uint256,bytes)")[:4]
_BATCH_TYPES = ["(address,uint256,bytes)[]", "uint256", "bytes"]
_NONCE = keccak(text="nonce()")[:4]
_DEAD = (SettlementStatus.DROPPED, SettlementStatus.REPLACED)


@runtime_checkable
class ExecuteSigner(Protocol):
    """What authorizes the account's executions: a ThresholdSigner, or a PolicySigner wrapping
    one (its ``address`` is the account)."""

    @property
    def address(self) -> Any:
        """The threshold account."""
        ...

    async def sign_execute(self, calls: list[AccountCall], nonce: int, deadline: int) -> bytes:
        """The signature ``execute`` / ``executeBatch`` accept for ``calls`` at ``nonce``."""
        ...


def _calls(calls: Sequence[Any]) -> list[AccountCall]:
    if isinstance(calls, str | bytes) or not calls:
        raise InvalidInput("calls must be a non-empty sequence of calls (to, value, data)")
    try:
        return [AccountCall(c.to, c.value, bytes(c.data)) for c in calls]
    except AttributeError:
        raise InvalidInput("each call needs to, value and data (a Call or AccountCall)") from None


class ThresholdExecutor:
    """Runs a venue's calls as executions of the threshold account ``signer.address``.

    ``signer``: the group (see :class:`ExecuteSigner`); ``group_key``: its compressed key (for
    :meth:`reconcile`); ``relayer``: the sender of the EOA that submits and pays gas;
    ``deadline_s``: how long a signed execution stays valid, counted from the chain's latest
    block time (the account refuses it after).
    Hand it to the venues' account as ``executor=lambda sender: ThresholdExecutor(signer, key,
    sender, rpc=rpc)``.
    """

    def __init__(
        self,
        signer: ExecuteSigner,
        group_key: bytes,
        relayer: TxSender,
        *,
        rpc: RpcClient,
        deadline_s: int = 900,
    ) -> None:
        if not isinstance(signer, ExecuteSigner):
            raise InvalidInput("signer must sign the account's executions (a ThresholdSigner)")
        if not isinstance(group_key, bytes) or len(group_key) != 33:
            raise InvalidInput("group_key must be the 33-byte compressed group key")
        if isinstance(deadline_s, bool) or not isinstance(deadline_s, int) or deadline_s < 60:
            raise InvalidInput(f"deadline_s={deadline_s!r} must be an integer >= 60 seconds")
        chain_id = getattr(signer, "chain_id", relayer.chain.chain_id)
        if chain_id != relayer.chain.chain_id:
            raise InvalidInput(
                f"the group signs for chain {chain_id}, the relayer is on {relayer.chain.chain_id}"
            )
        self._signer = signer
        self._account = str(to_checksum_address(str(signer.address)))
        self._group_key = group_key
        self._relayer = relayer
        self._rpc = rpc
        self._deadline_s = deadline_s
        self._lock = asyncio.Lock()
        self._nonce_of: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ThresholdExecutor({self._account}, relayer {self._relayer.signer.address})"

    # -- CallExecutor ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The threshold account: it holds the assets and makes the calls."""
        return self._account

    @property
    def sender(self) -> TxSender:
        """The relayer's sender (it submits and pays for ``execute``)."""
        return self._relayer

    @property
    def batches(self) -> bool:
        """``executeBatch`` runs several calls atomically: ``True``."""
        return True

    async def account_nonce(self) -> int:
        """The account's ``nonce()`` at the latest block."""
        raw = await self._rpc.call(
            "eth_call", [{"to": self._account, "data": _NONCE.hex()}, "latest"]
        )
        (nonce,) = abi_decode(["uint256"], bytes.fromhex(str(raw).removeprefix("0x")))
        return int(nonce)

    async def _chain_time(self) -> int:
        """The latest block's timestamp: the clock the account checks ``deadline`` against
        (a devnet warped ahead, or a host clock behind the chain, must not sign an execution
        that is already expired)."""
        head = await self._rpc.head("latest")
        if head is None:
            raise RpcUnavailable("the node has no latest block: no chain time for the deadline")
        return head.timestamp

    def nonce_of(self, tx_hash: str, tx_nonce: int) -> int:
        """The account nonce execution ``tx_hash`` takes (``tx_nonce`` when not ours)."""
        return self._nonce_of.get(tx_hash.lower(), tx_nonce)

    async def reconcile(self) -> None:
        """Learn the account nonces of the relayer's open executions (after a restart) from the
        node and their signatures; raises
        :class:`~oms_chain.chain.rpc.RpcUnavailable` when the node cannot say."""
        async with self._lock:
            current = await self.account_nonce()
            for tx_hash in self._relayer.tracker.open:
                if tx_hash.lower() in self._nonce_of:
                    continue
                try:
                    tx = await self._rpc.call("eth_getTransactionByHash", [tx_hash])
                except RpcError:
                    continue
                nonce = self._recover(tx, current)
                if nonce is not None:
                    self._nonce_of[tx_hash.lower()] = nonce

    async def execute_calls(
        self,
        calls: Sequence[Any],
        *,
        what: str,
        on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        """One execution of ``calls``: the group signs it at the next account nonce, the relayer
        simulates, signs and broadcasts it. ``on_signed`` runs after the relayer signed,
        before the broadcast.

        Raises:
            InvalidInput: no calls, or a call without to / value / data.
            PolicyViolation, ThresholdRefused, ThresholdUnavailable: no group signature;
                nothing was sent.
            TransactionWouldRevert, BroadcastRejected, BroadcastUncertain: as
                :meth:`TxSender.send` (the relayer's outcome).
        """
        checked = _calls(calls)
        async with self._lock:
            nonce = await self._next_nonce()
            deadline = await self._chain_time() + self._deadline_s
            signature = await self._signer.sign_execute(checked, nonce, deadline)
            if len(checked) == 1:
                (c,) = checked
                data = _EXECUTE + abi_encode(
                    _EXECUTE_TYPES, [c.to, c.value, c.data, deadline, signature]
                )
            else:
                rows = [(c.to, c.value, c.data) for c in checked]
                data = _BATCH + abi_encode(_BATCH_TYPES, [rows, deadline, signature])

            async def journal(sent: SentTransaction) -> None:
                self._nonce_of[sent.tx_hash.lower()] = nonce
                if on_signed is not None:
                    await on_signed(sent)

            return await self._relayer.send(
                to=self._account,
                data=data,
                what=f"{what} (threshold account {self._account} nonce {nonce})",
                on_signed=journal,
                gas_margin=gas_margin,
            )

    # -- nonces ----------------------------------------------------------------------------------

    def _alive(self, tx_hash: str) -> bool:
        try:
            return self._relayer.tracker.state(TxHash(tx_hash)).status not in _DEAD
        except InvalidInput:  # not tracked (any more): its nonce is the chain's business
            return False

    async def _next_nonce(self) -> int:
        current = await self.account_nonce()
        taken = [n for h, n in self._nonce_of.items() if n >= current and self._alive(h)]
        return max([current, *(n + 1 for n in taken)])

    def _recover(self, tx: Any, current: int) -> int | None:
        if not isinstance(tx, dict) or str(tx.get("to") or "").lower() != self._account.lower():
            return None
        raw = bytes.fromhex(str(tx.get("input") or "0x").removeprefix("0x"))
        try:
            if raw[:4] == _EXECUTE:
                to, value, body, deadline, sig = abi_decode(_EXECUTE_TYPES, raw[4:])
                calls = [AccountCall(to, value, body)]
            elif raw[:4] == _BATCH:
                rows, deadline, sig = abi_decode(_BATCH_TYPES, raw[4:])
                calls = [AccountCall(to, value, body) for to, value, body in rows]
            else:
                return None
        except (ValueError, InvalidInput):
            return None
        return signed_nonce(
            self._relayer.chain.chain_id, self._account, self._group_key, calls, deadline,
            bytes(sig), current,
        )  # fmt: skip
