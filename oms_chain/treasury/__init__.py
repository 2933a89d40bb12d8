"""DAO treasury hedging: a policy file in, Safe proposals out.

:func:`load_policy` reads the policy (TOML, errors name the key); :class:`TreasuryDesk` measures
the Safe's holdings with the risk engine, plans the cheapest hedge into the band
(:func:`make_plan`: spot TWAP sale, puts, collars, put spreads on the on-chain options market),
records proposals (Safe transactions) with their rationale in the event store, collects owner
signatures, executes when the policy's approval rule is met and re-measures; :func:`render_report`
writes the governance report (HTML with plots, CSV).
"""

from oms_chain.treasury.desk import (
    ApprovalMissing,
    ExecutionReverted,
    RunState,
    TreasuryDesk,
    budget_spent,
    run_state,
)
from oms_chain.treasury.measure import Measurement, measure, value
from oms_chain.treasury.options_book import MarketBook, OptionBook, OptionHolding
from oms_chain.treasury.plan import Candidate, Leg, Plan, PolicyViolation, make_plan
from oms_chain.treasury.policy import INSTRUMENTS, TreasuryPolicy, load_policy
from oms_chain.treasury.proposals import Proposal, build_proposals, spot_quoter
from oms_chain.treasury.report import render_report, write_report

__all__ = [
    "INSTRUMENTS",
    "ApprovalMissing",
    "Candidate",
    "ExecutionReverted",
    "Leg",
    "MarketBook",
    "Measurement",
    "OptionBook",
    "OptionHolding",
    "Plan",
    "PolicyViolation",
    "Proposal",
    "RunState",
    "TreasuryDesk",
    "TreasuryPolicy",
    "budget_spent",
    "build_proposals",
    "load_policy",
    "make_plan",
    "measure",
    "render_report",
    "run_state",
    "spot_quoter",
    "value",
    "write_report",
]
