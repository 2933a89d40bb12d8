"""The checked steps of ``oms demo`` after the routed sale: each shows a table and checks an
exact expectation; a failed check raises :class:`DemoCheckFailed` naming the step, what was
expected and what was seen.

Steps (in demo order): an iron condor priced before trading, then opened atomically on our
OptionsMarket (one BatchExecutor transaction via the StructureRunner); a put bought on our
OptionsMarket by an EIP-712 RFQ quote, settled and redeemed; one option bought on the
Deribit-protocol exchange through unmodified ``ccxt.deribit``; the portfolio risk of what the
demo then holds; a Safe 2-of-3 MultiSend, then one engine trade from the Safe; a FROST 2-of-3
group executing a transfer from its ThresholdAccount, then one engine trade from it. Each
returns a :class:`StepResult`; a step whose extra is not installed or whose service the devnet
did not start returns a skipped result with the reason.

Modules: ``_base`` (the result record, the check, helpers, timers), ``options``, ``atomic``,
``risk``, ``custody``, ``story`` (the steps on one session, the HTML report), ``served``
(the served API's risk context, hedger and structure desk: the dashboard step, ``--serve``),
``route_plan`` (the route plan's table).
"""

from oms_chain.demo_steps._base import (
    DemoCheckFailed,
    StepResult,
    _check,
    timed,
    timed_async,
)
from oms_chain.demo_steps.atomic import atomic_iron_condor
from oms_chain.demo_steps.custody import safe_multisend, threshold_transfer
from oms_chain.demo_steps.options import (
    CONDOR_EXPIRY_NS,
    CONDOR_STRIKES,
    _independent_payoff,
    deribit_option,
    iron_condor_preview,
    onchain_put,
)
from oms_chain.demo_steps.risk import portfolio_risk_step
from oms_chain.demo_steps.served import DemoBook, dashboard_up, demo_book, serve_dashboard
from oms_chain.demo_steps.story import (
    hedger_jump,
    html_report,
    reorg_step,
    story_session,
    twap_l2,
)

__all__ = [
    "CONDOR_EXPIRY_NS",
    "CONDOR_STRIKES",
    "DemoBook",
    "DemoCheckFailed",
    "StepResult",
    "_check",
    "_independent_payoff",
    "atomic_iron_condor",
    "dashboard_up",
    "demo_book",
    "deribit_option",
    "hedger_jump",
    "html_report",
    "iron_condor_preview",
    "onchain_put",
    "portfolio_risk_step",
    "reorg_step",
    "safe_multisend",
    "serve_dashboard",
    "story_session",
    "threshold_transfer",
    "timed",
    "timed_async",
    "twap_l2",
]
