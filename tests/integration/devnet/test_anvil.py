"""The Anvil process manager against the real anvil binary."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.devnet.anvil import AnvilConfig, AnvilProcess, json_rpc
from oms_chain.model.errors import (
    DevnetError,
    InvalidInput,
    PortInUse,
    StateFileCorrupt,
    ToolchainMissing,
    UpstreamUnavailable,
)

ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil account 0 (public test key)
BOB = "0x000000000000000000000000000000000000b0b0"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _send_eth(url: str, to: str, wei: int) -> None:
    tx = json_rpc(url, "eth_sendTransaction", [{"from": ALICE, "to": to, "value": hex(wei)}])
    deadline = time.monotonic() + 10
    while (receipt := json_rpc(url, "eth_getTransactionReceipt", [tx])) is None:
        assert time.monotonic() < deadline, "no receipt"
        time.sleep(0.01)
    assert receipt["status"] == "0x1"


def _balance(url: str, who: str) -> int:
    return int(json_rpc(url, "eth_getBalance", [who, "latest"]), 16)


def test_anvil_starts_on_a_free_port_answers_its_chain_id_and_stops_without_orphans() -> None:
    with AnvilProcess(AnvilConfig(chain_id=4242, accounts=2, balance_eth=7)) as node:
        pid = node.pid
        assert pid is not None
        assert int(node.rpc("eth_chainId"), 16) == 4242
        assert _balance(node.rpc_url, ALICE) == 7 * 10**18
        assert node.log_path is not None and node.log_path.exists()
    assert _wait_gone(pid)
    node.stop()  # idempotent


def test_automine_l1_and_interval_l2_run_together() -> None:
    l1 = AnvilProcess(AnvilConfig(chain_id=31337)).start()
    l2 = AnvilProcess(AnvilConfig(chain_id=31338, block_time=0.25)).start()
    try:
        assert l1.port != l2.port
        start_l1, start_l2 = l1.block_number(), l2.block_number()
        started = time.monotonic()
        deadline = started + 60  # a loaded machine only makes the blocks late, never early
        while l2.block_number() < start_l2 + 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the node's clock; the condition decides
        elapsed = time.monotonic() - started
        assert l2.block_number() >= start_l2 + 3, f"3 blocks not mined in {elapsed:.1f} s"
        assert elapsed >= 0.4, elapsed  # 250 ms blocks: two intervals passed (less jitter)
        assert l1.block_number() == start_l1  # automine: no transaction, no block meanwhile
        _send_eth(l1.rpc_url, BOB, 1)
        assert l1.block_number() == start_l1 + 1
    finally:
        l1.stop()
        l2.stop()


def test_a_crashed_node_is_reported_with_its_exit_code() -> None:
    node = AnvilProcess(AnvilConfig()).start()
    try:
        assert node.pid is not None
        os.kill(node.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while node.is_running() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not node.is_running()
        with pytest.raises(DevnetError, match="not running"):
            node.rpc("eth_blockNumber")
    finally:
        node.stop()


def test_node_dies_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from oms_chain.devnet.anvil import AnvilConfig, AnvilProcess
        node = AnvilProcess(AnvilConfig()).start()
        print(node.pid, flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        anvil_pid = int(child.stdout.readline())
        assert _alive(anvil_pid)
        child.kill()
        child.wait()
        assert _wait_gone(anvil_pid), "anvil outlived its SIGKILLed parent"
    finally:
        child.kill()


def test_a_requested_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} .* in use"):
            AnvilProcess(AnvilConfig(port=port)).start()


def test_fork_of_a_local_anvil_sees_its_state_and_keeps_writes_to_itself() -> None:
    with AnvilProcess(AnvilConfig(chain_id=31337)) as origin:
        _send_eth(origin.rpc_url, BOB, 123)
        fork_block = origin.block_number()
        _send_eth(origin.rpc_url, BOB, 1000)  # after the fork block: invisible in the fork
        cfg = AnvilConfig(chain_id=31337, fork_url=origin.rpc_url, fork_block_number=fork_block)
        with AnvilProcess(cfg) as fork:
            assert _balance(fork.rpc_url, BOB) == 123
            _send_eth(fork.rpc_url, BOB, 5)
            assert _balance(fork.rpc_url, BOB) == 128
        assert _balance(origin.rpc_url, BOB) == 1123


def test_a_fork_url_that_does_not_answer_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(UpstreamUnavailable, match="does not answer"):
        AnvilProcess(AnvilConfig(fork_url=dead)).start()


def test_state_dump_and_load_restores_balances_quickly(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with AnvilProcess(AnvilConfig()) as node:
        _send_eth(node.rpc_url, BOB, 77)
        node.dump_state_to(state)
    started = time.perf_counter()
    with AnvilProcess(AnvilConfig(load_state=state)) as node:
        assert _balance(node.rpc_url, BOB) == 77
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"something": "else"}', b"\x1f\x8b\x08garbage"],
    ids=["empty", "broken-json", "not-a-state", "binary"],
)
def test_a_corrupt_state_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    with pytest.raises(StateFileCorrupt, match="state file"):
        AnvilProcess(AnvilConfig(load_state=state)).start()


def test_a_missing_toolchain_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_CHAIN_HOME", str(tmp_path))
    with pytest.raises(ToolchainMissing, match="make setup"):
        AnvilProcess(AnvilConfig()).start()


def test_snapshot_and_revert_isolate_changes() -> None:
    with AnvilProcess(AnvilConfig()) as node:
        snap = node.snapshot()
        _send_eth(node.rpc_url, BOB, 9)
        assert _balance(node.rpc_url, BOB) == 9
        node.revert(snap)
        assert _balance(node.rpc_url, BOB) == 0
        with pytest.raises(DevnetError, match="unknown"):
            node.revert(snap)  # anvil forgets a snapshot once used


@settings(max_examples=60, deadline=None)
@given(
    chain_id=st.integers(min_value=-5, max_value=2**60),
    port=st.one_of(st.none(), st.integers(min_value=-10, max_value=70000)),
    block_time=st.one_of(
        st.none(), st.one_of(st.floats(min_value=-1, max_value=5), st.just(float("nan")))
    ),
    accounts=st.integers(min_value=-1, max_value=2000),
)
def test_bad_config_values_raise_invalid_input_naming_the_field(
    chain_id: int, port: int | None, block_time: float | None, accounts: int
) -> None:
    valid = (
        0 < chain_id < 2**53
        and (port is None or 1 <= port <= 65535)
        and (block_time is None or block_time > 0)
        and 1 <= accounts <= 1000
    )
    kwargs = dict(chain_id=chain_id, port=port, block_time=block_time, accounts=accounts)
    if valid:
        AnvilConfig(**kwargs)  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidInput) as info:
            AnvilConfig(**kwargs)  # type: ignore[arg-type]
        assert any(name in str(info.value) for name in kwargs)


def test_non_loopback_host_and_bad_fork_url_are_refused() -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        AnvilConfig(host="0.0.0.0")
    with pytest.raises(InvalidInput, match="fork_url"):
        AnvilConfig(fork_url="ftp://example")
    with pytest.raises(InvalidInput, match="needs fork_url"):
        AnvilConfig(fork_block_number=5)


def test_json_rpc_error_objects_become_rpc_errors() -> None:
    from oms_chain.devnet.anvil import RpcError

    with AnvilProcess(AnvilConfig()) as node, pytest.raises(RpcError) as info:
        node.rpc("eth_no_such_method")
    assert info.value.method == "eth_no_such_method"
    assert json.dumps(info.value.code)
