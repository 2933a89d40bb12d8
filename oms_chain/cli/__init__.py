"""The ``oms`` command line, one module per command group.

``oms devnet up|status|down|keys``  the local world (L1, optionally L2 or a fork): :mod:`.devnet`
``oms setup``                       the devnet toolchain (anvil, forge, solc-js): :mod:`.toolchain`
``oms demo``                        the end-to-end demo on a fresh world: :mod:`.demo`
``oms quote`` / ``oms route``       exact quotes and the best split, plan only: :mod:`.market`
``oms swap`` / ``oms order``        trading through the engine (algos resumable): :mod:`.trading`
``oms cancel`` / ``oms halt`` /     cancel an order; the kill switch: :mod:`.control`
``oms resume-trading``
``oms orders`` / ``oms tx status``  what the store and the chain say: :mod:`.views`
``oms audit verify|anchor|export``  the tamper-evident audit log: :mod:`.audit`
``oms completion bash|zsh|fish``    a shell completion script: :mod:`._app`
``oms safe show|export|hash|sign|execute``  Safe accounts and batch files: :mod:`.safe`
``oms strategy KIND|list|show``   option structures: preview, execute, list: :mod:`.strategy`
``oms risk`` / ``oms risk surface``  portfolio risk of a file; SVI smiles: :mod:`.risk`
``oms threshold keygen|deploy|status`` / FROST groups, their account and participant processes:
``oms signer participant``         :mod:`.threshold`
``oms token create|list|revoke``    API tokens (stored hashed): :mod:`.token`
``oms serve``                       the HTTP / websocket API and dashboard: :mod:`.serve`
``oms report``                      execution quality and risk, HTML / CSV / JSON: :mod:`.report`

Every error is printed as one line (``error: …``; with ``--json`` a JSON object on stdout) with
the exit code of :data:`EXIT_CODES`, never a traceback (:mod:`._main`). Every argument is checked
(:mod:`._args`) before a session, a chain client or a store is opened. Tables, JSON and error
lines go through one formatting layer (:mod:`._output`).
"""

from __future__ import annotations

# Importing the command modules registers their commands on ``app``, in the order of ``--help``.
# isort: off
from oms_chain.cli import toolchain, views, market, trading, control, demo  # noqa: F401
from oms_chain.cli import devnet, audit  # noqa: F401
from oms_chain.cli import safe  # noqa: F401
from oms_chain.cli import strategy  # noqa: F401
from oms_chain.cli import risk  # noqa: F401
from oms_chain.cli import threshold  # noqa: F401
from oms_chain.cli import token, serve  # noqa: F401
from oms_chain.cli import options, options_trade  # noqa: F401
from oms_chain.cli import report  # noqa: F401
from oms_chain.cli import treasury  # noqa: F401
from oms_chain.cli import workers  # noqa: F401

# isort: on
from oms_chain.cli._app import app
from oms_chain.cli._errors import EXIT_CODES
from oms_chain.cli._main import main

__all__ = ["EXIT_CODES", "app", "main"]
