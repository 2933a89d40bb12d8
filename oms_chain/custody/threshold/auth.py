"""Mutual authentication between the coordinator and the participants.

Each side has an Ed25519 key; the group roster (``group.json``) pins every participant's public
key and the coordinator's. A request carries ``X-Oms-Time`` (ms), ``X-Oms-Nonce`` (16 random
bytes) and ``X-Oms-Signature`` over the method, path, time, nonce and the SHA-256 of the body; a
participant accepts it only when signed by the coordinator, within ``MAX_SKEW_MS`` of its clock
and with a nonce it has not seen in that window. Its response is signed over the request's nonce
and the SHA-256 of the response body, so the coordinator knows which participant answered and
that the answer belongs to its request. Ed25519 rather than shared HMAC keys: the coordinator
holds only public keys of the participants, so a compromised coordinator cannot impersonate one
to another, and a participant cannot forge the coordinator. Confidential DKG messages (round-2
packages) are sealed end to end with X25519 + ChaCha20-Poly1305 between the two participants;
the coordinator relays ciphertext only.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from oms_chain.custody.threshold.errors import ParticipantAuthError

__all__ = ["MAX_SKEW_MS"]

MAX_SKEW_MS = 30_000
_REQ = b"oms-threshold-v1 request\n"
_RESP = b"oms-threshold-v1 response\n"


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def signing_key_from_hex(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))


def signing_key_hex(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()


def public_hex(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _request_bytes(method: str, path: str, ts: int, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return _REQ + f"{method}\n{path}\n{ts}\n{nonce}\n{digest}".encode()


def sign_request(
    key: Ed25519PrivateKey, method: str, path: str, ts: int, body: bytes
) -> dict[str, str]:
    """The three authentication headers of a request."""
    nonce = os.urandom(16).hex()
    sig = key.sign(_request_bytes(method, path, ts, nonce, body)).hex()
    return {"X-Oms-Time": str(ts), "X-Oms-Nonce": nonce, "X-Oms-Signature": sig}


def _verify(public: str, sig: str, data: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(bytes.fromhex(sig), data)
    except (InvalidSignature, ValueError):
        raise ParticipantAuthError(f"{what}: bad signature") from None


class RequestVerifier:
    """A participant's check of the coordinator's requests (time window, nonce replay)."""

    def __init__(self, coordinator_key: str) -> None:
        self._key = coordinator_key
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check(
        self, method: str, path: str, headers: dict[str, str], body: bytes, now_ms: int
    ) -> str:
        """The request's nonce, if it is authentic and fresh."""
        try:
            ts = int(headers["X-Oms-Time"])
            nonce = headers["X-Oms-Nonce"]
            sig = headers["X-Oms-Signature"]
        except (KeyError, ValueError):
            raise ParticipantAuthError("request without valid X-Oms-Time/Nonce/Signature") from None
        if abs(now_ms - ts) > MAX_SKEW_MS:
            raise ParticipantAuthError(f"request time {ts} is more than {MAX_SKEW_MS} ms off")
        while self._seen and next(iter(self._seen.values())) < now_ms - 2 * MAX_SKEW_MS:
            self._seen.popitem(last=False)
        if nonce in self._seen or len(nonce) != 32:
            raise ParticipantAuthError("request nonce replayed")
        _verify(self._key, sig, _request_bytes(method, path, ts, nonce, body), "request")
        self._seen[nonce] = ts
        return nonce


def sign_response(key: Ed25519PrivateKey, nonce: str, body: bytes) -> str:
    return key.sign(_RESP + nonce.encode() + b"\n" + hashlib.sha256(body).digest()).hex()


def verify_response(public: str, nonce: str, body: bytes, sig: str | None, who: str) -> None:
    if not sig:
        raise ParticipantAuthError(f"response of {who} is not signed")
    _verify(public, sig, _RESP + nonce.encode() + b"\n" + hashlib.sha256(body).digest(), who)


def _box_key(mine: X25519PrivateKey, theirs: str, info: bytes) -> bytes:
    shared = mine.exchange(X25519PublicKey.from_public_bytes(bytes.fromhex(theirs)))
    return HKDF(SHA256(), 32, salt=None, info=info).derive(shared)


def seal(mine: X25519PrivateKey, theirs: str, info: bytes, plain: bytes) -> str:
    """Encrypt ``plain`` for the holder of X25519 key ``theirs``."""
    nonce = os.urandom(12)
    return (
        nonce + ChaCha20Poly1305(_box_key(mine, theirs, info)).encrypt(nonce, plain, info)
    ).hex()


def open_sealed(mine: X25519PrivateKey, theirs: str, info: bytes, sealed: str) -> bytes:
    raw = bytes.fromhex(sealed)
    try:
        return ChaCha20Poly1305(_box_key(mine, theirs, info)).decrypt(raw[:12], raw[12:], info)
    except (InvalidTag, ValueError):
        raise ParticipantAuthError("a sealed DKG package does not open (wrong sender?)") from None
