#!/usr/bin/env python3
"""Trader example: sell ETH for USDC across the Uniswap pools, signing with your own key.

A non-custodial trader's script on the local devnet: one intent goes through the engine, which
routes it across Uniswap V2 and both V3 fee tiers of WETH/USDC (exact pool math), wraps and
approves exactly what each swap needs, and swaps with a min-out guard per child. The key never
leaves this process. Every child's USDC is checked, to the wei, against the protocol's quote at
the block before its swap. (``oms demo`` does the same with the exchange simulator in the split.)

Run:  .venv/bin/python scripts/trader_swap.py --eth 25
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation

from rich.console import Console

from oms_chain.demo import run_demo
from oms_chain.model.errors import OmsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eth", default="10", help="ETH to sell (decimal, e.g. 2.5)")
    args = parser.parse_args(argv)
    try:
        amount = Decimal(args.eth)
    except InvalidOperation:
        Console(stderr=True).print(f"[red]error:[/] --eth {args.eth!r} is not a number")
        return 2
    try:
        run_demo(Console(), amount_eth=amount, with_exchange=False)
    except OmsError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
