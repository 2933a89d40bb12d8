"""Block lists (txt / csv / json), the gate's compliance screening and transfer records."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import oms_chain.devnet
from oms_chain.compliance import (
    AddressScreen,
    BlockedTransfer,
    BlockList,
    TransferLog,
    match_events,
)
from oms_chain.model import Asset, ConfigError, Intent, InvalidInput, ManualClock, SpotPair
from oms_chain.model.events import event_from_payload
from oms_chain.risk import RiskGate, RiskLimits

BLOCKED = "0x000000000000000000000000000000000000b10c"
DEVNET_LIST = Path(oms_chain.devnet.__file__).parent / "data" / "blocklist-test.csv"
PAIR = SpotPair(
    base=Asset.erc20(1, "0x" + "e" * 40, "ETH", 18),
    quote=Asset.erc20(1, "0x" + "c" * 40, "USDC", 6),
)
CLOCK = ManualClock()


class View:
    def reference_price(self, instrument_id: object) -> Decimal:
        return Decimal(2000)

    def net_position(self, account: object, instrument_id: object) -> Decimal:
        return Decimal(0)

    def asset_exposure(self, account: object, symbol: object) -> Decimal:
        return Decimal(0)

    def open_order_count(self) -> int:
        return 0

    def daily_realized_pnl(self, currency: object) -> Decimal:
        return Decimal(0)


def _intent(account: str = "desk") -> Intent:
    return Intent.create(
        intent_id="i1", account=account, instrument=PAIR, side="buy", venues=["uniswap_v3"],
        now_ns=CLOCK.now_ns(), quantity="1", max_slippage_bps=20,
    )  # fmt: skip


def test_the_three_formats_load_and_name_each_entry(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text(f"# comment\n\n{BLOCKED.upper().replace('0X', '0x')}, mixer\n")
    (tmp_path / "l.csv").write_text(f"label,address\nmixer,{BLOCKED}\n")
    (tmp_path / "l.json").write_text(f'[{{"address": "{BLOCKED}", "label": "mixer"}}]')
    sources = []
    for suffix in ("txt", "csv", "json"):
        lst = BlockList.from_file(tmp_path / f"l.{suffix}")
        entry = lst.lookup(BLOCKED)
        assert entry is not None and entry.label == "mixer" and len(lst) == 1
        sources.append(entry.source)
    assert sources == ["l.txt:3", "l.csv:2", "l.json:[0]"]


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("txt", "0x1234\n", "l:1"),
        ("csv", "addr\n0x00\n", "needs an 'address' column"),
        ("json", "{not json", "not JSON"),
        ("json", "[42]", r"l:\[0\]"),
    ],
)
def test_a_bad_list_is_refused_on_load_naming_file_and_line(
    fmt: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        BlockList.from_text(text, "l", fmt=fmt)


def test_the_gate_rejects_an_order_to_a_listed_address_naming_the_entry() -> None:
    screen = AddressScreen([BlockList.from_file(DEVNET_LIST)])
    gate = RiskGate(RiskLimits(), clock=CLOCK, screen=screen)
    decision = gate.check(_intent(), View(), destinations={"recipient": [BLOCKED]})
    assert not decision.accepted
    assert decision.reason == (
        f"recipient {BLOCKED} is on block list 'blocklist-test.csv' at blocklist-test.csv:2 "
        "(devnet test entry: blocked destination)"
    )
    (event,) = match_events(decision.screening, "desk", CLOCK.now_ns(), "i1")
    again = event_from_payload(event.TYPE, event.VERSION, event.to_payload())
    assert again == event and event.entry == "blocklist-test.csv:2"
    clean = gate.check(_intent(), View(), destinations={"recipient": ["0x" + "1" * 40]})
    assert clean.accepted and clean.screening == ()


def test_an_account_that_is_a_listed_address_is_rejected_too() -> None:
    gate = RiskGate(
        RiskLimits(), clock=CLOCK, screen=AddressScreen([BlockList.from_file(DEVNET_LIST)])
    )
    decision = gate.check(_intent(account="0x00000000000000000000000000000000DEADBEEF"), View())
    assert not decision.accepted and "blocked counterparty" in decision.reason


@given(
    st.one_of(
        st.integers(),
        st.text(),
        st.lists(st.integers()),
        st.dictionaries(st.integers(), st.integers()),
    )
)
def test_bad_destinations_are_refused_before_any_check(bad: object) -> None:
    gate = RiskGate(RiskLimits(), clock=CLOCK, screen=AddressScreen([]))
    if isinstance(bad, dict) and not bad:
        return  # an empty mapping is fine
    with pytest.raises(InvalidInput, match="destinations"):
        gate.check(_intent(), View(), destinations=bad)  # type: ignore[arg-type]


def test_transfers_out_are_recorded_per_account_and_a_blocked_beneficiary_is_refused() -> None:
    log = TransferLog(CLOCK, AddressScreen([BlockList.from_file(DEVNET_LIST)]))
    sender = "0x" + "a" * 40
    ok = log.record(
        account="treasury", chain_id=1, tx_hash="0x" + "1" * 64, asset="USDC",
        amount=Decimal("250.5"), sender=sender, beneficiary="0x" + "b" * 40,
        beneficiary_name="Vendor GmbH", originator_name="Example DAO",
    )  # fmt: skip
    with pytest.raises(BlockedTransfer, match=r"blocklist-test\.csv:2"):
        log.record(
            account="treasury", chain_id=1, tx_hash="0x" + "2" * 64, asset="USDC",
            amount=Decimal(1), sender=sender, beneficiary=BLOCKED,
        )  # fmt: skip
    assert log.records("treasury") == (ok,) and log.records("other") == ()
    assert event_from_payload(ok.TYPE, ok.VERSION, ok.to_payload()) == ok


async def test_the_engine_records_the_screening_rejection_with_the_entry_in_its_event_log() -> None:
    from oms_chain.engine import Engine, InMemoryEventLog
    from oms_chain.venues import PaperVenue

    listed_token = Asset.erc20(1, BLOCKED, "MIXR", 18)
    pair = SpotPair(base=listed_token, quote=PAIR.quote)
    clock = ManualClock()
    gate = RiskGate(
        RiskLimits(), clock=clock, screen=AddressScreen([BlockList.from_file(DEVNET_LIST)])
    )
    log = InMemoryEventLog()
    venue = PaperVenue("paper", clock=clock, prices={pair.id: Decimal(2000)})
    engine = Engine(store=log, venues=[venue], risk=gate, clock=clock)
    engine.set_reference_price(pair.id, Decimal(2000))
    await engine.start()
    try:
        order = await engine.submit(
            Intent.create(
                intent_id="screened",
                account="desk",
                instrument=pair,
                side="buy",
                quantity="1",
                venues=["paper"],
                now_ns=clock.now_ns(),
            )
        )
    finally:
        await engine.stop()
    assert order.status.value == "rejected"
    (rejected,) = [e for e in log.read_all() if e.event_type == "OrderRejected"]
    assert rejected.payload["source"] == "risk"
    assert "blocklist-test.csv:2" in rejected.payload["reason"]
    assert BLOCKED in rejected.payload["reason"]
