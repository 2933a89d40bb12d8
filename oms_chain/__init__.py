"""oms-chain: a DeFi-first, non-custodial order management and execution toolkit.

Layers and the path of one order are described in the project's ARCHITECTURE page; the public
entry points are the ``oms`` command line (:mod:`oms_chain.cli`) and the packages below.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
