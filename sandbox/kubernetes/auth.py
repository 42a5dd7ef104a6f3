"""Who a request comes from: the kubeconfig's admin token, or a ServiceAccount's token from the
TokenRequest API, as kube-apiserver authenticates bearer tokens.

Sources: the Kubernetes documentation "Authenticating" (Service account tokens: username
``system:serviceaccount:<namespace>:<name>``, groups ``system:serviceaccounts`` and
``system:serviceaccounts:<namespace>``, every authenticated user also in
``system:authenticated``) and "Managing Service Accounts" (bound tokens: signed JWTs whose
audience must be one of the API server's ``--api-audiences``, default its issuer; a token is
refused once its ServiceAccount is deleted, or replaced by one of another uid), and the
TokenRequest API (``POST .../serviceaccounts/<name>/token``, authentication.k8s.io/v1:
``spec.audiences`` default the API server's, ``spec.expirationSeconds`` default 3600 and at
least 600, pkg/apis/authentication/validation).

Not emulated: ``boundObjectRef`` (tokens bound to a Pod or Secret), legacy Secret-based tokens,
and the signing key surviving a restart (tokens from before a restart are refused).
What an authenticated user may do is RBAC's to decide (``rbac.py``).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from typing import Any

from sandbox.kubernetes.api import ADMIN, ApiError, UserInfo, not_found
from sandbox.kubernetes.registry import ResourceType
from sandbox.kubernetes.store import Store
from sandbox.vault import ISSUER, ServiceAccountIssuer

API_AUDIENCES = (ISSUER,)
_MIN_EXPIRATION = 600
_MAX_EXPIRATION = 1 << 32


class Authenticator:
    """Bearer tokens to users: the admin token, or a ServiceAccount token this API signed."""

    def __init__(self, store: Store, admin_token: Callable[[], str]):
        self.store = store
        self.admin_token = admin_token
        self.issuer = ServiceAccountIssuer()

    def user(self, authorization: str) -> UserInfo | None:
        """The user of an ``Authorization`` header, None when it authenticates no one."""
        scheme, _, value = authorization.partition(" ")
        token = value.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        admin = self.admin_token()
        if admin and hmac.compare_digest(token.encode(), admin.encode()):
            return ADMIN
        if token.count(".") != 2:
            return None
        return self._service_account(self.issuer.verify(token))

    def _service_account(self, claims: dict[str, Any] | None) -> UserInfo | None:
        if claims is None or not set(claims.get("aud") or []) & set(API_AUDIENCES):
            return None
        bound = claims.get("kubernetes.io") or {}
        ns = str(bound.get("namespace") or "")
        sa = bound.get("serviceaccount") or {}
        obj = self.store.get(("", "serviceaccounts"), ns, str(sa.get("name") or ""))
        if obj is None or obj["metadata"].get("uid") != sa.get("uid"):
            return None
        return UserInfo(f"system:serviceaccount:{ns}:{sa['name']}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{ns}",
                         "system:authenticated"), str(sa["uid"]))

    def token_request(self, rt: ResourceType, ns: str, name: str, body: Any) -> dict[str, Any]:
        """Answer a TokenRequest for ServiceAccount ``ns/name`` (a 201's body)."""
        sa = self.store.get(rt.gk, ns, name)
        if sa is None:
            raise not_found(rt, name)
        spec = (body or {}).get("spec") if isinstance(body, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        seconds = spec.get("expirationSeconds")
        seconds = 3600 if seconds is None else seconds
        audiences = [str(a) for a in spec.get("audiences") or []] or list(API_AUDIENCES)
        _check_expiration(name, seconds)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        token = self.issuer.token(ns, name, ttl=seconds, uid=sa["metadata"]["uid"],
                                  audiences=audiences)
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": ns,
                             "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "spec": {"audiences": audiences, "expirationSeconds": seconds,
                         "boundObjectRef": None},
                "status": {"token": token, "expirationTimestamp": (
                    now + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")}}


def _check_expiration(name: str, seconds: Any) -> None:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal into Go struct field "
                       "TokenRequestSpec.spec.expirationSeconds of type int64")
    problem = ("may not specify a duration less than 10 minutes" if seconds < _MIN_EXPIRATION
               else "may not specify a duration larger than 2^32 seconds"
               if seconds > _MAX_EXPIRATION else "")
    if problem:
        cause = f"Invalid value: {seconds}: {problem}"
        raise ApiError(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is '
                       f"invalid: spec.expirationSeconds: {cause}",
                       {"name": name, "group": "authentication.k8s.io", "kind": "TokenRequest",
                        "causes": [{"reason": "FieldValueInvalid", "message": cause,
                                    "field": "spec.expirationSeconds"}]})
