"""Threshold custody in one process: frost-rs wrappers and RFC 9591 vectors, the sealed share
files, request authentication, digests, and DKG + signing with in-process participants (real
aiohttp on loopback). The separate-process tests are in tests/integration/threshold."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("frost_rs")

from oms_chain.custody.base import SignerUnsupported
from oms_chain.custody.threshold import (
    AccountCall,
    Coordinator,
    GroupRoster,
    ParticipantAuthError,
    ParticipantServer,
    ShareStoreError,
    ThresholdSigner,
    ThresholdUnavailable,
    _frost,
    auth,
    contract_signature,
    execute_digest,
    message_digest,
    rotate_digest,
    run_keygen,
)
from oms_chain.custody.threshold.keystore import read_sealed, write_sealed
from oms_chain.model.clock import SystemClock
from oms_chain.model.errors import InvalidInput
from oms_chain.testing.signer import SignerConformance

# RFC 9591 Appendix E.5, FROST(secp256k1, SHA-256)
RFC_GROUP_KEY = bytes.fromhex("02f37c34b66ced1fb51c34a90bdae006901f10625cc06c4f64663b0eae87d87b4f")
RFC_MESSAGE = bytes.fromhex("74657374")
RFC_SIG = bytes.fromhex(
    "024c1ad4e031872661fa6ebd05dfc7fb30db08b38d79f0edbc82051ae931381bc6"
    "a46881e25c7989d3816eae32074f1ab0d49ee908a59713ed5284c6bade7cfb02"
)
PASS = b"correct horse battery"


def test_rfc9591_vector_verifies_in_frost_rs() -> None:
    assert _frost.verify(RFC_MESSAGE, RFC_GROUP_KEY, RFC_SIG) is True
    assert _frost.verify(b"tesu", RFC_GROUP_KEY, RFC_SIG) is False
    assert _frost.verify(RFC_MESSAGE, b"\x03" + RFC_GROUP_KEY[1:], RFC_SIG) is False
    # R.y of the vector's R, as the 97-byte contract form carries it
    assert contract_signature(RFC_SIG)[65:].hex() == (
        "004f4e57b19db58941523f0f8af6bf04bbe925e4550517c3a87e1bf89d6fd032"
    )


@given(index=st.integers(0, 64), flip=st.integers(1, 255))
@settings(max_examples=40, deadline=None)
def test_any_tampered_byte_fails_verification(index: int, flip: int) -> None:
    bad = bytearray(RFC_SIG)
    bad[index] ^= flip
    assert _frost.verify(RFC_MESSAGE, RFC_GROUP_KEY, bytes(bad)) is False


def test_frost_panics_become_oms_errors() -> None:
    from oms_chain.custody.threshold import FrostError

    with pytest.raises(FrostError, match="frost-rs dkg round2 refused"):
        _frost.dkg_round2("not-a-package", {})


# --- sealed share files ----------------------------------------------------------------


def test_share_file_round_trip_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "p1.share"
    write_sealed(path, {"participant": "p1"}, {"key_package": "SECRET-PACKAGE"}, PASS)
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"SECRET-PACKAGE" not in path.read_bytes()
    header, secret = read_sealed(path, PASS)
    assert header["participant"] == "p1" and header["version"] == 1
    assert secret == {"key_package": "SECRET-PACKAGE"}
    with pytest.raises(ShareStoreError, match="wrong passphrase"):
        read_sealed(path, b"wrong passphrase")
    doc = json.loads(path.read_text())
    doc["header"]["participant"] = "p2"  # the header is authenticated data
    path.write_text(json.dumps(doc))
    with pytest.raises(ShareStoreError, match="wrong passphrase, or the file was altered"):
        read_sealed(path, PASS)
    doc["header"]["version"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(ShareStoreError, match="version 2"):
        read_sealed(path, PASS)


# --- authentication --------------------------------------------------------------------


def test_requests_must_be_signed_fresh_and_new() -> None:
    coordinator = auth.new_signing_key()
    verifier = auth.RequestVerifier(auth.public_hex(coordinator))
    now = 1_700_000_000_000
    headers = auth.sign_request(coordinator, "POST", "/v1/sign/commit", now, b"{}")
    assert verifier.check("POST", "/v1/sign/commit", headers, b"{}", now) == headers["X-Oms-Nonce"]
    with pytest.raises(ParticipantAuthError, match="replayed"):
        verifier.check("POST", "/v1/sign/commit", headers, b"{}", now)
    other = auth.sign_request(coordinator, "POST", "/v1/sign/commit", now, b"{}")
    with pytest.raises(ParticipantAuthError, match="bad signature"):
        verifier.check("POST", "/v1/sign/share", other, b"{}", now)  # another path
    with pytest.raises(ParticipantAuthError, match="ms off"):
        verifier.check("POST", "/v1/sign/commit", other, b"{}", now + auth.MAX_SKEW_MS + 1)
    stranger = auth.sign_request(auth.new_signing_key(), "POST", "/v1/status", now, b"")
    with pytest.raises(ParticipantAuthError, match="bad signature"):
        verifier.check("POST", "/v1/status", stranger, b"", now)


# --- digests ---------------------------------------------------------------------------

ACCOUNT = "0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f"


def test_digests_depend_on_chain_account_nonce_and_calls() -> None:
    calls = [AccountCall("0x000000000000000000000000000000000000dEaD", 1, b"\x01")]
    base = execute_digest(31337, ACCOUNT, calls, 0, 10)
    assert len(base) == 32
    assert execute_digest(1, ACCOUNT, calls, 0, 10) != base
    assert execute_digest(31337, "0x" + "11" * 20, calls, 0, 10) != base
    assert execute_digest(31337, ACCOUNT, calls, 1, 10) != base
    assert execute_digest(31337, ACCOUNT, calls * 2, 0, 10) != base
    assert message_digest(31337, ACCOUNT, b"\x00" * 32) != message_digest(1, ACCOUNT, b"\x00" * 32)
    assert len(rotate_digest(31337, ACCOUNT, RFC_GROUP_KEY, 0, 10)) == 32


@pytest.mark.parametrize(
    "bad",
    [
        lambda: execute_digest(31337, ACCOUNT, [], 0, 10),
        lambda: execute_digest(31337, "0x12", [], 0, 10),
        lambda: AccountCall("nope", 0, b""),
        lambda: AccountCall(ACCOUNT, -1, b""),
        lambda: message_digest(31337, ACCOUNT, b"short"),
        lambda: rotate_digest(31337, ACCOUNT, b"\x04" * 33, 0, 1),
        lambda: contract_signature(b"\x02" * 64),
        lambda: GroupRoster.from_json({"format": "other"}),
    ],
)
def test_bad_input_is_refused_before_anything_runs(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        bad()


# --- DKG and signing with in-process participants ---------------------------------------


def _pass(name: str) -> bytes:
    return PASS + b" of " + name.encode()  # every participant has its own


async def _group(
    tmp_path: Path, t: int, n: int, policies: dict[str, Any] | None = None
) -> tuple[GroupRoster, Any, list[ParticipantServer]]:
    key = auth.new_signing_key()
    servers = [
        ParticipantServer(
            tmp_path,
            f"p{i}",
            _pass(f"p{i}"),
            coordinator_key=auth.public_hex(key),
            policy=(policies or {}).get(f"p{i}"),
        )
        for i in range(1, n + 1)
    ]
    for s in servers:
        await s.start()
    roster = await run_keygen(tmp_path, t, n, [s.identity() for s in servers], key)
    return roster, key, servers


def _signing_share(key_package: str) -> bytes:
    # frost-rs KeyPackage: header (5) || identifier (32) || signing share (32) || ...
    return _frost.b64decode(key_package)[37:69]


def _walk(obj: Any, seen: set[int] | None = None) -> list[Any]:
    """Every value reachable from obj's attributes, containers and dataclass fields."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    out = [obj]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _walk(k, seen) + _walk(v, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            out += _walk(v, seen)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            out += _walk(getattr(obj, f.name), seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("oms_chain"):
        out += _walk(vars(obj), seen)
    return out


