"""Verify and export the hash-chained audit log (``oms audit verify`` / ``oms audit export``).

Every recorded event stores ``prev_hash`` (the previous event's hash, the genesis hash for
position 1) and ``hash = sha256(prev_hash || canonical JSON of the record)``; see
:mod:`oms_chain.store.events`. :func:`verify_audit` recomputes the chain from the stored bytes in
position order and compares its end with the ``chain_head`` row, so an edited, deleted, inserted
or reordered row is reported with the first bad position and why.

Someone able to rewrite the whole table *and* the head row can forge a consistent chain; to
rule that out, publish the head somewhere the store's writer cannot rewrite
(:mod:`oms_chain.store.anchors`: a JSON-lines file the user keeps; ``oms audit anchor`` also
sends it to an ``AuditAnchor`` contract) and pass those anchors back to :func:`verify_audit`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from oms_chain.store._sql import SqlEventStore
from oms_chain.store.anchors import Anchor
from oms_chain.store.base import AuditRow, ChainHead, EventStore
from oms_chain.store.errors import InvalidEvent
from oms_chain.store.events import GENESIS_HASH, canonical_record, chain_hash

__all__ = ["AuditReport", "export_audit", "verify_audit"]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Outcome of :func:`verify_audit`.

    ``ok`` is true when every row chains correctly and the chain ends at the recorded head.
    Otherwise ``first_bad_position`` is the lowest position found wrong and ``reason`` says why.
    ``checked`` counts the rows verified before stopping; ``head_position``/``head_hash`` are
    the last good link (the whole chain's end when ``ok``).
    """

    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_bad_position: int | None = None
    reason: str | None = None
    anchors_checked: int = 0
    """How many external anchors the chain was checked against."""

    def __str__(self) -> str:
        if self.ok:
            against = f", matches {self.anchors_checked} anchor(s)" if self.anchors_checked else ""
            return (
                f"audit chain OK: {self.checked} events, head position {self.head_position}, "
                f"hash {self.head_hash}{against}"
            )
        return f"audit chain BROKEN at position {self.first_bad_position}: {self.reason}"


def _row_hash(row: AuditRow) -> str:
    record = canonical_record(
        position=row.position,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        event_id=row.event_id,
        event_type=row.event_type,
        version=row.version,
        payload_json=row.payload,
        ts_event=row.ts_event,
        ts_init=row.ts_init,
        causation_id=row.causation_id,
        correlation_id=row.correlation_id,
    )
    return chain_hash(row.prev_hash, record)


