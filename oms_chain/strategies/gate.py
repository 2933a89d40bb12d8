"""The pre-trade check of a structure as a whole: max loss, net premium, margin.

Leg-by-leg limits cannot see a structure: a short call is unbounded alone and bounded inside an
iron condor. :func:`check_structure` judges the legs together, from the premium the quotes
give and the margin the risk engine computes, against :class:`StructureLimits`; a refusal
names the limit, the value and what to change. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_chain.model.checks import check_decimal
from oms_chain.model.errors import InvalidInput, InvalidIntent
from oms_chain.strategies.payoff import ExpiryValuation, payoff_summary
from oms_chain.strategies.structure import Structure

__all__ = ["StructureCheck", "StructureLimitExceeded", "StructureLimits", "check_structure"]


class StructureLimitExceeded(InvalidIntent):
    """A structure breaks one of its :class:`StructureLimits`; ``limit`` names it."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True, slots=True, kw_only=True)
class StructureLimits:
    """Limits of one structure, in the quote asset (``None``: no limit).

    ``max_loss``: the most the structure may lose at expiry, premium included (an unbounded
    loss always breaks it). ``max_net_premium``: the most it may pay up front; negative, the
    least credit it must receive. ``max_margin``: the most initial margin it may need.
    """

    max_loss: Decimal | None = None
    max_net_premium: Decimal | None = None
    max_margin: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("max_loss", "max_margin"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, check_decimal(v, name, ge=0, strings=True))
        if self.max_net_premium is not None:
            object.__setattr__(
                self,
                "max_net_premium",
                check_decimal(self.max_net_premium, "max_net_premium", strings=True),
            )

    def to_payload(self) -> dict[str, str | None]:
        """JSON-safe form (Decimals as strings)."""
        return {
            "max_loss": None if self.max_loss is None else str(self.max_loss),
            "max_net_premium": None if self.max_net_premium is None else str(self.max_net_premium),
            "max_margin": None if self.max_margin is None else str(self.max_margin),
        }

    @classmethod
    def from_payload(cls, data: dict[str, str | None]) -> StructureLimits:
        """Inverse of :meth:`to_payload`."""
        return cls(
            **{k: None if data.get(k) is None else Decimal(str(data[k])) for k in cls.__slots__}
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StructureCheck:
    """What the gate saw: net premium (positive paid), max loss (``None``: unbounded), margin."""

    net_premium: Decimal
    max_loss: Decimal | None
    margin: Decimal


def check_structure(
    structure: Structure,
    limits: StructureLimits,
    *,
    net_premium: Decimal,
    margin: Decimal,
    valuation: ExpiryValuation | None = None,
) -> StructureCheck:
    """Check ``structure`` as a whole; returns what was checked.

    ``net_premium`` (quote asset, positive paid) comes from the legs' quotes
    (:func:`~oms_chain.strategies.net_premium`), ``margin`` the initial margin of the legs
    (:func:`~oms_chain.strategies.structure_margin`), ``valuation`` for multi-expiry
    structures (see :func:`~oms_chain.strategies.payoff_summary`).

    Raises:
        StructureLimitExceeded: naming the limit broken (``max_net_premium``, ``max_loss``,
            ``max_margin``), its value and the structure's.
        InvalidInput: a bad argument (named).
    """
    if not isinstance(structure, Structure):
        raise InvalidInput(f"structure must be a Structure, got {type(structure).__name__}")
    if not isinstance(limits, StructureLimits):
        raise InvalidInput(f"limits must be StructureLimits, got {type(limits).__name__}")
    premium = check_decimal(net_premium, "net_premium", strings=True)
    need = check_decimal(margin, "margin", ge=0, strings=True)
    summary = payoff_summary(structure, net_premium=premium, valuation=valuation)
    loss = summary.max_loss
    kind = structure.kind
    if limits.max_net_premium is not None and premium > limits.max_net_premium:
        what = f"pays {premium}" if premium > 0 else f"receives only {-premium}"
        raise StructureLimitExceeded(
            f"{kind}: limit 'max_net_premium' ({limits.max_net_premium}) exceeded: the quotes' "
            f"net premium {what}; wait for better quotes or raise the limit",
            "max_net_premium",
        )
    if limits.max_loss is not None and (loss is None or loss > limits.max_loss):
        shown = "unbounded" if loss is None else str(loss)
        raise StructureLimitExceeded(
            f"{kind}: limit 'max_loss' ({limits.max_loss}) exceeded: the structure can lose "
            f"{shown} at expiry; add a protective wing, trade less or raise the limit",
            "max_loss",
        )
    if limits.max_margin is not None and need > limits.max_margin:
        raise StructureLimitExceeded(
            f"{kind}: limit 'max_margin' ({limits.max_margin}) exceeded: the legs need "
            f"{need} of initial margin; trade less or raise the limit",
            "max_margin",
        )
    return StructureCheck(net_premium=premium, max_loss=loss, margin=need)
