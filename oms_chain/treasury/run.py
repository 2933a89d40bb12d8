"""A treasury run as its events tell it: :class:`RunState` replayed from the run's stream
(``treasury-<run id>``, see :mod:`oms_chain.treasury.desk` for the events), and the option
premium the executed proposals of a period spent (:func:`budget_spent`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms_chain.store import EventStore
from oms_chain.treasury.proposals import Proposal

__all__ = ["RunState", "budget_spent", "run_state"]

_NS = 1_000_000_000


@dataclass(slots=True)
class RunState:
    """A run as its events tell it."""

    run_id: str
    plan: dict[str, Any] | None = None
    proposals: list[Proposal] = field(default_factory=list)
    safe_tx_hashes: dict[str, str] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    notified: bool = False
    signatures: dict[str, dict[str, str]] = field(default_factory=dict)
    signature_kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    executed: dict[str, dict[str, Any]] = field(default_factory=dict)
    after: dict[str, Any] | None = None
    reorged: list[dict[str, Any]] = field(default_factory=list)
    reverted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    created_block: int | None = None
    events: list[Any] = field(default_factory=list)

    def reorgs_of(self, proposal_id: str) -> int:
        """How often an execution of ``proposal_id`` left the chain."""
        return sum(1 for r in self.reorged if r["proposal_id"] == proposal_id)

    def reverts_of(self, proposal_id: str) -> int:
        """How many ``execTransaction`` of ``proposal_id`` were mined and reverted."""
        return len(self.reverted.get(proposal_id, []))

    def is_reverted(self, proposal_id: str) -> bool:
        """Its last ``execTransaction`` reverted and no new one was sent since."""
        return (
            bool(self.reverted.get(proposal_id))
            and proposal_id not in self.sent
            and proposal_id not in self.executed
        )

    @property
    def stage(self) -> str:
        """``new``, ``planned``, ``proposed``, ``executing``, ``reverted`` (a proposal's
        ``execTransaction`` reverted: execute again or plan a new run), ``executed`` or
        ``remeasured``; ``inside band`` when the plan found nothing to do."""
        if self.plan is None:
            return "new"
        if self.plan.get("chosen") is None and not self.proposals:
            return "inside band"
        if self.after is not None:
            return "remeasured"
        if self.proposals and len(self.executed) == len(self.proposals):
            return "executed"
        if any(self.is_reverted(p.proposal_id) for p in self.proposals):
            return "reverted"
        if self.sent or self.executed:
            return "executing"
        return "proposed" if self.created else "planned"


def run_state(store: EventStore, run_id: str) -> RunState:
    """Replay the run's stream."""
    st = RunState(run_id)
    for e in store.read_stream(f"treasury-{run_id}"):
        st.events.append(e)
        p = e.payload
        if e.event_type == "TreasuryPlanned":
            st.plan = p["plan"]
            st.proposals = [Proposal.from_json(x) for x in p["proposals"]]
        elif e.event_type == "ProposalCreated":
            st.created.add(p["proposal_id"])
            st.safe_tx_hashes[p["proposal_id"]] = p["safe_tx_hash"]
            if p.get("block") is not None and st.created_block is None:
                st.created_block = int(p["block"])
        elif e.event_type == "OwnersNotified":
            st.notified = True
        elif e.event_type == "SignatureCollected":
            st.signatures.setdefault(p["proposal_id"], {})[p["owner"]] = p["signature"]
            kinds = st.signature_kinds.setdefault(p["proposal_id"], {})
            kinds[p["owner"]] = p.get("kind", "eoa")
        elif e.event_type == "ProposalSent":
            st.sent[p["proposal_id"]] = p
        elif e.event_type == "ProposalExecuted":
            st.executed[p["proposal_id"]] = p
        elif e.event_type == "ProposalReverted":
            st.reverted.setdefault(p["proposal_id"], []).append(p)
            st.sent.pop(p["proposal_id"], None)  # the next execute sends a new one
        elif e.event_type == "TreasuryRemeasured":
            st.after = p["after"]
        elif e.event_type == "ProposalReorged":
            st.reorged.append(p)
            st.executed.pop(p["proposal_id"], None)
            st.after = None  # measured on a chain that is gone
    return st


def budget_spent(store: EventStore, now_ns: int, period_days: int) -> Decimal:
    """Option premium paid (USD) by proposals executed in the ``period_days`` before ``now_ns``;
    a proposal that nets a credit (a zero-cost collar) spends nothing, and earns no budget."""
    start = max(0, now_ns - period_days * 86_400 * _NS)
    paid: dict[tuple[str | None, str], Decimal] = {}  # a reorged execution paid nothing
    for e in store.read_between(start, now_ns + 1):
        key = (e.correlation_id, str(e.payload.get("proposal_id")))
        if e.event_type == "ProposalExecuted" and e.payload.get("success"):
            paid[key] = max(Decimal(e.payload["premium_usd"]), Decimal(0))
        elif e.event_type == "ProposalReorged":
            paid.pop(key, None)
    return sum(paid.values(), Decimal(0))
