"""Check the state a restart trusts against the hash chain, before anything trusts it.

Beside the hash-chained ``events`` the store keeps state that restart loads: snapshots (the
engine's projections, nonce journals, the AMM order journal, settlement trackers) and the
client-order-id table. :func:`state_problems` checks all of it:

- every snapshot row carries a seal bound to the chain hash at its position
  (:func:`~oms_chain.store.events.snapshot_seal`, written by ``save_snapshot`` and checked by
  every ``load_snapshot``): an edited, moved, re-inserted or deleted snapshot is named. The
  seal formula is public, so like the chain itself it stops edits, not a forger who re-seals;
  against that, anchors protect the events, and
- the projections snapshot is re-derived by folding the events up to its position and must
  equal the stored one, which catches even a re-sealed forgery (``oms audit verify`` does it;
  engine start does not by default, as it costs a full replay);
- every client order id the events assign must be reserved in ``client_order_ids`` for the same
  order (a deleted or re-pointed reservation would let an id be sent twice). Reservations the
  events do not mention are allowed: a process may crash between reserving and recording.

:func:`check_restart_state` runs those checks plus :func:`~oms_chain.store.audit.verify_audit`
and raises :class:`~oms_chain.store.errors.StoreTampered` naming the first bad table and row; the
engine calls it at start, before loading any snapshot.

Not covered: snapshot content that no event determines (a nonce journal's released nonces, a
tracker's signed bytes) is only as good as its seal.
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


#: Event types that assign a client order id to an order (payload keys ``client_order_id``,
#: ``order_id``).
_COID_EVENTS = frozenset({"ChildOrderCreated", "OrderSubmitted"})


def state_problems(
    store: SqlEventStore,
    *,
    projections_snapshot: str | None = None,
    rederive_projections: bool = True,
) -> list[StateProblem]:
    """Every snapshot, projection and client-order-id row that does not match the events.

    Args:
        store: an SQL event store (SQLite or PostgreSQL); open it read-only to audit.
        projections_snapshot: name of the snapshot holding :meth:`Projections.to_snapshot`
            (the engine's ``engine-projections``).
        rederive_projections: fold the events up to that snapshot's position and compare (a
            full replay: about 0.2 ms per event here); without it the snapshot is checked by
            its seal only, like every other snapshot.

    Returns an empty list when all is consistent.
    """
    problems = [StateProblem("snapshots", n, p) for n, p in store.snapshot_problems()]
    problems += _client_order_id_problems(store)
    if projections_snapshot is None or not rederive_projections:
        return problems
    if projections_snapshot in {p.row for p in problems}:
        return problems
    found = store.load_snapshot(projections_snapshot)
    if found is None:
        return problems
    position, stored = found[0], canonical_json(found[1])
    proj = Projections()
    if position > 0:
        for rec in store.read_all():
            try:
                proj.apply(event_from_payload(rec.event_type, rec.version, rec.payload))
            except OmsError as exc:
                problems.append(
                    StateProblem("events", str(rec.position), f"event cannot be folded: {exc}")
                )
                return problems
            if rec.position == position:
                break
    return problems + _compare(projections_snapshot, stored, proj)


def _client_order_id_problems(store: SqlEventStore) -> list[StateProblem]:
    """Every client order id the events assign must be reserved for that order."""
    assigned: dict[str, str] = {}
    for row in store.read_audit_rows():
        if row.event_type not in _COID_EVENTS:
            continue
        try:
            payload = json.loads(row.payload)
            coid, order_id = payload["client_order_id"], payload["order_id"]
        except (ValueError, KeyError, TypeError):
            continue  # not an engine event; the chain check covers its bytes
        if isinstance(coid, str) and isinstance(order_id, str):
            assigned.setdefault(coid, order_id)
    # Read after the events: an id is reserved before its first event, so a writer appending
    # meanwhile cannot make a reservation look missing.
    reserved = store.client_order_ids()
    problems = []
    for coid, order_id in sorted(assigned.items()):
        owner = reserved.get(coid)
        if owner is None:
            problems.append(
                StateProblem(
                    "client_order_ids",
                    coid,
                    f"the events give it to order {order_id!r} but it is not reserved (the "
                    f"reservation was deleted): it could be sent again",
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
    store: object,
    *,
    projections_snapshot: str | None = None,
    verify_chain: bool = True,
    rederive_projections: bool = False,
) -> None:
    """Raise :class:`StoreTampered` if the state a restart would trust does not check out.

    Verifies the hash chain (unless ``verify_chain=False``), then :func:`state_problems`
    (seals of every snapshot, client order ids against the events; the projections snapshot
    re-derived only with ``rederive_projections=True``, as ``oms audit verify`` does). Costs
    one read of the log (about 40 µs per event here); call before loading snapshots; the
    store is only read. Anything but an SQL event store (an
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
    problems = state_problems(
        store,
        projections_snapshot=projections_snapshot,
        rederive_projections=rederive_projections,
    )
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise StoreTampered(first.table, first.row, first.problem + more)
