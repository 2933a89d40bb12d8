"""The one place frost-rs is called. Its failures are Rust panics (``BaseException``, not
``Exception``): every call is wrapped and turned into :class:`FrostError`; KeyboardInterrupt and
SystemExit pass through. Packages are frost-rs's base64url strings; nothing here logs them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from oms_chain.custody.threshold.errors import FrostError

__all__: list[str] = []

T = TypeVar("T")

_HEADER = bytes.fromhex("00eed6b1b1")  # frost-rs serialization version + secp256k1 suite id


def _lib() -> Any:
    try:
        from frost_rs import utility_secp256k1
    except ImportError:  # pragma: no cover - depends on the install
        raise FrostError(
            "threshold signing needs frost-rs (CPython <= 3.12): pip install 'oms-chain[threshold]'"
        ) from None
    return utility_secp256k1


def _call(what: str, fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3 PanicException derives from BaseException
        reason = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise FrostError(f"frost-rs {what} refused its input: {reason}") from None


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def identifier(name: str) -> str:
    """The FROST identifier derived from a participant's name (deterministic)."""
    return _call("get_id", _lib().get_id, name)


def dkg_round1(ident: str, t: int, n: int) -> tuple[str, str]:
    """(secret package, public package) of DKG round 1."""
    secret, public = _call("dkg round1", _lib().round1, ident, t, n)
    return secret, public


def dkg_round2(secret1: str, round1: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(secret package, {recipient identifier: package}) of DKG round 2."""
    secret, packages = _call("dkg round2", _lib().round2, secret1, round1)
    return secret, dict(packages)


def dkg_round3(secret2: str, round1: dict[str, str], round2: dict[str, str]) -> tuple[str, str]:
    """(key package, public key package) at the end of the DKG."""
    key_package, public_package = _call("dkg round3", _lib().round3, secret2, round1, round2)
    return key_package, public_package


def preprocess(key_package: str) -> tuple[str, str]:
    """(secret nonces, public commitments) for one signing round."""
    nonces, commitments = _call("preprocess", _lib().preprocess, key_package)
    return nonces, commitments


def sign(message: bytes, commitments: dict[str, str], nonces: str, key_package: str) -> str:
    """One participant's signature share."""
    return _call("sign", _lib().sign, message, commitments, nonces, key_package)


def aggregate(
    message: bytes, commitments: dict[str, str], shares: dict[str, str], public_package: str
) -> bytes:
    """The group signature (65 bytes: compressed R || z); checks every share."""
    return b64decode(
        _call("aggregate", _lib().aggregate, message, commitments, shares, public_package)
    )


def group_key(public_package: str) -> bytes:
    """The compressed group public key (the last 33 bytes of the public key package)."""
    raw = b64decode(public_package)
    if len(raw) < 39 or raw[:5] != _HEADER:
        raise FrostError("not a FROST(secp256k1, SHA-256) public key package")
    return raw[-33:]


def verify(message: bytes, group_public_key: bytes, signature: bytes) -> bool:
    """frost-rs's verification of a 65-byte signature under a compressed group key."""
    if len(group_public_key) != 33 or len(signature) != 65:
        return False
    # a public key package with no verifying shares: header, empty map, the group key
    package = b64encode(_HEADER + b"\x00" + group_public_key)
    try:
        return bool(_call("verify", _lib().verify, message, package, b64encode(signature)))
    except FrostError:
        return False
