"""Threshold (MPC) custody: FROST(secp256k1, SHA-256) through frost-rs, participants as separate
processes, a coordinator that holds no share, and the on-chain ``ThresholdAccount`` it signs for.

Needs the ``threshold`` extra (frost-rs; CPython <= 3.12). See docs/threshold.md.
"""

from oms_chain.custody.threshold.account import (
    AccountCall,
    contract_signature,
    execute_digest,
    key_coordinates,
    message_digest,
    rotate_digest,
)
from oms_chain.custody.threshold.coordinator import (
    Coordinator,
    ParticipantStatus,
    run_keygen,
    write_coordinator_key,
)
from oms_chain.custody.threshold.errors import (
    FrostError,
    ParticipantAuthError,
    ShareStoreError,
    ThresholdError,
    ThresholdRefused,
    ThresholdUnavailable,
)
from oms_chain.custody.threshold.group import GroupRoster, ParticipantInfo
from oms_chain.custody.threshold.keystore import (
    COORDINATOR_PASSPHRASE_ENV,
    participant_passphrase_env,
    passphrase_from_env,
    passphrase_from_file,
)
from oms_chain.custody.threshold.participant import ParticipantServer, run_participant
from oms_chain.custody.threshold.request import SigningRequest, typed_data_hash
from oms_chain.custody.threshold.signer import ThresholdSigner

__all__ = [
    "COORDINATOR_PASSPHRASE_ENV",
    "AccountCall",
    "Coordinator",
    "FrostError",
    "GroupRoster",
    "ParticipantAuthError",
    "ParticipantInfo",
    "ParticipantServer",
    "ParticipantStatus",
    "ShareStoreError",
    "SigningRequest",
    "ThresholdError",
    "ThresholdRefused",
    "ThresholdSigner",
    "ThresholdUnavailable",
    "contract_signature",
    "execute_digest",
    "key_coordinates",
    "message_digest",
    "participant_passphrase_env",
    "passphrase_from_env",
    "passphrase_from_file",
    "rotate_digest",
    "run_keygen",
    "run_participant",
    "typed_data_hash",
    "write_coordinator_key",
]