async def test_dkg_then_2_of_3_signing_in_process(tmp_path: Path) -> None:
    roster, key, servers = await _group(tmp_path, 2, 3)
    try:
        assert roster.group_key == _frost.group_key(roster.public_key_package)
        assert GroupRoster.load(tmp_path) == roster
        # shares on disk are sealed: no share bytes (raw, hex or base64) in any file
        shares = {s.name: s._share.key_package for s in servers}  # type: ignore[union-attr]
        for s in servers:
            raw = (tmp_path / "participants" / f"{s.name}.share").read_bytes()
            share = _signing_share(shares[s.name])
            assert share not in raw and share.hex().encode() not in raw
            assert shares[s.name].encode() not in raw
        for f in tmp_path.glob("*.json"):
            for package in shares.values():
                assert _signing_share(package).hex().encode() not in f.read_bytes()

        endpoints = {s.name: s.url for s in servers if s.name != "p2"}  # p2 offline
        coordinator = Coordinator(roster, key, endpoints, timeout_s=5)  # type: ignore[arg-type]
        message = b"\x42" * 32
        sig = await coordinator.sign(message)
        assert len(sig) == 65 and _frost.verify(message, roster.group_key, sig)

        # the coordinator's state holds no key share, in any encoding
        values = _walk(coordinator)
        for package in shares.values():
            share = _signing_share(package)
            for v in values:
                if isinstance(v, bytes | str):
                    assert package not in (v if isinstance(v, str) else v.decode("latin-1"))
                    assert share not in (v if isinstance(v, bytes) else v.encode())
                    assert share.hex() not in (v if isinstance(v, str) else v.hex())

        # fewer than t: a clear refusal naming who is missing
        alone = Coordinator(roster, key, {"p1": servers[0].url}, timeout_s=5)  # type: ignore[dict-item]
        with pytest.raises(ThresholdUnavailable, match=r"need t=2 of n=3 .* only 1 usable"):
            await alone.sign(message)
    finally:
        for s in servers:
            await s.stop()


