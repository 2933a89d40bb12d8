"""``python -m oms_chain.cli``: the ``oms`` command."""

import sys

from oms_chain.cli import main

sys.exit(main())
