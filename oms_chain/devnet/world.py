"""The devnet world: an L1 and an L2 Anvil with every protocol deployed, ready in about a second.

The first start on a machine deploys the world on a throwaway automine node and saves the chain
state under ``build/devnet-cache/`` (keyed by a fingerprint of the bytecode, the deployer and the
chain settings). Later starts load that state directly (warm start). Fork mode starts the L1 as a
fork of a given RPC URL instead, with the address book of the forked chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from oms_chain.chain.addressbook import (
    AddressBook,
    UnknownAddress,
    deployments_dir,
    load_address_book,
)
from oms_chain.devnet import artifacts as _artifacts_module
from oms_chain.devnet import deploy as _deploy_module
from oms_chain.devnet import options_market as _options_module
from oms_chain.devnet.anvil import DEFAULT_MNEMONIC, AnvilConfig, AnvilProcess, json_rpc
from oms_chain.devnet.artifacts import PROTOCOL_ARTIFACTS, load_protocol_artifact
from oms_chain.devnet.deploy import deploy_world
from oms_chain.devnet.deribit.simulator import DeribitConfig, DeribitThread, run_deribit_in_thread
from oms_chain.devnet.exchange.simulator import (
    MAX_VOLATILITY,
    SimulatorConfig,
    SimulatorThread,
    run_in_thread,
)
from oms_chain.devnet.paths import build_dir
from oms_chain.devnet.solidity import load_artifact
from oms_chain.model.errors import DevnetError, InvalidInput, StateFileCorrupt

if TYPE_CHECKING:
    from web3 import Web3

    from oms_chain.devnet.options_maker import OptionsMakerThread

__all__ = ["DevAccount", "Devnet", "DevnetChain", "DevnetConfig", "derive_accounts"]

_CACHE_FORMAT = 1

#: ``exchange_agents``: ``live`` market makers and takers act every 0.1 s; ``still`` they seed
#: the book once (deterministic for a seed) and wait; ``off`` no agents, an empty book.
EXCHANGE_AGENT_MODES = ("live", "still", "off")

#: Starting balances of each simulator account (devnet only).
_EXCHANGE_GRANTS = {"USDC": 1_000_000, "ETH": 200, "BTC": 10}

#: Starting balances of each Deribit-protocol exchange account (devnet only).
_DERIBIT_GRANTS = {"ETH": 100, "BTC": 10}
#: The devnet account the options market's RFQ maker quotes and hedges from.
OPTIONS_MAKER_ACCOUNT = 8


@dataclass(frozen=True, slots=True)
class DevAccount:
    """A funded devnet account. Its key is derived from a public mnemonic: devnet use only."""

    index: int
    address: str
    private_key: str


@cache
def derive_accounts(mnemonic: str, count: int) -> tuple[DevAccount, ...]:
    """The first ``count`` accounts of ``mnemonic`` on the standard path m/44'/60'/0'/0/i."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        out.append(DevAccount(i, acct.address, "0x" + bytes(acct.key).hex()))
    return tuple(out)


