"""Build, simulate, sign and broadcast transactions for one account on one chain.

:meth:`TxSender.send` is the on-chain half of step 5 of the order path: allocate a nonce, price
the transaction (EIP-1559 from fee history, or legacy gas price), simulate it with ``eth_call``
and ``eth_estimateGas`` (a revert is decoded and raised before anything is signed), sign through
the account's :class:`~oms_chain.custody.base.Signer`, broadcast through the chain's broadcast
endpoint (a private relay URL for MEV protection, if configured) and hand the signed bytes to
the :class:`~oms_chain.chain.tracker.SettlementTracker`.

A timeout after the bytes went out is *not* a failure: :class:`BroadcastUncertain` carries the
transaction hash, the nonce stays taken and the tracker finds out what happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oms_chain.chain.fees import FeeHistory, FeePolicy, FeeQuote, bump_fees, suggest_fees
from oms_chain.chain.nonces import NonceManager
from oms_chain.chain.registry import ChainInfo
from oms_chain.chain.revert import TransactionWouldRevert, decode_revert
from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.tracker import SettlementTracker
from oms_chain.custody.base import SignedTransaction, Signer
from oms_chain.model.errors import FinalError, InvalidInput, RetryableError
from oms_chain.model.ids import TxHash

__all__ = ["BroadcastRejected", "BroadcastUncertain", "OnSigned", "SentTransaction", "TxSender"]


class BroadcastUncertain(RetryableError):
    """The transaction may or may not have reached the network; the tracker will tell."""

    def __init__(self, tx_hash: TxHash, cause: str) -> None:
        super().__init__(f"broadcast of {tx_hash} has an unknown outcome ({cause}); tracking it")
        self.tx_hash = tx_hash


class BroadcastRejected(FinalError):
    """The node refused the transaction (e.g. nonce too low, insufficient funds)."""


@dataclass(frozen=True, slots=True)
class SentTransaction:
    """A broadcast transaction: its signed bytes, the dict that was signed, and its fees."""

    signed: SignedTransaction
    tx: dict[str, Any]
    fees: FeeQuote

    @property
    def tx_hash(self) -> TxHash:
        """Hash of the signed transaction."""
        return self.signed.tx_hash


OnSigned = Callable[[SentTransaction], Awaitable[None]]
"""Hook run after signing and before broadcasting (e.g. journal the signed bytes first, so a
crash between the two leaves a record of the transaction). If it raises, nothing is sent."""


class TxSender:
    """Sends transactions for ``signer`` on one chain; see the module docstring."""

    def __init__(
        self,
        rpc: RpcClient,
        chain: ChainInfo,
        signer: Signer,
        *,
        nonces: NonceManager | None = None,
        tracker: SettlementTracker | None = None,
        fee_policy: FeePolicy | None = None,
        broadcast: RpcClient | None = None,
        known_errors: Mapping[bytes, tuple[str, list[str]]] | None = None,
        gas_headroom: float = 1.2,
    ) -> None:
        if gas_headroom < 1:
            raise InvalidInput("gas_headroom must be >= 1")
        self._rpc = rpc
        self.chain = chain
        self.signer = signer
        self.nonces = nonces or NonceManager(rpc, chain.chain_id, signer.address)
        self.tracker = tracker or SettlementTracker(rpc, chain)
        self.fee_policy = fee_policy or FeePolicy()
        self._broadcast = broadcast or rpc
        self.known_errors = dict(known_errors or {})
        self.gas_headroom = gas_headroom

    async def fees(self) -> FeeQuote:
        """Current fee suggestion for this chain under the fee policy."""
        if not self.chain.eip1559:
            return FeeQuote(None, None, gas_price=await self._rpc.gas_price())  # type: ignore[arg-type]
        raw = await self._rpc.call(
            "eth_feeHistory",
            [hex(self.fee_policy.history_blocks), "latest", [self.fee_policy.priority_percentile]],
        )
        return suggest_fees(FeeHistory.from_rpc(raw), self.fee_policy)

    async def simulate(self, tx: Mapping[str, Any], what: str = "transaction") -> int:
        """Run ``tx`` with eth_call and eth_estimateGas; returns the gas estimate.

        Raises :class:`TransactionWouldRevert` with the decoded reason.
        """
        call = {
            k: (hex(v) if isinstance(v, int) else v)
            for k, v in tx.items()
            if k in ("from", "to", "data", "value")
        }
        try:
            await self._rpc.call("eth_call", [call, "pending"])
            gas = int(await self._rpc.call("eth_estimateGas", [call, "pending"]), 16)
        except RpcError as exc:
            data = exc.data if isinstance(exc.data, str) else None
            if isinstance(exc.data, dict):
                data = exc.data.get("data")
            reason = decode_revert(data, self.known_errors)
            if reason.kind == "empty" and exc.rpc_message and "revert" not in exc.rpc_message:
                raise BroadcastRejected(f"{what}: {exc.rpc_message}") from exc
            raise TransactionWouldRevert(what, reason) from exc
        return gas

    async def send(
        self,
        *,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        gas: int | None = None,
        what: str = "transaction",
        on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        """Simulate, sign and broadcast a call; returns once the node accepted the bytes.

        ``on_signed`` runs between signing and broadcasting (see :data:`OnSigned`). The gas
        limit is ``gas``, else the estimate times ``gas_headroom`` plus ``gas_margin``: gas the
        caller knows the estimate cannot see (it runs in the pending block; a contract that
        writes storage only when the including block's timestamp moved on, like a Uniswap
        pool's price oracle, can need more in a later block).

        Raises :class:`TransactionWouldRevert` (nothing sent), :class:`BroadcastRejected`
        (nothing sent, nonce given back) or :class:`BroadcastUncertain` (maybe sent; tracked).
        """
        if value < 0:
            raise InvalidInput(f"value must be >= 0 wei, got {value}")
        if isinstance(gas_margin, bool) or not isinstance(gas_margin, int) or gas_margin < 0:
            raise InvalidInput(f"gas_margin must be an integer >= 0, got {gas_margin!r}")
        data_hex = data if isinstance(data, str) else "0x" + data.hex()
        base = {"from": self.signer.address, "to": to, "data": data_hex, "value": value}
        estimate = await self.simulate(base, what)
        fees = await self.fees()
        nonce = await self.nonces.allocate()
        tx = {
            "chainId": self.chain.chain_id,
            "nonce": nonce,
            "to": to,
            "value": value,
            "data": data_hex,
            "gas": gas or int(estimate * self.gas_headroom) + gas_margin,
            **fees.as_tx_fields(),
        }
        try:
            signed = await self.signer.sign_transaction(tx)
            if on_signed is not None:
                await on_signed(SentTransaction(signed, tx, fees))
        except Exception:
            self.nonces.release(nonce)
            raise
        return await self._broadcast_signed(signed, tx, fees, what, replaces=None)

    async def _broadcast_signed(
        self,
        signed: SignedTransaction,
        tx: dict[str, Any],
        fees: FeeQuote,
        what: str,
        replaces: TxHash | None,
    ) -> SentTransaction:
        try:
            await self._broadcast.call("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
        except RpcUnavailable as exc:
            self.nonces.mark_broadcast(signed.nonce)
            self.tracker.track(signed, replaces=replaces)
            raise BroadcastUncertain(signed.tx_hash, str(exc)) from exc
        except RpcError as exc:
            if "nonce too low" in exc.rpc_message.lower() and await self._landed(signed):
                # These very bytes are already in: a resend (RPC failover, a retried socket)
                # of a transaction that made it the first time. Not a refusal.
                self.nonces.mark_broadcast(signed.nonce)
                self.tracker.track(signed, replaces=replaces)
                return SentTransaction(signed, tx, fees)
            if replaces is None:
                self.nonces.release(signed.nonce)
            if "nonce too low" in exc.rpc_message.lower():
                await self.nonces.sync()
            raise BroadcastRejected(f"{what}: node refused it: {exc.rpc_message}") from exc
        self.nonces.mark_broadcast(signed.nonce)
        self.tracker.track(signed, replaces=replaces)
        return SentTransaction(signed, tx, fees)

    async def _landed(self, signed: SignedTransaction) -> bool:
        """Does the node know ``signed`` (mined or pending)? ``False`` when it cannot say."""
        try:
            found = await self._rpc.call("eth_getTransactionByHash", [signed.tx_hash])
        except (RpcError, RpcUnavailable):
            return False
        return found is not None

    async def replace(self, sent: SentTransaction, *, bump_percent: int = 10) -> SentTransaction:
        """Speed up a stuck transaction: same nonce and call, fees bumped past the node's rule."""
        fees = bump_fees(sent.fees, await self.fees(), bump_percent=bump_percent)
        tx = {**sent.tx, **fees.as_tx_fields()}
        signed = await self.signer.sign_transaction(tx)
        return await self._broadcast_signed(signed, tx, fees, "replacement", sent.tx_hash)

    async def cancel(
        self, sent: SentTransaction, *, bump_percent: int = 10, on_signed: OnSigned | None = None
    ) -> SentTransaction:
        """Cancel a pending transaction: a 0-value self-transfer at the same nonce, fees bumped.

        ``on_signed`` runs between signing and broadcasting (see :data:`OnSigned`)."""
        fees = bump_fees(sent.fees, await self.fees(), bump_percent=bump_percent)
        tx = {
            "chainId": self.chain.chain_id,
            "nonce": sent.signed.nonce,
            "to": self.signer.address,
            "value": 0,
            "data": "0x",
            "gas": 21_000,
            **fees.as_tx_fields(),
        }
        signed = await self.signer.sign_transaction(tx)
        if on_signed is not None:
            await on_signed(SentTransaction(signed, tx, fees))
        return await self._broadcast_signed(signed, tx, fees, "cancellation", sent.tx_hash)