async def test_nonces_are_single_use_and_bound_to_the_message(tmp_path: Path) -> None:
    roster, key, servers = await _group(tmp_path, 2, 2)
    try:
        import aiohttp

        from oms_chain.custody.threshold.coordinator import _Peer

        clock = SystemClock()
        p1 = _Peer("p1", servers[0].url or "", roster.participant("p1").auth_key)
        session = {"session": "ab" * 16, "message": "11" * 32}
        async with aiohttp.ClientSession() as http:
            c = await p1.call(http, key, clock, "/v1/sign/commit", session, 5)
            commitments = {roster.participant("p1").identifier: c["commitments"]}
            other = {**session, "message": "22" * 32, "commitments": commitments}
            from oms_chain.custody.threshold import ThresholdError

            with pytest.raises(ThresholdError, match="differs from the one committed"):
                await p1.call(http, key, clock, "/v1/sign/share", other, 5)
            # the failed attempt consumed the nonces: a second try finds none
            with pytest.raises(ThresholdError, match="no open commitment"):
                await p1.call(
                    http, key, clock, "/v1/sign/share", {**session, "commitments": commitments}, 5
                )
    finally:
        for s in servers:
            await s.stop()


async def test_threshold_signer_protocol(tmp_path: Path) -> None:
    roster, key, servers = await _group(tmp_path, 2, 2)
    try:
        endpoints = {s.name: s.url or "" for s in servers}
        signer = ThresholdSigner(Coordinator(roster, key, endpoints), ACCOUNT, 31337)
        caps = signer.capabilities
        assert (caps.raw_transactions, caps.ecdsa_hashes, caps.contract_account, caps.remote) == (
            False,
            False,
            True,
            True,
        )
        with pytest.raises(SignerUnsupported, match="is a contract"):
            await signer.sign_transaction({"chainId": 31337})
        sig = await signer.sign_hash(b"\x07" * 32)
        assert len(sig) == 97
        digest = message_digest(31337, ACCOUNT, b"\x07" * 32)
        assert _frost.verify(digest, roster.group_key, sig[:65])
        with pytest.raises(InvalidInput):
            await signer.sign_hash(b"\x07" * 31)
    finally:
        for s in servers:
            await s.stop()


