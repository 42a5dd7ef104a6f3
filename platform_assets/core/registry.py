"""Container registries: the properties the Container Registry API takes, the tokens folded into
them, and the image pull Secrets that carry a token's credentials into the namespaces of the
components that wire it in. Pure: no SDKs, no Dagster.

IONOS returns a token's password once, in the answer to its POST. The only copy the platform
keeps is the pull Secret itself: the registry's reconcile writes it the moment the token is
created, and the Secret's annotation names the token it holds, so a lost Secret or a token
replaced outside the spec shows up as drift (``pullSecrets``) that a new token repairs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from platform_assets.core.desired import stamp
from platform_assets.names import ANNOTATION_REGISTRY_TOKEN
from platform_assets.spec.models import (
    Component,
    ContainerRegistry,
    InfrastructureInput,
    PlatformSpec,
    RegistryToken,
)

PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson"
PULL_SECRET_KEY = ".dockerconfigjson"
CURRENT = "holds the current token"


@dataclass(frozen=True)
class PullSecret:
    """Where one component receives one token: its Secret ``name`` in ``namespace``."""

    component: Component
    token: str
    name: str

    @property
    def namespace(self) -> str:
        return self.component.namespace

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def oid(self) -> tuple[str, str, str, str]:
        return ("v1", "Secret", self.namespace, self.name)


def token_props(token: RegistryToken) -> dict[str, Any]:
    """The token's properties as the API returns them (``credentials`` aside)."""
    return {"name": token.name,
            "scopes": [{"name": s.repositories, "actions": list(s.actions), "type": "repository"}
                       for s in token.scopes],
            "expiryDate": f"{token.expiry.isoformat()}T00:00:00Z" if token.expiry else None,
            "status": "enabled" if token.enabled else "disabled"}


def registry_props(reg: ContainerRegistry, default_location: str) -> dict[str, Any]:
    """The registry's writable properties (tokens and pull Secrets are folded in apart)."""
    props: dict[str, Any] = {
        "name": reg.name, "location": reg.location or default_location,
        "features": {"vulnerabilityScanning": {"enabled": reg.vulnerability_scanning}}}
    gc = reg.garbage_collection
    if gc is not None:
        hh_mm = gc.time.rstrip("Z")
        props["garbageCollectionSchedule"] = {
            "days": list(gc.days), "time": f"{hh_mm}:00+00:00" if hh_mm.count(":") == 1
            else f"{hh_mm}+00:00"}
    return props


REGISTRY_IMMUTABLE = ("name", "location")


def pull_secrets(spec: PlatformSpec, reg: ContainerRegistry) -> list[PullSecret]:
    """Every pull Secret the spec wires from one of ``reg``'s tokens; none for an absent
    component, whose reconcile deletes its pull Secret (and whose run account may not
    write it)."""
    out = []
    for comp in [*spec.platform, *spec.applications]:
        if comp.absent:
            continue
        for w in comp.inputs.infrastructure:
            if w.asset == f"registry/{reg.name}" and w.token and w.secret:
                out.append(PullSecret(comp, w.token, w.secret))
    return out


def desired(reg: ContainerRegistry, spec: PlatformSpec) -> dict[str, Any]:
    """What the spec wants: the registry's properties, its tokens by name, and every pull
    Secret holding its token's current credentials."""
    return {**registry_props(reg, spec.ionos_infra.datacenter.location),
            "tokens": {t.name: token_props(t) for t in reg.tokens},
            "pullSecrets": {p.key: CURRENT for p in pull_secrets(spec, reg)}}


def observed_token(token: dict[str, Any]) -> dict[str, Any]:
    """A token as the API returned it, in ``token_props``'s shape."""
    props = token.get("properties") or {}
    expiry = props.get("expiryDate")
    if isinstance(expiry, str) and expiry.endswith("+00:00"):
        expiry = expiry[:-len("+00:00")] + "Z"
    return {"name": props.get("name"), "expiryDate": expiry, "status": props.get("status"),
            "scopes": [{"name": s.get("name"), "actions": list(s.get("actions") or []),
                        "type": s.get("type")} for s in props.get("scopes") or []]}


def secret_state(secret: dict[str, Any] | None, token_id: str | None) -> str:
    """Whether a pull Secret holds the credentials of the token with ``token_id``."""
    if secret is None:
        return "missing"
    held = ((secret.get("metadata") or {}).get("annotations") or {}).get(
        ANNOTATION_REGISTRY_TOKEN)
    if token_id is None or held != token_id:
        return f"holds token {held or '(unknown)'}, not the current one"
    return CURRENT


def dockerconfigjson(hostname: str, username: str, password: str) -> str:
    """The ``.dockerconfigjson`` of one registry login (kubectl create secret docker-registry's
    shape: ``auths`` by host with ``auth`` = base64 of ``user:password``)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {hostname: {"username": username, "password": password,
                                            "auth": auth}}}, sort_keys=True)


def pull_secret_object(namespace: str, name: str, config: str, token_id: str) -> dict[str, Any]:
    """The image pull Secret (``kubernetes.io/dockerconfigjson``), annotated with its token."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": {ANNOTATION_REGISTRY_TOKEN: token_id}},
            "type": PULL_SECRET_TYPE,
            "data": {PULL_SECRET_KEY: base64.b64encode(config.encode()).decode()}}


def stamped_pull_secret(ps: PullSecret, config: str, token_id: str) -> dict[str, Any]:
    """The pull Secret exactly as its component applies it (so neither writes it twice)."""
    return stamp(pull_secret_object(ps.namespace, ps.name, config, token_id), ps.component.name)


def held_config(secret: dict[str, Any] | None) -> str | None:
    """The ``.dockerconfigjson`` a pull Secret holds, decoded (None without one)."""
    data = ((secret or {}).get("data") or {}).get(PULL_SECRET_KEY)
    return base64.b64decode(data).decode() if isinstance(data, str) else None


def pull_output(wiring: InfrastructureInput, component: Component, config: str,
                token_id: str) -> dict[str, Any]:
    """The pull Secret a component's registry input writes (``keys`` is fixed by the loader)."""
    assert wiring.secret is not None
    return pull_secret_object(component.namespace, wiring.secret, config, token_id)


# A token that stops working takes every image pull of the components wiring it with it: say so
# in the plan while there is time to set a later expiry (a PATCH of the token: its credentials,
# and so the pull Secrets, stay as they are).
TOKEN_EXPIRY_WARNING_DAYS = 14


def token_expiry_notes(reg: ContainerRegistry, today: date) -> list[str]:
    """Plan notes for the registry's enabled tokens that expire within
    ``TOKEN_EXPIRY_WARNING_DAYS`` or have expired."""
    notes = []
    for token in reg.tokens:
        if token.expiry is None or not token.enabled:
            continue
        left = (token.expiry - today).days
        if left < 0:
            notes.append(f"registry {reg.name} token {token.name} expired on {token.expiry}: "
                         "image pulls with it fail; set a later expiry")
        elif left <= TOKEN_EXPIRY_WARNING_DAYS:
            notes.append(f"registry {reg.name} token {token.name} expires on {token.expiry} "
                         f"(in {left} day{'s' if left != 1 else ''}); set a later expiry before "
                         "image pulls fail")
    return notes
