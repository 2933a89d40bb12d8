"""Chain registry: what we need to know about a chain to trade and settle on it.

Finality differs by chain: on Ethereum L1 a transaction is *final* once its block is at or below
the ``finalized`` tag (or, where tags are not trusted, after N confirmations); on optimistic L2s
(Arbitrum, Optimism, Base) the ``safe`` tag means "posted to L1" and ``finalized`` means the L1
batch is final. Local devnets have neither, so they count confirmations. Entries can be replaced
from configuration with :func:`register_chain`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from oms_chain.model.errors import InvalidInput

__all__ = ["ChainInfo", "FinalityModel", "chain_info", "register_chain", "registered_chains"]


class FinalityModel(Enum):
    """How the settlement tracker decides that a transaction is final."""

    CONFIRMATIONS = "confirmations"  # final after ``final_confirmations`` blocks on top
    FINALIZED_TAG = "finalized_tag"  # final once the block is <= the node's ``finalized`` block


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainInfo:
    """Static facts about one chain. ``block_time`` is the typical block interval in seconds."""

    chain_id: int
    name: str
    native_symbol: str = "ETH"
    block_time: float = 12.0
    is_l2: bool = False
    finality: FinalityModel = FinalityModel.CONFIRMATIONS
    #: blocks on top of inclusion before we call a transaction "confirmed" in reports
    confirmations: int = 1
    #: blocks on top of inclusion for finality under :attr:`FinalityModel.CONFIRMATIONS`
    final_confirmations: int = 12
    eip1559: bool = True

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise InvalidInput(f"chain_id must be positive, got {self.chain_id}")
        if self.block_time <= 0:
            raise InvalidInput(f"{self.name}: block_time must be > 0 seconds")
        if not 0 < self.confirmations <= self.final_confirmations:
            raise InvalidInput(
                f"{self.name}: need 0 < confirmations ({self.confirmations}) <= "
                f"final_confirmations ({self.final_confirmations})"
            )


_REGISTRY: dict[int, ChainInfo] = {
    c.chain_id: c
    for c in (
        ChainInfo(
            chain_id=1,
            name="mainnet",
            block_time=12.0,
            finality=FinalityModel.FINALIZED_TAG,
            confirmations=3,
            final_confirmations=64,
        ),
        ChainInfo(
            chain_id=42161,
            name="arbitrum",
            block_time=0.25,
            is_l2=True,
            finality=FinalityModel.FINALIZED_TAG,
            confirmations=1,
            final_confirmations=64,
        ),
        ChainInfo(
            chain_id=10,
            name="optimism",
            block_time=2.0,
            is_l2=True,
            finality=FinalityModel.FINALIZED_TAG,
            confirmations=1,
            final_confirmations=64,
        ),
        ChainInfo(
            chain_id=8453,
            name="base",
            block_time=2.0,
            is_l2=True,
            finality=FinalityModel.FINALIZED_TAG,
            confirmations=1,
            final_confirmations=64,
        ),
        ChainInfo(
            chain_id=31337, name="devnet-l1", block_time=1.0, confirmations=1, final_confirmations=3
        ),
        ChainInfo(
            chain_id=31338,
            name="devnet-l2",
            block_time=0.25,
            is_l2=True,
            confirmations=1,
            final_confirmations=8,
        ),
    )
}


def chain_info(chain_id: int) -> ChainInfo:
    """The registry entry for ``chain_id``; unknown chains raise :class:`InvalidInput`."""
    try:
        return _REGISTRY[chain_id]
    except KeyError:
        known = ", ".join(f"{c.name} ({c.chain_id})" for c in _REGISTRY.values())
        raise InvalidInput(
            f"chain {chain_id} is not in the registry; known: {known}. Add it with "
            "register_chain(ChainInfo(...)) or in the [chains] section of the config"
        ) from None


def register_chain(info: ChainInfo, **overrides: object) -> ChainInfo:
    """Add or replace a chain (overrides are field=value, e.g. ``final_confirmations=20``)."""
    entry = replace(info, **overrides) if overrides else info  # type: ignore[arg-type]
    _REGISTRY[entry.chain_id] = entry
    return entry


def registered_chains() -> tuple[ChainInfo, ...]:
    """Every known chain."""
    return tuple(_REGISTRY.values())
