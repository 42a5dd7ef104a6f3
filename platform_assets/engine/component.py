"""The component handler: a component's Kubernetes objects, its inventory and its health.

Observe first checks that the server serves every API version and CRD the component needs
(``core.preflight``), then reads through the run's ``ClusterView`` (each kind listed once
across namespaces, filtered by the component's label; Secrets by name); planning is
``core.component_plan.plan_component``; apply writes only what the plan says changed
(namespaces, objects, prunes, then the inventory; ahead of a Secret the inventory does not
list, or of the first object of a kind and namespace it does not name, the inventory is written
first: ``ComponentPlan.write_ahead``; the inventories a namespace move left behind, found from
the last materialization's metadata, after it: ``ComponentPlan.retired``); verify waits for the
health targets with the injected clock and sleeper (the first look uses what observe and apply
returned; a Pending claim's StorageClass is read once per run, ``ClusterView.storage_class``),
and reports what is healthy but not done (a claim waiting for its first consumer) as plan notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from platform_assets.core import desired, immutable, preflight
from platform_assets.core.calendar import Gate
from platform_assets.core.component_plan import (
    ABSENT,
    INVENTORY_NAMESPACES,
    ComponentPlan,
    ListGroup,
    ObjId,
    being_deleted,
    held_by,
    namespaces_of,
    observe_groups,
    observe_names,
    plan_component,
    prune_groups,
    prune_names,
    retired_inventories,
)
from platform_assets.core.graph import Node
from platform_assets.core.health import (
    ClaimClass,
    argocd_health,
    failed_for_good,
    has_health,
    health,
    needs_class,
    reconcile_handled,
)
from platform_assets.core.manifest_policy import manifest_problems, object_problem
from platform_assets.core.manifests import ManifestError, load_directory
from platform_assets.core.ports import ClusterApi, Json
from platform_assets.engine.cluster_view import ClusterView
from platform_assets.engine.edge import pinned_component
from platform_assets.engine.handler import (
    Options,
    ReconcileError,
    ReconcileOutcome,
    Runtime,
    api_status,
    guarded,
    section_as,
)
from platform_assets.engine.outputs import input_objects
from platform_assets.names import FIELD_MANAGER
from platform_assets.spec.models import Component

# What ``failed_for_good`` found, by kind, for the reconcile's error.
FAILED = {"Deployment": "a rollout failed", "PersistentVolumeClaim": "a claim was lost"}

# Where a health check's kind is not among the component's objects.
HEALTH_API_VERSIONS = {
    "Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
    "PersistentVolumeClaim": "v1", "HelmRelease": "helm.toolkit.fluxcd.io/v2",
    "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
    "Application": desired.ARGOCD_API_VERSION,
}


def component_manifests(base_dir: Path, comp: Component) -> list[Json]:
    """The objects of a manifests component, namespaced (CLUSTER_SCOPED_KINDS excepted).

    Raises:
        ManifestError: a file is malformed, or holds an object the component may not create
            (``core.manifest_policy``); every problem names file and line.
    """
    if not comp.source.manifests:
        return []
    path = base_dir / comp.source.manifests.path
    manifests = load_directory(path, default_namespace=comp.namespace)
    problems = manifest_problems(comp, manifests)
    if problems:
        raise ManifestError("\n".join(map(str, problems)))
    return [m.obj for m in manifests]


def check_scopes(k8s: ClusterApi, comp: Component, objs: Iterable[Json]) -> None:
    """Refuse, before anything is applied, an object whose kind the API server says is
    cluster-scoped when the component does not allow it (a kind the static table lacks)."""
    for obj in objs:
        try:
            scoped = not k8s.namespaced(str(obj["apiVersion"]), str(obj["kind"]))
        except Exception:  # noqa: BLE001 - a kind the API lacks: the apply fails on its own
            continue
        problem = object_problem(comp, obj, scoped) if scoped else None
        if problem:
            meta = obj.get("metadata") or {}
            raise ReconcileError(f"component {comp.name}: {obj['kind']}/{meta.get('name')}: "
                                 f"{problem[0]}: {problem[1]}")


def health_targets(comp: Component, objs: desired.ComponentObjects) -> dict[str, ObjId]:
    """What the component waits for: the spec's health checks, else every object with a
    readiness; and its HelmRelease, Kustomization or Argo CD Application."""
    targets: dict[str, ObjId] = {}
    by_kind = {o["kind"]: o["apiVersion"] for o in objs.objects}
    for h in comp.health:
        api = h.api_version or by_kind.get(h.kind) or HEALTH_API_VERSIONS.get(h.kind)
        if not api:
            raise ReconcileError(f"component {comp.name}: health check {h.kind}/{h.name} "
                                 "needs api_version (the kind is not among its objects)")
        ns = h.namespace or (comp.namespace if h.kind not in ("ClusterIssuer",) else "")
        targets[f"{h.kind}/{h.name}"] = (api, h.kind, ns, h.name)
    if not comp.health:
        for o in objs.objects:
            if has_health(o):
                oid = desired.obj_id(o)
                targets[f"{oid[1]}/{oid[3]}"] = oid
    for gitops in (objs.flux, objs.argocd):
        if gitops is not None:
            oid = desired.obj_id(gitops)
            targets[f"{oid[1]}/{oid[3]}"] = oid
    return targets


@dataclass
class ComponentState:
    node: Node
    comp: Component
    objs: desired.ComponentObjects
    observed: dict[ObjId, Json] = field(default_factory=dict)
    missing_ns: list[str] = field(default_factory=list)
    unread: list[ObjId] = field(default_factory=list)  # inventoried Secrets the run may not read
    retired: list[ObjId] = field(default_factory=list)  # inventories a namespace move left
    no_cluster: bool = False  # a dry run before the cluster exists
    notes: list[str] = field(default_factory=list)
    result: ComponentPlan | None = None
    requested_at: str | None = None  # when we asked Flux to reconcile, or Argo CD to sync
    health_notes: dict[str, str] = field(default_factory=dict)  # healthy, but not done

    @property
    def planned(self) -> ComponentPlan:
        assert self.result is not None, "plan runs before apply and verify"
        return self.result


def _read_into(view: ClusterView, st: ComponentState, groups: set[ListGroup]) -> None:
    for api, kind, ns in sorted(groups):
        st.observed.update(view.objects(api, kind, ns, st.comp.name))


def _read_named(view: ClusterView, st: ComponentState, want: set[ObjId],
                leftover: set[ObjId]) -> None:
    """The Secrets the component applies and those its inventory lists, by name. The derived
    RBAC grants each Secret of the spec by name, so a refused one means the deployed RBAC is
    older than the spec; one only the inventory lists (removed from the spec, so no longer
    granted) is left alone and reported."""
    found, refused = view.named(want | leftover, st.comp.name)
    st.observed.update(found)
    stale = sorted(oid for oid in refused if oid in want)
    if stale:
        raise ReconcileError(
            f"component {st.comp.name}: the run may not read " + ", ".join(
                f"{kind} {ns}/{name}" for _, kind, ns, name in stale) + " (403): its RBAC is "
            "older than the spec; apply `python -m platform_assets rbac` for this spec")
    st.unread = sorted(refused)


def _connect(rt: Runtime, k8s: ClusterApi) -> None:
    with rt.k8s_lock:
        k8s.dynamic()


def _preflight(rt: Runtime, st: ComponentState, k8s: ClusterApi) -> list[str]:
    """Why each API version or CRD the component needs is not served (empty: all are)."""
    out = []
    for api, kind in preflight.needed_kinds(st.objs.all):
        why = guarded(f"discover {api} {kind}", partial(k8s.serves, api, kind))
        if why:
            install = preflight.installer(
                rt.spec, partial(component_manifests, rt.base_dir), api, kind, st.comp.name)
            out.append(preflight.missing_api_message(st.comp.name, why, install))
    return out


class ComponentHandler:
    """Reconciles one platform or application component."""

    def observe(self, rt: Runtime, node: Node, opts: Options) -> ComponentState:
        comp = section_as(node, Component)
        # An absent component applies nothing: its manifests and outputs are not read.
        if not comp.absent:
            comp = pinned_component(rt, comp, opts)
        manifests = [] if comp.absent else component_manifests(rt.base_dir, comp)
        inputs = [] if comp.absent else input_objects(rt, comp, opts)
        st = ComponentState(node, comp, desired.component_objects(comp, manifests + inputs))
        k8s = rt.cluster()
        namespaces = namespaces_of(comp, st.objs)
        try:
            guarded("connect to the Kubernetes API", partial(_connect, rt, k8s))
        except ReconcileError as exc:
            # A dry run before the cluster exists plans everything as new.
            if not (opts.dry_run and isinstance(exc.__cause__, LookupError)):
                raise
            st.no_cluster, st.missing_ns = True, list(namespaces)
            st.notes.append(f"no cluster to observe yet: {exc.__cause__}")
            return st
        check_scopes(k8s, comp, manifests)
        missing_apis = _preflight(rt, st, k8s)
        if missing_apis and not opts.dry_run:
            raise ReconcileError("; ".join(missing_apis))
        st.notes.extend(missing_apis)
        view = rt.view()
        groups, names = observe_groups(st.objs), observe_names(st.objs)
        view.prefetch({(api, kind) for api, kind, _ns in groups} | {oid[:2] for oid in names})
        view.prefetch_named(rt.components)
        _read_into(view, st, groups)
        st.missing_ns = [ns for ns in namespaces if not view.namespace_exists(ns)]
        inventory = st.observed.get(desired.obj_id(st.objs.inventory))
        st.retired = retired_inventories(comp, opts.previous_metadata)
        _read_into(view, st, {oid[:3] for oid in st.retired})
        old = [st.observed.get(oid) for oid in st.retired]
        _read_into(view, st, prune_groups(st.objs, inventory, *old))
        _read_named(view, st, names, prune_names(st.objs, inventory, *old))
        return st

    def plan(self, rt: Runtime, st: ComponentState, opts: Options,
             gate: Gate) -> ReconcileOutcome:
        st.result = plan_component(st.node.path, st.comp, st.objs, st.observed, st.missing_ns,
                                   gate, unread=st.unread, retired=st.retired)
        st.result.plan.notes.extend(st.notes)
        return ReconcileOutcome(st.result.plan, orphans=list(st.result.orphans))

    def apply(self, rt: Runtime, st: ComponentState, out: ReconcileOutcome) -> None:
        k8s, planned = rt.cluster(), st.planned
        view = rt.view()
        for ns in st.missing_ns if st.comp.drift != "observe" else []:
            view.wrote(guarded(f"APPLY v1 Namespace {ns}",
                               partial(k8s.apply, desired.namespace_object(ns))))
            out.writes += 1
        ahead: Json | None = None  # the inventory written ahead, if any
        for oid, want in planned.objects.items():
            change = planned.changes[oid]
            if not change.writes:
                continue
            if oid == planned.write_ahead_before and planned.write_ahead is not None:
                # Named before it exists: a run killed after this apply leaves it findable.
                ahead = planned.write_ahead
                view.wrote(guarded(f"APPLY {planned.inventory_change.address} (ahead of "
                                   f"{change.address})", partial(k8s.apply, ahead)))
                out.writes += 1
            body = self._with_reconcile_request(rt, st, oid, want)
            if change.action == "replace":
                out.writes += _delete_for_replace(rt, st, oid, change.address)
            elif being_deleted(st.observed.get(oid)):
                uid = st.observed[oid]["metadata"].get("uid")
                st.observed.pop(oid)
                _wait_gone(rt, st.comp, oid, change.address, uid, "is being deleted and")
            st.observed[oid] = _apply_object(k8s, st.comp, change.address, body)
            view.wrote(st.observed[oid])
            out.writes += 1
        for oid, change in planned.prunes:
            if change.writes:
                _prune(rt, st, oid, change.address)
                out.writes += 1
        if planned.inventory_change.writes and ahead is not planned.inventory:
            view.wrote(guarded(f"APPLY {planned.inventory_change.address}",
                               partial(k8s.apply, planned.inventory)))
            out.writes += 1
        for oid, change in planned.retired:
            if change.writes:  # the new inventory lists what is left: this one may go
                _prune(rt, st, oid, change.address)
                out.writes += 1
        out.writes += self._request_sync(rt, st)

    @staticmethod
    def _request_sync(rt: Runtime, st: ComponentState) -> int:
        """Ask Argo CD to sync the component's Application (``argocd app sync``) when we
        changed it, or when it is out of sync and nothing syncs it: no operation in progress
        and no automated policy. A synced Application is left alone (idempotent)."""
        app = st.objs.argocd
        if app is None or st.comp.drift == "observe":
            return 0
        oid = desired.obj_id(app)
        have = st.observed.get(oid)
        if have is None:
            return 0
        status = have.get("status") or {}
        written = st.planned.changes[oid].writes
        busy = have.get("operation") is not None or \
            (status.get("operationState") or {}).get("phase") in ("Running", "Terminating")
        automated = ((have.get("spec") or {}).get("syncPolicy") or {}).get("automated")
        sync, spec = status.get("sync") or {}, have.get("spec") or {}
        compared = sync.get("comparedTo") or {}
        synced = sync.get("status") == "Synced" and all(
            compared.get(k) == spec.get(k) for k in ("source", "destination"))
        if busy or (not written and (synced or automated)):
            return 0
        st.requested_at = rt.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = desired.argocd_sync_request(have, st.requested_at)
        k8s = rt.cluster()
        st.observed[oid] = guarded(
            f"PATCH {desired.obj_address(app)} (sync operation)",
            partial(k8s.patch_merge, oid[0], oid[1], oid[3], oid[2] or None, patch,
                    field_manager=FIELD_MANAGER))
        rt.view().wrote(st.observed[oid])
        return 1

    @staticmethod
    def _with_reconcile_request(rt: Runtime, st: ComponentState, oid: ObjId,
                                want: Json) -> Json:
        """A changed HelmRelease or Kustomization asks Flux to reconcile it now."""
        if st.objs.flux is None or oid != desired.obj_id(st.objs.flux):
            return want
        st.requested_at = rt.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        meta = want["metadata"]
        return {**want, "metadata": {**meta, "annotations": {
            **meta.get("annotations", {}), desired.ANNOTATION_REQUESTED_AT: st.requested_at}}}

    def verify(self, rt: Runtime, st: ComponentState, out: ReconcileOutcome,
               opts: Options) -> None:
        comp, objs = st.comp, st.objs
        missing = [c.address for oid, c in st.planned.changes.items() if oid not in st.observed]
        if missing and comp.drift == "observe" and not opts.dry_run:
            # Waiting would only run out the health timeout: nothing will create them.
            raise ReconcileError(
                f"component {comp.name}: {len(missing)} objects missing; observe mode does not "
                "create them: " + ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
        status, pending = self._wait_healthy(rt, st, health_targets(comp, objs), opts)
        out.unhealthy = [f"{k}: {status.get(k, 'not observed')}" for k in pending]
        out.healthy = not pending
        if pending and not opts.dry_run:
            failed = sorted({FAILED.get(oid[1], f"a {oid[1]} failed") for oid in pending.values()
                             if failed_for_good(st.observed.get(oid))})
            when = " and ".join(failed) or f"not healthy after {comp.health_timeout}"
            raise ReconcileError(f"component {comp.name}: {when}: " + "; ".join(out.unhealthy))
        out.plan.notes.extend(f"{k}: {note}" for k, note in sorted(st.health_notes.items()))
        out.metadata.update({
            "namespace": comp.namespace, "objects": len(objs.objects),
            "inventory": desired.inventory_name(comp.name),
            INVENTORY_NAMESPACES: st.planned.inventory_namespaces(
                comp.namespace, applied=not opts.dry_run),
            "applied": sum(1 for c in out.plan.changes if c.writes and c.action != "delete"),
            "pruned": st.planned.pruned,
            "health": ", ".join(f"{k}={v}" for k, v in sorted(status.items())) or "n/a",
        })
        if comp.absent:
            out.metadata[ABSENT] = st.planned.absent_state(applied=not opts.dry_run)
        self._argocd_metadata(st, out)
        flux_obs = st.observed.get(desired.obj_id(objs.flux)) if objs.flux else None
        if flux_obs:
            out.metadata["flux_revision"] = str(
                (flux_obs.get("status") or {}).get("lastAppliedRevision") or "")
            if st.requested_at:
                out.metadata["reconcile_requested_at"] = st.requested_at

    @staticmethod
    def _argocd_metadata(st: ComponentState, out: ReconcileOutcome) -> None:
        app = st.observed.get(desired.obj_id(st.objs.argocd)) if st.objs.argocd else None
        if not app:
            return
        status = app.get("status") or {}
        out.metadata["argocd_sync"] = str((status.get("sync") or {}).get("status") or "")
        out.metadata["argocd_health"] = str((status.get("health") or {}).get("status") or "")
        out.metadata["argocd_revision"] = str((status.get("sync") or {}).get("revision") or "")
        if st.requested_at:
            out.metadata["sync_requested_at"] = st.requested_at

    @staticmethod
    def _wait_healthy(rt: Runtime, st: ComponentState, targets: dict[str, ObjId],
                      opts: Options) -> tuple[dict[str, str], dict[str, ObjId]]:
        """Poll the targets (the first pass from what observe and apply returned) until all
        are healthy, one has failed for good, the health timeout passes, or once in a dry
        run. One healthy with a note (a claim waiting for its first consumer) holds nothing
        back but is looked at again while others are awaited: the Pod of a workload awaited
        with it may bind it meanwhile, and the report says what the last look found."""
        status: dict[str, str] = {}
        pending = dict(targets)  # not yet healthy without a note
        if st.no_cluster:
            return status, pending
        deadline = rt.clock() + desired.health_timeout_seconds(st.comp)
        delay = 0.2
        first, failed = True, False
        while True:
            for key, oid in list(pending.items()):
                obj = st.observed.get(oid) if first else None
                if obj is None:
                    api, kind, ns, name = oid
                    obj = rt.cluster().get(api, kind, name, ns or None)
                    if obj is not None:
                        st.observed[oid] = obj  # the metadata reports the last look
                ok, why = _healthy(rt, st, oid, obj)
                status[key] = ("ok" + (f" ({why})" if why else "")) if ok else why
                st.health_notes.pop(key, None)
                if ok and why:
                    st.health_notes[key] = why
                elif ok:
                    pending.pop(key)
                elif failed_for_good(obj):
                    failed = True
            first = False
            waiting = {k: oid for k, oid in pending.items() if k not in st.health_notes}
            # A rollout past its progress deadline stays failed (kubectl rollout status exits
            # with an error), a Lost claim stays Lost: waiting out the health timeout would
            # only hide it.
            if not waiting or failed or opts.dry_run or rt.clock() > deadline:
                return status, waiting
            rt.sleep(delay)
            delay = min(delay * 2, 5.0)


def _prune(rt: Runtime, st: ComponentState, oid: ObjId, address: str) -> None:
    """Delete a leftover. Refused (403) in a namespace the component moved from, the deployed
    RBAC does not know the move: say what grants it."""
    api, kind, ns, name = oid
    try:
        guarded(f"DELETE {address}", partial(rt.cluster().delete, api, kind, name, ns or None))
    except ReconcileError as exc:
        moved = ns in {r[2] for r in st.retired} and ns not in st.comp.previous_namespaces
        if api_status(exc.__cause__)[0] != 403 or not (moved or st.comp.absent):
            raise
        if not moved:
            raise ReconcileError(
                f"component {st.comp.name} is absent: the run may not delete {address} (403): "
                "the deployed RBAC names what the component's source applies, and this object "
                "is not among it (or the RBAC is older than the spec); apply `python -m "
                "platform_assets rbac` for this spec, or delete it by hand; the next reconcile "
                "prunes the rest") from exc
        raise ReconcileError(
            f"component {st.comp.name}: the run may not delete {address} (403), left in "
            f"namespace {ns} the component moved from: add `previous_namespaces: [{ns}]` to "
            f"component {st.comp.name} and apply `python -m platform_assets rbac` for this "
            "spec; the next reconcile prunes it") from exc
    rt.view().deleted(oid)


def _delete_for_replace(rt: Runtime, st: ComponentState, oid: ObjId, address: str) -> int:
    """Delete an object the plan replaces (the propagation its kind needs,
    ``core.immutable.propagation``) and wait until it is gone; returns the requests written.
    A run killed after this converges: the next one finds the object missing and creates it."""
    api, kind, ns, name = oid
    policy = immutable.propagation(api, kind)
    uid = ((st.observed.get(oid) or {}).get("metadata") or {}).get("uid")
    guarded(f"DELETE {address} (replace, propagationPolicy {policy})",
            partial(rt.cluster().delete, api, kind, name, ns or None, policy))
    rt.view().deleted(oid)
    st.observed.pop(oid, None)
    _wait_gone(rt, st.comp, oid, address, uid, "was deleted to be replaced but")
    return 1


def _wait_gone(rt: Runtime, comp: Component, oid: ObjId, address: str,
               uid: str | None, what: str) -> None:
    """Poll until the deleted object is gone (a Foreground delete keeps it until the garbage
    collector has removed its dependents) or another of its name stands in its place, within
    the component's health timeout, with the injected clock and sleeper."""
    api, kind, ns, name = oid
    deadline = rt.clock() + desired.health_timeout_seconds(comp)
    delay = 0.2
    while True:
        obj = guarded(f"GET {address}", partial(rt.cluster().get, api, kind, name, ns or None))
        meta = (obj or {}).get("metadata") or {}
        if obj is None or (uid and meta.get("uid") != uid):
            return
        if rt.clock() > deadline:
            raise ReconcileError(
                f"component {comp.name}: {address} {what} is still "
                f"there after {comp.health_timeout} ({held_by(obj)}); the next reconcile "
                "creates it once it is gone")
        rt.sleep(delay)
        delay = min(delay * 2, 5.0)


