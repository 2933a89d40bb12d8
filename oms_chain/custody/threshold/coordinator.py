"""The coordinator: runs the DKG and the two signing rounds over loopback HTTP.

It holds only public data (the roster, commitments) and, during a round, signature shares; it
never sees a key share or a secret nonce (the test suite inspects its state). Signing needs only
t of n participants online: round 1 asks every reachable participant for commitments and keeps
the first t that answer within ``timeout_s``; round 2 asks those t for shares. A participant that
fails or times out in either round is left out and the round starts again with fresh commitments
from another subset, until a signature verifies or fewer than t remain
(:class:`ThresholdUnavailable`). frost-rs's aggregation checks every share, and the final
signature is verified against the group key before it is returned.

What is signed travels in full (:class:`~.request.SigningRequest`): each participant recomputes
the digest and checks its own policy when asked to commit; one that refuses is left out like an
unreachable one, and when too few are left to reach t because of refusals the error is
:class:`ThresholdRefused` (final) rather than :class:`ThresholdUnavailable` (retryable).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from oms_chain.custody.threshold import _frost, auth
from oms_chain.custody.threshold.errors import (
    FrostError,
    ParticipantAuthError,
    ThresholdError,
    ThresholdRefused,
    ThresholdUnavailable,
)
from oms_chain.custody.threshold.group import (
    GroupRoster,
    ParticipantInfo,
    check_threshold,
    read_endpoints,
)
from oms_chain.custody.threshold.keystore import read_sealed, write_sealed
from oms_chain.custody.threshold.request import SigningRequest
from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import InvalidInput

__all__ = ["Coordinator", "ParticipantStatus", "run_keygen", "write_coordinator_key"]

PhaseHook = Callable[[str, tuple[str, ...]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ParticipantStatus:
    """One participant as the coordinator sees it."""

    name: str
    url: str | None
    online: bool
    state: str | None
    detail: str | None = None
    policy: bool | None = None  # whether it checks requests against its own policy


class _Peer:
    """HTTP calls to one participant, signed and checked."""

    def __init__(self, name: str, url: str, auth_key: str) -> None:
        self.name, self.url, self.auth_key = name, url, auth_key

    async def call(
        self,
        http: aiohttp.ClientSession,
        key: Ed25519PrivateKey,
        clock: Clock,
        path: str,
        doc: dict[str, Any],
        timeout_s: float,
    ) -> dict[str, Any]:
        body = json.dumps(doc).encode()
        headers = auth.sign_request(key, "POST", path, clock.now_ns() // 1_000_000, body)
        headers["Content-Type"] = "application/json"
        try:
            async with asyncio.timeout(timeout_s):
                async with http.post(self.url + path, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
                    sig = resp.headers.get("X-Oms-Signature")
        except TimeoutError:
            raise ThresholdUnavailable(
                f"participant {self.name} did not answer {path} in {timeout_s} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise ThresholdUnavailable(
                f"participant {self.name} at {self.url} is unreachable ({exc.__class__.__name__})"
            ) from None
        if status == 401 and not sig:
            raise ParticipantAuthError(
                f"participant {self.name} refused the coordinator's authentication: "
                f"{raw[:200].decode('utf-8', 'replace')}"
            )
        auth.verify_response(self.auth_key, headers["X-Oms-Nonce"], raw, sig, self.name)
        try:
            out = json.loads(raw)
        except ValueError:
            raise ThresholdError(f"participant {self.name} answered with non-JSON") from None
        if status != 200 or not isinstance(out, dict):
            reason = out.get("error") if isinstance(out, dict) else None
            if isinstance(out, dict) and "refused" in out:
                raise ThresholdRefused(f"participant {self.name} refused: {reason}")
            raise ThresholdError(f"participant {self.name} refused {path}: {reason or status}")
        return out


class Coordinator:
    """Signing rounds for one group (``roster``) with the coordinator's Ed25519 ``key``.

    ``endpoints`` maps participant names to their loopback URLs; ``timeout_s`` bounds each
    request; ``on_phase(phase, chosen)``, if set, is awaited after round 1 with the t signers
    chosen (``"committed"``), before round 2 (a hook for logging and tests). ``rounds`` counts
    the signing attempts made.
    """

    def __init__(
        self,
        roster: GroupRoster,
        key: Ed25519PrivateKey,
        endpoints: dict[str, str],
        *,
        timeout_s: float = 5.0,
        clock: Clock | None = None,
        on_phase: PhaseHook | None = None,
    ) -> None:
        if not isinstance(roster, GroupRoster):
            raise InvalidInput("roster must be a GroupRoster (GroupRoster.load(directory))")
        if auth.public_hex(key) != roster.coordinator_key:
            raise ParticipantAuthError("this coordinator key is not the one the group roster pins")
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not (0 < timeout_s <= 600)
        ):
            raise InvalidInput(f"timeout_s={timeout_s!r} must be a number of seconds in (0, 600]")
        self.roster = roster
        self._key = key
        self.endpoints = dict(endpoints)
        self.timeout_s = float(timeout_s)
        self._clock = clock or SystemClock()
        self.on_phase = on_phase
        self._directory: Path | None = None
        self.rounds = 0

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        passphrase: bytes,
        *,
        timeout_s: float = 5.0,
        clock: Clock | None = None,
        on_phase: PhaseHook | None = None,
    ) -> Coordinator:
        """The coordinator of the group in ``directory`` (its key sealed in coordinator.key);
        it re-reads the participants' endpoint files before every signature."""
        roster = GroupRoster.load(directory)
        _, secret = read_sealed(Path(directory) / "coordinator.key", passphrase)
        coordinator = cls(
            roster,
            auth.signing_key_from_hex(secret["auth_key"]),
            read_endpoints(directory),
            timeout_s=timeout_s,
            clock=clock,
            on_phase=on_phase,
        )
        coordinator._directory = Path(directory)  # endpoints re-read before each round
        return coordinator

    def _peers(self, exclude: set[str]) -> list[_Peer]:
        return [
            _Peer(p.name, self.endpoints[p.name], p.auth_key)
            for p in self.roster.participants
            if p.name in self.endpoints and p.name not in exclude
        ]

    async def status(self) -> list[ParticipantStatus]:
        """Every participant: reachable or not, and its state."""
        out: list[ParticipantStatus] = []
        async with aiohttp.ClientSession() as http:
            for p in self.roster.participants:
                url = self.endpoints.get(p.name)
                if url is None:
                    out.append(ParticipantStatus(p.name, None, False, None, "not running"))
                    continue
                peer = _Peer(p.name, url, p.auth_key)
                try:
                    doc = await peer.call(
                        http, self._key, self._clock, "/v1/status", {}, self.timeout_s
                    )
                    policy = doc.get("policy")
                    out.append(
                        ParticipantStatus(
                            p.name, url, True, str(doc.get("state")),
                            policy=policy if isinstance(policy, bool) else None,
                        )
                    )  # fmt: skip
                except ThresholdError as exc:
                    out.append(ParticipantStatus(p.name, url, False, None, str(exc)))
        return out

    async def sign(self, message: bytes) -> bytes:
        """The group's 65-byte RFC 9591 signature (compressed R || z) of a raw ``message``
        (participants with a policy refuse raw messages: use :meth:`sign_request`).

        Raises:
            InvalidInput: ``message`` is not 1-4096 bytes.
            ThresholdUnavailable: fewer than t participants answer.
            ThresholdRefused: too many participants refused it.
        """
        if not isinstance(message, bytes):
            raise InvalidInput("the message to sign must be 1-4096 bytes")
        return await self.sign_request(SigningRequest.raw(message))

    async def sign_request(self, request: SigningRequest) -> bytes:
        """The group's 65-byte signature of ``request.digest()``; every participant is shown
        ``request`` and checks it (digest, own policy) before committing to the round.

        Raises:
            ThresholdUnavailable: fewer than t participants answer.
            ThresholdRefused: refusals leave fewer than t participants willing to sign.
        """
        if not isinstance(request, SigningRequest):
            raise InvalidInput("sign_request needs a SigningRequest")
        t = self.roster.t
        if self._directory is not None:
            self.endpoints = read_endpoints(self._directory)
        excluded: set[str] = set()
        reasons: dict[str, str] = {}
        refused: set[str] = set()
        async with aiohttp.ClientSession() as http:
            while True:
                peers = self._peers(excluded)
                if len(peers) < t:
                    missing = [n for n in self.roster.names if n not in self.endpoints]
                    detail = "; ".join(f"{k}: {v}" for k, v in reasons.items())
                    refusals = {k: v for k, v in reasons.items() if k in refused}
                    if refusals:
                        raise ThresholdRefused(
                            f"need t={t} of n={self.roster.n} participants to sign this "
                            f"{request.kind} request; {len(refusals)} refused it "
                            f"({'; '.join(refusals.values())}), {len(peers)} left",
                            refusals,
                        )
                    raise ThresholdUnavailable(
                        f"need t={t} of n={self.roster.n} participants, only {len(peers)} "
                        f"usable (not running: {', '.join(missing) or 'none'}"
                        f"{'; ' + detail if detail else ''}); start more participants"
                    )
                self.rounds += 1
                result = await self._attempt(http, peers, request, excluded, reasons, refused)
                if result is not None:
                    return result

    async def _attempt(
        self,
        http: aiohttp.ClientSession,
        peers: list[_Peer],
        signing: SigningRequest,
        excluded: set[str],
        reasons: dict[str, str],
        refused: set[str],
    ) -> bytes | None:
        t = self.roster.t
        message = signing.digest()
        session = os.urandom(16).hex()
        ident = {p.name: p.identifier for p in self.roster.participants}
        request = {"session": session, "message": message.hex()}
        commit_doc = {**request, "request": signing.to_json()}

        async def commit(peer: _Peer) -> tuple[_Peer, str]:
            out = await peer.call(
                http, self._key, self._clock, "/v1/sign/commit", commit_doc, self.timeout_s
            )
            return peer, str(out["commitments"])

        committed: list[tuple[_Peer, str]] = []
        tasks = [asyncio.create_task(commit(p)) for p in peers]
        try:
            for next_done in asyncio.as_completed(tasks):
                try:
                    committed.append(await next_done)
                except (ThresholdError, KeyError) as exc:
                    self._drop(exc, tasks, peers, excluded, reasons, refused)
                if len(committed) == t:
                    break
        finally:
            for task in tasks:
                task.cancel()
        if len(committed) < t:
            return None
        order = {n: i for i, n in enumerate(self.roster.names)}
        committed.sort(key=lambda pc: order[pc[0].name])
        chosen = tuple(p.name for p, _ in committed)
        commitments = {ident[p.name]: c for p, c in committed}
        if self.on_phase is not None:
            await self.on_phase("committed", chosen)
        round2 = {**request, "commitments": commitments}

        async def share(peer: _Peer) -> tuple[str, str]:
            out = await peer.call(
                http, self._key, self._clock, "/v1/sign/share", round2, self.timeout_s
            )
            return peer.name, str(out["share"])

        results = await asyncio.gather(*(share(p) for p, _ in committed), return_exceptions=True)
        shares: dict[str, str] = {}
        failed = False
        for (peer, _), res in zip(committed, results, strict=True):
            if isinstance(res, BaseException):
                if not isinstance(res, ThresholdError | KeyError):
                    raise res
                excluded.add(peer.name)
                reasons[peer.name] = str(res)
                failed = True
            else:
                shares[ident[res[0]]] = res[1]
        if failed:
            return None
        try:
            signature = _frost.aggregate(
                message, commitments, shares, self.roster.public_key_package
            )
        except FrostError as exc:
            culprit = next((n for n, i in ident.items() if _culprit_hex(i) in str(exc)), None)
            if culprit is None:
                raise
            excluded.add(culprit)
            reasons[culprit] = "sent an invalid signature share"
            return None
        if not _frost.verify(message, self.roster.group_key, signature):
            raise ThresholdError("the aggregated signature does not verify under the group key")
        return signature

    @staticmethod
    def _drop(
        exc: Exception,
        tasks: list[asyncio.Task[tuple[_Peer, str]]],
        peers: list[_Peer],
        excluded: set[str],
        reasons: dict[str, str],
        refused: set[str],
    ) -> None:
        for task, peer in zip(tasks, peers, strict=True):
            if task.done() and not task.cancelled() and task.exception() is exc:
                excluded.add(peer.name)
                reasons[peer.name] = str(exc)
                if isinstance(exc, ThresholdRefused):
                    refused.add(peer.name)


