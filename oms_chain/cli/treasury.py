"""``oms treasury plan | propose | approve | execute | status | report``: a DAO treasury hedge
from a policy file, one step per command, every step recorded in the event store (``--store``)
under a run id (``--run``), so each command can be repeated or resumed safely.

Owners sign the batch files ``propose`` writes with ``oms safe sign FILE --nonce N``; ``approve``
records their ``OWNER:SIGNATURE`` tokens; ``execute`` sends what has enough signatures. A
policy refusal at planning or a proposal short of signatures exits with code 4 (refused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from oms_chain.cli._app import _devnet_url, app
from oms_chain.cli._args import JsonOption, RpcUrlOption, StoreOption, _identifier
from oms_chain.cli._errors import _Refused
from oms_chain.cli._output import console as _console
from oms_chain.cli._output import print_fields, print_json, say, table
from oms_chain.model.errors import InvalidInput

treasury_app = typer.Typer(
    help="DAO treasury hedging: plan, propose Safe transactions, approve, execute, report.",
    rich_markup_mode=None,
)
app.add_typer(treasury_app, name="treasury")

T = TypeVar("T")

PolicyArg = Annotated[Path, typer.Argument(metavar="POLICY", help="Treasury policy file (TOML).")]
RunOption = Annotated[str, typer.Option("--run", metavar="ID", help="Run id (one hedge).")]
OutOption = Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write into.")]


def _with_desk(
    policy_path: Path, store_url: str, rpc_url: str | None, step: Callable[[Any], Awaitable[T]]
) -> T:
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.store import open_store
    from oms_chain.treasury import ApprovalMissing, PolicyViolation, TreasuryDesk, load_policy

    policy = load_policy(policy_path)
    url = rpc_url or _devnet_url(policy.safe.chain_id)

    async def run() -> T:
        with open_store(store_url) as store:
            async with RpcClient([url]) as rpc:
                chain_id = await rpc.chain_id()
                if chain_id != policy.safe.chain_id:
                    raise InvalidInput(
                        f"the policy's safe.chain_id is {policy.safe.chain_id}; the RPC is on "
                        f"chain {chain_id}"
                    )
                desk = TreasuryDesk(policy, store, rpc)
                try:
                    return await step(desk)
                except (PolicyViolation, ApprovalMissing) as exc:  # exit code 4: refused
                    raise _Refused(str(exc)) from exc
                finally:
                    await desk.close()

    return asyncio.run(run())


def _summary(st: Any) -> dict[str, Any]:
    plan = st.plan or {}
    before = plan.get("before") or {}
    return {
        "run": st.run_id,
        "stage": st.stage,
        "delta_share_before": before.get("delta_share"),
        "delta_share_after": (st.after or {}).get("delta_share"),
        "var_1d_before": before.get("var_1d"),
        "var_1d_after": (st.after or {}).get("var_1d"),
        "proposals": [
            {
                "proposal_id": p.proposal_id,
                "nonce": p.nonce,
                "kind": p.kind,
                "notional_usd": str(p.notional_usd),
                "premium_usd": str(p.premium_usd),
                "signatures": f"{len(st.signatures.get(p.proposal_id, {}))}/{p.signatures}",
                "safe_tx_hash": st.safe_tx_hashes.get(p.proposal_id),
                "executed": (st.executed.get(p.proposal_id) or {}).get("tx_hash"),
                "reverted": [r["tx_hash"] for r in st.reverted.get(p.proposal_id, [])],
                "state": _proposal_state(st, p.proposal_id),
            }
            for p in st.proposals
        ],
        "explanation": plan.get("explanation", ""),
    }


def _proposal_state(st: Any, pid: str) -> str:
    """``executed``, ``reverted`` (execute again or plan a new run), ``sent`` or ``open``."""
    if pid in st.executed:
        return "executed"
    if st.is_reverted(pid):
        return "reverted"
    return "sent" if pid in st.sent else "open"


def _show(st: Any, as_json: bool) -> None:
    doc = _summary(st)
    if as_json:
        print_json(doc)
        return
    print_fields(
        f"Treasury run {st.run_id}",
        {k: v for k, v in doc.items() if k not in ("proposals", "explanation")},
    )
    if doc["proposals"]:
        out = table(
            "Proposals",
            (
                "proposal",
                "nonce",
                "kind",
                "notional USD",
                "premium USD",
                "signed",
                "state",
                "executed",
            ),
            right=("nonce", "notional USD", "premium USD"),
        )
        for p in doc["proposals"]:
            out.add_row(
                p["proposal_id"], str(p["nonce"]), p["kind"], p["notional_usd"],
                p["premium_usd"], p["signatures"], p["state"],
                p["executed"] or (p["reverted"][-1] + " (reverted)" if p["reverted"] else "-"),
            )  # fmt: skip
        _console.print(out)
    if doc["explanation"]:
        say(doc["explanation"])


@treasury_app.command("plan")
def treasury_plan(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    instrument: Annotated[
        list[str] | None,
        typer.Option("--instrument", metavar="NAME", help="Only these (repeatable)."),
    ] = None,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure the treasury, compare the allowed hedges, record the plan and its proposals."""
    run_id = _identifier(run, "--run")
    st = _with_desk(policy, store, rpc_url, lambda d: d.plan(run_id, instruments=instrument))
    _show(st, as_json)


