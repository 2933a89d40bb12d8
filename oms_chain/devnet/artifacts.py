"""Third-party protocol bytecode, read from the artifacts their npm packages ship.

WETH9, Uniswap V2/V3 and Safe v1.4.1 are deployed on the devnet from exactly these bytes, never
re-typed or re-compiled, so pool init-code hashes and periphery address math match mainnet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from oms_chain.devnet.paths import protocol_artifact_file, setup_hint
from oms_chain.model.errors import InvalidInput, ToolchainMissing

__all__ = ["PROTOCOL_ARTIFACTS", "ProtocolArtifact", "link_bytecode", "load_protocol_artifact"]

_V3C = "@uniswap/v3-core/artifacts/contracts"
_V3P = "@uniswap/v3-periphery/artifacts/contracts"
_SAFE = "@safe-global/safe-contracts/build/artifacts/contracts"

#: Contract name -> artifact path under node_modules.
PROTOCOL_ARTIFACTS: dict[str, str] = {
    "WETH9": "canonical-weth/build/contracts/WETH9.json",
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "UniswapV3Factory": f"{_V3C}/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": f"{_V3C}/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": f"{_V3P}/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": f"{_V3P}/lens/QuoterV2.sol/QuoterV2.json",
    "NFTDescriptor": f"{_V3P}/libraries/NFTDescriptor.sol/NFTDescriptor.json",
    "NonfungibleTokenPositionDescriptor": (
        f"{_V3P}/NonfungibleTokenPositionDescriptor.sol/NonfungibleTokenPositionDescriptor.json"
    ),
    "NonfungiblePositionManager": (
        f"{_V3P}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"
    ),
    "Safe": f"{_SAFE}/Safe.sol/Safe.json",
    "SafeL2": f"{_SAFE}/SafeL2.sol/SafeL2.json",
    "SafeProxyFactory": f"{_SAFE}/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "SafeProxy": f"{_SAFE}/proxies/SafeProxy.sol/SafeProxy.json",
    "CompatibilityFallbackHandler": (
        f"{_SAFE}/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
    ),
    "MultiSend": f"{_SAFE}/libraries/MultiSend.sol/MultiSend.json",
    "MultiSendCallOnly": f"{_SAFE}/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
}


@dataclass(frozen=True, slots=True)
class ProtocolArtifact:
    """ABI and creation bytecode of one third-party contract, as its npm package ships them."""

    name: str
    path: Path
    abi: list[dict[str, Any]]
    bytecode: str
    link_references: dict[str, dict[str, list[dict[str, int]]]]

    @property
    def bytecode_hash(self) -> str:
        """keccak256 of the creation bytecode (hex, 0x-prefixed), unlinked."""
        from eth_utils import keccak

        return "0x" + keccak(hexstr=self.bytecode).hex()

    @property
    def file_digest(self) -> str:
        """sha256 of the artifact file, for cache keys."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@cache
def load_protocol_artifact(name: str) -> ProtocolArtifact:
    """Load a third-party artifact by contract name (see :data:`PROTOCOL_ARTIFACTS`).

    Raises :class:`InvalidInput` for an unknown name and :class:`ToolchainMissing` when the npm
    package is not installed.
    """
    try:
        rel = PROTOCOL_ARTIFACTS[name]
    except KeyError:
        known = ", ".join(sorted(PROTOCOL_ARTIFACTS))
        raise InvalidInput(f"unknown protocol artifact {name!r}; known: {known}") from None
    path = protocol_artifact_file(rel)
    if not path.is_file():
        raise ToolchainMissing(
            f"artifact for {name} not found at {path}; {setup_hint()} to install the npm packages"
        )
    data = json.loads(path.read_text())
    raw = data.get("bytecode")
    if isinstance(raw, dict):  # some toolchains nest it
        raw = raw.get("object")
    if not raw:
        raw = data.get("evm", {}).get("bytecode", {}).get("object")
    if not isinstance(raw, str) or not raw:
        raise ToolchainMissing(f"artifact for {name} at {path} has no creation bytecode")
    bytecode = raw if raw.startswith("0x") else "0x" + raw
    return ProtocolArtifact(
        name=name,
        path=path,
        abi=data["abi"],
        bytecode=bytecode,
        link_references=data.get("linkReferences") or {},
    )


def link_bytecode(artifact: ProtocolArtifact, libraries: dict[str, str]) -> str:
    """Return the artifact's bytecode with library placeholders replaced by addresses.

    ``libraries`` maps library name (e.g. ``"NFTDescriptor"``) to a 0x address. Every reference
    in the artifact must be given, or :class:`InvalidInput` is raised.
    """
    hexcode = artifact.bytecode[2:]
    for _source, libs in artifact.link_references.items():
        for lib, refs in libs.items():
            if lib not in libraries:
                raise InvalidInput(f"{artifact.name} needs library {lib}; pass its address")
            addr = libraries[lib].lower().removeprefix("0x")
            if len(addr) != 40:
                raise InvalidInput(f"library {lib} address {libraries[lib]!r} is not 20 bytes")
            for ref in refs:
                start, length = ref["start"] * 2, ref["length"] * 2
                hexcode = hexcode[:start] + addr + hexcode[start + length :]
    return "0x" + hexcode