@dataclass(frozen=True, kw_only=True, slots=True)
class DevnetConfig:
    """Settings of the devnet world; every field has a working default.

    The exchange simulator (``with_exchange``): ``exchange_seed`` seeds its agents;
    ``exchange_volatility`` is the price volatility per agent step (0.1 s; 0..0.05); with
    ``exchange_anchor`` (default) its ETH and BTC prices follow the L1's WETH/USDC and WBTC/USDC
    pools (read every second, never traded), within 25 bps; ``exchange_agents`` is ``live``,
    ``still`` (the book seeded once, then still: deterministic for a seed) or ``off``.

    The Deribit-protocol options exchange (``with_deribit``) shares ``exchange_seed``,
    ``exchange_agents`` and ``exchange_anchor`` (its ETH / BTC indices follow the same pools)
    and opens ``exchange_accounts`` accounts of its own.

    The options market's RFQ maker (``with_options_maker``) quotes the L1's ``OptionsMarket``
    over loopback HTTP from account :data:`OPTIONS_MAKER_ACCOUNT` and hedges its delta in the
    L1's WETH/USDC pool, or on an account of its own on the exchange simulator when that runs
    and costs less; its URL is the L1's ``options_makers`` in :meth:`Devnet.describe`.
    """

    l1_chain_id: int = 31337
    l2_chain_id: int = 31338
    with_l2: bool = True
    l2_block_time: float = 0.25
    accounts: int = 10
    balance_eth: int = 1_000_000
    mnemonic: str = DEFAULT_MNEMONIC
    fork_url: str | None = None
    fork_block_number: int | None = None
    l1_state: Path | None = None
    l1_port: int | None = None
    l2_port: int | None = None
    with_exchange: bool = False
    exchange_seed: int = 0
    exchange_volatility: float = 0.0005
    exchange_agents: str = "live"
    exchange_anchor: bool = True
    exchange_accounts: int = 3
    with_deribit: bool = False
    with_options_maker: bool = False
    use_state_cache: bool = True
    cache_dir: Path | None = None
    deployments_dir: Path | None = None
    write_address_books: bool = True
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.l1_chain_id == self.l2_chain_id:
            raise InvalidInput(
                f"l1_chain_id and l2_chain_id must differ (both are {self.l1_chain_id})"
            )
        if not 1 <= self.accounts <= 1000:
            raise InvalidInput(f"accounts must be between 1 and 1000, got {self.accounts}")
        if self.l1_state is not None and self.fork_url is not None:
            raise InvalidInput("l1_state and fork_url cannot be combined: pick one way to start")
        if self.l2_block_time <= 0:
            raise InvalidInput(f"l2_block_time must be > 0 seconds, got {self.l2_block_time}")
        if not 0 <= self.exchange_volatility <= MAX_VOLATILITY:
            raise InvalidInput(
                f"exchange_volatility must be within [0, {MAX_VOLATILITY}] per agent step "
                f"(default 0.0005), got {self.exchange_volatility}"
            )
        if self.exchange_agents not in EXCHANGE_AGENT_MODES:
            raise InvalidInput(
                f"exchange_agents must be one of {', '.join(EXCHANGE_AGENT_MODES)}, got "
                f"{self.exchange_agents!r}"
            )
        if not 0 <= self.exchange_seed < 2**63:
            raise InvalidInput(f"exchange_seed must be within [0, 2**63), got {self.exchange_seed}")


@dataclass(slots=True)
class DevnetChain:
    """One running chain of the devnet: its node, address book and funded accounts."""

    name: str
    process: AnvilProcess
    book: AddressBook
    accounts: tuple[DevAccount, ...]
    block_time: float | None = None
    _w3: Any = field(default=None, repr=False)

    @property
    def chain_id(self) -> int:
        """EIP-155 chain id."""
        return self.book.chain_id

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC URL."""
        return self.process.rpc_url

    @property
    def ws_url(self) -> str:
        """Websocket JSON-RPC URL."""
        return self.process.ws_url

    @property
    def w3(self) -> Web3:
        """A web3 client on this chain (created once)."""
        if self._w3 is None:
            from web3 import Web3

            self._w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 60}))
        return self._w3

    def snapshot(self) -> str:
        """``evm_snapshot``; returns the id for :meth:`revert`."""
        return self.process.snapshot()

    def revert(self, snapshot_id: str) -> None:
        """``evm_revert`` to a snapshot (which Anvil then forgets)."""
        self.process.revert(snapshot_id)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary: chain id, URLs, block time, address book."""
        return {
            "name": self.name,
            "chain_id": self.chain_id,
            "rpc_url": self.rpc_url,
            "ws_url": self.ws_url,
            "block_time": self.block_time,
            "pid": self.process.pid,
            "address_book": self.book.to_json(),
        }