async def test_coordinator_key_is_pinned_both_ways(tmp_path: Path) -> None:
    roster, _key, servers = await _group(tmp_path, 2, 2)
    try:
        with pytest.raises(ParticipantAuthError, match="not the one the group roster pins"):
            Coordinator(roster, auth.new_signing_key(), {})
        # a roster naming another coordinator: participants refuse its requests
        import aiohttp

        from oms_chain.custody.threshold.coordinator import _Peer
        from oms_chain.model.clock import SystemClock

        p1 = _Peer("p1", servers[0].url or "", roster.participant("p1").auth_key)
        async with aiohttp.ClientSession() as http:
            with pytest.raises(ParticipantAuthError, match="refused the coordinator's auth"):
                await p1.call(http, auth.new_signing_key(), SystemClock(), "/v1/status", {}, 5)
    finally:
        for s in servers:
            await s.stop()


async def test_the_signing_policy_applies_before_a_round_starts(tmp_path: Path) -> None:
    from oms_chain.custody import PolicySigner, PolicyViolation, SigningPolicy

    roster, key, servers = await _group(tmp_path, 2, 2)
    try:
        coordinator = Coordinator(roster, key, {s.name: s.url or "" for s in servers})
        group = ThresholdSigner(coordinator, ACCOUNT, 31337)
        allowed = "0x" + "ab" * 20
        policy = SigningPolicy.from_toml(
            f'[signers."{ACCOUNT}"]\nchains = [31337]\ntyped_data_contracts = ["{allowed}"]\n'
        )
        guarded = PolicySigner(group, policy, clock=SystemClock())

        def typed(contract: str) -> dict[str, Any]:
            return {
                "types": {
                    "EIP712Domain": [
                        {"name": "chainId", "type": "uint256"},
                        {"name": "verifyingContract", "type": "address"},
                    ],
                    "Note": [{"name": "text", "type": "string"}],
                },
                "primaryType": "Note",
                "domain": {"chainId": 31337, "verifyingContract": contract},
                "message": {"text": "hello"},
            }

        with pytest.raises(PolicyViolation, match="typed_data_contracts"):
            await guarded.sign_typed_data(typed("0x" + "cd" * 20))
        assert coordinator.rounds == 0  # refused before any participant was asked
        sig = await guarded.sign_typed_data(typed(allowed))
        assert coordinator.rounds == 1 and len(sig) == 97
    finally:
        for s in servers:
            await s.stop()


async def test_the_accounts_own_execute_is_policy_checked_before_a_round_starts(
    tmp_path: Path,
) -> None:
    from oms_chain.custody import PolicySigner, PolicyViolation, SigningPolicy
    from oms_chain.model import ManualClock
    from oms_chain.model.events import SigningRefused

    dead, evil = "0x000000000000000000000000000000000000dEaD", "0x" + "66" * 20
    roster, key, servers = await _group(tmp_path, 2, 2)
    try:
        coordinator = Coordinator(roster, key, {s.name: s.url or "" for s in servers})
        group = ThresholdSigner(coordinator, ACCOUNT, 31337)
        policy = SigningPolicy.from_toml(
            f'[signers."{ACCOUNT}"]\nchains = [31337]\nmax_value = "10"\n'
            f'max_value_24h = "15"\ntransfers_to = ["{dead}"]\n'
        )
        events: list[SigningRefused] = []
        guarded = PolicySigner(group, policy, clock=ManualClock(), on_refused=events.append)
        good = AccountCall(dead, 10, b"")
        refused = [
            ([AccountCall(evil, 1, b"")], "transfers_to"),
            ([good, AccountCall(evil, 1, b"")], "transfers_to"),  # one bad call in a batch
            ([AccountCall(dead, 11, b"")], "max_value"),
            ([AccountCall(evil, 0, b"\xa9\x05\x9c\xbb" + b"\x00" * 64)], "allowed_calls"),
        ]
        for calls, rule in refused:
            with pytest.raises(PolicyViolation, match=f"rule '{rule}'"):
                await guarded.sign_execute(calls, 0, 2**40)
        with pytest.raises(PolicyViolation, match="rule 'key_rotation'"):
            await guarded.sign_rotation(roster.group_key, 0, 2**40)
        with pytest.raises(InvalidInput, match="non-empty list"):
            await guarded.sign_execute([], 0, 2**40)
        assert coordinator.rounds == 0  # every refusal came before any participant was asked
        assert [e.rule for e in events] == [r for _, r in refused] + ["key_rotation"]

        sig = await guarded.sign_execute([good], 0, 2**40)
        digest = execute_digest(31337, ACCOUNT, [good], 0, 2**40)
        assert coordinator.rounds == 1 and _frost.verify(digest, roster.group_key, sig[:65])
        with pytest.raises(PolicyViolation, match="24 h value would be 20 wei"):  # 10 counted
            await guarded.sign_execute([good], 1, 2**40)
        assert coordinator.rounds == 1
    finally:
        for s in servers:
            await s.stop()