def _apply_object(k8s: ClusterApi, comp: Component, address: str, body: Json) -> Json:
    """Server-side apply one object. A 422 refusing an immutable field the table of
    ``core.immutable`` does not know (a CRD's CEL ``self == oldSelf`` rule) fails the component
    with the field and the server's words, and what to do."""
    try:
        return guarded(f"APPLY {address}", partial(k8s.apply, body))
    except ReconcileError as exc:
        status, data = api_status(exc.__cause__)
        refused = immutable.refused_fields(data) if status == 422 else []
        if not refused:
            raise
        fields = ", ".join(sorted({f for f, _ in refused if f})) or "an immutable field"
        words = "; ".join(m[:300] for _, m in refused)
        raise ReconcileError(
            f"component {comp.name}: {address}: the API server refuses to change {fields} "
            f"(HTTP 422: {words}). It is immutable, which platform-ops did not know, so it "
            "planned an update that allow_replace cannot turn into a replace: revert the "
            "change, or delete the object so the next reconcile creates it anew") from exc


def _claim_class(rt: Runtime, obj: dict[str, Any] | None) -> ClaimClass | None:
    """The StorageClass a Pending claim's health depends on, read once per run (the API
    server defaults an unset volumeBindingMode to Immediate); None when none does."""
    name = needs_class(obj)
    if not name:
        return None
    found = rt.view().storage_class(name)
    return ClaimClass(name, None if found is None else
                      str(found.get("volumeBindingMode") or "Immediate"))


def _healthy(rt: Runtime, st: ComponentState, oid: ObjId,
             obj: dict[str, Any] | None) -> tuple[bool, str]:
    if st.objs.argocd is not None and oid == desired.obj_id(st.objs.argocd):
        return argocd_health(obj, st.requested_at)
    ok, why = health(obj, _claim_class(rt, obj))
    if ok and st.objs.flux is not None and oid == desired.obj_id(st.objs.flux):
        ok = reconcile_handled(obj, st.requested_at)
        why = why or ("" if ok else "Flux has not handled the reconcile request yet")
    return ok, why
