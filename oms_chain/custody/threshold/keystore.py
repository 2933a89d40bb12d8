"""Key shares at rest: one file per participant, each encrypted with that participant's own
passphrase (no passphrase opens more than one share), from its own environment variable
(``OMS_THRESHOLD_PASSPHRASE_<NAME>`` by default, see :func:`participant_passphrase_env`) or a
file only its owner can read; the coordinator's key has another (``OMS_THRESHOLD_COORDINATOR_
PASSPHRASE``).

Format (JSON, ``"format": "oms-threshold-share", "version": 1``): the public header (participant
name, FROST identifier, group key, t, n) in clear, and the secret body (the frost-rs key package,
the participant's Ed25519 request-signing key) sealed with ChaCha20-Poly1305 under a key derived
by scrypt (N=2**15, r=8, p=1, 16-byte random salt, 12-byte random nonce). The clear header is
the AEAD's associated data, so editing it makes the file unreadable. A wrong passphrase and a
corrupt file give the same error (AEAD cannot tell them apart).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from oms_chain.custody.threshold.errors import ShareStoreError
from oms_chain.model.errors import ConfigError, InvalidInput

__all__ = [
    "COORDINATOR_PASSPHRASE_ENV",
    "participant_passphrase_env",
    "passphrase_from_env",
    "passphrase_from_file",
    "read_sealed",
    "write_sealed",
]

COORDINATOR_PASSPHRASE_ENV = "OMS_THRESHOLD_COORDINATOR_PASSPHRASE"
PASSPHRASE_ENV_PREFIX = "OMS_THRESHOLD_PASSPHRASE_"
_MIN_LEN = 8
_FORMAT = "oms-threshold-share"
_VERSION = 1
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def participant_passphrase_env(name: str) -> str:
    """The default environment variable of participant ``name``'s passphrase:
    ``OMS_THRESHOLD_PASSPHRASE_<NAME>`` (upper case, ``-`` as ``_``)."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("participant name must be a non-empty str")
    return PASSPHRASE_ENV_PREFIX + name.upper().replace("-", "_")


def passphrase_from_env(var: str = COORDINATOR_PASSPHRASE_ENV) -> bytes:
    """The passphrase in environment variable ``var`` (at least 8 characters).

    Raises:
        ConfigError: the variable is unset or too short.
    """
    if not isinstance(var, str) or not var:
        raise InvalidInput("the passphrase environment variable name must be a non-empty str")
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(f"environment variable {var} is not set: put the passphrase there")
    if len(value) < _MIN_LEN:
        raise ConfigError(f"the passphrase in {var} is shorter than {_MIN_LEN} characters")
    return value.encode()


def passphrase_from_file(path: Path) -> bytes:
    """The passphrase in file ``path`` (one trailing newline dropped; at least 8 characters).
    The file must be readable by its owner only (mode 0600 or 0400), like an SSH key.

    Raises:
        ConfigError: missing, readable by group or others, or too short.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"passphrase file {path} cannot be read ({exc.__class__.__name__})"
        ) from None
    if mode & 0o077:
        raise ConfigError(
            f"passphrase file {path} is readable by others (mode {mode & 0o777:o}): chmod 600 it"
        )
    value = raw.removesuffix(b"\n").removesuffix(b"\r")
    if len(value) < _MIN_LEN:
        raise ConfigError(f"the passphrase in {path} is shorter than {_MIN_LEN} characters")
    return value


def _kdf(passphrase: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(
        passphrase
    )


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def write_sealed(
    path: Path, header: dict[str, Any], secret: dict[str, str], passphrase: bytes
) -> None:
    """Write ``secret`` sealed under ``passphrase`` with the clear ``header`` (mode 0600)."""
    salt, nonce = os.urandom(16), os.urandom(12)
    head = {"format": _FORMAT, "version": _VERSION, **header}
    sealed = ChaCha20Poly1305(_kdf(passphrase, salt, _SCRYPT)).encrypt(
        nonce, json.dumps(secret).encode(), _aad(head)
    )
    doc = {
        "header": head,
        "kdf": {"name": "scrypt", "salt": salt.hex(), **_SCRYPT},
        "aead": {"name": "chacha20-poly1305", "nonce": nonce.hex()},
        "ciphertext": sealed.hex(),
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, path)


def read_header(path: Path) -> dict[str, Any]:
    """The clear header of a share file (no passphrase needed)."""
    return dict(_load(path)["header"])


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShareStoreError(
            f"share file {path} cannot be read: {exc.__class__.__name__}"
        ) from None
    head = doc.get("header") if isinstance(doc, dict) else None
    if not isinstance(head, dict) or head.get("format") != _FORMAT:
        raise ShareStoreError(f"{path} is not an oms threshold share file")
    if head.get("version") != _VERSION:
        raise ShareStoreError(
            f"share file {path} has version {head.get('version')!r}; this oms reads version "
            f"{_VERSION} (upgrade oms)"
        )
    return doc


def read_sealed(path: Path, passphrase: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """(header, secret) of a share file.

    Raises:
        ShareStoreError: unreadable, not a share file, unknown version, wrong passphrase or
            tampered with.
    """
    doc = _load(path)
    try:
        kdf, aead = doc["kdf"], doc["aead"]
        if kdf["name"] != "scrypt" or aead["name"] != "chacha20-poly1305":
            raise ShareStoreError(f"share file {path}: unknown KDF or cipher")
        params = {k: int(kdf[k]) for k in ("n", "r", "p")}
        key = _kdf(passphrase, bytes.fromhex(kdf["salt"]), params)
        plain = ChaCha20Poly1305(key).decrypt(
            bytes.fromhex(aead["nonce"]), bytes.fromhex(doc["ciphertext"]), _aad(doc["header"])
        )
    except InvalidTag:
        raise ShareStoreError(
            f"share file {path} does not open: wrong passphrase, or the file was altered"
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ShareStoreError):
            raise
        raise ShareStoreError(f"share file {path} is corrupt ({exc.__class__.__name__})") from None
    return dict(doc["header"]), json.loads(plain)
