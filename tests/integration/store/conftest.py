"""Fixtures for the store's integration tests: a PostgreSQL server started by the suite itself.

``postgres_cluster`` (session) and ``postgres_url`` (a fresh schema per test) come from the
oms-chain pytest plugin (:mod:`oms_chain.testing.postgres`); the server is stopped and its
data removed at the end of the session, whether tests passed or not. Without server programs
the fixture fails and says to run ``scripts/install-postgres.sh``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The conformance suite lives beside the SQLite unit tests; load it by path so both test trees
# share one copy without making tests/ a package.
for _name in ("store_conformance", "lease_conformance"):
    if _name not in sys.modules:
        _path = Path(__file__).resolve().parents[2] / "unit" / "store" / f"{_name}.py"
        _spec = importlib.util.spec_from_file_location(_name, _path)
        assert _spec is not None and _spec.loader is not None
        _module = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _module
        _spec.loader.exec_module(_module)
