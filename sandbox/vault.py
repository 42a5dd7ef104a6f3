"""A local HashiCorp Vault: the KV version 2 secrets engine and the Kubernetes auth method, as
the ``hvac`` client and the ``vault`` CLI call them (seed 002's platform keeps its secrets there).

The contract (Vault's HTTP API documentation, developer.hashicorp.com/vault/api-docs):

- Every request but a login carries ``X-Vault-Token``; a missing, unknown or expired token, or a
  path the token's policies do not allow, is ``403 {"errors": ["permission denied"]}``
  (api-docs "HTTP status codes": 403 for insufficient permissions; the body is always
  ``{"errors": [...]}``).
- ``POST /v1/auth/<mount>/login`` ``{"role", "jwt"}`` (api-docs/auth/kubernetes "Login"): the
  role must exist (``400 invalid role name "x"``); the JWT is a service account token, verified
  here as Vault does when configured with ``pem_keys`` (the signature with the cluster's public
  key, its expiry, and the ``kubernetes.io`` claims), and the service account's name and
  namespace must be among the role's ``bound_service_account_names``/``_namespaces`` (403). The
  answer is ``{"auth": {"client_token", "policies", "lease_duration", "renewable", "metadata":
  {"role", "service_account_name", "service_account_namespace", ...}}}``.
- ``GET /v1/<mount>/data/<path>`` (api-docs/secret/kv/kv-v2 "Read secret version", ``?version=``):
  ``{"data": {"data": {...}, "metadata": {"created_time", "deletion_time", "destroyed",
  "version"}}}``; a path never written is ``404 {"errors": []}``.
- ``POST``/``PUT /v1/<mount>/data/<path>`` ``{"data": {...}, "options": {"cas": N}}``: a new
  version, answered with its metadata; a ``cas`` that is not the current version is a 400
  (check-and-set).
- Policies grant capabilities on paths, with a trailing ``*`` as a prefix glob (Vault's policy
  syntax); the root token may do everything.

Not emulated: other engines and auth methods, leases' renewal and revocation, namespaces
(Enterprise), response wrapping, the ``metadata/`` and ``delete/`` endpoints of KV v2.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sandbox.http import Request, Response, Service, json_response

ISSUER = "https://kubernetes.default.svc.cluster.local"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ServiceAccountIssuer:
    """Signs service account tokens as the Kubernetes API server does (JWTs with the
    ``kubernetes.io`` claims of a bound token, KEP-1205), so that a Vault configured with the
    public key (``pem_keys``) can verify them. The key is ECDSA P-256 (ES256), which the API
    server's ``--service-account-signing-key-file`` accepts beside RSA; it is made in well under
    a millisecond, so the sandbox starts no slower."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    def token(self, namespace: str, name: str, ttl: int = 3600,
              audience: str = "vault", uid: str | None = None,
              audiences: list[str] | None = None) -> str:
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT", "kid": "sandbox"}
        claims = {"iss": ISSUER, "aud": audiences or [audience], "iat": now, "nbf": now,
                  "exp": now + ttl, "sub": f"system:serviceaccount:{namespace}:{name}",
                  "kubernetes.io": {"namespace": namespace,
                                    "serviceaccount": {"name": name,
                                                       "uid": uid or secrets.token_hex(16)}}}
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
        # JWS (RFC 7518 3.4): ES256 signatures are R || S, 32 bytes each, not DER.
        return f"{signing}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def verify(self, jwt: str) -> dict[str, Any] | None:
        """The claims of a token this issuer signed and that has not expired, else None."""
        try:
            head, body, sig = jwt.split(".")
            raw = _unb64(sig)
            if len(raw) != 64:
                return None
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big"))
            self._key.public_key().verify(der, f"{head}.{body}".encode(),
                                          ec.ECDSA(hashes.SHA256()))
            claims: dict[str, Any] = json.loads(_unb64(body))
        except Exception:  # noqa: BLE001 - any malformed or forged token is simply not valid
            return None
        if not isinstance(claims, dict) or int(claims.get("exp", 0)) < time.time():
            return None
        return claims


@dataclass
class Role:
    """A Kubernetes auth role: who may log in and the policies the token gets."""

    bound_service_account_names: list[str]
    bound_service_account_namespaces: list[str]
    policies: list[str]
    ttl: int = 3600


@dataclass
class _Token:
    policies: list[str]
    expires: float
    metadata: dict[str, str] = field(default_factory=dict)


