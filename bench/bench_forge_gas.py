"""Gas of every entry point of ``OptionsMarket`` and ``BatchExecutor`` as their forge tests call
them: ``forge test --gas-report --json`` over the options and executor suites (fuzz runs
included, so the spread is wide; min / median / max per function, and the deployment cost).

Forge measures the call's execution only (no 21,000 intrinsic, no calldata): the per-transaction
figures users pay are in ``bench_options`` (receipts on Anvil).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FORGE = ROOT / "node_modules" / "@foundry-rs" / "forge-linux-amd64" / "bin" / "forge"
CONTRACTS = ("OptionsMarket", "BatchExecutor")
SKIP = {
    "balanceOf",
    "filled",
    "hashQuote",
    "hashPackage",
    "longId",
    "shortId",
    "nonces",
    "decimals",
}


def run() -> dict[str, Any]:
    out = subprocess.run(
        [
            str(FORGE),
            "test",
            "--root",
            str(ROOT),
            "--match-contract",
            "OptionsMarket|BatchExecutor",
            "--gas-report",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout
    report = next(json.loads(line) for line in out.splitlines() if line.startswith("[{"))
    metrics: dict[str, Any] = {}
    for entry in report:
        name = entry["contract"].rsplit(":", 1)[-1]
        if name not in CONTRACTS:
            continue
        metrics[f"{name}.deploy_gas"] = entry["deployment"]["gas"]
        for signature, f in sorted(entry["functions"].items()):
            fn = signature.split("(", 1)[0]
            if fn in SKIP:
                continue
            metrics[f"{name}.{fn}_gas"] = f"{f['min']:,} / {f['median']:,} / {f['max']:,}"
    return metrics
