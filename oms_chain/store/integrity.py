"""Check the state a restart trusts against the hash chain, before anything trusts it.

Beside the hash-chained ``events`` the store keeps state that restart loads: snapshots (the
engine's projections, nonce journals, the AMM order journal, settlement trackers) and the
client-order-id table. :func:`state_problems` checks all of it:

- every snapshot row carries a seal bound to the chain hash at its position
  (:func:`~oms_chain.store.events.snapshot_seal`, written by ``save_snapshot`` and checked by
  every ``load_snapshot``): an edited, moved, re-inserted or deleted snapshot is named;
- the projections snapshot, when named, is re-derived by folding the events up to its position
  and must equal the stored one (this catches even a re-sealed forgery);
- every client order id the events assign must be reserved in ``client_order_ids`` for the same
  order (a deleted or re-pointed reservation would let an id be sent twice). Reservations the
  events do not mention are allowed: a process may crash between reserving and recording.

:func:`check_restart_state` runs those checks plus :func:`~oms_chain.store.audit.verify_audit`
and raises :class:`~oms_chain.store.errors.StoreTampered` naming the first bad table and row; the
engine calls it at start, before loading any snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from oms_chain.model.errors import OmsError
from oms_chain.model.events import event_from_payload
from oms_chain.store._sql import SqlEventStore
from oms_chain.store.audit import verify_audit
from oms_chain.store.errors import StoreTampered
from oms_chain.store.events import canonical_json
from oms_chain.store.projections import Projections

__all__ = ["StateProblem", "check_restart_state", "state_problems"]


@dataclass(frozen=True, slots=True)
class StateProblem:
    """One piece of restart state that does not match the chain: ``table``, ``row``, why."""

    table: str
    row: str
    problem: str

    def __str__(self) -> str:
        return f"table {self.table!r}, row {self.row!r}: {self.problem}"


def state_problems(
    store: SqlEventStore, *, projections_snapshot: str | None = None
) -> list[StateProblem]:
    """Every snapshot, projection and client-order-id row that does not match the events.

    Args:
        store: an SQL event store (SQLite or PostgreSQL); open it read-only to audit.
        projections_snapshot: name of the snapshot holding :meth:`Projections.to_snapshot`
            (the engine's ``engine-projections``), re-derived from the events when present.

    Folds every event once (in position order). Returns an empty list when all is consistent.
    """
    problems = [StateProblem("snapshots", n, p) for n, p in store.snapshot_problems()]
    reserved = store.client_order_ids()
    bad_snapshot = {p.row for p in problems}
    target: tuple[int, str] | None = None
    if projections_snapshot is not None and projections_snapshot not in bad_snapshot:
        found = store.load_snapshot(projections_snapshot)
        if found is not None:
            target = (found[0], canonical_json(found[1]))
    proj = Projections()
    if target is not None and target[0] == 0:
        problems += _compare(projections_snapshot or "", target[1], proj)
    for rec in store.read_all():
        try:
            proj.apply(event_from_payload(rec.event_type, rec.version, rec.payload))
        except OmsError as exc:
            if target is not None or reserved:
                problems.append(
                    StateProblem("events", str(rec.position), f"event cannot be folded: {exc}")
                )
            # else: not a store the engine wrote (no projections, no orders): nothing to derive
            return problems
        if target is not None and rec.position == target[0]:
            problems += _compare(projections_snapshot or "", target[1], proj)
    for coid, order_id in sorted(proj.by_client_order_id.items()):
        owner = reserved.get(coid)
        if owner is None:
            problems.append(
                StateProblem(
                    "client_order_ids",
                    coid,
                    f"the events give it to order {order_id!r} but it is not reserved "
                    f"(the reservation was deleted): it could be sent again",
                )
            )
        elif owner != order_id:
            problems.append(
                StateProblem(
                    "client_order_ids",
                    coid,
                    f"reserved for order {owner!r}, but the events give it to order {order_id!r}",
                )
            )
    return problems


def _compare(name: str, stored: str, proj: Projections) -> list[StateProblem]:
    derived = proj.to_snapshot()
    if canonical_json(derived) == stored:
        return []
    saved = json.loads(stored)
    keys = sorted(
        k
        for k in set(saved) | set(derived)
        if canonical_json(saved.get(k)) != canonical_json(derived.get(k))
    )
    return [
        StateProblem(
            "snapshots",
            name,
            f"differs from the projections re-derived from the events in {', '.join(keys)}",
        )
    ]


def check_restart_state(
    store: object, *, projections_snapshot: str | None = None, verify_chain: bool = True
) -> None:
    """Raise :class:`StoreTampered` if the state a restart would trust does not check out.

    Verifies the hash chain (unless ``verify_chain=False``), then :func:`state_problems`. Call
    before loading snapshots; the store is only read. Anything but an SQL event store (an
    in-memory log, which nobody can edit from outside the process) passes unchecked.

    Raises:
        StoreTampered: names the table (``events``, ``chain_head``, ``snapshots``,
            ``client_order_ids``) and the row of the first problem found.
    """
    if not isinstance(store, SqlEventStore):
        return
    if verify_chain:
        report = verify_audit(store)
        if not report.ok:
            table = "chain_head" if report.reason and "chain head" in report.reason else "events"
            raise StoreTampered(table, str(report.first_bad_position), report.reason or "broken")
    problems = state_problems(store, projections_snapshot=projections_snapshot)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise StoreTampered(first.table, first.row, first.problem + more)