class VaultError(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(status, errors)
        self.status, self.errors = status, list(errors)


class VaultService(Service):
    """Vault's KV v2 engine at ``kv_mount`` and the Kubernetes auth method at ``auth_mount``."""

    name = "vault"

    def __init__(self, issuer: ServiceAccountIssuer, kv_mount: str = "secret",
                 auth_mount: str = "kubernetes") -> None:
        self.issuer = issuer
        self.kv_mount, self.auth_mount = kv_mount, auth_mount
        self.root_token = "hvs." + secrets.token_urlsafe(24)
        self.roles: dict[str, Role] = {}
        self.policies: dict[str, dict[str, list[str]]] = {}  # name -> path glob -> capabilities
        self._tokens: dict[str, _Token] = {}
        self._kv: dict[str, list[dict[str, Any]]] = {}  # path -> versions (1-based)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._kv.clear()
            self._tokens.clear()

    def fault_response(self, status: int, retry_after: int) -> Response:
        return json_response(status, {"errors": ["injected fault"]},
                             **{"Retry-After": str(retry_after)})

    def handle(self, req: Request) -> Response:
        try:
            parts = req.path.strip("/").split("/")
            if parts[:1] != ["v1"] or len(parts) < 3:
                raise VaultError(404)
            with self._lock:
                if parts[1:4] == ["auth", self.auth_mount, "login"] and req.method in ("POST",
                                                                                        "PUT"):
                    return json_response(200, self._login(req))
                if parts[1] == self.kv_mount and parts[2] == "data" and len(parts) > 3:
                    return self._kv_request(req, "/".join(parts[3:]))
            raise VaultError(404)
        except VaultError as err:
            return json_response(err.status, {"errors": err.errors})

    def _login(self, req: Request) -> dict[str, Any]:
        try:
            body = req.json()
        except ValueError:
            raise VaultError(400, "failed to parse JSON input") from None
        role_name, jwt = (body or {}).get("role"), (body or {}).get("jwt")
        if not role_name:
            raise VaultError(400, "missing role")
        if not jwt:
            raise VaultError(400, "missing jwt")
        role = self.roles.get(str(role_name))
        if role is None:
            raise VaultError(400, f'invalid role name "{role_name}"')
        claims = self.issuer.verify(str(jwt))
        if claims is None:
            raise VaultError(403, "permission denied")
        k8s = claims.get("kubernetes.io") or {}
        ns, name = k8s.get("namespace"), (k8s.get("serviceaccount") or {}).get("name")
        if not _bound(name, role.bound_service_account_names):
            raise VaultError(403, "service account name not authorized")
        if not _bound(ns, role.bound_service_account_namespaces):
            raise VaultError(403, "namespace not authorized")
        token = "hvs." + secrets.token_urlsafe(24)
        meta = {"role": str(role_name), "service_account_name": str(name),
                "service_account_namespace": str(ns)}
        self._tokens[token] = _Token(["default", *role.policies], time.time() + role.ttl, meta)
        return {"request_id": secrets.token_hex(8), "lease_id": "", "renewable": False,
                "lease_duration": 0, "data": None, "warnings": None,
                "auth": {"client_token": token, "accessor": secrets.token_hex(12),
                         "policies": ["default", *role.policies],
                         "token_policies": ["default", *role.policies], "metadata": meta,
                         "lease_duration": role.ttl, "renewable": True,
                         "entity_id": "", "token_type": "service", "orphan": True}}

    def _allowed(self, req: Request, path: str, capability: str) -> None:
        token = req.headers.get("X-Vault-Token") or ""
        auth = req.headers.get("Authorization") or ""
        if not token and auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        if token and secrets.compare_digest(token, self.root_token):
            return
        held = self._tokens.get(token)
        if held is None or held.expires < time.time():
            raise VaultError(403, "permission denied")
        full = f"{self.kv_mount}/data/{path}"
        for policy in held.policies:
            for glob, caps in self.policies.get(policy, {}).items():
                hit = full.startswith(glob[:-1]) if glob.endswith("*") else full == glob
                if hit and capability in caps and "deny" not in caps:
                    return
        raise VaultError(403, "permission denied")

    def _kv_request(self, req: Request, path: str) -> Response:
        if req.method == "GET":
            self._allowed(req, path, "read")
            versions = self._kv.get(path)
            if not versions:
                raise VaultError(404)
            wanted = req.query.get("version")
            number = int(wanted) if wanted and wanted.isdigit() and int(wanted) > 0 \
                else len(versions)
            if number > len(versions):
                raise VaultError(404)
            entry = versions[number - 1]
            return json_response(200, {"request_id": secrets.token_hex(8), "lease_id": "",
                                       "renewable": False, "lease_duration": 0,
                                       "data": {"data": entry["data"],
                                                "metadata": entry["metadata"]},
                                       "warnings": None})
        if req.method in ("POST", "PUT"):
            self._allowed(req, path, "create" if path not in self._kv else "update")
            try:
                body = req.json() or {}
            except ValueError:
                raise VaultError(400, "failed to parse JSON input") from None
            data = body.get("data")
            if not isinstance(data, dict):
                raise VaultError(400, "no data provided")
            versions = self._kv.setdefault(path, [])
            cas = (body.get("options") or {}).get("cas")
            if cas is not None and int(cas) != len(versions):
                raise VaultError(400, "check-and-set parameter did not match the current "
                                      "version")
            meta = {"created_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "custom_metadata": None, "deletion_time": "", "destroyed": False,
                    "version": len(versions) + 1}
            versions.append({"data": dict(data), "metadata": meta})
            return json_response(200, {"request_id": secrets.token_hex(8), "data": meta})
        raise VaultError(405)


def _bound(value: Any, allowed: list[str]) -> bool:
    return "*" in allowed or (isinstance(value, str) and value in allowed)
