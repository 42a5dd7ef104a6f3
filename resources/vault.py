"""Secrets from HashiCorp Vault's KV version 2 engine, logged in with the Kubernetes auth method
(the pod's service account token) or a Vault token, through the ``hvac`` client.

``NAME_VAULT=<mount>/<path>#<key>`` (e.g. ``IONOS_TOKEN_VAULT=secret/platform-ops/ionos#token``)
makes ``resources.credentials.secret("NAME")`` read field ``key`` of the newest version of the
KV v2 secret ``path`` on mount ``mount``. Where to log in comes from the environment, with
Vault's own names where it has them:

- ``VAULT_ADDR`` (required), ``VAULT_CACERT`` (a CA bundle for Vault's TLS certificate);
- ``VAULT_TOKEN`` (or ``VAULT_TOKEN_FILE``): use that token; otherwise the Kubernetes auth
  method: ``VAULT_K8S_ROLE`` (required), ``VAULT_K8S_MOUNT`` (default ``kubernetes``) and
  ``VAULT_K8S_TOKEN_PATH`` (default: the pod's projected service account token).

A login's token is kept for the process, per address and role, and renewed by logging in again
when Vault refuses it. Values are never logged; errors name the variable, the path and Vault's
answer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SA_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SUFFIX = "_VAULT"
_MAX_JWT_BYTES = 64 * 1024


class VaultError(ValueError):
    """A secret could not be read from Vault; the message says which and why (never a value)."""


@dataclass(frozen=True)
class VaultRef:
    """Where one secret lives: ``<mount>/<path>#<key>``."""

    mount: str
    path: str
    key: str

    @classmethod
    def parse(cls, name: str, text: str) -> VaultRef:
        """Raises:
            VaultError: ``text`` is not ``<mount>/<path>#<key>``.
        """
        where, _, key = text.partition("#")
        mount, _, path = where.strip("/").partition("/")
        if not (mount and path and key) or ".." in path.split("/"):
            raise VaultError(f"{name}{SUFFIX}={text!r}: expected <mount>/<path>#<key>, e.g. "
                             "secret/platform-ops/ionos#token")
        return cls(mount, path, key)

    def __str__(self) -> str:
        return f"{self.mount}/{self.path}#{self.key}"


_tokens: dict[tuple[str, str, str], str] = {}
_lock = threading.Lock()


def _client(env: Mapping[str, str]) -> Any:
    import hvac

    addr = env.get("VAULT_ADDR")
    if not addr:
        raise VaultError("VAULT_ADDR is not set: it is where Vault answers, e.g. "
                         "https://vault.vault.svc:8200")
    verify: bool | str = env.get("VAULT_CACERT") or True
    return hvac.Client(url=addr, verify=verify, timeout=30)


def _login(client: Any, env: Mapping[str, str], fresh: bool) -> None:
    from resources.credentials import secret

    token = secret("VAULT_TOKEN", env)
    if token:
        client.token = token
        return
    role = env.get("VAULT_K8S_ROLE")
    if not role:
        raise VaultError("set VAULT_TOKEN, or VAULT_K8S_ROLE to log in to Vault with the pod's "
                         "service account (the Kubernetes auth method)")
    mount = env.get("VAULT_K8S_MOUNT") or "kubernetes"
    cache_key = (str(client.url), mount, role)
    with _lock:
        if not fresh and cache_key in _tokens:
            client.token = _tokens[cache_key]
            return
    path = env.get("VAULT_K8S_TOKEN_PATH") or SA_TOKEN_PATH
    try:
        jwt = Path(path).read_bytes()[:_MAX_JWT_BYTES].decode().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise VaultError(f"VAULT_K8S_TOKEN_PATH={path}: cannot read the service account token "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    try:
        answer = client.auth.kubernetes.login(role=role, jwt=jwt, mount_point=mount)
    except Exception as exc:  # noqa: BLE001 - hvac raises one class per status; all end here
        raise VaultError(f"Vault login at {client.url} (auth/{mount}, role {role}) failed: "
                         f"{_reason(exc)}") from None
    with _lock:
        _tokens[cache_key] = client.token = answer["auth"]["client_token"]


def _reason(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(e) for e in errors) if errors else str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def read_secret(name: str, text: str, env: Mapping[str, str]) -> str:
    """The value ``NAME_VAULT`` points at.

    Raises:
        VaultError: the reference is malformed, Vault cannot be reached or refuses, or the
            secret or its key does not exist.
    """
    import hvac.exceptions

    ref = VaultRef.parse(name, text)
    client = _client(env)
    for attempt in (0, 1):
        _login(client, env, fresh=attempt == 1)
        try:
            answer = client.secrets.kv.v2.read_secret_version(
                path=ref.path, mount_point=ref.mount, raise_on_deleted_version=True)
            break
        except hvac.exceptions.Forbidden as exc:
            # A cached login may have expired: log in once more, then give up.
            if attempt == 1 or env.get("VAULT_TOKEN") or env.get("VAULT_TOKEN_FILE"):
                raise VaultError(f"{name}{SUFFIX}: Vault refused to read {ref.mount}/"
                                 f"{ref.path} ({_reason(exc)}): the role's policy needs read "
                                 f"on {ref.mount}/data/{ref.path}") from None
        except hvac.exceptions.InvalidPath:
            raise VaultError(f"{name}{SUFFIX}: no secret at {ref.mount}/{ref.path} in Vault "
                             f"({client.url})") from None
        except Exception as exc:  # noqa: BLE001 - connection errors and every other status
            raise VaultError(f"{name}{SUFFIX}: reading {ref.mount}/{ref.path} from Vault failed: "
                             f"{_reason(exc)}") from None
    data = ((answer or {}).get("data") or {}).get("data") or {}
    value = data.get(ref.key)
    if not isinstance(value, str) or not value:
        keys = ", ".join(sorted(data)) or "none"
        raise VaultError(f"{name}{SUFFIX}: the secret {ref.mount}/{ref.path} has no non-empty "
                         f"text field {ref.key!r} (its fields: {keys})")
    return value