class Devnet:
    """Start and stop the local world. Use as a context manager::

    with Devnet() as world:
        print(world.l1.rpc_url, world.l1.book.address("SwapRouter"))
    """

    def __init__(
        self, config: DevnetConfig | None = None, progress: Callable[[str], None] | None = None
    ) -> None:
        self.config = config or DevnetConfig()
        self._progress = progress or (lambda _msg: None)
        self.chains: dict[str, DevnetChain] = {}
        self.exchange: SimulatorThread | None = None
        #: API credentials of the simulator's accounts (devnet only: derived, public)
        self.exchange_credentials: list[tuple[str, str]] = []
        self.deribit: DeribitThread | None = None
        #: client id / secret of the Deribit-protocol exchange's accounts (devnet only)
        self.deribit_credentials: list[tuple[str, str]] = []
        self.options_maker: OptionsMakerThread | None = None

    @property
    def l1(self) -> DevnetChain:
        """The L1 chain (chain id 31337 by default, automine)."""
        return self._chain("l1")

    @property
    def l2(self) -> DevnetChain:
        """The L2 chain (chain id 31338 by default, 250 ms blocks)."""
        return self._chain("l2")

    def _chain(self, name: str) -> DevnetChain:
        try:
            return self.chains[name]
        except KeyError:
            raise DevnetError(f"the devnet has no running {name}; start it first") from None

    def start(self) -> Self:
        """Start the L1 (and the L2 unless ``with_l2=False``); on failure nothing stays up."""
        cfg = self.config
        try:
            if cfg.fork_url is not None:
                self.chains["l1"] = self._start_fork()
            elif cfg.l1_state is not None:
                self.chains["l1"] = self._start_from_state(cfg.l1_state)
            else:
                self.chains["l1"] = self._start_chain("l1", cfg.l1_chain_id, None, cfg.l1_port)
            if cfg.with_l2:
                self.chains["l2"] = self._start_chain(
                    "l2", cfg.l2_chain_id, cfg.l2_block_time, cfg.l2_port
                )
            if cfg.with_exchange:
                self._start_exchange()
            if cfg.with_deribit:
                self._start_deribit()
            if cfg.with_options_maker:
                self._start_options_maker()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every chain and the exchange simulators. Idempotent."""
        if self.options_maker is not None:
            self.options_maker.stop()
            self.options_maker = None
        if self.deribit is not None:
            self.deribit.stop()
            self.deribit = None
        if self.exchange is not None:
            self.exchange.stop()
            self.exchange = None
        for chain in self.chains.values():
            chain.process.stop()
        self.chains.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of every running chain (and the exchange simulator)."""
        out: dict[str, Any] = {name: chain.describe() for name, chain in self.chains.items()}
        if self.options_maker is not None:
            out["l1"]["options_makers"] = [self.options_maker.url]
        if self.exchange is not None:
            cfg = self.config
            out["exchange"] = {
                "kind": "binance-spot-simulator",
                "rest_url": self.exchange.url,
                "ws_url": self.exchange.ws_url,
                "seed": cfg.exchange_seed,
                "volatility": cfg.exchange_volatility,
                "agents": cfg.exchange_agents,
                "anchored_to_pools": self.exchange.simulator.config.anchor is not None,
                "accounts": [{"api_key": k, "secret": s} for k, s in self.exchange_credentials],
            }
        if self.deribit is not None:
            ex = self.deribit.simulator.exchange
            out["deribit"] = {
                "kind": "deribit-options-simulator",
                "rest_url": self.deribit.url,
                "ws_url": self.deribit.ws_url,
                "instruments": len(ex.instruments),
                "index_usd": {k: str(v) for k, v in sorted(ex.index.items())},
                "anchored_to_pools": self.deribit.simulator.config.anchor is not None,
                "accounts": [
                    {"client_id": k, "client_secret": s} for k, s in self.deribit_credentials
                ],
            }
        return out

    def _start_options_maker(self) -> None:
        from oms_chain.devnet.options_maker import run_maker_in_thread
        from oms_chain.devnet.options_market import OptionsMarketClient

        l1 = self.l1
        key = l1.accounts[OPTIONS_MAKER_ACCOUNT].private_key
        market = OptionsMarketClient.from_book(l1.w3, l1.book)
        hedge, config = None, None
        if self.exchange is not None:  # it hedges where it costs less: pool or exchange
            from oms_chain.devnet.maker_hedge import CcxtHedge
            from oms_chain.devnet.options_maker import MakerConfig

            api, secret = "oms-devnet-options-maker", "oms-devnet-options-maker-secret"
            self.exchange.create_account(
                api, secret, {"USDC": 10_000_000, "ETH": 2_000, "BTC": 100}
            )
            sim = self.exchange.simulator
            hedge = CcxtHedge.binance_simulator(api, secret, sim.binance_urls)
            config = MakerConfig(hedge_on="cheapest")
        self.options_maker = run_maker_in_thread(
            market,
            key,
            config=config,
            contracts=l1.book.contracts,
            wrap_eth=1_000 * 10**18,  # collateral for the calls it writes
            hedge_interval_s=2.0,
            exchange=hedge,
        )
        self._progress(f"options RFQ maker at {self.options_maker.url}")

    def _start_deribit(self) -> None:
        cfg = self.config
        anchor = None
        if cfg.exchange_anchor:
            from oms_chain.devnet.pool_anchor import PoolAnchor, anchor_pools

            pools = anchor_pools(self.l1.book)
            if pools:
                anchor = PoolAnchor(self.l1.rpc_url, pools)
        self.deribit = run_deribit_in_thread(
            DeribitConfig(
                seed=cfg.exchange_seed,
                agents=cfg.exchange_agents != "off",
                agents_running=cfg.exchange_agents == "live",
                anchor=anchor,
            )
        )
        for i in range(cfg.exchange_accounts):
            key, secret = f"oms-deribit-id-{i}", f"oms-deribit-secret-{i}"
            self.deribit.create_account(key, secret, _DERIBIT_GRANTS)
            self.deribit_credentials.append((key, secret))
        self._progress(f"Deribit-protocol options exchange at {self.deribit.url}")

    def _start_exchange(self) -> None:
        cfg = self.config
        anchor = None
        if cfg.exchange_anchor:
            from oms_chain.devnet.pool_anchor import PoolAnchor, anchor_pools

            pools = anchor_pools(self.l1.book)
            if pools:
                anchor = PoolAnchor(self.l1.rpc_url, pools)
            else:
                self._progress("no WETH/USDC or WBTC/USDC pool on the L1: exchange prices float")
        self.exchange = run_in_thread(
            SimulatorConfig(
                seed=cfg.exchange_seed,
                price_sigma=cfg.exchange_volatility,
                agents=cfg.exchange_agents != "off",
                agents_running=cfg.exchange_agents == "live",
                anchor=anchor,
            )
        )
        for i in range(cfg.exchange_accounts):
            key, secret = f"oms-devnet-key-{i}", f"oms-devnet-secret-{i}"
            self.exchange.create_account(key, secret, _EXCHANGE_GRANTS)
            self.exchange_credentials.append((key, secret))
        self._progress(f"exchange simulator at {self.exchange.url}")

    # -- internals -----------------------------------------------------------------------------

    def _anvil_config(self, chain_id: int, **kw: Any) -> AnvilConfig:
        cfg = self.config
        return AnvilConfig(
            chain_id=chain_id,
            accounts=cfg.accounts,
            balance_eth=cfg.balance_eth,
            mnemonic=cfg.mnemonic,
            log_dir=cfg.log_dir,
            **kw,
        )

    def _accounts(self) -> tuple[DevAccount, ...]:
        return derive_accounts(self.config.mnemonic, self.config.accounts)

    def _start_chain(
        self, name: str, chain_id: int, block_time: float | None, port: int | None
    ) -> DevnetChain:
        cfg = self.config
        cache_dir = cfg.cache_dir or build_dir() / "devnet-cache"
        key = self._fingerprint(chain_id)
        state_path = cache_dir / f"state-{chain_id}-{key}.json"
        book_path = cache_dir / f"book-{chain_id}-{key}.json"
        book: AddressBook | None = None
        if cfg.use_state_cache and state_path.is_file() and book_path.is_file():
            try:
                book = AddressBook.from_json(json.loads(book_path.read_text()), str(book_path))
                proc = AnvilProcess(
                    self._anvil_config(
                        chain_id, block_time=block_time, load_state=state_path, name=name, port=port
                    )
                ).start()
                self._progress(f"{name}: loaded deployed world from {state_path.name}")
            except (StateFileCorrupt, ValueError, InvalidInput) as exc:
                self._progress(f"{name}: state cache unusable ({exc}); deploying afresh")
                for stale in (state_path, book_path):
                    stale.unlink(missing_ok=True)
                book = None
        if book is None:
            book, proc = self._deploy_fresh(name, chain_id, block_time, state_path, book_path, port)
        if cfg.write_address_books:
            self._write_book(book)
        return DevnetChain(name, proc, book, self._accounts(), block_time)

    def _deploy_fresh(
        self,
        name: str,
        chain_id: int,
        block_time: float | None,
        state_path: Path,
        book_path: Path,
        port: int | None,
    ) -> tuple[AddressBook, AnvilProcess]:
        # Deploy on an automine node (fast, one block per transaction), then restart from the
        # saved state with the chain's real block time.
        builder = AnvilProcess(
            self._anvil_config(
                chain_id, name=f"{name} (deployer)", port=port if block_time is None else None
            )
        ).start()
        try:
            self._progress(f"{name}: deploying protocols on chain {chain_id}")
            book = deploy_world(
                builder.rpc_url,
                funded_accounts=[a.address for a in self._accounts()],
                progress=self._progress,
            )
            if self.config.use_state_cache or block_time is not None:
                builder.dump_state_to(state_path)
                tmp = book_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(book.to_json(), indent=2))
                os.replace(tmp, book_path)
        except BaseException:
            builder.stop()
            raise
        if block_time is None:
            return book, builder
        builder.stop()
        proc = AnvilProcess(
            self._anvil_config(
                chain_id, block_time=block_time, load_state=state_path, name=name, port=port
            )
        ).start()
        return book, proc

    def _start_from_state(self, state: Path) -> DevnetChain:
        cfg = self.config
        proc = AnvilProcess(
            self._anvil_config(cfg.l1_chain_id, load_state=state, name="l1", port=cfg.l1_port)
        ).start()
        try:
            book = load_address_book(cfg.l1_chain_id, cfg.deployments_dir)
        except UnknownAddress:
            book = AddressBook(chain_id=cfg.l1_chain_id, name=f"devnet-{cfg.l1_chain_id}")
        return DevnetChain("l1", proc, book, self._accounts(), None)

    def _start_fork(self) -> DevnetChain:
        cfg = self.config
        assert cfg.fork_url is not None
        # The origin's chain id names the address book; a stdlib probe also gives a clear error
        # for a URL that does not answer before anvil is even started.
        probe = AnvilConfig(fork_url=cfg.fork_url)  # validates the URL's shape
        origin_id = int(json_rpc(probe.fork_url or "", "eth_chainId", timeout=5.0), 16)
        proc = AnvilProcess(
            self._anvil_config(
                origin_id,
                fork_url=cfg.fork_url,
                fork_block_number=cfg.fork_block_number,
                name="l1 (fork)",
                port=cfg.l1_port,
            )
        ).start()
        try:
            book = self._checked_fork_book(proc, load_address_book(origin_id, cfg.deployments_dir))
        except UnknownAddress:
            self._progress(
                f"l1 (fork): no address book for chain {origin_id} in "
                f"{cfg.deployments_dir or deployments_dir()}; add <name>.json with its WETH and "
                "Uniswap factories/routers to quote, route and swap on the fork"
            )
            book = AddressBook(chain_id=origin_id, name=f"fork-of-{origin_id}")
        except BaseException:
            proc.stop()
            raise
        return DevnetChain("l1", proc, book, self._accounts(), None)

    def _checked_fork_book(self, proc: AnvilProcess, book: AddressBook) -> AddressBook:
        """``book`` without the contracts, tokens and pools that have no code on the fork (a
        book written for another chain behind the same id, e.g. another devnet): the fork's
        pools are then discovered from its factories rather than taken from a stale list."""
        names = [*book.contracts, *(f"token {s}" for s in book.tokens)]
        addresses = [*book.contracts.values(), *(t.address for t in book.tokens.values())]
        addresses += [p.address for p in book.pools]
        present = {
            a for a in dict.fromkeys(addresses) if proc.rpc("eth_getCode", [a, "latest"]) != "0x"
        }
        missing = [n for n, a in zip(names, addresses, strict=False) if a not in present]
        if not missing and all(p.address in present for p in book.pools):
            return book
        self._progress(
            f"l1 (fork): address book {book.name!r} names contracts with no code on the fork "
            f"({', '.join(missing[:5]) or 'pools'}); left out, pools are discovered instead"
        )
        return AddressBook(
            chain_id=book.chain_id,
            name=book.name,
            contracts={k: v for k, v in book.contracts.items() if v in present},
            tokens={k: t for k, t in book.tokens.items() if t.address in present},
            pools=(),
        )

    def _write_book(self, book: AddressBook) -> None:
        folder = self.config.deployments_dir or deployments_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"devnet-{book.chain_id}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(book.to_json(), indent=2) + "\n")
        os.replace(tmp, path)

    def _fingerprint(self, chain_id: int) -> str:
        cfg = self.config
        h = hashlib.sha256()
        h.update(
            f"{_CACHE_FORMAT}|{chain_id}|{cfg.accounts}|{cfg.balance_eth}|{cfg.mnemonic}".encode()
        )
        for module in (_deploy_module, _artifacts_module, _options_module):
            h.update(Path(str(module.__file__)).read_bytes())
        # the listed series expire: the cache rolls when the nearest expiry is a day away
        h.update(repr(_options_module.expiry_schedule(int(time.time()))).encode())
        for name in sorted(PROTOCOL_ARTIFACTS):
            h.update(load_protocol_artifact(name).file_digest.encode())
        for ours in ("DevToken", "DevOracle", "OptionsMarket", "BatchExecutor"):
            h.update(json.dumps(load_artifact(ours).get("bytecode", "")).encode())
        with contextlib.suppress(OSError):
            from oms_chain.devnet.paths import node_bin

            h.update(str(node_bin("anvil").stat().st_size).encode())
        return h.hexdigest()[:16]
