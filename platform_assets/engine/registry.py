"""Container registries as a row of the IONOS handler table: a registry, its tokens and the image
pull Secrets that carry the tokens' credentials into the cluster.

The observed registry carries its spec'd tokens (``tokens`` by name) and the state of every
pull Secret the spec wires (``pullSecrets`` by ``namespace/name``) in its properties, so one plan
line says which token or Secret changes. IONOS shows a token's password only in the answer to its
POST: a token is created (or, when a pull Secret lost its credentials, created anew) right where
its Secrets are written, and the password goes nowhere else: not into logs, plans or metadata.
A pull Secret is its component's object (the component applies it too, and prunes it once the
spec no longer wires it); a Secret is read by name, so only the component's inventory can name
it to a later run, and the registry writes it into that inventory before writing the Secret.
Tokens of the registry that the spec does not name are reported as orphans, never deleted.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from platform_assets.core import desired, registry
from platform_assets.core.component_plan import inventory_ahead
from platform_assets.core.graph import Node, NodeKind
from platform_assets.core.ports import CloudApi, Json
from platform_assets.engine.handler import Options, ReconcileError, Runtime, guarded, section_as
from platform_assets.engine.ionos import IonosKind, IonosState
from platform_assets.spec.models import ContainerRegistry

_SCANNING = "features.vulnerabilityScanning.enabled"


def read_secret(rt: Runtime, ps: registry.PullSecret, opts: Options) -> Json | None:
    """The pull Secret as the cluster has it (None when missing or, in a dry run, when there is
    no cluster yet)."""
    try:
        return guarded(f"GET v1 Secret {ps.key}",
                       partial(rt.cluster().get, "v1", "Secret", ps.name, ps.namespace))
    except ReconcileError as exc:
        if opts.dry_run and isinstance(exc.__cause__, LookupError):
            return None
        raise


def _observed(rt: Runtime, reg: ContainerRegistry, raw: Json | None,
              opts: Options) -> tuple[Json | None, dict[str, str]]:
    """The registry with its spec'd tokens and pull Secrets folded in, and the tokens' ids."""
    if raw is None:
        return None, {}
    owned = {t.name for t in reg.tokens}
    tokens = [t for t in rt.cloud().list_registry_tokens(str(raw["id"]))
              if (t.get("properties") or {}).get("name") in owned]
    ids = {str(t["properties"]["name"]): str(t["id"]) for t in tokens}
    secrets = {ps.key: registry.secret_state(read_secret(rt, ps, opts), ids.get(ps.token))
               for ps in registry.pull_secrets(rt.spec, reg)}
    props = {**(raw.get("properties") or {}),
             "tokens": {str(t["properties"]["name"]): registry.observed_token(t)
                        for t in tokens},
             "pullSecrets": secrets}
    return {**raw, "properties": props}, ids


def _observe_registry(rt: Runtime, node: Node, opts: Options) -> IonosState:
    reg = section_as(node, ContainerRegistry)
    want = registry.desired(reg, rt.spec)
    obs, ids = _observed(rt, reg, rt.cloud().find_registry(reg.name), opts)
    st = IonosState(node, f"ionos/registry/{reg.name}", f"container registry {reg.name}", want,
                    obs, ids=ids)
    st.notes.extend(registry.token_expiry_notes(reg, rt.now().date()))
    scanning = (((st.props.get("features") or {}).get("vulnerabilityScanning") or {})
                .get("enabled"))
    if obs and scanning and not reg.vulnerability_scanning:
        st.ignore.append(_SCANNING)
        st.notes.append(f"{st.what} has vulnerability scanning on; IONOS cannot turn it off "
                        "once active: set vulnerability_scanning: true in the spec")
        want["features"]["vulnerabilityScanning"]["enabled"] = True
    return st


def _namespace(rt: Runtime, ns: str) -> None:
    view = rt.view()
    if not view.namespace_exists(ns):
        view.wrote(guarded(f"APPLY v1 Namespace {ns}",
                           partial(rt.cluster().apply, desired.namespace_object(ns))))


def _inventory_ahead(rt: Runtime, secrets: list[registry.PullSecret]) -> None:
    """Name the pull Secrets in their components' inventories before they are written (one
    write a component, none where the inventory names them): the component's own run would,
    but a run killed or failed before it, and a spec that then drops the registry, would leave
    Secrets holding working credentials that no later run finds."""
    view = rt.view()
    for comp in {ps.component.name: ps.component for ps in secrets}.values():
        found = view.objects("v1", "ConfigMap", comp.namespace, comp.name)
        have = found.get(("v1", "ConfigMap", comp.namespace, desired.inventory_name(comp.name)))
        ahead = inventory_ahead(comp, have, [ps.oid for ps in secrets
                                             if ps.component.name == comp.name])
        if ahead is not None:
            view.wrote(guarded(
                f"APPLY v1 ConfigMap {comp.namespace}/{desired.inventory_name(comp.name)} "
                "(ahead of its pull Secrets)", partial(rt.cluster().apply, ahead)))


def _issue(api: CloudApi, st: IonosState, rt: Runtime, registry_id: str, hostname: str,
           name: str) -> None:
    """Create token ``name`` and write its credentials into every pull Secret wiring it."""
    token, creds = api.create_registry_token(registry_id, st.want["tokens"][name], log=rt.log)
    reg = section_as(st.node, ContainerRegistry)
    config = registry.dockerconfigjson(hostname, creds["username"], creds["password"])
    secrets = [ps for ps in registry.pull_secrets(rt.spec, reg) if ps.token == name]
    for namespace in sorted({ps.namespace for ps in secrets}):
        _namespace(rt, namespace)
    _inventory_ahead(rt, secrets)
    for ps in secrets:
        obj = registry.stamped_pull_secret(ps, config, str(token["id"]))
        rt.view().wrote(guarded(f"APPLY v1 Secret {ps.key}", partial(rt.cluster().apply, obj)))
        rt.log(f"wrote the credentials of token {name} into pull Secret {ps.key}")


def _registry_patch(want: Json, have: Json) -> Json:
    keys = ("garbageCollectionSchedule", "features")
    return {k: want[k] for k in keys if k in want and want[k] != have.get(k)}


def _create_registry(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    props = {k: v for k, v in st.want.items() if k not in ("tokens", "pullSecrets")}
    made = api.create_registry(props, log=rt.log)
    hostname = str((made.get("properties") or {}).get("hostname") or "")
    for name in st.want["tokens"]:
        _issue(api, st, rt, str(made["id"]), hostname, name)
    return _reobserve(rt, st, made)


def _update_registry(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    have, rid = st.props, st.obs_id
    patch = _registry_patch(st.want, have)
    if patch:
        api.update_registry(rid, patch, log=rt.log)
    hostname = str(have.get("hostname") or "")
    tokens = have.get("tokens") or {}
    secrets = have.get("pullSecrets") or {}
    stale = {ps.token for ps in registry.pull_secrets(rt.spec, section_as(
        st.node, ContainerRegistry)) if secrets.get(ps.key) != registry.CURRENT}
    for name, want in st.want["tokens"].items():
        if name not in tokens:
            _issue(api, st, rt, rid, hostname, name)
        elif name in stale:
            rt.log(f"token {name}: a pull Secret lacks its credentials, which IONOS shows only "
                   "when a token is created: replacing the token")
            api.delete_registry_token(rid, st.ids[name], log=rt.log)
            _issue(api, st, rt, rid, hostname, name)
        elif want != tokens[name]:
            api.update_registry_token(rid, st.ids[name], {k: want[k] for k in (
                "scopes", "expiryDate", "status")}, log=rt.log)
    return _reobserve(rt, st, api.registry_ready(rid, log=rt.log))


def _reobserve(rt: Runtime, st: IonosState, raw: Json) -> Json:
    reg = section_as(st.node, ContainerRegistry)
    obs, st.ids = _observed(rt, reg, raw, Options())
    return obs or raw


def _registry_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    return {"registry_id": str(obs["id"]), "hostname": str(props.get("hostname") or ""),
            "location": str(props.get("location")), "tokens": len(props.get("tokens") or {}),
            "pull_secrets": len(props.get("pullSecrets") or {}),
            "state": str((obs.get("metadata") or {}).get("state"))}


REGISTRY_KINDS: dict[NodeKind, IonosKind] = {
    "registry": IonosKind(
        observe=_observe_registry, create=_create_registry, update=_update_registry,
        metadata=_registry_metadata, immutable=registry.REGISTRY_IMMUTABLE,
        replace_hint="a registry's name and location cannot change ({reason}); create a new "
                     "registry and push the images there",
        ready_state="Running",
        ready=lambda api, st, rt: _reobserve(rt, st, api.registry_ready(st.obs_id, rt.log))),
}


def token_orphans(rt: Runtime, reg: ContainerRegistry) -> list[str]:
    """Tokens of the registry that the spec does not name (reported, never deleted)."""
    api = rt.cloud()
    found = api.find_registry(reg.name)
    if found is None:
        return []
    names = {t.name for t in reg.tokens}
    return [f"ionos/registry/{reg.name}: token {(t.get('properties') or {}).get('name')} "
            f"(id {t['id']})" for t in api.list_registry_tokens(str(found["id"]))
            if (t.get("properties") or {}).get("name") not in names]
