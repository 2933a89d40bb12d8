"""Participants as child processes (``oms signer participant``): start one and read the JSON
line it announces itself with (no polling, no sleeps); stop it with SIGTERM.

Each child gets its own passphrase only: every ``OMS_THRESHOLD_*PASSPHRASE*`` variable but the
one it reads is removed from its environment."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms_chain.custody.threshold.errors import ThresholdError
from oms_chain.custody.threshold.group import check_name
from oms_chain.custody.threshold.keystore import participant_passphrase_env

__all__ = ["ParticipantProcess", "spawn_participant", "spawn_participants"]


@dataclass
class ParticipantProcess:
    """A running participant: its process and the identity it announced."""

    name: str
    process: subprocess.Popen[bytes]
    identity: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.identity["url"])

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then wait (SIGKILL if it does not exit in ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        """SIGKILL now (a crash: the endpoint file stays behind)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def spawn_participant(
    directory: Path,
    name: str,
    *,
    coordinator_key: str | None = None,
    passphrase_env: str | None = None,
    env: dict[str, str] | None = None,
    policy: Path | None = None,
    timeout_s: float = 30.0,
) -> ParticipantProcess:
    """Start ``oms signer participant`` for ``name`` in ``directory``; returns once it serves.
    Its passphrase is read from ``passphrase_env`` (default ``OMS_THRESHOLD_PASSPHRASE_<NAME>``);
    ``policy``: its own signing policy file."""
    return _wait(_start(directory, name, coordinator_key, passphrase_env, env, policy), timeout_s)


def spawn_participants(
    directory: Path,
    names: list[str],
    *,
    coordinator_key: str | None = None,
    env: dict[str, str] | None = None,
    policies: dict[str, Path] | None = None,
    timeout_s: float = 60.0,
) -> list[ParticipantProcess]:
    """Start several participants at once (they boot in parallel); returns once all serve.
    Each reads its own ``OMS_THRESHOLD_PASSPHRASE_<NAME>``; ``policies``: per-name policy files."""
    started = [
        _start(directory, n, coordinator_key, None, env, (policies or {}).get(n)) for n in names
    ]
    out: list[ParticipantProcess] = []
    try:
        for s in started:
            out.append(_wait(s, timeout_s))
    except BaseException:
        for _name, proc, _ in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        raise
    return out


def _start(
    directory: Path,
    name: str,
    coordinator_key: str | None,
    passphrase_env: str | None,
    env: dict[str, str] | None,
    policy: Path | None,
) -> tuple[str, subprocess.Popen[bytes], str]:
    check_name(name)
    passphrase_env = passphrase_env or participant_passphrase_env(name)
    cmd = [
        sys.executable,
        "-m",
        "oms_chain.cli",
        "signer",
        "participant",
        "--dir",
        str(directory),
        "--name",
        name,
        "--passphrase-env",
        passphrase_env,
    ]
    if coordinator_key is not None:
        cmd += ["--coordinator-key", coordinator_key]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    child_env = {
        k: v
        for k, v in (os.environ if env is None else env).items()
        if k == passphrase_env or not (k.startswith("OMS_THRESHOLD") and "PASSPHRASE" in k)
    }
    child_env.setdefault("RUST_BACKTRACE", "0")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env)
    return name, proc, passphrase_env


def _wait(
    started: tuple[str, subprocess.Popen[bytes], str], timeout_s: float
) -> ParticipantProcess:
    name, proc, passphrase_env = started
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                proc.kill()
                proc.wait()
                raise ThresholdError(f"participant {name} did not start within {timeout_s} s")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                code = proc.wait()
                raise ThresholdError(
                    f"participant {name} exited with code {code} before serving (is the "
                    f"passphrase in {passphrase_env} right? run `oms signer participant` by hand)"
                )
            buf += chunk
    identity = json.loads(buf.split(b"\n", 1)[0])
    return ParticipantProcess(name, proc, identity)