# --- per-participant passphrases, participants checking what they sign -------------------


async def test_each_share_opens_only_with_its_own_passphrase(tmp_path: Path) -> None:
    from oms_chain.custody.threshold import participant_passphrase_env, passphrase_from_file
    from oms_chain.model.errors import ConfigError

    _roster, _key, servers = await _group(tmp_path, 2, 3)
    for s in servers:
        await s.stop()
    folder = tmp_path / "participants"
    for mine in ("p1", "p2", "p3"):
        read_sealed(folder / f"{mine}.share", _pass(mine))
        for other in {"p1", "p2", "p3"} - {mine}:
            with pytest.raises(ShareStoreError, match="does not open"):
                read_sealed(folder / f"{mine}.share", _pass(other))
            with pytest.raises(ShareStoreError, match="does not open"):
                ParticipantServer(tmp_path, mine, _pass(other))
    ParticipantServer(tmp_path, "p2", _pass("p2"))  # restarts from its own share
    assert participant_passphrase_env("desk-a") == "OMS_THRESHOLD_PASSPHRASE_DESK_A"

    secret = tmp_path / "p1.pass"
    secret.write_bytes(_pass("p1") + b"\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        passphrase_from_file(secret)
    secret.chmod(0o600)
    assert passphrase_from_file(secret) == _pass("p1")
    secret.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="shorter than 8"):
        passphrase_from_file(secret)


def _policy(extra: str = "") -> Any:
    from oms_chain.custody import SigningPolicy

    dead = "0x000000000000000000000000000000000000dEaD"
    return SigningPolicy.from_toml(
        f'[signers."{ACCOUNT}"]\nchains = [31337]\nmax_value = "10"\nmax_value_24h = "15"\n'
        f'transfers_to = ["{dead}"]\n{extra}'
    )


async def test_participants_recompute_the_digest_and_apply_their_own_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from oms_chain.custody.threshold import SigningRequest, ThresholdRefused

    dead, evil = "0x000000000000000000000000000000000000dEaD", "0x" + "66" * 20
    roster, key, servers = await _group(tmp_path, 2, 3, {"p1": _policy(), "p2": _policy()})
    try:
        endpoints = {s.name: s.url or "" for s in servers}
        coordinator = Coordinator(roster, key, endpoints, timeout_s=5)
        group = ThresholdSigner(coordinator, ACCOUNT, 31337)

        # p1 and p2 refuse a transfer to an address outside their policy: only p3 would sign
        with pytest.raises(ThresholdRefused, match="2 refused it") as refused:
            await group.sign_execute([AccountCall(evil, 1, b"")], 0, 2**40)
        assert sorted(refused.value.refusals) == ["p1", "p2"]
        assert "rule 'transfers_to'" in refused.value.refusals["p1"]
        assert "participant p2 refused the execute request" in caplog.text  # logged there
        # an opaque hash or raw message cannot be inspected: refused by policy holders
        with pytest.raises(ThresholdRefused, match="rule 'opaque'"):
            await group.sign_hash(b"\x07" * 32)
        with pytest.raises(ThresholdRefused, match="rule 'opaque'"):
            await coordinator.sign(b"\x07" * 32)

        # an allowed transfer: signed; the same request again (a retry) is not counted twice,
        # another one over the participants' own 24 h limit is refused
        calls = [AccountCall(dead, 10, b"")]
        sig = await group.sign_execute(calls, 0, 2**40)
        assert _frost.verify(execute_digest(31337, ACCOUNT, calls, 0, 2**40), roster.group_key,
                             sig[:65])  # fmt: skip
        assert await group.sign_execute(calls, 0, 2**40)
        with pytest.raises(ThresholdRefused, match="24 h value would be 20 wei"):
            await group.sign_execute(calls, 1, 2**40)

        # a lying coordinator: it shows one request and asks for another digest's share
        import aiohttp

        from oms_chain.custody.threshold.coordinator import _Peer

        p3 = _Peer("p3", servers[2].url or "", roster.participant("p3").auth_key)
        shown = SigningRequest.execute(31337, ACCOUNT, calls, 5, 2**40)
        other = execute_digest(31337, ACCOUNT, [AccountCall(evil, 10, b"")], 5, 2**40)
        doc = {"session": "cd" * 16, "message": other.hex(), "request": shown.to_json()}
        async with aiohttp.ClientSession() as http:
            with pytest.raises(ThresholdRefused, match="not the digest of the execute request"):
                await p3.call(http, key, SystemClock(), "/v1/sign/commit", doc, 5)
    finally:
        for s in servers:
            await s.stop()


