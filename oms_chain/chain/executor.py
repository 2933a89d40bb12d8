"""The account a venue trades from: who holds the assets and how its calls reach the chain.

A venue knows *what* to call (approve, wrap, swap, option fill); a :class:`CallExecutor` knows
*how*: an EOA signs each call as its own transaction (:class:`EoaExecutor`), a contract account
wraps the calls into one transaction of its own, signed by its owners and sent by a relayer that
pays the gas (:class:`~oms_chain.chain.safe_executor.SafeExecutor`; a FROST threshold account
plugs in the same way). Every executor hands back the relayer's
:class:`~oms_chain.chain.sender.SentTransaction`, so settlement, reorgs, drops and fills are
tracked exactly like an EOA's transaction, by the same tracker.

The seam, in one place:

- ``address``: the account whose balances trade (``msg.sender`` of every call); positions
  and fills are that account's.
- ``sender``: the :class:`~oms_chain.chain.sender.TxSender` of the EOA that signs and pays for
  the outer transaction (the EOA itself, or the relayer); its tracker follows that transaction.
- ``batches``: several calls run atomically, in order, as one transaction.
- :meth:`CallExecutor.execute_calls`: run the calls; ``on_signed`` runs after everything is
  signed and before the broadcast (journal first, so a crash between the two is replayed, never
  re-signed).
- :meth:`CallExecutor.account_nonce` / :meth:`CallExecutor.nonce_of`: the counter that moves
  with every transaction taking from ``address`` (an EOA's nonce, a Safe's nonce), and where a
  sent transaction sits on it; venues use them to tell a mined pull from a pending one.
- :meth:`CallExecutor.reconcile`: before trading after a restart, bring the account's own
  bookkeeping (e.g. a Safe's nonce) in line with the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import OnSigned, SentTransaction, TxSender
from oms_chain.custody.calls import Call
from oms_chain.model.errors import InvalidInput

__all__ = ["Call", "CallExecutor", "EoaExecutor"]


@runtime_checkable
class CallExecutor(Protocol):
    """How an account's calls become one transaction on chain (see the module docstring)."""

    @property
    def address(self) -> str:
        """The account that holds the assets and makes the calls."""
        ...

    @property
    def sender(self) -> TxSender:
        """The sender of the EOA that signs and pays for the outer transaction."""
        ...

    @property
    def batches(self) -> bool:
        """True when several calls run atomically as one transaction."""
        ...

    async def execute_calls(
        self,
        calls: Sequence[Call],
        *,
        what: str,
        on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        """Simulate, sign and broadcast ``calls`` as one transaction; raises like
        :meth:`TxSender.send` (nothing sent, or :class:`BroadcastUncertain`: maybe sent)."""
        ...

    async def account_nonce(self) -> int:
        """The account's counter at the latest block (moves with each of its transactions)."""
        ...

    def nonce_of(self, tx_hash: str, tx_nonce: int) -> int:
        """Where transaction ``tx_hash`` (returned by :meth:`execute_calls`, signed at sender
        nonce ``tx_nonce``) sits on :meth:`account_nonce`."""
        ...

    async def reconcile(self) -> None:
        """Align the executor's own persisted state with the chain (called before trading)."""
        ...


class EoaExecutor:
    """An externally owned account: one call, one transaction, signed by its own key."""

    def __init__(self, rpc: RpcClient, sender: TxSender) -> None:
        self._rpc = rpc
        self._sender = sender

    @property
    def address(self) -> str:
        """The EOA's address."""
        return str(self._sender.signer.address)

    @property
    def sender(self) -> TxSender:
        """The EOA's own sender."""
        return self._sender

    @property
    def batches(self) -> bool:
        """An EOA cannot batch: ``False``."""
        return False

    async def execute_calls(
        self,
        calls: Sequence[Call],
        *,
        what: str,
        on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        """Send the one call of ``calls``.

        Raises :class:`InvalidInput` for anything but exactly one :class:`Call`."""
        if len(calls) != 1 or not isinstance(calls[0], Call):
            raise InvalidInput(
                f"an EOA sends exactly one Call per transaction, got {len(calls)} item(s); "
                "send them one by one"
            )
        (call,) = calls
        return await self._sender.send(
            to=call.to,
            data=call.data,
            value=call.value,
            what=what,
            on_signed=on_signed,
            gas_margin=gas_margin,
        )

    async def account_nonce(self) -> int:
        """The EOA's transaction count at the latest block."""
        return int(await self._rpc.nonce(self.address, "latest"))

    def nonce_of(self, tx_hash: str, tx_nonce: int) -> int:
        """The EOA nonce the transaction was signed at: ``tx_nonce``."""
        return tx_nonce

    async def reconcile(self) -> None:
        """Nothing of its own: the sender's nonce manager reconciles itself."""
