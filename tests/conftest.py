"""Suite-wide test settings.

Hypothesis runs derandomized under CI (``CI`` set, as ``.ci/run`` does): the same examples on
every run, so a red build is reproducible and a green one is not luck. Locally it explores new
examples each run (``HYPOTHESIS_PROFILE=ci`` to get CI's behaviour); found failures are kept in
its example database and replayed first.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Frameworks we promise to install beside (``make compat``) bring pytest plugins that take over
# a session (Ape's connects to a network, Brownie's loads a project). Our suite runs without them:
# a session where one is loaded stops before collecting anything.
FOREIGN_PLUGINS = ("ape_test", "pytest-brownie")


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run with a foreign framework's pytest plugin loaded (``-p no:NAME`` stops it)."""
    loaded = [name for name in FOREIGN_PLUGINS if config.pluginmanager.get_plugin(name)]
    if loaded:
        flags = " ".join(f"-p no:{name}" for name in loaded)
        raise pytest.UsageError(f"pytest plugin(s) {loaded} loaded: run with {flags}")