def verify_audit(
    store: EventStore,
    *,
    anchor: tuple[int, str] | None = None,
    anchors: Sequence[Anchor] = (),
    store_id: str | None = None,
) -> AuditReport:
    """Recompute the hash chain of ``store`` and report the first bad row, if any.

    Args:
        store: any :class:`~oms_chain.store.base.EventStore`; open it read-only
            (``open_store(url, read_only=True)``) to be sure verifying changes nothing.
        anchor: optional ``(position, hash)`` kept outside the store; the row at that position
            must carry that hash.
        anchors: chain heads published earlier by :func:`~oms_chain.store.anchors.make_anchor`
            (a file the user keeps, a transaction on a chain). Each must name this store
            (``store_id``) and the row at its position must carry its hash: this detects what
            the chain alone cannot — a truncated log with a rewritten head, a re-hashed log, a
            tail appended and then rewritten. Rows after the newest anchor can only be checked
            against the chain itself.
        store_id: the store's identity, compared with each anchor's (``None``: not compared).

    Never raises for a damaged chain: damage is reported in the returned :class:`AuditReport`.
    """
    checks: dict[int, list[Anchor]] = {}
    if anchor is not None:
        checks.setdefault(anchor[0], []).append(Anchor(anchor[0], anchor[1], None, "anchor"))
    for a in anchors:
        if store_id is not None and a.store_id is not None and a.store_id != store_id:
            return AuditReport(
                False, 0, 0, GENESIS_HASH, a.position,
                f"{a.source} anchors store {a.store_id}, but this store is {store_id}: the "
                f"store was replaced or its identity rewritten (or it is the wrong anchor)",
                len(anchors),
            )  # fmt: skip
        checks.setdefault(a.position, []).append(a)
    recorded_head = _head_row(store)
    expected = 1
    prev = GENESIS_HASH
    versions: dict[str, int] = {}
    n_anchors = sum(len(v) for v in checks.values())

    def bad(position: int, reason: str) -> AuditReport:
        return AuditReport(False, expected - 1, expected - 1, prev, position, reason, n_anchors)

    for a in checks.get(0, []):
        if a.hash != GENESIS_HASH:
            return bad(0, f"{a.source} records position 0 with a hash other than the genesis")

    def walk(after: int) -> AuditReport | None:
        nonlocal expected, prev
        for row in store.read_audit_rows(after):
            if row.position != expected:
                return bad(
                    expected,
                    f"position {expected} is missing (deleted row?): the next row has position "
                    f"{row.position}",
                )
            if row.prev_hash != prev:
                where = "the chain start" if expected == 1 else f"position {expected - 1}"
                return bad(
                    expected,
                    f"prev_hash does not match the hash of {where}: this row was moved or "
                    f"replaced, or the row before it was rewritten",
                )
            try:
                digest = _row_hash(row)
            except (TypeError, ValueError) as exc:
                return bad(expected, f"row cannot be hashed ({exc}): a column was edited")
            if digest != row.hash:
                return bad(expected, "content does not match its hash: the row was edited or moved")
            version = versions.get(row.stream_id, 0) + 1
            if row.stream_version != version:
                return bad(
                    expected,
                    f"stream {row.stream_id!r} jumps from version {version - 1} to "
                    f"{row.stream_version}: an event of that stream was removed",
                )
            for a in checks.get(expected, ()):
                if a.hash != digest:
                    return bad(
                        expected,
                        f"hash {digest} differs from {a.source}, which recorded {a.hash} at this "
                        f"position: the log up to here was rewritten (re-hashed, or truncated and "
                        f"appended again)",
                    )
            versions[row.stream_id] = version
            prev = digest
            expected += 1
        return None

    failed = walk(0)
    if failed is not None:
        return failed
    # Other writers may append while we read (rows past the head read first): follow the head.
    for _ in range(_FOLLOW_HEAD):
        last = expected - 1
        if recorded_head is None or recorded_head.position >= last:
            break
        fresh = _head_row(store)
        if fresh is None or fresh.position < last:
            break  # rows past the head that no writer recorded: reported below
        recorded_head = fresh
        if fresh.position > last:
            failed = walk(last)
            if failed is not None:
                return failed
    last = expected - 1
    beyond = [a for p, found in sorted(checks.items()) if p > last for a in found]
    if beyond:
        a = beyond[0]
        return bad(
            last + 1,
            f"the log ends at position {last}, but {a.source} recorded position {a.position}: "
            f"events were deleted from the end (the chain head rewritten to match)",
        )
    if recorded_head is None:
        return bad(last + 1, "the chain_head row is missing (deleted outside oms-chain)")
    if recorded_head.position > last:
        return bad(
            last + 1,
            f"position {last + 1} is missing: the chain head records {recorded_head.position} "
            f"events but the log ends at {last} (rows deleted from the end?)",
        )
    if recorded_head.position < last:
        return bad(
            recorded_head.position + 1,
            f"rows after the recorded chain head ({recorded_head.position}) were added "
            f"outside the store",
        )
    if recorded_head.hash != prev:
        return bad(
            last, "the chain head's hash differs from the last row's: head or last row rewritten"
        )
    return AuditReport(True, last, last, prev, anchors_checked=n_anchors)


#: How many times verification follows a head that moves (appends by other writers) while it reads.
_FOLLOW_HEAD = 100


def _head_row(store: EventStore) -> ChainHead | None:
    if isinstance(store, SqlEventStore):
        return store.head_row()
    return store.head()


AuditFormat = Literal["jsonl", "csv"]

_EXPORT_FIELDS = list(AuditRow._fields)


def export_audit(
    store: EventStore, path: str | os.PathLike[str], fmt: AuditFormat = "jsonl"
) -> int:
    """Write every recorded event, with its chain columns, to ``path``; return the row count.

    ``jsonl``: one JSON object per line with the columns of :class:`AuditRow`, ``payload`` as a
    JSON object. ``csv``: a header row, then one row per event, ``payload`` as its stored
    canonical JSON text and ``None`` as an empty cell. The file is written to a temporary name
    and renamed, so a failed export leaves no partial file.

    Raises:
        InvalidEvent: ``fmt`` is not ``jsonl`` or ``csv``, or the directory of ``path`` does not
            exist.
    """
    if fmt not in ("jsonl", "csv"):
        raise InvalidEvent(f"audit export format must be 'jsonl' or 'csv', not {fmt!r}")
    target = Path(path)
    if not target.parent.is_dir():
        raise InvalidEvent(
            f"directory {target.parent} of the export file {target.name} does not exist; "
            f"create it first"
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            if fmt == "csv":
                writer = csv.writer(out)
                writer.writerow(_EXPORT_FIELDS)
                for row in store.read_audit_rows():
                    writer.writerow(["" if v is None else v for v in row])
                    count += 1
            else:
                for row in store.read_audit_rows():
                    item: dict[str, Any] = row._asdict()
                    # A damaged payload is exported as the text it is.
                    with contextlib.suppress(ValueError):
                        item["payload"] = json.loads(row.payload)
                    out.write(json.dumps(item, ensure_ascii=False) + "\n")
                    count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
