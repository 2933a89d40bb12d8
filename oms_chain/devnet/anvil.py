"""Anvil process manager: start a local EVM node on loopback, wait for it, stop it cleanly.

An :class:`AnvilProcess` owns one ``anvil`` subprocess. It picks a free loopback port (or checks
the one it was given), waits until the node answers JSON-RPC, captures the node's log to a file,
and guarantees the process does not outlive us: it is stopped on :meth:`AnvilProcess.stop`, on
interpreter exit, and (Linux) by the kernel when the Python process dies, even by ``SIGKILL``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from oms_chain.devnet.paths import node_bin
from oms_chain.model.errors import (
    DevnetError,
    InvalidInput,
    PortInUse,
    StateFileCorrupt,
    UpstreamUnavailable,
)

__all__ = [
    "DEFAULT_MNEMONIC",
    "AnvilConfig",
    "AnvilProcess",
    "RpcError",
    "json_rpc",
]

#: The mnemonic Anvil uses by default; its accounts are public knowledge, so devnet only.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"

_PR_SET_PDEATHSIG = 1
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class RpcError(DevnetError):
    """A JSON-RPC call returned an error object."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


_ids = itertools.count(1)


def json_rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
    """Call one JSON-RPC method over HTTP and return its ``result``.

    Raises :class:`RpcError` for an error object and :class:`UpstreamUnavailable` when the
    endpoint cannot be reached. Only the standard library is used, so the process manager can
    run before any web3 provider exists.
    """
    body = json.dumps(
        {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params or []}
    ).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamUnavailable(f"{url} does not answer {method}: {reason}") from exc
    except json.JSONDecodeError as exc:
        raise UpstreamUnavailable(
            f"{url} answered {method} with something that is not JSON"
        ) from exc
    if "error" in reply and reply["error"] is not None:
        err = reply["error"]
        raise RpcError(method, int(err.get("code", 0)), str(err.get("message")), err.get("data"))
    return reply.get("result")


