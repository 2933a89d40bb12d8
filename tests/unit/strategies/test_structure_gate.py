"""The structure gate judges the legs together: a short call is unbounded alone and bounded
inside an iron condor; every refusal names its limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _strategies_fixtures import EXPIRY, SERIES

from oms_chain.model.errors import InvalidInput, InvalidIntent
from oms_chain.strategies import (
    StructureLimitExceeded,
    StructureLimits,
    check_structure,
    custom,
    iron_condor,
)
from oms_chain.strategies.builders import Direction, straddle

D = Decimal
CONDOR = iron_condor(SERIES, EXPIRY, (2000, 2500, 3500, 4000), "2")  # a credit, wings 500


def test_an_iron_condor_has_a_bounded_loss_of_wing_width_less_the_credit() -> None:
    checked = check_structure(
        CONDOR, StructureLimits(max_loss=D(900)), net_premium=D(-120), margin=D(700)
    )
    assert checked.max_loss == 2 * 500 - 120
    assert checked.net_premium == D(-120) and checked.margin == D(700)


def test_the_same_short_call_alone_has_an_unbounded_loss_and_is_refused() -> None:
    short_call = custom([CONDOR.legs[2]])
    with pytest.raises(StructureLimitExceeded, match=r"'max_loss'.*unbounded") as exc:
        check_structure(
            short_call, StructureLimits(max_loss=D(10_000)), net_premium=D(-50), margin=D(0)
        )
    assert exc.value.limit == "max_loss"
    assert isinstance(exc.value, InvalidIntent)


@pytest.mark.parametrize(
    ("limits", "limit"),
    [
        (StructureLimits(max_loss=D(700)), "max_loss"),
        (StructureLimits(max_net_premium=D(-200)), "max_net_premium"),
        (StructureLimits(max_margin=D(500)), "max_margin"),
    ],
)
def test_each_limit_names_itself(limits: StructureLimits, limit: str) -> None:
    with pytest.raises(StructureLimitExceeded, match=f"'{limit}'") as exc:
        check_structure(CONDOR, limits, net_premium=D(-120), margin=D(700))
    assert exc.value.limit == limit


def test_a_debit_is_held_to_the_max_net_premium() -> None:
    long_straddle = straddle(SERIES, EXPIRY, 3000, "1", direction=Direction.LONG)
    check_structure(
        long_straddle, StructureLimits(max_net_premium=D(400)), net_premium=D(400), margin=D(0)
    )
    with pytest.raises(StructureLimitExceeded, match=r"pays 400\.01"):
        check_structure(
            long_straddle,
            StructureLimits(max_net_premium=D(400)),
            net_premium=D("400.01"),
            margin=D(0),
        )


def test_limits_round_trip_and_reject_bad_values() -> None:
    limits = StructureLimits(max_loss=D(1), max_net_premium=D("-2.5"), max_margin=None)
    assert StructureLimits.from_payload(limits.to_payload()) == limits
    with pytest.raises(InvalidInput, match="max_loss"):
        StructureLimits(max_loss=D(-1))
    with pytest.raises(InvalidInput, match="max_margin"):
        StructureLimits(max_margin="lots")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("structure", "limits", "named"),
    [
        ("not a structure", StructureLimits(), "structure must be a Structure"),
        (CONDOR, {"max_loss": 700}, "limits must be StructureLimits"),
    ],
)
def test_a_wrong_argument_type_is_invalid_input_not_a_limit(
    structure: object, limits: object, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named) as exc:
        check_structure(structure, limits, net_premium=D(0), margin=D(0))  # type: ignore[arg-type]
    assert not isinstance(exc.value, StructureLimitExceeded)
