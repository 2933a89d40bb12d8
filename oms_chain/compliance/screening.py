"""Address screening against block lists the user supplies (e.g. a sanctions list export).

A list file is plain text (one address per line, ``#`` comments, optional ``address,label``),
CSV (a header with an ``address`` column and optional ``label`` / ``source`` columns) or JSON
(a list of addresses, or of objects with ``address`` and optional ``label``). Every entry keeps
where it came from (``file:line``) so a match names the exact entry. Lines that are not an
address are refused on load with the file and line named — a typo must not silently unblock.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_utils import is_address

from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.model.events import AddressScreeningMatched
from oms_chain.model.ids import EventId

__all__ = ["AddressScreen", "BlockList", "BlockListEntry", "ScreeningMatch", "match_events"]


@dataclass(frozen=True, slots=True)
class BlockListEntry:
    """One blocked address (lower case), its label and where it was listed (``file:line``)."""

    address: str
    label: str
    source: str


@dataclass(frozen=True, slots=True)
class ScreeningMatch:
    """An address that matched: in which ``role`` it appeared and which entry it hit."""

    address: str
    role: str
    list_name: str
    entry: BlockListEntry

    def __str__(self) -> str:
        label = f" ({self.entry.label})" if self.entry.label else ""
        return (
            f"{self.role} {self.address} is on block list {self.list_name!r} at "
            f"{self.entry.source}{label}"
        )


def _entry(address: str, label: str, source: str) -> BlockListEntry:
    address = address.strip()
    if not is_address(address) or not address.startswith("0x"):
        raise ConfigError(f"block list {source}: {address[:60]!r} is not a 0x-prefixed address")
    return BlockListEntry(address.lower(), label.strip(), source)


class BlockList:
    """Blocked addresses from one or more list files, indexed for O(1) lookups."""

    def __init__(self, name: str, entries: Iterable[BlockListEntry]) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInput("a block list needs a non-empty name")
        self.name = name
        self._by_address: dict[str, BlockListEntry] = {}
        for e in entries:
            self._by_address.setdefault(e.address, e)

    def __len__(self) -> int:
        return len(self._by_address)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and address.lower() in self._by_address

    def lookup(self, address: str) -> BlockListEntry | None:
        """The entry for ``address`` (any case), or ``None``."""
        return self._by_address.get(address.lower()) if isinstance(address, str) else None

    @classmethod
    def from_file(cls, path: Path | str, name: str | None = None) -> BlockList:
        """Load a ``.txt`` / ``.csv`` / ``.json`` list (format by suffix; anything else is text).

        Raises :class:`ConfigError` naming the file and line of a bad entry."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"block list {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"block list {path} cannot be read: {exc}") from None
        return cls.from_text(text, name or path.name, fmt=path.suffix.lstrip(".").lower())

    @classmethod
    def from_text(cls, text: str, name: str, *, fmt: str = "txt") -> BlockList:
        """Parse list text in ``fmt`` (``txt``, ``csv`` or ``json``)."""
        if fmt == "json":
            return cls(name, _parse_json(text, name))
        if fmt == "csv":
            return cls(name, _parse_csv(text, name))
        return cls(name, _parse_text(text, name))


def _parse_text(text: str, name: str) -> list[BlockListEntry]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            address, _, label = line.partition(",")
            out.append(_entry(address, label, f"{name}:{n}"))
    return out


def _parse_csv(text: str, name: str) -> list[BlockListEntry]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "address" not in fields:
        raise ConfigError(f"block list {name}: CSV needs an 'address' column, has {fields}")
    out = []
    for row in reader:
        clean = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        if clean.get("address", "").strip():
            out.append(
                _entry(clean["address"], clean.get("label", ""), f"{name}:{reader.line_num}")
            )
    return out


def _parse_json(text: str, name: str) -> list[BlockListEntry]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"block list {name}: not JSON ({exc})") from None
    if isinstance(data, Mapping):
        data = data.get("addresses")
    if not isinstance(data, list):
        raise ConfigError(f"block list {name}: JSON must be a list (or {{'addresses': [...]}})")
    out = []
    for i, item in enumerate(data):
        source = f"{name}:[{i}]"
        if isinstance(item, str):
            out.append(_entry(item, "", source))
        elif isinstance(item, Mapping) and isinstance(item.get("address"), str):
            out.append(_entry(item["address"], str(item.get("label", "")), source))
        else:
            raise ConfigError(f"block list {source}: expected an address or {{'address': ...}}")
    return out


def _stamp(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError as exc:
        raise ConfigError(f"block list {path} cannot be read: {exc}") from None


class AddressScreen:
    """Screens addresses against one or more block lists.

    Built with :meth:`from_files`, it also remembers the files and :meth:`refresh` re-reads
    those that changed on disk (the user updates a list while the session runs)."""

    def __init__(self, lists: Iterable[BlockList]) -> None:
        self.lists = tuple(lists)
        if not all(isinstance(b, BlockList) for b in self.lists):
            raise InvalidInput("AddressScreen takes BlockList objects")
        self._files: list[tuple[Path, bytes]] = []

    @classmethod
    def from_files(cls, paths: Iterable[Path | str]) -> AddressScreen:
        """A screen over the list files ``paths`` (see :meth:`BlockList.from_file`) that
        :meth:`refresh` keeps current.

        Raises :class:`ConfigError` naming the file and line of a bad entry."""
        files = [Path(p) for p in paths]
        stamps = [_stamp(p) for p in files]
        screen = cls(BlockList.from_file(p) for p in files)
        screen._files = list(zip(files, stamps, strict=True))
        return screen

    def refresh(self) -> bool:
        """Re-read the list files whose content changed since they were loaded (compared by
        SHA-256, so an edit within the same clock tick counts); ``True`` when any was re-read.
        A list that no longer loads raises :class:`ConfigError` and the previous lists stay
        in force."""
        if not self._files:
            return False
        changed = False
        lists = list(self.lists)
        files = list(self._files)
        for i, (path, stamp) in enumerate(files):
            now = _stamp(path)
            if now != stamp:
                lists[i] = BlockList.from_file(path)
                files[i] = (path, now)
                changed = True
        if changed:
            self.lists, self._files = tuple(lists), files
        return changed

    def screen(self, addresses: Mapping[str, Iterable[str]]) -> list[ScreeningMatch]:
        """Every match among ``addresses`` (role -> addresses), in role then list order.

        Strings that are not addresses (e.g. a CEX account name) are skipped, not matched."""
        matches = []
        for role, group in addresses.items():
            for address in group:
                if not isinstance(address, str) or not is_address(address):
                    continue
                for block in self.lists:
                    entry = block.lookup(address)
                    if entry is not None:
                        matches.append(ScreeningMatch(address, role, block.name, entry))
        return matches


def match_events(
    matches: Iterable[ScreeningMatch], account: str, now_ns: int, id_prefix: str
) -> list[AddressScreeningMatched]:
    """The audit-trail events for ``matches`` (one per match), stamped ``now_ns``."""
    return [
        AddressScreeningMatched(
            event_id=EventId(f"{id_prefix}-screen-{i}"),
            ts_event=now_ns,
            ts_init=now_ns,
            account=account,
            address=m.address,
            role=m.role,
            list_name=m.list_name,
            entry=m.entry.source,
            label=m.entry.label,
        )
        for i, m in enumerate(matches, 1)
    ]
