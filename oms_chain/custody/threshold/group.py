"""The group roster (``group.json``): public data only. t, n, the group key and frost-rs's
public key package, the coordinator's and every participant's Ed25519 key, and optionally the
threshold account it owns. Participants' endpoints live beside it in
``participants/<name>.endpoint.json`` (written by each running participant)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms_chain.custody.threshold.errors import ShareStoreError
from oms_chain.model.errors import InvalidInput

__all__ = ["GroupRoster", "ParticipantInfo", "check_name", "check_threshold"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_PARTICIPANTS = 64


def check_name(name: object) -> str:
    """A participant name: 1-32 of a-z 0-9 _ -, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"participant name {name!r} must be 1-32 characters of a-z, 0-9, '_' or '-'"
        )
    return name


def check_threshold(t: object, n: object) -> tuple[int, int]:
    """(t, n) with 2 <= t <= n <= 64."""
    if (
        isinstance(t, bool)
        or isinstance(n, bool)
        or not isinstance(t, int)
        or not isinstance(n, int)
    ):
        raise InvalidInput("t and n must be integers")
    if not 2 <= n <= MAX_PARTICIPANTS:
        raise InvalidInput(f"n={n}: a group has 2 to {MAX_PARTICIPANTS} participants")
    if not 2 <= t <= n:
        raise InvalidInput(f"t={t}: the threshold must be between 2 and n={n}")
    return t, n


def _hex(value: object, length: int, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(rf"[0-9a-f]{{{2 * length}}}", value):
        raise InvalidInput(f"{what} must be {length} bytes of lower-case hex")
    return value


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    """One participant: name, FROST identifier (base64url) and Ed25519 public key (hex)."""

    name: str
    identifier: str
    auth_key: str

    def __post_init__(self) -> None:
        check_name(self.name)
        if not isinstance(self.identifier, str) or not self.identifier:
            raise InvalidInput(f"participant {self.name}: identifier must be a non-empty str")
        _hex(self.auth_key, 32, f"participant {self.name}'s auth_key")


@dataclass(frozen=True, slots=True)
class GroupRoster:
    """Everything public about a threshold group."""

    t: int
    n: int
    group_key: bytes
    public_key_package: str
    coordinator_key: str
    participants: tuple[ParticipantInfo, ...]
    account: str | None = None
    chain_id: int | None = None

    def __post_init__(self) -> None:
        check_threshold(self.t, self.n)
        if not isinstance(self.group_key, bytes) or len(self.group_key) != 33:
            raise InvalidInput("group_key must be 33 bytes (a compressed point)")
        _hex(self.coordinator_key, 32, "coordinator_key")
        if len(self.participants) != self.n:
            raise InvalidInput(f"roster lists {len(self.participants)} participants, n={self.n}")
        names = [p.name for p in self.participants]
        if len(set(names)) != len(names):
            raise InvalidInput("participant names must be unique")

    def participant(self, name: str) -> ParticipantInfo:
        """The participant called ``name``."""
        for p in self.participants:
            if p.name == name:
                return p
        raise InvalidInput(f"no participant {name!r} in this group ({', '.join(self.names)})")

    @property
    def names(self) -> tuple[str, ...]:
        """Participant names in roster order."""
        return tuple(p.name for p in self.participants)

    def to_json(self) -> dict[str, Any]:
        """The JSON document of ``group.json``."""
        return {
            "format": "oms-threshold-group",
            "version": 1,
            "suite": "FROST(secp256k1, SHA-256)",
            "t": self.t,
            "n": self.n,
            "group_key": self.group_key.hex(),
            "public_key_package": self.public_key_package,
            "coordinator_key": self.coordinator_key,
            "participants": [
                {"name": p.name, "identifier": p.identifier, "auth_key": p.auth_key}
                for p in self.participants
            ],
            "account": self.account,
            "chain_id": self.chain_id,
        }

    @classmethod
    def from_json(cls, doc: Any) -> GroupRoster:
        """Parse a ``group.json`` document."""
        if not isinstance(doc, dict) or doc.get("format") != "oms-threshold-group":
            raise InvalidInput("not an oms threshold group document")
        if doc.get("version") != 1:
            raise InvalidInput(f"group document version {doc.get('version')!r}; expected 1")
        try:
            return cls(
                t=doc["t"],
                n=doc["n"],
                group_key=bytes.fromhex(doc["group_key"]),
                public_key_package=doc["public_key_package"],
                coordinator_key=doc["coordinator_key"],
                participants=tuple(
                    ParticipantInfo(p["name"], p["identifier"], p["auth_key"])
                    for p in doc["participants"]
                ),
                account=doc.get("account"),
                chain_id=doc.get("chain_id"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(f"group document is malformed ({exc.__class__.__name__})") from None

    def save(self, directory: Path) -> Path:
        """Write ``directory/group.json``."""
        path = Path(directory) / "group.json"
        tmp = path.with_name("group.json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, directory: Path) -> GroupRoster:
        """Read ``directory/group.json``."""
        path = Path(directory) / "group.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(
                f"no threshold group in {directory} (no group.json): run `oms threshold keygen`"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ShareStoreError(f"{path} cannot be read: {exc.__class__.__name__}") from None
        return cls.from_json(doc)


def participants_dir(directory: Path) -> Path:
    return Path(directory) / "participants"


def share_path(directory: Path, name: str) -> Path:
    return participants_dir(directory) / f"{check_name(name)}.share"


def endpoint_path(directory: Path, name: str) -> Path:
    return participants_dir(directory) / f"{check_name(name)}.endpoint.json"


def read_endpoints(directory: Path) -> dict[str, str]:
    """{participant name: URL} from the endpoint files present."""
    out: dict[str, str] = {}
    folder = participants_dir(directory)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.endpoint.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            url = doc["url"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(url, str) and url.startswith("http://127.0.0.1:"):
            out[path.name[: -len(".endpoint.json")]] = url
    return out
