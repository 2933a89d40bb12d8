"""Child process of tests/faults/test_treasury_kill9.py: ``execute`` of a treasury run on an
Anvil whose automine is off, so the Safe transaction is journaled and broadcast but never mined;
it then waits for its receipt until killed with SIGKILL.

Run as ``python _treasury_worker.py WORKDIR``; reads ``WORKDIR/cfg.json`` (policy file, store
URL, RPC URL, relayer key, run id).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.store import open_store
from oms_chain.treasury import TreasuryDesk, load_policy


async def main(workdir: Path) -> None:
    cfg = json.loads((workdir / "cfg.json").read_text())
    store = open_store(cfg["store"])
    async with RpcClient([cfg["rpc_url"]]) as rpc:
        desk = TreasuryDesk(load_policy(cfg["policy"]), store, rpc, receipt_timeout_s=600.0)
        await desk.execute(cfg["run"], LocalSigner(cfg["key"]))  # blocks: nothing is mined


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
