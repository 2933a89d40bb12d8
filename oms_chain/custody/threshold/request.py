"""What a threshold group is asked to sign, in full (not just a digest).

The coordinator sends a :class:`SigningRequest` with the digest it wants signed; every
participant recomputes the digest from the request itself (the account's EIP-712 typed data, see
:mod:`.account`), refuses a digest that differs, and checks the request against its own signing
policy before it commits to a round. A compromised coordinator can therefore not get a share for
something else than what it shows, nor for something a participant's policy forbids.

Kinds (``kind`` in the JSON form):

* ``execute``: the account's ``execute`` / ``executeBatch`` of ``calls`` at ``nonce``;
* ``rotate``: ``rotateKey`` to ``new_group_key``;
* ``typed_data``: an EIP-1271 approval of EIP-712 typed data (e.g. a SafeTx), signed as the
  account's ``ThresholdMessage`` of the typed data's hash;
* ``hash``: an EIP-1271 approval of an opaque 32-byte hash (cannot be inspected);
* ``raw``: a raw message (tests, benchmarks; cannot be inspected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils import keccak

from oms_chain.custody.threshold.account import (
    AccountCall,
    execute_digest,
    message_digest,
    rotate_digest,
)
from oms_chain.model.errors import InvalidInput

__all__ = ["SigningRequest", "typed_data_hash"]

KINDS = ("execute", "rotate", "typed_data", "hash", "raw")
INSPECTABLE = ("execute", "rotate", "typed_data")


def typed_data_hash(typed_data: dict[str, Any]) -> bytes:
    """The EIP-712 hash of ``typed_data`` (``eth_signTypedData_v4``'s JSON shape)."""
    if not isinstance(typed_data, dict):
        raise InvalidInput("typed data must be a dict (types, primaryType, domain, message)")
    try:
        signable = encode_typed_data(full_message=typed_data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"typed data does not encode: {exc}") from None
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def _hex_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a hex string")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise InvalidInput(f"{what} is not hex") from None


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{what} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{what} must be an integer") from None


@dataclass(frozen=True, slots=True)
class SigningRequest:
    """One thing to sign. Use the named constructors; :meth:`digest` is what FROST signs."""

    kind: str
    chain_id: int | None = None
    account: str | None = None
    calls: tuple[AccountCall, ...] = ()
    nonce: int | None = None
    deadline: int | None = None
    new_group_key: bytes | None = None
    typed_data: dict[str, Any] | None = None
    payload: bytes | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(f"signing request kind {self.kind!r} is not one of {KINDS}")
        self.digest()  # every field is checked by computing the digest once

    # --- constructors ---------------------------------------------------------------------

    @classmethod
    def execute(
        cls, chain_id: int, account: str, calls: list[AccountCall], nonce: int, deadline: int
    ) -> SigningRequest:
        """The account's ``execute`` / ``executeBatch`` of ``calls``."""
        if not isinstance(calls, list | tuple):
            raise InvalidInput("calls must be a non-empty list of AccountCall")
        return cls("execute", chain_id, account, calls=tuple(calls), nonce=nonce, deadline=deadline)

    @classmethod
    def rotate(
        cls, chain_id: int, account: str, new_group_key: bytes, nonce: int, deadline: int
    ) -> SigningRequest:
        """The account's ``rotateKey`` to ``new_group_key`` (33-byte compressed point)."""
        return cls(
            "rotate", chain_id, account, new_group_key=new_group_key, nonce=nonce, deadline=deadline
        )

    @classmethod
    def approve_typed_data(
        cls, chain_id: int, account: str, typed_data: dict[str, Any]
    ) -> SigningRequest:
        """An EIP-1271 approval of EIP-712 ``typed_data`` (a SafeTx, ...)."""
        return cls("typed_data", chain_id, account, typed_data=typed_data)

    @classmethod
    def approve_hash(cls, chain_id: int, account: str, digest: bytes) -> SigningRequest:
        """An EIP-1271 approval of an opaque 32-byte ``digest``."""
        return cls("hash", chain_id, account, payload=digest)

    @classmethod
    def raw(cls, message: bytes) -> SigningRequest:
        """A raw message of 1-4096 bytes, signed as is."""
        return cls("raw", payload=message)

    # --- digest ---------------------------------------------------------------------------

    @property
    def inspectable(self) -> bool:
        """Whether a policy can see what this request does (not an opaque hash or message)."""
        return self.kind in INSPECTABLE

    def _target(self) -> tuple[int, str]:
        if self.chain_id is None or self.account is None:
            raise InvalidInput(f"a {self.kind} request needs chain_id and account")
        return self.chain_id, self.account

    def digest(self) -> bytes:
        """The message the group signs for this request."""
        if self.kind == "raw":
            msg = self.payload
            if not isinstance(msg, bytes) or not 1 <= len(msg) <= 4096:
                raise InvalidInput("the message to sign must be 1-4096 bytes")
            return msg
        chain_id, account = self._target()
        if self.kind == "execute":
            return execute_digest(
                chain_id, account, list(self.calls), _int(self.nonce, "nonce"),
                _int(self.deadline, "deadline"),
            )  # fmt: skip
        if self.kind == "rotate":
            if not isinstance(self.new_group_key, bytes):
                raise InvalidInput("new_group_key must be a 33-byte compressed point")
            return rotate_digest(
                chain_id, account, self.new_group_key, _int(self.nonce, "nonce"),
                _int(self.deadline, "deadline"),
            )  # fmt: skip
        if self.kind == "typed_data":
            return message_digest(chain_id, account, typed_data_hash(self.typed_data or {}))
        if not isinstance(self.payload, bytes):
            raise InvalidInput("the hash to approve must be 32 bytes")
        return message_digest(chain_id, account, self.payload)

    # --- JSON -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The request as sent to participants."""
        doc: dict[str, Any] = {"kind": self.kind}
        if self.chain_id is not None:
            doc["chain_id"] = self.chain_id
        if self.account is not None:
            doc["account"] = self.account
        if self.kind == "execute":
            doc["calls"] = [
                {"to": c.to, "value": str(c.value), "data": "0x" + c.data.hex()} for c in self.calls
            ]
        if self.nonce is not None:
            doc["nonce"], doc["deadline"] = str(self.nonce), str(self.deadline)
        if self.new_group_key is not None:
            doc["new_group_key"] = self.new_group_key.hex()
        if self.typed_data is not None:
            doc["typed_data"] = self.typed_data
        if self.payload is not None:
            doc["payload"] = self.payload.hex()
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> SigningRequest:
        """Parse (and check) a request received from a coordinator."""
        if not isinstance(doc, dict):
            raise InvalidInput("signing request must be a JSON object")
        kind = doc.get("kind")
        chain_id = doc.get("chain_id")
        if chain_id is not None and (isinstance(chain_id, bool) or not isinstance(chain_id, int)):
            raise InvalidInput("signing request chain_id must be an integer")
        account = doc.get("account")
        if account is not None and not isinstance(account, str):
            raise InvalidInput("signing request account must be a 0x address")
        calls: tuple[AccountCall, ...] = ()
        if kind == "execute":
            raw_calls = doc.get("calls")
            if not isinstance(raw_calls, list) or not all(isinstance(c, dict) for c in raw_calls):
                raise InvalidInput("an execute request needs a list of calls")
            try:
                calls = tuple(
                    AccountCall(
                        str(c["to"]), _int(c["value"], "call value"), _hex_bytes(c["data"], "data")
                    )
                    for c in raw_calls
                )
            except KeyError as exc:
                raise InvalidInput(f"an execute call has no {exc}") from None
        nonce = doc.get("nonce")
        deadline = doc.get("deadline")
        key = doc.get("new_group_key")
        typed = doc.get("typed_data")
        payload = doc.get("payload")
        return cls(
            str(kind),
            chain_id,
            account,
            calls=calls,
            nonce=None if nonce is None else _int(nonce, "nonce"),
            deadline=None if deadline is None else _int(deadline, "deadline"),
            new_group_key=None if key is None else _hex_bytes(key, "new_group_key"),
            typed_data=typed if isinstance(typed, dict) else None,
            payload=None if payload is None else _hex_bytes(payload, "payload"),
        )