def _culprit_hex(identifier: str) -> str:
    return _frost.b64decode(identifier).hex()


async def run_keygen(
    directory: Path,
    t: int,
    n: int,
    participants: list[dict[str, Any]],
    key: Ed25519PrivateKey,
    *,
    timeout_s: float = 30.0,
    clock: Clock | None = None,
) -> GroupRoster:
    """Run the distributed key generation with ``participants`` (their announced identities:
    name, url, auth_key, box_key) and write ``directory/group.json``.

    The coordinator relays round-1 packages (public) and sealed round-2 packages (readable only
    by their recipient); every participant writes its own encrypted share.
    """
    check_threshold(t, n)
    if len(participants) != n:
        raise InvalidInput(f"key generation needs all n={n} participants, got {len(participants)}")
    clock = clock or SystemClock()
    peers = [_Peer(str(p["name"]), str(p["url"]), str(p["auth_key"])) for p in participants]
    ids = {p["name"]: _frost.identifier(str(p["name"])) for p in participants}
    box_keys = {p["name"]: str(p["box_key"]) for p in participants}
    async with aiohttp.ClientSession() as http:

        async def each(path: str, docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
            outs = await asyncio.gather(
                *(peer.call(http, key, clock, path, docs[peer.name], timeout_s) for peer in peers)
            )
            return {peer.name: out for peer, out in zip(peers, outs, strict=True)}

        r1 = await each(
            "/v1/dkg/round1",
            {p.name: {"t": t, "n": n, "ids": ids, "box_keys": box_keys} for p in peers},
        )
        round1 = {name: str(out["package"]) for name, out in r1.items()}
        r2 = await each(
            "/v1/dkg/round2",
            {p.name: {"round1": {k: v for k, v in round1.items() if k != p.name}} for p in peers},
        )
        r3 = await each(
            "/v1/dkg/round3",
            {
                p.name: {"round2": {s: r2[s]["packages"][p.name] for s in r2 if s != p.name}}
                for p in peers
            },
        )
    packages = {str(out["public_key_package"]) for out in r3.values()}
    if len(packages) != 1:
        raise ThresholdError("participants disagree on the group's public key package")
    public_package = packages.pop()
    roster = GroupRoster(
        t=t,
        n=n,
        group_key=_frost.group_key(public_package),
        public_key_package=public_package,
        coordinator_key=auth.public_hex(key),
        participants=tuple(
            ParticipantInfo(str(p["name"]), ids[p["name"]], str(p["auth_key"]))
            for p in participants
        ),
    )
    roster.save(directory)
    return roster


def write_coordinator_key(directory: Path, passphrase: bytes) -> Ed25519PrivateKey:
    """Create the coordinator's Ed25519 key, sealed in ``directory/coordinator.key``."""
    key = auth.new_signing_key()
    Path(directory).mkdir(parents=True, exist_ok=True)
    write_sealed(
        Path(directory) / "coordinator.key",
        {"participant": "coordinator", "public_key": auth.public_hex(key)},
        {"auth_key": auth.signing_key_hex(key)},
        passphrase,
    )
    return key
