"""Suite-wide test settings.

Hypothesis runs derandomized under CI (``CI`` set, as ``.ci/run`` does): the same examples on
every run, so a red build is reproducible and a green one is not luck. Locally it explores new
examples each run (``HYPOTHESIS_PROFILE=ci`` to get CI's behaviour); found failures are kept in
its example database and replayed first.
"""

from __future__ import annotations

import os

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
