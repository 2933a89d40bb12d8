"""Protocol address books: where WETH, Uniswap, Safe and tokens live on each chain.

One JSON file per chain in ``deployments/``: committed files for mainnet and the major L2s, and
``devnet-<chain id>.json`` written by the devnet deployer. Code looks addresses up by
(chain id, name) through :func:`load_address_book`, never by hard-coding them. A wheel install
carries the committed files in ``oms_chain/_data/deployments`` and keeps the devnet's (and the
user's own) in the per-user folder's ``deployments/``; those win over the packaged ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from oms_chain._locations import checkout_root, home, package_data
from oms_chain.model.errors import ConfigError, InvalidInput

__all__ = [
    "AddressBook",
    "PoolEntry",
    "TokenEntry",
    "UnknownAddress",
    "deployments_dir",
    "load_address_book",
]


class UnknownAddress(InvalidInput, KeyError):
    """The address book of a chain has no entry of that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def deployments_dir() -> Path:
    """Writable folder of address books (the devnet writes its own here).

    ``$OMS_CHAIN_DEPLOYMENTS``, else ``deployments/`` of ``$OMS_CHAIN_HOME``, of the checkout,
    or of the per-user folder (``~/.cache/oms-chain``) of a wheel install.
    """
    env = os.environ.get("OMS_CHAIN_DEPLOYMENTS")
    if env:
        return Path(env)
    return home() / "deployments"


def _search_dirs(directory: Path | None) -> list[Path]:
    """Folders :func:`load_address_book` reads, in order: the given one alone, else
    :func:`deployments_dir` then the committed books (the checkout's or the wheel's)."""
    if directory is not None:
        return [directory]
    first = deployments_dir()
    root = checkout_root()
    committed = root / "deployments" if root is not None else package_data() / "deployments"
    return [first] if committed.resolve() == first.resolve() else [first, committed]


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """An ERC-20 token on one chain."""

    symbol: str
    address: ChecksumAddress
    decimals: int


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """An AMM pool: ``protocol`` is ``uniswap-v2`` or ``uniswap-v3``; fee in hundredths of a bip."""

    protocol: str
    address: ChecksumAddress
    token0: ChecksumAddress
    token1: ChecksumAddress
    fee: int


@dataclass(frozen=True, slots=True)
class AddressBook:
    """The contracts, tokens and pools of one chain."""

    chain_id: int
    name: str
    contracts: dict[str, ChecksumAddress] = field(default_factory=dict)
    tokens: dict[str, TokenEntry] = field(default_factory=dict)
    pools: tuple[PoolEntry, ...] = ()

    def address(self, name: str) -> ChecksumAddress:
        """Address of a contract or token by name; raises :class:`UnknownAddress`."""
        if name in self.contracts:
            return self.contracts[name]
        if name in self.tokens:
            return self.tokens[name].address
        known = ", ".join(sorted({*self.contracts, *self.tokens}))
        raise UnknownAddress(
            f"no contract or token named {name!r} in the address book of {self.name} "
            f"(chain {self.chain_id}); known: {known}"
        )

    def token(self, symbol: str) -> TokenEntry:
        """Token entry by symbol; raises :class:`UnknownAddress`."""
        try:
            return self.tokens[symbol]
        except KeyError:
            raise UnknownAddress(
                f"no token {symbol!r} on {self.name} (chain {self.chain_id}); known: "
                f"{', '.join(sorted(self.tokens))}"
            ) from None

    def pools_for(self, a: str, b: str) -> list[PoolEntry]:
        """Pools trading tokens ``a`` and ``b`` (symbols or addresses), in either order."""
        wanted = {self._addr(a).lower(), self._addr(b).lower()}
        return [p for p in self.pools if {p.token0.lower(), p.token1.lower()} == wanted]

    def _addr(self, token: str) -> str:
        return token if token.startswith("0x") else self.token(token).address

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "address book") -> AddressBook:
        """Build from the JSON shape of ``deployments/*.json``; errors name the bad key."""
        try:
            chain_id = int(data["chain_id"])
            name = str(data.get("name", f"chain-{chain_id}"))
            contracts = {
                str(k): _checksum(v, f"contracts.{k}")
                for k, v in dict(data.get("contracts", {})).items()
            }
            tokens = {
                str(sym): TokenEntry(
                    sym, _checksum(t["address"], f"tokens.{sym}"), int(t["decimals"])
                )
                for sym, t in dict(data.get("tokens", {})).items()
            }
            pools = tuple(
                PoolEntry(
                    protocol=str(p["protocol"]),
                    address=_checksum(p["address"], "pools.address"),
                    token0=_checksum(p["token0"], "pools.token0"),
                    token1=_checksum(p["token1"], "pools.token1"),
                    fee=int(p["fee"]),
                )
                for p in data.get("pools", [])
            )
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: missing or malformed key {exc}") from exc
        return cls(chain_id=chain_id, name=name, contracts=contracts, tokens=tokens, pools=pools)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape written to ``deployments/*.json``."""
        return {
            "chain_id": self.chain_id,
            "name": self.name,
            "contracts": dict(self.contracts),
            "tokens": {
                s: {"address": t.address, "decimals": t.decimals} for s, t in self.tokens.items()
            },
            "pools": [
                {
                    "protocol": p.protocol,
                    "address": p.address,
                    "token0": p.token0,
                    "token1": p.token1,
                    "fee": p.fee,
                }
                for p in self.pools
            ],
        }


def _checksum(value: Any, key: str) -> ChecksumAddress:
    """EIP-55 form of an address, or :class:`ConfigError` naming the key."""
    try:
        return to_checksum_address(str(value))
    except ValueError as exc:
        raise ConfigError(f"{key}: {value!r} is not a 20-byte hex address") from exc


def load_address_book(chain_id: int, directory: Path | None = None) -> AddressBook:
    """The address book for ``chain_id``: the file in ``directory`` whose ``chain_id`` matches.

    A devnet file (``devnet-<id>.json``) wins over a committed one for the same chain id.
    Raises :class:`UnknownAddress` when no file covers the chain.
    """
    folders = _search_dirs(directory)
    folder = folders[0]  # where a user adds a book of their own
    candidates: list[Path] = []
    for searched in folders:
        devnet = searched / f"devnet-{chain_id}.json"
        candidates += [devnet] if devnet.is_file() else []
        candidates += sorted(p for p in searched.glob("*.json") if p != devnet)
    for path in candidates:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"address book {path} is not valid JSON: {exc}") from exc
        if isinstance(data, dict) and data.get("chain_id") == chain_id:
            return AddressBook.from_json(data, source=str(path))
    looked_in = " or ".join(str(f) for f in folders)
    raise UnknownAddress(
        f"no address book for chain {chain_id} in {looked_in}; start the devnet "
        f"(`oms devnet up`) or add {folder / '<name>.json'}"
    )
