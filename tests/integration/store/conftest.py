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
if "store_conformance" not in sys.modules:
    _path = Path(__file__).resolve().parents[2] / "unit" / "store" / "store_conformance.py"
    _spec = importlib.util.spec_from_file_location("store_conformance", _path)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["store_conformance"] = _module
    _spec.loader.exec_module(_module)
