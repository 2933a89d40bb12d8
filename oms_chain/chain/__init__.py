"""Chain layer: per-chain clients, transaction building, nonces, settlement, address books."""

from oms_chain.chain.addressbook import (
    AddressBook,
    PoolEntry,
    TokenEntry,
    UnknownAddress,
    deployments_dir,
    load_address_book,
)

__all__ = [
    "AddressBook",
    "PoolEntry",
    "TokenEntry",
    "UnknownAddress",
    "deployments_dir",
    "load_address_book",
]