@treasury_app.command("expire")
def treasury_expire(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a run closing out the executor's expired options (settle, redeem, withdraw as one
    Safe transaction); then propose, approve and execute it like a hedge."""
    run_id = _identifier(run, "--run")
    st = _with_desk(policy, store, rpc_url, lambda d: d.plan_expiry(run_id))
    _show(st, as_json)


@treasury_app.command("propose")
def treasury_propose(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    out: OutOption,
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the proposals, write one Transaction Builder file each, notify the webhook."""
    run_id = _identifier(run, "--run")
    if not out.is_dir():
        raise InvalidInput(f"--out {out} is not an existing folder")
    st = _with_desk(policy, store, rpc_url, lambda d: d.propose(run_id, out))
    _show(st, as_json)
    if not as_json:
        for p in st.proposals:
            say(
                f"sign: oms safe sign {out / (p.proposal_id + '.json')} --nonce {p.nonce} "
                "--key-env VAR"
            )


@treasury_app.command("approve")
def treasury_approve(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    proposal: Annotated[str, typer.Option("--proposal", metavar="ID", help="Proposal id.")],
    signature: Annotated[
        list[str],
        typer.Option("--signature", metavar="OWNER:SIG", help="From `oms safe sign` (repeatable)."),
    ],
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check and record owners' signatures of a proposal."""
    run_id = _identifier(run, "--run")
    pid = _identifier(proposal, "--proposal")

    async def step(desk: Any) -> Any:
        st = None
        for token in signature:
            st = await desk.add_signature(run_id, pid, token)
        return st

    _show(_with_desk(policy, store, rpc_url, step), as_json)


@treasury_app.command("execute")
def treasury_execute(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    key_env: Annotated[
        str, typer.Option("--key-env", metavar="VAR", help="Variable with the relayer's key.")
    ],
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Execute the proposals that have their signatures (in nonce order), then re-measure."""
    from oms_chain.custody import LocalSigner

    run_id = _identifier(run, "--run")
    relayer = LocalSigner.from_env(key_env)
    _show(_with_desk(policy, store, rpc_url, lambda d: d.execute(run_id, relayer)), as_json)


@treasury_app.command("status")
def treasury_status(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    as_json: JsonOption = False,
) -> None:
    """Where the run stands: plan, proposals, signatures, executions, the treasury after (from
    the store alone; no node needed)."""
    from oms_chain.store import open_store
    from oms_chain.treasury import load_policy, run_state

    run_id = _identifier(run, "--run")
    load_policy(policy)  # a bad file is refused here as everywhere
    with open_store(store, read_only=True) as st_store:
        st = run_state(st_store, run_id)
    _show(st, as_json)


@treasury_app.command("report")
def treasury_report(
    policy: PolicyArg,
    run: RunOption,
    store: StoreOption,
    out: OutOption,
    as_json: JsonOption = False,
) -> None:
    """Write the run's governance report: HTML with plots plus CSV files (no node needed)."""
    from oms_chain.store import open_store
    from oms_chain.treasury import load_policy, run_state, write_report

    run_id = _identifier(run, "--run")
    pol = load_policy(policy)
    if not out.parent.is_dir() or (out.exists() and not out.is_dir()):
        raise InvalidInput(f"--out {out} is not a folder (or a new one in an existing folder)")
    with open_store(store, read_only=True) as st_store:
        st = run_state(st_store, run_id)
        if st.plan is None:
            raise InvalidInput(f"run {run_id!r} is not in the store {st_store.url}")
        paths = write_report(st, st_store, pol, out)
    if as_json:
        print_json({"run": run_id, "stage": st.stage, "files": [str(p) for p in paths]})
        return
    for p in paths:
        say(f"wrote {p}")
