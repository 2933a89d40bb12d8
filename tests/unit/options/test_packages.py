"""Package quote wire shapes: a maker's JSON answer round-trips, malformed answers are refused
with the field named, and premiums net per unit."""

from __future__ import annotations

from typing import Any

import pytest

from oms_chain.model.errors import InvalidInput
from oms_chain.venues.options.packages import (
    FILL_PACKAGE,
    PackageLeg,
    SignedPackage,
    package_digest,
)

MAKER = "0x" + "11" * 20
TAKER = "0x" + "22" * 20
MARKET = "0x" + "33" * 20


def _package() -> SignedPackage:
    return SignedPackage(
        source="http://maker",
        maker=MAKER,
        taker=TAKER,
        legs=(PackageLeg(7, True, 1, 20_000_000), PackageLeg(8, False, 2, 2**200)),
        size=3,
        deadline=1_700_000_060,
        nonce=0,
        allow_partial=True,
        salt=2**255,
        signature=b"\x01" * 65,
    )


def test_a_package_round_trips_through_the_makers_json() -> None:
    pkg = _package()
    doc = pkg.to_json()
    assert doc["legs"][1]["premium"] == str(2**200) and doc["salt"] == str(2**255)
    assert SignedPackage.from_json("http://maker", doc) == pkg
    assert pkg.as_tuple()[2] == [(7, True, 1, 20_000_000), (8, False, 2, 2**200)]
    assert FILL_PACKAGE.startswith("fillPackage((address,address,(uint256,bool,uint256,uint256)[]")


def test_premiums_are_paid_and_received_per_unit() -> None:
    paid, received = _package().premiums(3)
    assert paid == 3 * 20_000_000 and received == 3 * 2 * 2**200


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("nonce"), "malformed package"),
        (lambda d: d["legs"][0].update(maker_sells="yes"), "malformed package"),
        (lambda d: d.update(allow_partial=1), "malformed package"),
        (lambda d: d.update(maker="nope"), "no address"),
        (lambda d: d["legs"][0].update(ratio=-1), "outside uint256"),
        (lambda d: d.update(salt=str(2**256)), "outside uint256"),
        (lambda d: d.update(signature="0xzz"), "malformed package"),
    ],
)
def test_a_malformed_answer_is_refused(change: Any, reason: str) -> None:
    doc = _package().to_json()
    change(doc)
    with pytest.raises(InvalidInput, match=reason):
        SignedPackage.from_json("http://maker", doc)


def test_the_digest_depends_on_every_leg_field_and_the_domain() -> None:
    pkg = _package()
    base = package_digest(pkg.as_tuple(), chain_id=31337, market=MARKET)
    assert len(base) == 32
    other_chain = package_digest(pkg.as_tuple(), chain_id=1, market=MARKET)
    fields = list(pkg.as_tuple())
    fields[2] = [(7, True, 1, 20_000_001), (8, False, 2, 2**200)]
    other_leg = package_digest(tuple(fields), chain_id=31337, market=MARKET)
    assert len({base, other_chain, other_leg}) == 3
