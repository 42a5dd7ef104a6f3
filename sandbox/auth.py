"""A local IONOS Auth API v1: the token endpoint that turns a login into a Bearer token.

Served under ``/auth/v1``. The contract (the Auth API's OpenAPI document, ionos-cloud/sdk-go-auth
``api/openapi.yaml``, operation ``createToken``; ``ionosctl token generate`` calls it):

- ``GET /auth/v1/tokens/generate`` with Basic (username/password) or Bearer authentication
  answers **200** with a ``Jwt``: ``{"token": "<JSON Web Token>"}``; the token works on every
  IONOS Cloud API (here: the DNS API, which takes nothing else). The ``X-Contract-Number``
  header is optional for a user with one contract; a wrong contract number is a 401.
- ``GET /auth/v1/tokens`` lists the user's tokens (``{"tokens": [{"id", "href", "createdDate",
  "expirationDate"}]}``), ``GET /auth/v1/tokens/{id}`` one of them, ``DELETE`` removes one
  (``{"success": true}``); a removed token is refused from then on.
- Errors are ``{"httpStatus": N, "messages": [{"errorCode", "message"}]}``: 401 without or with
  wrong credentials, 404 for an unknown token id, 405 for another method.

Tokens are JWT-shaped (header, claims, signature, base64url): the ``kid`` of the header is the
token's id, as on the real API. They expire after a year (the documented default); the sandbox
keeps them in its state directory, so a token generated before a restart still works.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import (
    ApiError,
    IonosServiceBase,
    StateFile,
    check_basic_or_bearer,
    error_response,
    iso,
    now,
)

PREFIX = "/auth/v1"
TOKEN_LIFETIME = 365 * 24 * 3600
CONTRACT_NUMBER = 31415926  # the sandbox Cloud API's one contract (sandbox.ionos)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AuthService(IonosServiceBase):
    """The Auth API emulator (see the module docstring)."""

    name = "auth"

    def __init__(self, token: str, username: str, password: str,
                 state_dir: Path | None = None) -> None:
        self.token = token
        self.username = username
        self.password = password
        self._lock = threading.Lock()
        self._file = StateFile(state_dir, "auth")
        self._tokens: dict[str, dict[str, Any]] = {}
        loaded = self._file.load()
        if loaded:
            self._tokens = loaded.get("tokens", {})

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._file.save({"tokens": self._tokens})

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is one this API generated, not deleted and not expired."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            return any(t["digest"] == digest and t["expires"] > now()
                       for t in self._tokens.values())

    def handle(self, req: Request) -> Response:
        try:
            if not req.path.startswith(PREFIX):
                raise ApiError(404, f"Unknown path {req.path}; the Auth API lives under {PREFIX}")
            self._authenticate(req)
            parts = [p for p in req.path[len(PREFIX):].split("/") if p]
            with self._lock:
                return self._route(req, parts)
        except ApiError as err:
            return error_response(err)

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.accepts(value.strip()):
            return
        check_basic_or_bearer(req, self.token, self.username, self.password)
        contract = req.headers.get("X-Contract-Number")
        if contract and contract.strip() != str(CONTRACT_NUMBER):
            raise ApiError(401, f"The user is not valid for contract {contract.strip()}")

    def _route(self, req: Request, parts: list[str]) -> Response:
        if parts == ["tokens", "generate"]:
            if req.method != "GET":
                raise ApiError(405, f"Method {req.method} is not allowed on {req.path}; "
                                    "tokens are generated with GET")
            return json_response(200, {"token": self._generate()})
        if parts == ["tokens"] and req.method == "GET":
            return json_response(200, {"tokens": [self._render(req, t)
                                                  for t in self._tokens.values()]})
        if len(parts) == 2 and parts[0] == "tokens" and req.method in ("GET", "DELETE"):
            tok = self._tokens.get(parts[1])
            if tok is None:
                raise ApiError(404, f"Token {parts[1]} not found")
            if req.method == "GET":
                return json_response(200, self._render(req, tok))
            del self._tokens[parts[1]]
            self._file.save({"tokens": self._tokens})
            return json_response(200, {"success": True})
        if parts and parts[0] == "tokens":
            raise ApiError(405, f"Method {req.method} is not allowed on {req.path}")
        raise ApiError(404, f"Unknown path {req.path}")

    def _generate(self) -> str:
        kid = str(uuid.uuid4())
        t = now()
        header = _b64(json.dumps({"typ": "JWT", "kid": kid, "alg": "RS256"}).encode())
        claims = _b64(json.dumps({"iss": "ionoscloud", "iat": int(t),
                                  "exp": int(t + TOKEN_LIFETIME),
                                  "identity": {"contractNumber": CONTRACT_NUMBER,
                                               "role": "owner"}}).encode())
        token = f"{header}.{claims}.{_b64(secrets.token_bytes(32))}"
        self._tokens[kid] = {"id": kid, "created": t, "expires": t + TOKEN_LIFETIME,
                             "digest": hashlib.sha256(token.encode()).hexdigest()}
        self._file.save({"tokens": self._tokens})
        return token

    @staticmethod
    def _render(req: Request, tok: dict[str, Any]) -> dict[str, Any]:
        return {"id": tok["id"], "href": f"{req.base_url}{PREFIX}/tokens/{tok['id']}",
                "createdDate": iso(tok["created"]), "expirationDate": iso(tok["expires"])}
