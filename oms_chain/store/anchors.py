"""External anchors of the audit chain: its head, kept where the store's writer cannot rewrite it.

The hash chain shows that no row was edited *relative to the chain head*; someone who can write
the database can still truncate the log and rewrite the head, or re-hash everything. An anchor —
``(store id, position, hash)`` of a verified head, published outside the store — rules that
out: :func:`~oms_chain.store.audit.verify_audit` checks that the row at every anchored position
still carries the anchored hash.

Two places hold anchors: a JSON-lines file the user keeps (one object per line, appended, never
rewritten; :func:`append_anchor_file` / :func:`read_anchor_file`), and a chain
(``oms audit anchor --rpc-url``: an event of the ``AuditAnchor`` contract, read back by
:mod:`oms_chain.chain.anchor`). A file line::

    {"format": "oms-audit-anchor/1", "hash": "<64 hex>", "position": 42,
     "store": "sqlite:///oms.db", "store_id": "<32 hex>", "ts_ns": 1764662400000000000}

plus, when the same head was also sent to a chain, ``"published": {"chain_id": ..., "contract":
..., "tx_hash": ..., "block": ..., "writer": ...}``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms_chain.store.errors import InvalidEvent

__all__ = ["ANCHOR_FORMAT", "Anchor", "append_anchor_file", "read_anchor_file"]

ANCHOR_FORMAT = "oms-audit-anchor/1"
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain head published outside the store.

    ``position`` (0 = empty log) and ``hash`` (64 lowercase hex digits) are the head;
    ``store_id`` names the store (``None`` for a store that has no id); ``source`` says where the
    anchor was read (a file and line, a chain and transaction) for messages; ``ts_ns`` is when it
    was made (integer nanoseconds), if known.
    """

    position: int
    hash: str
    store_id: str | None
    source: str
    ts_ns: int | None = None

    def __post_init__(self) -> None:
        if type(self.position) is not int or self.position < 0:
            raise InvalidEvent(f"anchor position must be an int >= 0, not {self.position!r}")
        if not isinstance(self.hash, str) or not _HASH.fullmatch(self.hash):
            raise InvalidEvent(f"anchor hash must be 64 lowercase hex digits, not {self.hash!r}")

    def to_json(self, store_url: str, published: dict[str, Any] | None = None) -> str:
        """The anchor as one line of an anchor file (``store_url`` without password).

        ``published`` (JSON-safe) records where else the same head went, e.g. the chain, contract
        and transaction of an on-chain anchor; it is kept for people, not read back.
        """
        item: dict[str, Any] = {
            "format": ANCHOR_FORMAT,
            "store_id": self.store_id,
            "store": store_url,
            "position": self.position,
            "hash": self.hash,
            "ts_ns": self.ts_ns,
        }
        if published:
            item["published"] = published
        return json.dumps(item, sort_keys=True)


def append_anchor_file(
    path: str | os.PathLike[str],
    anchor: Anchor,
    store_url: str,
    published: dict[str, Any] | None = None,
) -> None:
    """Append ``anchor`` as one line to the anchor file at ``path`` (created if missing).

    ``published``: see :meth:`Anchor.to_json`.

    The line is written with one ``write`` in append mode and flushed to disk before this
    returns; earlier lines are never touched.

    Raises:
        InvalidEvent: the directory does not exist, or the path is not a writable file.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise InvalidEvent(f"directory {target.parent} of anchor file {target} does not exist")
    line = anchor.to_json(store_url, published) + "\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InvalidEvent(f"cannot append to anchor file {target}: {exc.strerror}") from None
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchor_file(path: str | os.PathLike[str]) -> list[Anchor]:
    """Every anchor in the anchor file at ``path``, in file order.

    Raises:
        InvalidEvent: the file is missing or a line is not an anchor (the message names the
            line): a damaged anchor file must not be silently skipped.
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidEvent(f"cannot read anchor file {target}: {exc.strerror}") from None
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"anchor file {target} line {number}"
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or item.get("format") != ANCHOR_FORMAT:
                raise ValueError(f"not an {ANCHOR_FORMAT} object")
            store_id = item.get("store_id")
            ts = item.get("ts_ns")
            anchors.append(
                Anchor(
                    position=item["position"],
                    hash=item["hash"],
                    store_id=None if store_id is None else str(store_id),
                    source=where,
                    ts_ns=ts if type(ts) is int else None,
                )
            )
        except (ValueError, KeyError, InvalidEvent) as exc:
            raise InvalidEvent(f"{where} is not an audit anchor: {exc}") from None
    return anchors
