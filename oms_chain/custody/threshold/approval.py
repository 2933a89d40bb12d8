"""A participant's own check of what it is asked to sign (``oms signer participant --policy``).

The policy file is the same TOML as for a :class:`~oms_chain.custody.policy.PolicySigner`, with
one ``[signers."0xThresholdAccount"]`` table per account the group signs for. Each request is
checked by a :class:`~oms_chain.custody.policy.PolicySigner` (one per account and chain, so its
rolling 24 h limits are this participant's own count) wrapped around an approver that only
returns the request's digest: the policy code is the one every other signer uses, and no key is
involved. Approved digests are remembered, so the coordinator retrying a round with another
subset does not count the same operation twice. Requests that cannot be inspected (an opaque
hash, a raw message) are refused under rule ``opaque``; a key rotation under ``key_rotation``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from oms_chain.custody.base import SignedTransaction, SignerCapabilities, SignerUnsupported
from oms_chain.custody.policy import PolicySigner, PolicyViolation, SigningPolicy
from oms_chain.custody.threshold.request import SigningRequest
from oms_chain.model.clock import Clock
from oms_chain.model.errors import ConfigError, InvalidInput

__all__ = ["ParticipantPolicy"]

log = logging.getLogger(__name__)

_REMEMBERED = 1024


class _Approver:
    """The innermost "signer" of a participant's policy check: returns digests, signs nothing."""

    def __init__(self, account: str, chain_id: int) -> None:
        self._address = ChecksumAddress(to_checksum_address(account))
        self.chain_id = chain_id

    @property
    def address(self) -> ChecksumAddress:
        return self._address

    @property
    def capabilities(self) -> SignerCapabilities:
        return SignerCapabilities(
            raw_transactions=False, ecdsa_hashes=False, contract_account=True, digests=False
        )

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        raise SignerUnsupported("a threshold participant signs no raw transaction")

    async def sign_hash(self, digest: bytes) -> bytes:
        raise SignerUnsupported("a threshold participant does not approve opaque hashes")

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        request = SigningRequest.approve_typed_data(self.chain_id, self._address, typed_data)
        return request.digest()

    async def sign_execute(self, calls: list[Any], nonce: int, deadline: int) -> bytes:
        request = SigningRequest.execute(self.chain_id, self._address, calls, nonce, deadline)
        return request.digest()


class ParticipantPolicy:
    """``policy`` applied by one participant to every :class:`SigningRequest`."""

    def __init__(self, policy: SigningPolicy, *, clock: Clock, who: str = "participant") -> None:
        if not isinstance(policy, SigningPolicy):
            raise InvalidInput("policy must be a SigningPolicy (SigningPolicy.load(path))")
        self._policy = policy
        self._clock = clock
        self._who = who
        self._signers: dict[tuple[str, int], PolicySigner] = {}
        self._approved: OrderedDict[bytes, None] = OrderedDict()

    def _signer(self, account: str, chain_id: int) -> PolicySigner:
        key = (account.lower(), chain_id)
        signer = self._signers.get(key)
        if signer is None:
            try:
                signer = PolicySigner(_Approver(account, chain_id), self._policy, clock=self._clock)
            except ConfigError:
                raise PolicyViolation(
                    "account", f"{self._who}'s policy has no entry for account {account}"
                ) from None
            self._signers[key] = signer
        return signer

    async def approve(self, request: SigningRequest) -> None:
        """Raise :class:`~oms_chain.custody.policy.PolicyViolation` unless the policy allows
        ``request``; counts it in the rolling limits once per digest. Refusals are logged
        (warning) with the rule and reason."""
        try:
            await self._approve(request)
        except PolicyViolation as exc:
            log.warning("participant %s refused the %s request: %s", self._who, request.kind, exc)
            raise

    async def _approve(self, request: SigningRequest) -> None:
        digest = request.digest()
        if digest in self._approved:
            return
        if not request.inspectable:
            raise PolicyViolation(
                "opaque",
                f"{self._who} signs only requests it can inspect (execute, typed data), "
                f"not a {request.kind}",
            )
        assert request.account is not None and request.chain_id is not None
        signer = self._signer(request.account, request.chain_id)
        if request.kind == "execute":
            assert request.nonce is not None and request.deadline is not None
            got = await signer.sign_execute(list(request.calls), request.nonce, request.deadline)
        elif request.kind == "typed_data":
            got = await signer.sign_typed_data(request.typed_data or {})
        else:
            await signer.sign_rotation(request.new_group_key or b"", 0, 0)  # always refused
            raise AssertionError("unreachable")  # pragma: no cover
        if got != digest:  # pragma: no cover - the approver computes the same digest
            raise PolicyViolation("digest", "the policy checked another digest than requested")
        self._approved[digest] = None
        while len(self._approved) > _REMEMBERED:
            self._approved.popitem(last=False)
