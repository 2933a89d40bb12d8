"""``oms setup``: the devnet toolchain (anvil, forge, solc-js)."""

from __future__ import annotations

from oms_chain.cli._app import app
from oms_chain.cli._args import JsonOption
from oms_chain.cli._output import console, err_console, print_json


@app.command("setup")
def setup_toolchain(as_json: JsonOption = False) -> None:
    """Install anvil, forge and solc-js for the devnet (once; into ~/.cache/oms-chain or
    $OMS_CHAIN_HOME; in a checkout as `make setup` does). Anvil/forge on PATH are used as
    they are."""
    from oms_chain.devnet.toolchain import install_toolchain

    def progress(line: str) -> None:
        err_console.print(f"oms setup: {line}", highlight=False, soft_wrap=True)

    report = install_toolchain(progress=progress)
    tools = {name: str(path) for name, path in sorted(report.tools.items())}
    if as_json:
        print_json(
            {"home": str(report.home), "installed": list(report.installed), **tools}, indent=None
        )
        return
    state = "up to date" if report.up_to_date else f"installed {', '.join(report.installed)}"
    console.print(f"toolchain in {report.home}: {state}", highlight=False, soft_wrap=True)
    for name, path in tools.items():
        console.print(f"  {name}: {path}", highlight=False, soft_wrap=True)
