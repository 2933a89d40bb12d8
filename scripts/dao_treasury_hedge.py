#!/usr/bin/env python3
"""DAO treasury hedge: a policy file in, Safe proposals out, two owners sign, the hedge executes.

What a DAO automating its treasury hedge does, end to end on a devnet of its own:

1. a 2-of-3 Safe holds 100 ETH and 450,000 USDC (ETH at 3,000: 40 % of the treasury, the
   policy's target, band +-2 %), with a BatchExecutor it owns for option fills,
2. ``oms treasury plan`` before the move: inside the band, nothing to do,
3. the ETH feed jumps (``--jump``, default 3,450): ``oms treasury plan`` measures the Safe with
   the risk engine and compares a TWAP sale, puts, collars and put spreads on the on-chain
   options market (cost, residual delta, VaR); ``oms treasury propose`` records the chosen
   hedge as Safe transactions and writes the Transaction Builder files,
4. two owners sign them with ``oms safe sign``; ``oms treasury approve`` records the
   signatures; ``oms treasury execute`` sends them through a relayer and re-measures,
5. ``oms treasury report`` writes the governance report (HTML with plots, CSV),
6. the options' expiry passes: ``oms treasury expire`` proposes their close-out (settle each
   series from the oracle's first round after expiry, redeem the longs, withdraw the shorts)
   as one Safe transaction, which the owners sign and the relayer executes like the hedge.

The policy routes a spot sale across the devnet's pools (``safe.route``); options are valued at
the vols implied by the maker's quotes (an SVI surface), the policy's flat vol as fallback.

Run:  .venv/bin/python scripts/dao_treasury_hedge.py [--jump 3450] [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from oms_chain.cli import main as oms
from oms_chain.devnet.options_maker import MakerConfig, run_maker_in_thread
from oms_chain.devnet.options_market import OptionsMarketClient, set_feed_price
from oms_chain.devnet.treasury import create_treasury, policy_toml
from oms_chain.devnet.world import Devnet, DevnetConfig
from oms_chain.model.errors import OmsError


def _oms(console: Console, *args: str) -> Any:
    """Run one ``oms`` command in this process with ``--json``; its document, or an error."""
    console.print(f"$ oms {' '.join(a if len(a) < 60 else a[:24] + '…' for a in args)}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = oms([*args, "--json"])
    text = out.getvalue()
    if code != 0:
        try:
            message = json.loads(text)["error"]
        except (ValueError, KeyError):
            message = text.strip() or f"exit code {code}"
        raise OmsError(f"`oms {args[0]} {args[1]}` failed: {message}")
    return json.loads(text)


def _sign_and_approve(
    console: Console, policy: Path, run_id: str, proposed: dict[str, Any], keys: tuple[str, ...],
    out: Path, common: tuple[str, ...],
) -> None:  # fmt: skip
    """Two owners sign every proposal of ``run_id`` with ``oms safe sign``; approve records it."""
    for p in proposed["proposals"]:
        batch = str(out / f"{p['proposal_id']}.json")
        for key in keys[:2]:
            os.environ["DAO_OWNER_KEY"] = key
            signed = _oms(
                console, "safe", "sign", batch, "--nonce", str(p["nonce"]),
                "--key-env", "DAO_OWNER_KEY",
            )  # fmt: skip
            _oms(
                console, "treasury", "approve", str(policy), "--run", run_id,
                "--proposal", p["proposal_id"], "--signature", signed["token"], *common,
            )  # fmt: skip
    os.environ.pop("DAO_OWNER_KEY", None)


def run(jump: Decimal, out: Path, console: Console) -> dict[str, Any]:
    if not jump.is_finite() or not Decimal(100) <= jump <= Decimal(100_000):
        raise OmsError("--jump must be an ETH price between 100 and 100000 USD")
    if not out.is_dir():
        raise OmsError(f"--out {out} is not an existing folder")
    with Devnet(DevnetConfig(with_l2=False)) as world:
        l1 = world.l1
        feed, deployer = l1.book.address("OracleETHUSD"), l1.accounts[0].address
        set_feed_price(l1.w3, feed, Decimal(3000), sender=deployer)
        keys = tuple(a.private_key for a in l1.accounts[5:8])
        treasury = create_treasury(l1, keys, 2, eth=100, usdc=450_000)
        maker = run_maker_in_thread(
            OptionsMarketClient.from_book(l1.w3, l1.book),
            l1.accounts[3].private_key,
            config=MakerConfig(ttl_s=3600, max_size=1_000_000),
        )
        try:
            policy = out / "treasury-policy.toml"
            policy.write_text(policy_toml(l1, treasury, makers=[maker.url], route=True))
            common = ("--store", f"sqlite:///{out / 'treasury.db'}", "--rpc-url", l1.rpc_url)
            calm = _oms(console, "treasury", "plan", str(policy), "--run", "calm", *common)
            set_feed_price(l1.w3, feed, jump, sender=deployer)
            planned = _oms(console, "treasury", "plan", str(policy), "--run", "jump", *common)
            if planned["stage"] == "inside band":
                raise OmsError(f"ETH at {jump} leaves the treasury inside its band; jump further")
            proposed = _oms(
                console, "treasury", "propose", str(policy), "--run", "jump", "--out", str(out),
                *common,
            )  # fmt: skip
            signers = [a.address for a in l1.accounts[5:7]]
            _sign_and_approve(console, policy, "jump", proposed, keys, out, common)
            os.environ["DAO_RELAYER_KEY"] = l1.accounts[9].private_key
            done = _oms(
                console, "treasury", "execute", str(policy), "--run", "jump",
                "--key-env", "DAO_RELAYER_KEY", *common,
            )  # fmt: skip
            report = _oms(
                console, "treasury", "report", str(policy), "--run", "jump", "--out",
                str(out / "report"), "--store", common[1],
            )  # fmt: skip
            expired = _expire(console, l1, treasury, policy, keys, out, common, feed, jump)
        finally:
            maker.stop()
    table = Table(title="DAO treasury hedge through a 2-of-3 Safe (devnet L1)")
    table.add_column("what")
    table.add_column("value")
    table.add_row("Safe", treasury.safe)
    table.add_row("before the jump (ETH 3,000)", f"delta share {calm['delta_share_before']}: "
                  f"{calm['stage']}")  # fmt: skip
    table.add_row(f"after the jump (ETH {jump})", f"delta share {done['delta_share_before']}")
    table.add_row("chosen hedge", done["explanation"].splitlines()[0])
    table.add_row("after execution", f"delta share {done['delta_share_after']} (band 0.38..0.42)")
    table.add_row("1-day VaR99", f"{done['var_1d_before']} -> {done['var_1d_after']} USD")
    for p in done["proposals"]:
        table.add_row(f"proposal {p['proposal_id']}", f"nonce {p['nonce']}, {p['kind']}, "
                      f"premium {p['premium_usd']} USD, signed {p['signatures']}, "
                      f"tx {p['executed']}")  # fmt: skip
    table.add_row("signed by", "\n".join(signers))
    if expired is not None:
        table.add_row("at expiry", expired["explanation"].splitlines()[0])
        table.add_row("after the close-out", f"stage {expired['stage']}, delta share "
                      f"{expired['delta_share_after']}")  # fmt: skip
    table.add_row("report", report["files"][0])
    console.print(table)
    return done


def _expire(
    console: Console, l1: Any, treasury: Any, policy: Path, keys: tuple[str, ...], out: Path,
    common: tuple[str, ...], feed: str, price: Decimal,
) -> dict[str, Any] | None:  # fmt: skip
    """Past the latest expiry of the options the executor holds (the oracle posts a round
    after it), propose, sign and execute their close-out; ``None`` when it holds none."""
    market = OptionsMarketClient.from_book(l1.w3, l1.book)
    held = [s for s in market.all_series() if any(market.position(treasury.executor, s.series_id))]
    if not held:
        return None
    l1.process.rpc("evm_setNextBlockTimestamp", [max(s.expiry for s in held) + 60])
    l1.process.rpc("evm_mine", [])
    set_feed_price(l1.w3, feed, price, sender=l1.accounts[0].address)
    _oms(console, "treasury", "expire", str(policy), "--run", "expiry", *common)
    proposed = _oms(
        console, "treasury", "propose", str(policy), "--run", "expiry", "--out", str(out),
        *common,
    )  # fmt: skip
    _sign_and_approve(console, policy, "expiry", proposed, keys, out, common)
    return _oms(  # type: ignore[no-any-return]
        console, "treasury", "execute", str(policy), "--run", "expiry",
        "--key-env", "DAO_RELAYER_KEY", *common,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jump", default="3450", help="ETH price after the jump (USD)")
    parser.add_argument("--out", default=None, help="folder for policy, store, batches, report")
    args = parser.parse_args(argv)
    console = Console()
    try:
        try:
            jump = Decimal(args.jump)
        except InvalidOperation:
            raise OmsError(f"--jump {args.jump!r} is not a number") from None
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dao-treasury-"))
        run(jump, out, console)
    except OmsError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
