"""A throwaway PostgreSQL cluster for tests and benchmarks, plus pytest fixtures.

:class:`PostgresCluster` runs ``initdb`` and ``pg_ctl`` on a temporary data directory, listening
only on ``127.0.0.1`` on a free port with ``trust`` authentication, and removes everything on
:meth:`~PostgresCluster.stop`. ``initdb`` refuses to run as root, so when we are root the server
programs run as the ``postgres`` user (``su postgres -s /bin/sh -c ...``) on a directory that
user owns.

Server programs are looked for in ``$OMS_PG_BINDIR``, then the newest
``/usr/lib/postgresql/*/bin`` (Debian's layout), then ``PATH``; install them with
``scripts/install-postgres.sh`` in a checkout, or the system's ``postgresql`` package.

Fixtures (exposed by the oms-chain pytest plugin): ``postgres_cluster`` (session-wide) and
``postgres_url`` (a fresh, empty schema per test, selected through the URL's ``search_path``).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from oms_chain._locations import in_checkout
from oms_chain.model import DevnetError, ToolchainMissing

__all__ = ["PostgresCluster", "find_postgres_bindir", "postgres_cluster", "postgres_url"]


def _install_hint() -> str:
    if in_checkout():
        return "run scripts/install-postgres.sh (as root) or set OMS_PG_BINDIR"
    return (
        "install PostgreSQL's server programs (Debian/Ubuntu: `apt-get install postgresql`) "
        "or set OMS_PG_BINDIR to the folder holding initdb"
    )


#: What to do when the server programs are missing (in a checkout: its install script).
INSTALL_HINT = _install_hint()
_RUN_AS = "postgres"


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit()) or (0,)


def find_postgres_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Raises:
        ToolchainMissing: none found; the message says how to install them.
    """
    override = os.environ.get("OMS_PG_BINDIR")
    if override:
        if (Path(override) / "initdb").is_file():
            return Path(override)
        raise ToolchainMissing(f"OMS_PG_BINDIR={override!r} holds no initdb; {INSTALL_HINT}")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise ToolchainMissing(
        "PostgreSQL server programs (initdb, pg_ctl) are not installed: none in "
        f"/usr/lib/postgresql/*/bin or on PATH; {INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """A private PostgreSQL server on loopback, alive between :meth:`start` and :meth:`stop`.

    Args:
        durable: keep PostgreSQL's crash-safety settings (``fsync`` and friends). Tests leave
            it off, which makes them faster; benchmarks turn it on to measure real commits.
        bindir: where the server programs are; found with :func:`find_postgres_bindir` if not
            given.

    Raises (from :meth:`start`):
        ToolchainMissing: no server programs.
        DevnetError: ``initdb`` or ``pg_ctl`` failed; the message includes the server log.
    """

    def __init__(self, *, durable: bool = False, bindir: Path | None = None) -> None:
        self.durable = durable
        self.bindir = bindir
        self.port = 0
        self._root: Path | None = None
        self._counter = itertools.count(1)

    @property
    def url(self) -> str:
        """URL of the ``postgres`` database as superuser ``postgres``."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        return self._root is not None

    def _as_owner(self, argv: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            argv = ["su", _RUN_AS, "-s", "/bin/sh", "-c", shlex.join(argv)]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )

    def start(self) -> Self:
        """initdb + pg_ctl start; returns once the server accepts connections."""
        if self._root is not None:
            return self
        bindir = self.bindir or find_postgres_bindir()
        self.bindir = bindir
        root = Path(tempfile.mkdtemp(prefix="oms-pg-"))
        self._root = root
        atexit.register(self.stop)
        try:
            if os.geteuid() == 0:
                shutil.chown(root, user=_RUN_AS, group=None)
            data = root / "data"
            result = self._as_owner(
                [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                timeout=120,
            )  # fmt: skip
            if result.returncode != 0:
                raise DevnetError(f"initdb failed:\n{result.stdout}{result.stderr}")
            self._start_server(bindir, root, data)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self, bindir: Path, root: Path, data: Path) -> None:
        settings = ["-c", "listen_addresses=127.0.0.1", "-k", str(root), "-c", "max_connections=50"]
        if not self.durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                         "-c", "full_page_writes=off"]  # fmt: skip
        log = root / "server.log"
        last = ""
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            options = shlex.join(["-p", str(self.port), *settings])
            result = self._as_owner(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                 "-w", "-t", "60", "start"],
                timeout=90,
            )  # fmt: skip
            if result.returncode == 0:
                return
            last = result.stdout + result.stderr
            with contextlib.suppress(OSError):
                last += log.read_text()
        raise DevnetError(f"pg_ctl could not start PostgreSQL:\n{last}")

    def stop(self) -> None:
        """Stop the server (even if half-started) and delete its data. Idempotent."""
        root, self._root = self._root, None
        if root is None:
            return
        atexit.unregister(self.stop)
        data = root / "data"
        if (data / "postmaster.pid").exists() and self.bindir is not None:
            result = self._as_owner(
                [str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                timeout=60,
            )
            if result.returncode != 0:
                self._kill_postmaster(data)
        shutil.rmtree(root, ignore_errors=True)

    @staticmethod
    def _kill_postmaster(data: Path) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        import psycopg  # the testing layer may use the optional driver directly

        name = name or f"test_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url_for(name)

    def create_schema(self, name: str | None = None) -> str:
        """Create an empty schema in the ``postgres`` database; return a URL that uses it.

        The URL sets ``search_path`` to the schema, so a store opened with it creates and uses
        its tables there: a fresh, isolated store in well under a millisecond (a new database
        takes a few hundred).
        """
        import psycopg

        name = name or f"test_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}?options=-csearch_path%3D{name}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


try:
    import pytest
except ImportError:  # pragma: no cover - only used outside test runs
    pass
else:

    @pytest.fixture(scope="session")
    def postgres_cluster() -> Iterator[PostgresCluster]:
        """A PostgreSQL server for the whole test session, removed at the end (pass or fail)."""
        cluster = PostgresCluster()
        try:
            cluster.start()
        except ToolchainMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        try:
            yield cluster
        finally:
            cluster.stop()

    @pytest.fixture
    def postgres_url(postgres_cluster: PostgresCluster) -> str:
        """URL of a fresh, empty schema (its own ``search_path``) on the session's server."""
        return postgres_cluster.create_schema()