async def test_one_refusing_participant_is_replaced_by_another(tmp_path: Path) -> None:
    evil = "0x" + "66" * 20
    roster, key, servers = await _group(tmp_path, 2, 3, {"p1": _policy()})
    try:
        coordinator = Coordinator(roster, key, {s.name: s.url or "" for s in servers})
        group = ThresholdSigner(coordinator, ACCOUNT, 31337)
        calls = [AccountCall(evil, 1, b"")]
        chosen: list[tuple[str, ...]] = []

        async def seen(phase: str, names: tuple[str, ...]) -> None:
            chosen.append(names)

        coordinator.on_phase = seen
        assert [s.policy for s in await coordinator.status()] == [True, False, False]
        sig = await group.sign_execute(calls, 0, 2**40)  # p1 refuses; p2 and p3 sign
        assert chosen == [("p2", "p3")] and coordinator.rounds == 1
        digest = execute_digest(31337, ACCOUNT, calls, 0, 2**40)
        assert _frost.verify(digest, roster.group_key, sig[:65])
    finally:
        for s in servers:
            await s.stop()


def test_signing_requests_round_trip_and_refuse_bad_fields() -> None:
    from oms_chain.custody.threshold import SigningRequest

    calls = [AccountCall("0x" + "11" * 20, 5, b"\x01\x02")]
    for req in (
        SigningRequest.execute(31337, ACCOUNT, calls, 3, 99),
        SigningRequest.rotate(31337, ACCOUNT, RFC_GROUP_KEY, 4, 99),
        SigningRequest.approve_hash(31337, ACCOUNT, b"\x09" * 32),
        SigningRequest.raw(b"hello"),
    ):
        back = SigningRequest.from_json(json.loads(json.dumps(req.to_json())))
        assert back.digest() == req.digest()
    assert SigningRequest.execute(31337, ACCOUNT, calls, 3, 99).digest() == execute_digest(
        31337, ACCOUNT, calls, 3, 99
    )
    for bad in (
        {"kind": "steal"},
        {"kind": "execute", "chain_id": 31337, "account": ACCOUNT, "calls": "x"},
        {"kind": "hash", "chain_id": 31337, "account": ACCOUNT, "payload": "zz"},
        {"kind": "typed_data", "chain_id": 31337, "account": ACCOUNT, "typed_data": {"a": 1}},
        {"kind": "raw", "payload": ""},
        [],
    ):
        with pytest.raises(InvalidInput):
            SigningRequest.from_json(bad)


class TestThresholdSignerConformance(SignerConformance):
    """The shared Signer conformance suite, on a 2-of-2 group with in-process participants."""

    @pytest.fixture
    async def signer(self, tmp_path: Path) -> Any:
        roster, key, servers = await _group(tmp_path, 2, 2)
        coordinator = Coordinator(roster, key, {s.name: s.url or "" for s in servers})
        yield ThresholdSigner(coordinator, ACCOUNT, 31337)
        for s in servers:
            await s.stop()
