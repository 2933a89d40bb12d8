"""``python -m oms_chain.devnet.exchange``: run the exchange simulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from decimal import Decimal

from oms_chain.devnet.exchange.simulator import ExchangeSimulator, SimulatorConfig


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m oms_chain.devnet.exchange",
        description="Local exchange simulator speaking Binance spot REST + websockets.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-agents", action="store_true", help="no market maker / taker")
    parser.add_argument(
        "--volatility",
        type=float,
        default=0.0005,
        help="price volatility per agent step (0.1 s), 0..0.05 (default 0.0005)",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="KEY:SECRET",
        help="create an account funded with 100 ETH, 10 BTC, 1,000,000 USDC (repeatable)",
    )
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    sim = ExchangeSimulator(
        SimulatorConfig(
            host=args.host,
            port=args.port,
            seed=args.seed,
            agents=not args.no_agents,
            price_sigma=args.volatility,
        )
    )
    await sim.start()
    for spec in args.account:
        key, _, secret = spec.partition(":")
        sim.create_account(
            key, secret, {"ETH": Decimal(100), "BTC": Decimal(10), "USDC": Decimal(1_000_000)}
        )
    print(
        f"REST {sim.url}/api/v3  websockets {sim.ws_url}/ws  admin {sim.url}/_sim/state", flush=True
    )
    print(sim.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    asyncio.run(_main(_parse(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
