"""``ThresholdSigner``: a FROST group as a :class:`~oms_chain.custody.base.Signer` for the
threshold account it owns.

The account is a contract, so there is no raw transaction (``sign_transaction`` raises
:class:`SignerUnsupported`; a relayer sends ``execute``). Its signatures are FROST signatures in
the contract's 97-byte form, checked by the account (EIP-1271), not by ``ecrecover``:

* :meth:`sign_execute` / :meth:`sign_rotation`: the account's own operations (EIP-712 digests
  computed offline, see :mod:`.account`); not policy-checked here: wrap the signer in a
  :class:`~oms_chain.custody.policy.PolicySigner`, whose ``sign_execute`` checks the calls first
  and whose ``sign_rotation`` is refused;
* :meth:`sign_hash` (``digests``): an approval of a 32-byte hash that
  ``isValidSignature(hash, sig)`` accepts, which is what a Safe asks of a contract owner;
* :meth:`sign_typed_data`: the same for EIP-712 typed data (its hash), so a
  :class:`~oms_chain.custody.policy.PolicySigner` can wrap the group and check a SafeTx before
  any signing round starts.

Every request reaches the participants in full (:class:`~.request.SigningRequest`), so each
recomputes the digest and applies its own policy too; participants with a policy refuse
:meth:`sign_hash` (an opaque hash), so Safe co-signing goes through :meth:`sign_typed_data`.
"""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from oms_chain.custody.base import SignedTransaction, SignerCapabilities, SignerUnsupported
from oms_chain.custody.threshold.account import AccountCall, contract_signature
from oms_chain.custody.threshold.coordinator import Coordinator
from oms_chain.custody.threshold.request import SigningRequest
from oms_chain.model.errors import InvalidInput

__all__ = ["ThresholdSigner"]


class ThresholdSigner:
    """The group behind ``coordinator`` signing for the threshold ``account`` on ``chain_id``."""

    def __init__(self, coordinator: Coordinator, account: str, chain_id: int) -> None:
        if not isinstance(coordinator, Coordinator):
            raise InvalidInput("ThresholdSigner needs a Coordinator")
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise InvalidInput(f"chain_id={chain_id!r} must be a positive int")
        try:
            self._address = to_checksum_address(account)
        except (TypeError, ValueError):
            raise InvalidInput(f"account {account!r} is not a 0x address") from None
        self._coordinator = coordinator
        self.chain_id = chain_id

    def __repr__(self) -> str:
        r = self._coordinator.roster
        return f"ThresholdSigner({self._address}, {r.t}-of-{r.n}, chain {self.chain_id})"

    @property
    def address(self) -> ChecksumAddress:
        """The threshold account (a contract)."""
        return self._address

    @property
    def group_key(self) -> bytes:
        """The group's compressed public key."""
        return self._coordinator.roster.group_key

    @property
    def capabilities(self) -> SignerCapabilities:
        """A remote contract account that signs digests (as EIP-1271 approvals)."""
        return SignerCapabilities(
            raw_transactions=False,
            ecdsa_hashes=False,
            contract_account=True,
            remote=True,
            digests=True,
        )

    async def _sign(self, request: SigningRequest) -> bytes:
        return contract_signature(await self._coordinator.sign_request(request))

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Refused: the account is a contract; use :meth:`sign_execute` and a relayer."""
        if not isinstance(tx, dict):
            raise InvalidInput("transaction must be a dict")
        raise SignerUnsupported(
            f"threshold account {self._address} is a contract: sign an execute operation "
            "(sign_execute) and have a relayer send it"
        )

    async def sign_execute(self, calls: list[AccountCall], nonce: int, deadline: int) -> bytes:
        """The signature ``execute`` / ``executeBatch`` accept for these calls."""
        return await self._sign(
            SigningRequest.execute(self.chain_id, self._address, calls, nonce, deadline)
        )

    async def sign_rotation(self, new_group_key: bytes, nonce: int, deadline: int) -> bytes:
        """The current group's signature for ``rotateKey`` to ``new_group_key``."""
        return await self._sign(
            SigningRequest.rotate(self.chain_id, self._address, new_group_key, nonce, deadline)
        )

    async def sign_hash(self, digest: bytes) -> bytes:
        """An EIP-1271 approval of ``digest``: ``isValidSignature(digest, sig)`` holds."""
        if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
            raise InvalidInput("sign_hash needs exactly 32 bytes")
        return await self._sign(
            SigningRequest.approve_hash(self.chain_id, self._address, bytes(digest))
        )

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        """An EIP-1271 approval of the EIP-712 hash of ``typed_data`` (e.g. a SafeTx)."""
        if not isinstance(typed_data, dict):
            raise InvalidInput("typed data must be a dict (types, primaryType, domain, message)")
        return await self._sign(
            SigningRequest.approve_typed_data(self.chain_id, self._address, typed_data)
        )
