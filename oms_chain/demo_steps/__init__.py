"""The checked steps of ``oms demo`` after the routed sale: each shows a table and checks an
exact expectation; a failed check raises :class:`DemoCheckFailed` naming the step, what was
expected and what was seen.

Steps (in demo order): an iron condor priced before trading; a put bought on our
OptionsMarket by an EIP-712 RFQ quote, settled and redeemed; one option bought on the
Deribit-protocol exchange through unmodified ``ccxt.deribit``; the portfolio risk of what the
demo then holds; a Safe 2-of-3 MultiSend; a FROST 2-of-3 group executing a transfer from its
ThresholdAccount. Each returns a :class:`StepResult`; a step whose extra is not installed or
whose service the devnet did not start returns a skipped result with the reason.
"""

from oms_chain.demo_steps._base import (
    DemoCheckFailed,
    StepResult,
    timed,
    timed_async,
)
from oms_chain.demo_steps.custody import safe_multisend, threshold_transfer
from oms_chain.demo_steps.options import (
    deribit_option,
    iron_condor_preview,
    onchain_put,
)
from oms_chain.demo_steps.risk import portfolio_risk_step
from oms_chain.demo_steps.story import (
    dashboard_up,
    hedger_jump,
    html_report,
    reorg_step,
    twap_l2,
)

__all__ = [
    "DemoCheckFailed",
    "StepResult",
    "dashboard_up",
    "deribit_option",
    "hedger_jump",
    "html_report",
    "iron_condor_preview",
    "onchain_put",
    "portfolio_risk_step",
    "reorg_step",
    "safe_multisend",
    "threshold_transfer",
    "timed",
    "timed_async",
    "twap_l2",
]
