"""One participant of a threshold group: a separate process holding only its own key share.

It serves a small JSON API on loopback (aiohttp) for the coordinator: ``/v1/status``, the DKG
rounds ``/v1/dkg/round1|round2|round3`` (keygen mode, before it has a share) and the two signing
rounds ``/v1/sign/commit`` (fresh nonces; the secret half never leaves the process) and
``/v1/sign/share`` (one signature share for the message committed to, nonces then erased).
A commit carries the full :class:`~.request.SigningRequest`: the participant recomputes its
digest, refuses one that differs from the message it is asked to sign, and checks the request
against its own policy (:mod:`.approval`, optional) before it makes nonces.
Every request must be signed by the coordinator's Ed25519 key (:mod:`.auth`), every response is
signed with the participant's. After the DKG the share is written encrypted (:mod:`.keystore`)
and the process goes on serving signing rounds; a restarted participant reads it back.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from oms_chain.custody.policy import PolicyViolation, SigningPolicy
from oms_chain.custody.threshold import _frost, auth
from oms_chain.custody.threshold.approval import ParticipantPolicy
from oms_chain.custody.threshold.errors import (
    ParticipantAuthError,
    ShareStoreError,
    ThresholdError,
)
from oms_chain.custody.threshold.group import (
    check_name,
    check_threshold,
    endpoint_path,
    participants_dir,
    share_path,
)
from oms_chain.custody.threshold.keystore import read_sealed, write_sealed
from oms_chain.custody.threshold.request import SigningRequest
from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import InvalidInput

__all__ = ["ParticipantServer", "run_participant"]

_MAX_SESSIONS = 64
_MAX_BODY = 1 << 20


@dataclass
class _Share:
    key_package: str
    public_key_package: str
    group_key: bytes
    t: int
    n: int


@dataclass
class _Dkg:
    t: int
    n: int
    ids: dict[str, str]
    box_keys: dict[str, str]
    secret1: str | None = None
    secret2: str | None = None
    round1: dict[str, str] = field(default_factory=dict)


class ParticipantServer:
    """A participant's state and HTTP handlers; :meth:`start` binds 127.0.0.1.

    ``passphrase`` opens this participant's share only (each has its own); ``policy``, if set,
    is checked for every signing request before the participant commits to a round.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        passphrase: bytes,
        *,
        coordinator_key: str | None = None,
        clock: Clock | None = None,
        policy: SigningPolicy | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.name = check_name(name)
        if not isinstance(passphrase, bytes) or len(passphrase) < 8:
            raise InvalidInput("the share passphrase must be at least 8 bytes")
        self._passphrase = passphrase
        self._clock = clock or SystemClock()
        self._policy = (
            None if policy is None else ParticipantPolicy(policy, clock=self._clock, who=name)
        )
        self._share: _Share | None = None
        self._dkg: _Dkg | None = None
        self._sessions: OrderedDict[str, tuple[bytes, str, str]] = OrderedDict()
        self._box = X25519PrivateKey.generate()
        path = share_path(self.directory, self.name)
        if path.exists():
            header, secret = read_sealed(path, passphrase)
            self._key: Ed25519PrivateKey = auth.signing_key_from_hex(secret["auth_key"])
            coordinator = str(header["coordinator_key"])
            self._share = _Share(
                key_package=secret["key_package"],
                public_key_package=secret["public_key_package"],
                group_key=bytes.fromhex(header["group_key"]),
                t=int(header["t"]),
                n=int(header["n"]),
            )
        else:
            if coordinator_key is None:
                raise ShareStoreError(
                    f"participant {name} has no share in {path.parent}; start it with "
                    "--coordinator-key to join a key generation"
                )
            coordinator = coordinator_key
            self._key = auth.new_signing_key()
        self._verifier = auth.RequestVerifier(coordinator)
        self._coordinator_key = coordinator
        self._identifier = _frost.identifier(self.name)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    # --- public facts ---------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """What the participant announces: name, URL, public keys, pid."""
        return {
            "name": self.name,
            "identifier": self._identifier,
            "url": self.url,
            "auth_key": auth.public_hex(self._key),
            "box_key": auth.public_hex(self._box),
            "pid": os.getpid(),
            "ready": self._share is not None,
        }

    # --- HTTP -----------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY)
        routes: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "/v1/status": self._status,
            "/v1/dkg/round1": self._dkg_round1,
            "/v1/dkg/round2": self._dkg_round2,
            "/v1/dkg/round3": self._dkg_round3,
            "/v1/sign/commit": self._commit,
            "/v1/sign/share": self._sign,
        }
        for path, handler in routes.items():
            app.router.add_post(path, self._wrap(path, handler))
        return app

    def _wrap(
        self, path: str, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                nonce = self._verifier.check(
                    "POST", path, dict(request.headers), body, self._clock.now_ns() // 1_000_000
                )
            except ParticipantAuthError as exc:
                return web.json_response({"error": str(exc)}, status=401)
            try:
                doc = json.loads(body) if body else {}
                if not isinstance(doc, dict):
                    raise InvalidInput("request body must be a JSON object")
                out, status = await handler(doc), 200
            except PolicyViolation as exc:
                out, status = {"error": str(exc), "refused": exc.rule}, 409
            except (ThresholdError, InvalidInput) as exc:
                out, status = {"error": str(exc)}, 409
            except (KeyError, TypeError, ValueError) as exc:
                out, status = {"error": f"malformed request ({exc.__class__.__name__})"}, 400
            raw = json.dumps(out).encode()
            headers = {"X-Oms-Signature": auth.sign_response(self._key, nonce, raw)}
            return web.Response(
                body=raw, status=status, headers=headers, content_type="application/json"
            )

        return run

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:``port`` (0: any free port); write the endpoint file; the URL."""
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        self._runner = runner
        self.url = f"http://127.0.0.1:{bound}"
        participants_dir(self.directory).mkdir(parents=True, exist_ok=True)
        endpoint_path(self.directory, self.name).write_text(
            json.dumps({"url": self.url, "pid": os.getpid()}), encoding="utf-8"
        )
        return self.url

    async def stop(self) -> None:
        """Stop serving and remove the endpoint file."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        endpoint_path(self.directory, self.name).unlink(missing_ok=True)

    # --- handlers -------------------------------------------------------------------------

    async def _status(self, doc: dict[str, Any]) -> dict[str, Any]:
        share = self._share
        return {
            "name": self.name,
            "state": "ready" if share else ("keygen" if self._dkg else "waiting"),
            "group_key": share.group_key.hex() if share else None,
            "policy": self._policy is not None,
        }

    async def _dkg_round1(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self._share is not None:
            raise ThresholdError(f"participant {self.name} already holds a share")
        t, n = check_threshold(doc["t"], doc["n"])
        ids = {str(k): str(v) for k, v in doc["ids"].items()}
        box_keys = {str(k): str(v) for k, v in doc["box_keys"].items()}
        if ids.get(self.name) != self._identifier or len(ids) != n or set(box_keys) != set(ids):
            raise InvalidInput("round 1: the roster must list n participants including this one")
        dkg = _Dkg(t=t, n=n, ids=ids, box_keys=box_keys)
        dkg.secret1, public = _frost.dkg_round1(self._identifier, t, n)
        self._dkg = dkg
        return {"package": public}

    async def _dkg_round2(self, doc: dict[str, Any]) -> dict[str, Any]:
        dkg = self._dkg
        if dkg is None or dkg.secret1 is None:
            raise ThresholdError("round 2 before round 1")
        by_name = {str(k): str(v) for k, v in doc["round1"].items()}
        if set(by_name) != set(dkg.ids) - {self.name}:
            raise InvalidInput("round 2 needs the round-1 packages of every other participant")
        dkg.round1 = {dkg.ids[k]: v for k, v in by_name.items()}
        dkg.secret2, packages = _frost.dkg_round2(dkg.secret1, dkg.round1)
        dkg.secret1 = None
        sealed: dict[str, str] = {}
        for other, ident in dkg.ids.items():
            if other == self.name:
                continue
            info = f"oms-dkg {self.name}->{other}".encode()
            sealed[other] = auth.seal(
                self._box, dkg.box_keys[other], info, packages[ident].encode()
            )
        return {"packages": sealed}

    async def _dkg_round3(self, doc: dict[str, Any]) -> dict[str, Any]:
        dkg = self._dkg
        if dkg is None or dkg.secret2 is None:
            raise ThresholdError("round 3 before round 2")
        sealed = {str(k): str(v) for k, v in doc["round2"].items()}
        if set(sealed) != set(dkg.ids) - {self.name}:
            raise InvalidInput("round 3 needs a round-2 package from every other participant")
        received = {
            dkg.ids[sender]: auth.open_sealed(
                self._box, dkg.box_keys[sender], f"oms-dkg {sender}->{self.name}".encode(), box
            ).decode()
            for sender, box in sealed.items()
        }
        key_package, public_package = _frost.dkg_round3(dkg.secret2, dkg.round1, received)
        group_key = _frost.group_key(public_package)
        header = {
            "participant": self.name,
            "identifier": self._identifier,
            "group_key": group_key.hex(),
            "t": dkg.t,
            "n": dkg.n,
            "coordinator_key": self._coordinator_key,
        }
        secret = {
            "key_package": key_package,
            "public_key_package": public_package,
            "auth_key": auth.signing_key_hex(self._key),
        }
        participants_dir(self.directory).mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(
            write_sealed, share_path(self.directory, self.name), header, secret, self._passphrase
        )
        self._share = _Share(key_package, public_package, group_key, dkg.t, dkg.n)
        self._dkg = None
        return {"public_key_package": public_package, "group_key": group_key.hex()}

    def _ready(self) -> _Share:
        if self._share is None:
            raise ThresholdError(f"participant {self.name} has no key share yet")
        return self._share

    @staticmethod
    def _message(doc: dict[str, Any]) -> tuple[str, bytes]:
        session = str(doc["session"])
        if not 16 <= len(session) <= 64:
            raise InvalidInput("session id must be 16-64 characters")
        message = bytes.fromhex(str(doc["message"]))
        if not 1 <= len(message) <= 4096:
            raise InvalidInput("message must be 1-4096 bytes")
        return session, message

    async def _commit(self, doc: dict[str, Any]) -> dict[str, Any]:
        share = self._ready()
        session, message = self._message(doc)
        if session in self._sessions:
            raise ThresholdError(f"session {session} already has commitments")
        raw = doc.get("request")
        request = SigningRequest.raw(message) if raw is None else SigningRequest.from_json(raw)
        if request.digest() != message:
            raise PolicyViolation(
                "digest",
                f"the message to sign is not the digest of the {request.kind} request sent with it",
            )
        if self._policy is not None:
            await self._policy.approve(request)
        nonces, commitments = _frost.preprocess(share.key_package)
        self._sessions[session] = (message, nonces, commitments)
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return {"commitments": commitments}

    async def _sign(self, doc: dict[str, Any]) -> dict[str, Any]:
        share = self._ready()
        session, message = self._message(doc)
        entry = self._sessions.pop(session, None)  # nonces are used at most once
        if entry is None:
            raise ThresholdError(f"no open commitment for session {session}")
        committed_message, nonces, mine = entry
        if committed_message != message:
            raise ThresholdError("round 2 message differs from the one committed to")
        commitments = {str(k): str(v) for k, v in doc["commitments"].items()}
        if commitments.get(self._identifier) != mine:
            raise ThresholdError("round 2 commitments do not include this participant's own")
        if len(commitments) < share.t:
            raise ThresholdError(f"round 2 lists {len(commitments)} signers; t={share.t}")
        return {"share": _frost.sign(message, commitments, nonces, share.key_package)}


async def run_participant(
    directory: Path,
    name: str,
    passphrase: bytes,
    *,
    port: int = 0,
    coordinator_key: str | None = None,
    policy: SigningPolicy | None = None,
    announce: Callable[[dict[str, Any]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a participant until ``stop`` is set (or forever); ``announce`` gets its identity."""
    server = ParticipantServer(
        directory, name, passphrase, coordinator_key=coordinator_key, policy=policy
    )
    await server.start(port)
    # Everything loaded so far (web3, eth-account, frost-rs bindings, the share) lives as long
    # as the process: keep it out of the collector's full passes, which otherwise walk it all
    # (hundreds of ms on a loaded machine) in the middle of a signing round.
    gc.collect()
    gc.freeze()
    try:
        if announce is not None:
            announce(server.identity())
        await (stop or asyncio.Event()).wait()
    finally:
        await server.stop()