@dataclass(frozen=True, kw_only=True, slots=True)
class AnvilConfig:
    """How to start one Anvil node.

    ``block_time`` is in seconds (fractions allowed, e.g. ``0.25`` for an Arbitrum-like L2);
    ``None`` means automine (a block per transaction). ``balance_eth`` is per account, in ether.
    ``fork_url`` / ``fork_block_number`` start the node as a fork of another chain.
    ``load_state`` starts from a state file written by :meth:`AnvilProcess.dump_state_to`.
    """

    chain_id: int = 31337
    host: str = "127.0.0.1"
    port: int | None = None
    block_time: float | None = None
    accounts: int = 10
    balance_eth: int = 10_000
    mnemonic: str = DEFAULT_MNEMONIC
    fork_url: str | None = None
    fork_block_number: int | None = None
    load_state: Path | None = None
    gas_limit: int | None = None
    base_fee: int | None = None
    code_size_limit: int | None = None
    extra_args: tuple[str, ...] = ()
    startup_timeout: float = 30.0
    log_dir: Path | None = None
    name: str = field(default="")

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, int) or not 0 < self.chain_id < 2**53:
            raise InvalidInput(f"chain_id must be a positive integer, got {self.chain_id!r}")
        if self.host not in _LOOPBACK:
            raise InvalidInput(f"host must be a loopback address (127.0.0.1), got {self.host!r}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise InvalidInput(f"port must be between 1 and 65535, got {self.port}")
        if self.block_time is not None and not self.block_time > 0:
            raise InvalidInput(f"block_time must be > 0 seconds or None, got {self.block_time}")
        if not 1 <= self.accounts <= 1000:
            raise InvalidInput(f"accounts must be between 1 and 1000, got {self.accounts}")
        if self.balance_eth < 0:
            raise InvalidInput(f"balance_eth must be >= 0, got {self.balance_eth}")
        if self.fork_url is not None:
            scheme = urllib.parse.urlparse(self.fork_url).scheme
            if scheme not in ("http", "https", "ws", "wss"):
                raise InvalidInput(
                    f"fork_url must be an http(s) or ws(s) URL, got {self.fork_url!r}"
                )
        if self.fork_block_number is not None:
            if self.fork_url is None:
                raise InvalidInput("fork_block_number needs fork_url")
            if self.fork_block_number < 0:
                raise InvalidInput(f"fork_block_number must be >= 0, got {self.fork_block_number}")
        if self.startup_timeout <= 0:
            raise InvalidInput(f"startup_timeout must be > 0, got {self.startup_timeout}")

    @property
    def label(self) -> str:
        """A short name for messages: the given name, else ``chain <id>``."""
        return self.name or f"chain {self.chain_id}"


class _Registry:
    """Every running process we started, so interpreter exit stops them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[AnvilProcess] = set()
        atexit.register(self.stop_all)

    def add(self, proc: AnvilProcess) -> None:
        with self._lock:
            self._live.add(proc)

    def discard(self, proc: AnvilProcess) -> None:
        with self._lock:
            self._live.discard(proc)

    def stop_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for proc in live:
            with contextlib.suppress(Exception):
                proc.stop()


_registry = _Registry()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host if host != "localhost" else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host if host != "localhost" else "127.0.0.1", port))
        except OSError:
            return True
    return False


def check_state_file(path: Path) -> None:
    """Raise :class:`StateFileCorrupt` unless ``path`` holds an Anvil state dump we can load."""
    try:
        with path.open("rb") as fh:
            state = json.load(fh)
    except FileNotFoundError as exc:
        raise StateFileCorrupt(f"state file {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise StateFileCorrupt(
            f"state file {path} is not valid JSON ({exc.__class__.__name__}); delete it to "
            "rebuild the devnet"
        ) from exc
    if not isinstance(state, dict) or "accounts" not in state or "block" not in state:
        raise StateFileCorrupt(
            f"state file {path} is not an Anvil state dump (no 'accounts'/'block'); delete it to "
            "rebuild the devnet"
        )


class AnvilProcess:
    """One running Anvil node. Use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, config: AnvilConfig | None = None) -> None:
        self.config = config or AnvilConfig()
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None
        self._log_file: Any = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the node and block until it answers ``eth_chainId`` with the configured id.

        Raises :class:`PortInUse` if a requested port is taken, :class:`UpstreamUnavailable` if
        the fork URL does not answer, :class:`StateFileCorrupt` for an unreadable state file,
        :class:`ToolchainMissing` if anvil is not installed, and :class:`DevnetError` (with the
        last lines of the node's log) if the node exits or does not answer in time.
        """
        if self._proc is not None:
            raise DevnetError(f"anvil for {self.config.label} is already running")
        cfg = self.config
        binary = node_bin("anvil")
        if cfg.load_state is not None:
            check_state_file(cfg.load_state)
        if cfg.fork_url is not None:
            self._check_fork_url(cfg.fork_url)
        if cfg.port is not None and _port_taken(cfg.host, cfg.port):
            raise PortInUse(
                f"port {cfg.port} on {cfg.host} is already in use; choose another port or stop "
                "the process holding it"
            )
        attempts = 1 if cfg.port is not None else 3
        last_error: DevnetError | None = None
        for _ in range(attempts):
            port = cfg.port if cfg.port is not None else _free_port(cfg.host)
            try:
                self._launch(binary, port)
                self._wait_ready()
            except DevnetError as exc:
                last_error = exc
                self._terminate()
                if "Address already in use" in str(exc) and cfg.port is None:
                    continue
                raise
            _registry.add(self)
            return self
        assert last_error is not None
        raise last_error

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the node (SIGTERM, then SIGKILL after ``timeout`` seconds). Idempotent."""
        self._terminate(timeout)
        _registry.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; stop() is the real API
        with contextlib.suppress(Exception):
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()

    # -- facts ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the node listens on."""
        if self._port is None:
            raise DevnetError(f"anvil for {self.config.label} has not been started")
        return self._port

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Websocket JSON-RPC URL on the same port."""
        return f"ws://{self.config.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the node, or ``None`` when not started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """File that receives the node's stdout and stderr."""
        return self._log_path

    def is_running(self) -> bool:
        """Whether the process is alive (it may still be starting up)."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the node's log (empty when there is none)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- RPC helpers ---------------------------------------------------------------------------

    def rpc(self, method: str, params: list[Any] | None = None, timeout: float = 30.0) -> Any:
        """Call a JSON-RPC method on this node; a dead node raises :class:`DevnetError`."""
        self._ensure_alive()
        try:
            return json_rpc(self.rpc_url, method, params, timeout=timeout)
        except UpstreamUnavailable:
            self._ensure_alive()
            raise

    def snapshot(self) -> str:
        """Take an EVM snapshot (``evm_snapshot``) and return its id."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """Revert to a snapshot; Anvil consumes the snapshot, so take a new one to reuse it."""
        if not self.rpc("evm_revert", [snapshot_id]):
            raise DevnetError(f"{self.config.label}: snapshot {snapshot_id} is unknown")

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` blocks now."""
        self.rpc("anvil_mine", [hex(blocks)])

    def block_number(self) -> int:
        """Latest block number."""
        return int(self.rpc("eth_blockNumber"), 16)

    def dump_state_to(self, path: Path) -> None:
        """Write the chain state as JSON that ``--load-state`` accepts (atomic replace)."""
        import gzip

        blob = self.rpc("anvil_dumpState", timeout=120)
        raw = bytes.fromhex(blob[2:] if blob.startswith("0x") else blob)
        with contextlib.suppress(OSError):
            raw = gzip.decompress(raw)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)

    # -- internals -----------------------------------------------------------------------------

    def _command(self, binary: Path, port: int) -> list[str]:
        cfg = self.config
        cmd = [
            str(binary),
            "--host",
            "127.0.0.1" if cfg.host == "localhost" else cfg.host,
            "--port",
            str(port),
            "--chain-id",
            str(cfg.chain_id),
            "--accounts",
            str(cfg.accounts),
            "--balance",
            str(cfg.balance_eth),
            "--mnemonic",
            cfg.mnemonic,
        ]
        if cfg.block_time is not None:
            cmd += ["--block-time", f"{cfg.block_time:g}"]
        if cfg.fork_url is not None:
            cmd += ["--fork-url", cfg.fork_url]
        if cfg.fork_block_number is not None:
            cmd += ["--fork-block-number", str(cfg.fork_block_number)]
        if cfg.load_state is not None:
            cmd += ["--load-state", str(cfg.load_state)]
        if cfg.gas_limit is not None:
            cmd += ["--gas-limit", str(cfg.gas_limit)]
        if cfg.base_fee is not None:
            cmd += ["--base-fee", str(cfg.base_fee)]
        if cfg.code_size_limit is not None:
            cmd += ["--code-size-limit", str(cfg.code_size_limit)]
        cmd += list(cfg.extra_args)
        return cmd

    def _launch(self, binary: Path, port: int) -> None:
        cfg = self.config
        if cfg.log_dir is not None:
            cfg.log_dir.mkdir(parents=True, exist_ok=True)
            log_dir = cfg.log_dir
        else:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="oms-anvil-")
            log_dir = Path(self._tmpdir.name)
        self._log_path = log_dir / f"anvil-{cfg.chain_id}-{port}.log"
        self._log_file = self._log_path.open("wb")
        self._port = port
        self._proc = subprocess.Popen(
            self._command(binary, port),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _wait_ready(self) -> None:
        cfg = self.config
        deadline = time.monotonic() + cfg.startup_timeout
        delay = 0.02
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc is not None else None
                raise DevnetError(
                    f"anvil for {cfg.label} exited during start-up (code {code}): "
                    f"{self._last_meaningful_line()}"
                )
            with contextlib.suppress(UpstreamUnavailable, RpcError):
                answered = json_rpc(self.rpc_url, "eth_chainId", timeout=2.0)
                if int(answered, 16) != cfg.chain_id and cfg.fork_url is None:
                    raise DevnetError(
                        f"anvil on port {self._port} answered chain id {int(answered, 16)}, "
                        f"expected {cfg.chain_id}"
                    )
                return
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"anvil for {cfg.label} did not answer within {cfg.startup_timeout:g} s: "
                    f"{self._last_meaningful_line()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    def _last_meaningful_line(self) -> str:
        lines = [ln.strip() for ln in self.log_tail(40).splitlines() if ln.strip()]
        for line in reversed(lines):
            if "error" in line.lower() or "address already in use" in line.lower():
                return line
        return lines[-1] if lines else "no output (see the anvil log)"

    def _ensure_alive(self) -> None:
        if self._proc is None:
            raise DevnetError(f"anvil for {self.config.label} has not been started")
        code = self._proc.poll()
        if code is not None:
            raise DevnetError(
                f"anvil for {self.config.label} is not running (exit code {code}); "
                f"last log line: {self._last_meaningful_line()}"
            )

    def _terminate(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        elif proc is not None:
            proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @staticmethod
    def _check_fork_url(url: str) -> None:
        if url.startswith(("ws://", "wss://")):
            return  # checked by anvil itself; a stdlib probe cannot speak websocket
        try:
            json_rpc(url, "eth_chainId", timeout=5.0)
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(
                f"fork URL {url} does not answer eth_chainId; check the URL and that the node "
                "is running"
            ) from exc
