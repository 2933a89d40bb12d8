"""Screening at execution time: the list files are re-read when they change, and a batch that
reaches a listed address (as target or as an argument) is refused before the inner executor
sees it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from oms_chain.compliance import AddressScreen, ScreeningMatch
from oms_chain.custody.calls import Call
from oms_chain.model.errors import ConfigError, InvalidInput, VenueRejected
from oms_chain.venues.amm._calls import encode_call
from oms_chain.venues.screening import DestinationBlocked, ScreeningExecutor, call_addresses

TOKEN = "0x1111111111111111111111111111111111111111"
ROUTER = "0x2222222222222222222222222222222222222222"
BAD = "0x000000000000000000000000000000000000bAd1"


class _Inner:
    """Records what reaches it (the wrapper's only collaborator)."""

    address = "0x3333333333333333333333333333333333333333"
    sender: Any = None
    batches = True

    def __init__(self) -> None:
        self.ran: list[Sequence[Call]] = []

    async def execute_calls(self, calls: Sequence[Call], **kw: Any) -> Any:
        self.ran.append(calls)
        return "sent"

    async def account_nonce(self) -> int:
        return 7

    def nonce_of(self, tx_hash: str, tx_nonce: int) -> int:
        return tx_nonce + 1

    async def reconcile(self) -> None:
        return None

    def proposals(self) -> list[str]:
        return ["p"]


def _approve(spender: str) -> Call:
    return Call.to_address(TOKEN, encode_call("approve(address,uint256)", spender, 10**6))


def test_call_addresses_reads_the_target_and_address_shaped_arguments() -> None:
    got = call_addresses(_approve(BAD))
    assert got["destination"] == [Call.to_address(TOKEN).to]
    # the amount (10**6 < 2**160) is address-shaped too: harmless unless a list names it
    assert [a.lower() for a in got["argument"]] == [BAD.lower(), f"0x{10**6:040x}"]
    assert call_addresses(Call.to_address(ROUTER))["argument"] == []


async def test_a_list_updated_after_start_blocks_the_next_batch(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("0x000000000000000000000000000000000000dEaD\n")
    screen = AddressScreen.from_files([path])
    seen: list[Sequence[ScreeningMatch]] = []
    inner = _Inner()
    ex = ScreeningExecutor(inner, screen, on_match=seen.append)
    assert await ex.execute_calls([_approve(ROUTER)], what="ok") == "sent"
    path.write_text(f"0x000000000000000000000000000000000000dEaD\n{BAD},sanctioned\n")
    with pytest.raises(DestinationBlocked, match=r"argument .* list.txt:2 \(sanctioned\)") as info:
        await ex.execute_calls([Call.to_address(ROUTER), _approve(BAD)], what="blocked")
    assert isinstance(info.value, VenueRejected)
    assert [m.role for m in info.value.matches] == ["argument"]
    assert len(seen) == 1 and len(inner.ran) == 1  # the inner executor never saw it
    with pytest.raises(DestinationBlocked, match="destination"):
        await ex.execute_calls([Call.to_address(BAD)], what="to it")
    # the seam is the inner executor's
    assert (ex.address, ex.batches, await ex.account_nonce(), ex.nonce_of("0x", 1)) == (
        inner.address,
        True,
        7,
        2,
    )
    assert ex.proposals() == ["p"]


async def test_a_list_that_no_longer_loads_stops_execution(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(f"{BAD}\n")
    ex = ScreeningExecutor(_Inner(), AddressScreen.from_files([path]))
    path.write_text("not-an-address\n")
    with pytest.raises(ConfigError, match=r"list\.txt:1"):
        await ex.execute_calls([Call.to_address(ROUTER)], what="x")
    path.unlink()
    with pytest.raises(ConfigError, match="cannot be read"):
        ex.check([Call.to_address(ROUTER)])


def test_refresh_without_files_and_bad_screen() -> None:
    assert AddressScreen([]).refresh() is False
    with pytest.raises(InvalidInput, match="AddressScreen"):
        ScreeningExecutor(_Inner(), object())  # type: ignore[arg-type]


def test_the_tokens_of_a_packed_swap_path_and_a_nested_calls_arguments_are_screened(
    tmp_path: Path,
) -> None:
    # exactInput's path packs token (20 bytes), fee (3), token...: no token is word-aligned
    mid = "0x" + "ab" * 20
    path = bytes.fromhex(TOKEN[2:]) + (3000).to_bytes(3, "big") + bytes.fromhex(mid[2:])
    swap = encode_call(
        "exactInput((bytes,address,uint256,uint256,uint256))", (path, ROUTER, 1, 10, 9)
    )
    got = call_addresses(Call.to_address(ROUTER, swap))
    assert {TOKEN.lower(), mid} <= set(got["embedded"])
    # an approve nested in an executor's call data sits 4 bytes off the word grid
    nested = encode_call("run(bytes)", _approve(BAD).data)
    assert BAD.lower() in call_addresses(Call.to_address(ROUTER, nested))["embedded"]
    listed = tmp_path / "list.txt"
    listed.write_text(f"{mid},sanctioned\n")
    (hit,) = AddressScreen.from_files([listed]).screen(
        call_addresses(Call.to_address(ROUTER, swap))
    )
    assert (hit.address, hit.role) == (mid, "embedded")
