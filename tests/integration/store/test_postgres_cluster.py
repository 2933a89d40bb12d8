"""The throwaway PostgreSQL cluster the test suite starts for itself."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from oms_chain.model import ToolchainMissing
from oms_chain.testing.postgres import PostgresCluster, find_postgres_bindir


def test_missing_server_programs_say_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMS_PG_BINDIR", str(tmp_path / "nowhere"))
    with pytest.raises(ToolchainMissing, match=r"scripts/install-postgres\.sh"):
        find_postgres_bindir()
    cluster = PostgresCluster()
    with pytest.raises(ToolchainMissing, match=r"scripts/install-postgres\.sh"):
        cluster.start()
    assert not cluster.running


def test_cluster_listens_on_loopback_and_is_removed_on_stop_even_after_an_error() -> None:
    cluster = PostgresCluster()
    root: Path | None = None
    with pytest.raises(RuntimeError, match="test failed"), cluster:
        root = cluster._root
        assert root is not None and (root / "data" / "PG_VERSION").exists()
        with psycopg.connect(cluster.url) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        raise RuntimeError("test failed")
    assert not cluster.running
    assert root is not None and not root.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", cluster.port)) != 0


def test_install_script_is_a_no_op_when_the_server_programs_are_present() -> None:
    script = Path(__file__).resolve().parents[3] / "scripts" / "install-postgres.sh"
    find_postgres_bindir()  # this test only makes sense where they are installed
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "present" in result.stdout


def test_install_script_installs_postgresql_with_apt_when_missing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the install branch needs root")
    script = Path(__file__).resolve().parents[3] / "scripts" / "install-postgres.sh"
    pg_root = tmp_path / "postgresql"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "apt.log"
    # a stand-in apt-get that records its arguments and "installs" initdb
    (fake_bin / "apt-get").write_text(
        "#!/bin/sh\n"
        f'echo "$DEBIAN_FRONTEND $*" >> {log}\n'
        f'if [ "$1" = install ]; then mkdir -p {pg_root}/16/bin && '
        f"touch {pg_root}/16/bin/initdb && chmod +x {pg_root}/16/bin/initdb; fi\n"
    )
    (fake_bin / "apt-get").chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "OMS_PG_ROOT": str(pg_root)}
    result = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "noninteractive update",
        "noninteractive install -y --no-install-recommends postgresql",
    ]
    again = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0 and len(log.read_text().splitlines()) == 2
