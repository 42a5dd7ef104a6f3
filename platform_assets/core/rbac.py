"""Least-privilege RBAC for the service account the runs use, derived from the spec. Pure.

What the reconciler may touch follows from the spec and the manifests it references: the
namespaces of the components, the kinds of the objects they apply (with ``delete`` only where the
component allows pruning), the Flux objects it ensures, the kinds its health checks read, the
backup targets (PVCs and PVs for volume snapshots, read-only export of the listed namespaces, a
scratch namespace for restore drills), the cert-manager Certificates and their TLS Secrets (by
name), the Secrets components apply or wire infrastructure outputs into (by name: the
reconcile reads Secrets one GET each, never a list, so only their create is unnamed), and the
few writes the remediation rules need (restart a rollout, expand a PVC), and the StorageClasses
of the claims whose health a component waits for. On top
comes what ``k8s_job_executor`` needs in the job namespace (Jobs, Pods and their logs).

The account cannot widen its own power: no rule uses ``*``, ``bind``, ``escalate`` or
``impersonate``, it writes no role bindings cluster-wide, it creates no namespaces (they, the
restore-drill namespaces with their PodSecurity ``restricted`` labels, Role and RoleBinding are
all rendered here and applied at deploy time), and the drill Role has no Secrets access.
``refuse_escalation`` enforces this on every plan; ``tests/unit/test_rbac.py`` checks the
rendered objects and the shipped manifests. Cluster-scoped objects are named
(``resourceNames``) wherever Kubernetes honours names; it does not for ``create``, ``list`` and
``watch``, which stay unnamed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from platform_assets.core import desired
from platform_assets.core.immutable import replaceable
from platform_assets.core.manifests import (
    CLUSTER_SCOPED_KINDS,
    READ_BY_NAME_KINDS,
    load_directory,
)
from platform_assets.core.remediation import rule_component
from platform_assets.core.restore import (
    DRILL_NODE_SELECTOR,
    DRY_RUN_ONLY_KINDS,
    EXPOSING_SERVICE_TYPES,
    FLUX_GROUPS,
    ROUTING_KINDS,
    group_of,
)
from platform_assets.names import (
    DRILL_ROLE,
    FIELD_MANAGER,
    FLUX_NAMESPACE,
    LABEL_DRILL,
    LABEL_MANAGED_BY,
    RUN_NAMESPACE,
    RUN_ROLE,
    RUN_SERVICE_ACCOUNT,
    SECRET_VOLUME_AGENT,
    drill_namespace,
)
from platform_assets.spec.models import BackupTarget, Component, PlatformSpec, split_kind

MANAGED_BY_LABEL = {LABEL_MANAGED_BY: FIELD_MANAGER}
# Namespaces every cluster has: never rendered as objects of ours.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

READ = ("get", "list", "watch")
APPLY = (*READ, "create", "patch", "update")
PRUNE = (*APPLY, "delete")
# Verbs Kubernetes authorizes by object name; create, list and watch ignore resourceNames.
NAMEABLE = frozenset({"get", "patch", "update", "delete", "bind"})

# (group, plural) of kinds whose plural the English rule below gets wrong.
_PLURALS: dict[str, str] = {"Endpoints": "endpoints"}

# Namespaced kinds a resources backup exports, beyond what the components apply themselves
# and what a target's ``include_kinds`` adds. The workload kinds are all here, the older ones
# too (ReplicationControllers, bare ReplicaSets and Pods, PodTemplates): an object a
# controller owns is exported with the rest and left to its owner by drills and restores.
EXPORT_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ConfigMap"), ("v1", "Service"), ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"), ("v1", "LimitRange"), ("v1", "ResourceQuota"),
    ("v1", "ReplicationController"), ("v1", "PodTemplate"), ("v1", "Pod"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
    ("batch/v1", "CronJob"), ("batch/v1", "Job"),
    ("networking.k8s.io/v1", "Ingress"), ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("cert-manager.io/v1", "Certificate"), ("cert-manager.io/v1", "Issuer"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"),
    ("source.toolkit.fluxcd.io/v1", "HelmRepository"),
    ("external-secrets.io/v1", "ExternalSecret"), ("external-secrets.io/v1", "SecretStore"),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
)


class RbacError(ValueError):
    """The spec or a manifest cannot be turned into RBAC rules."""


def plural_of(kind: str) -> str:
    """The resource name of a kind, as the API server's default pluralization derives it."""
    if kind in _PLURALS:
        return _PLURALS[kind]
    low = kind.lower()
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return low[:-1] + "ies"
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return low + "es"
    return low + "s"


def resource_of(api_version: str, kind: str) -> tuple[str, str]:
    """(group, plural) of a kind: what an RBAC rule names."""
    return group_of(api_version), plural_of(kind)


@dataclass(frozen=True)
class Rule:
    """One RBAC rule: some verbs on resources of one group, optionally only named objects."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The rule as a Kubernetes PolicyRule."""
        out: dict[str, Any] = {"apiGroups": [self.api_group], "resources": list(self.resources),
                               "verbs": list(self.verbs)}
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out


@dataclass
class RbacPlan:
    """Rules per namespace (a Role each) and cluster-wide (one ClusterRole), with reasons."""

    service_account: str
    namespace: str
    cluster_rules: list[Rule] = field(default_factory=list)
    namespace_rules: dict[str, list[Rule]] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    # The Role of the restore drills, in each of their deploy-time namespaces.
    drill_rules: list[Rule] = field(default_factory=list)
    drill_namespaces: list[str] = field(default_factory=list)
    # (group, kind) of what drills only validate by dry run beyond Pods (``include_kinds``).
    drill_dry_run: list[tuple[str, str]] = field(default_factory=list)

    def all_rules(self) -> list[Rule]:
        """Every rule of the plan, cluster-wide, per namespace and for drills, for the escalation
        check."""
        return [*self.cluster_rules, *(r for rs in self.namespace_rules.values() for r in rs),
                *self.drill_rules]

    def verbs_for(self, group: str, resource: str, namespace: str | None = None,
                  name: str | None = None) -> set[str]:
        """The verbs granted on ``resource`` (in ``namespace``; None: cluster-wide)."""
        rules = self.cluster_rules if namespace is None else self.namespace_rules.get(namespace, [])
        out: set[str] = set()
        for r in rules:
            if r.api_group != group or resource not in r.resources:
                continue
            if r.resource_names and (name is None or name not in r.resource_names):
                continue
            out.update(r.verbs)
        return out


class _Collector:
    """Accumulates verbs per (scope, group, resource, names)."""

    def __init__(self) -> None:
        # scope None = cluster; names () = every object.
        self.grants: dict[tuple[str | None, str, str, tuple[str, ...]], set[str]] = \
            defaultdict(set)

    def add(self, scope: str | None, api_version: str, kind: str, verbs: Iterable[str],
            names: Iterable[str] = ()) -> None:
        group, plural = resource_of(api_version, kind)
        self.add_resource(scope, group, plural, verbs, names)

    def add_resource(self, scope: str | None, group: str, resource: str, verbs: Iterable[str],
                     names: Iterable[str] = ()) -> None:
        names = tuple(sorted(set(names)))
        verbs = set(verbs)
        if names:
            named = verbs & NAMEABLE
            unnamed = verbs - NAMEABLE
            if named:
                self.grants[(scope, group, resource, names)] |= named
            if unnamed:
                self.grants[(scope, group, resource, ())] |= unnamed
        else:
            self.grants[(scope, group, resource, ())] |= verbs

    def rules(self, scope: str | None) -> list[Rule]:
        # Resources of one group with the same verbs and names share a rule.
        # Named grants drop what is granted on every object anyway, and grants of the same verbs
        # on one resource share their names.
        by_verbs: dict[tuple[str, str, tuple[str, ...]], set[str]] = defaultdict(set)
        for (s, group, resource, names), verbs in self.grants.items():
            if s != scope:
                continue
            if names:
                left = verbs - self.grants.get((scope, group, resource, ()), set())
                for verb in left:
                    by_verbs[(group, resource, (verb,))].update(names)
            else:
                by_verbs[(group, resource, tuple(_ordered(verbs)))] |= set()
        named: dict[tuple[str, str, tuple[str, ...]], set[str]] = defaultdict(set)
        for (group, resource, (verb, *_)), names_ in (
                (k, v) for k, v in by_verbs.items() if v):
            key = (group, resource, tuple(sorted(names_)))
            named[key].add(verb)
        merged: dict[tuple[str, tuple[str, ...], tuple[str, ...]], set[str]] = defaultdict(set)
        for (group, resource, verbs_t), names_ in by_verbs.items():
            if not names_:
                merged[(group, verbs_t, ())].add(resource)
        for (group, resource, names_t), verbs_ in named.items():
            merged[(group, tuple(_ordered(verbs_)), names_t)].add(resource)
        return sorted(
            (Rule(g, tuple(sorted(res)), v, n) for (g, v, n), res in merged.items()),
            key=lambda r: (r.api_group, r.resources, r.resource_names, r.verbs),
        )

    def scopes(self) -> list[str]:
        return sorted({s for (s, _, _, _) in self.grants if s is not None})


_VERB_ORDER = ("get", "list", "watch", "create", "patch", "update", "delete")


def _ordered(verbs: Iterable[str]) -> list[str]:
    verbs = set(verbs)
    return [v for v in _VERB_ORDER if v in verbs] + sorted(verbs - set(_VERB_ORDER))


def _scope(obj: Mapping[str, Any], default_namespace: str) -> str | None:
    if obj["kind"] in CLUSTER_SCOPED_KINDS:
        return None
    return str((obj.get("metadata") or {}).get("namespace") or default_namespace)


def _flux_object(component: Component) -> tuple[str, str, str] | None:
    """(apiVersion, kind, namespace) of the Flux object, or the Argo CD Application, a
    component is reconciled through (the Application takes a patch: its sync request)."""
    app = component.source.argocd_application
    if app:
        return "argoproj.io/v1alpha1", "Application", app.argocd_namespace
    if component.source.helm_release:
        return "helm.toolkit.fluxcd.io/v2", "HelmRelease", component.namespace
    if component.source.kustomization:
        return "kustomize.toolkit.fluxcd.io/v1", "Kustomization", FLUX_NAMESPACE
    return None


def derive_rbac(spec: PlatformSpec, manifests: Mapping[str, list[dict[str, Any]]], *,
                service_account: str = RUN_SERVICE_ACCOUNT,
                job_namespace: str = RUN_NAMESPACE) -> RbacPlan:
    """The least-privilege rules for the run service account.

    Args:
        spec: the validated platform spec.
        manifests: the objects of each manifests-sourced component, by component name
            (already namespaced, as ``core.manifests.load_directory`` returns them).
        service_account: the service account the run and step pods run as.
        job_namespace: the namespace the run and step Jobs are created in.

    Raises:
        RbacError: the spec would need a grant that widens the account's own power (a wildcard,
            ``bind``/``escalate``/``impersonate``, or cluster-wide role bindings).
    """
    c = _Collector()
    namespaces = sorted({comp.namespace for comp in spec.components} | {
        str(o["metadata"]["name"]) for objs in manifests.values() for o in objs
        if o["kind"] == "Namespace"})
    # Namespaces exist from deploy time (``to_objects``); runs read them and patch only ours.
    c.add(None, "v1", "Namespace", READ)
    c.add(None, "v1", "Namespace", ("patch", "update"), names=namespaces)
    objects_by_kind = _components(c, spec, manifests)
    drill_rules = _backups(c, spec, objects_by_kind)
    _certificates(c, spec, manifests)
    _remediation(c, spec, namespaces)
    # k8s_job_executor: one Job per step, watched through its pods, logs and events.
    c.add(job_namespace, "batch/v1", "Job", ("get", "list", "watch", "create", "delete"))
    c.add_resource(job_namespace, "batch", "jobs/status", ("get",))
    c.add(job_namespace, "v1", "Pod", ("get", "list", "watch", "delete"))
    c.add_resource(job_namespace, "", "pods/log", ("get",))
    c.add(job_namespace, "v1", "Event", ("get", "list", "watch"))
    plan = RbacPlan(service_account=service_account, namespace=job_namespace,
                    cluster_rules=c.rules(None),
                    namespace_rules={s: c.rules(s) for s in c.scopes()},
                    namespaces=namespaces, drill_rules=drill_rules,
                    drill_namespaces=_drill_namespaces(spec),
                    drill_dry_run=sorted(drill_dry_run_kinds(spec)))
    refuse_escalation(plan)
    return plan


def _components(c: _Collector, spec: PlatformSpec,
                manifests: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Grants for applying, pruning and checking each component; its objects by kind."""
    objects_by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for comp in spec.components:
        if comp.absent:
            _absent(c, comp, manifests.get(comp.name, []))
            continue
        verbs: tuple[str, ...] = PRUNE if comp.prune else APPLY
        # The inventory ConfigMap is always ours to replace and delete.
        c.add(comp.namespace, "v1", "ConfigMap", PRUNE)
        for obj in manifests.get(comp.name, []):
            objects_by_kind[obj["kind"]].append(obj)
            _refuse_cluster_binding(comp, obj)
            if obj["kind"] == "Namespace":
                # Rendered with the others for deploy time; a run only patches it.
                c.add(None, "v1", "Namespace", ("get", "patch", "update"),
                      names=[str(obj["metadata"]["name"])])
                continue
            scope = _scope(obj, comp.namespace)
            by_name = scope is None or obj["kind"] in READ_BY_NAME_KINDS
            names = [str(obj["metadata"]["name"])] if by_name else []
            # A replace deletes too: only the kinds with immutable fields it may replace.
            may_replace = comp.allow_replace and replaceable(obj)
            kind_verbs = PRUNE if may_replace else verbs
            # Read one GET each, never listed.
            granted = tuple(v for v in kind_verbs if v not in ("list", "watch")) \
                if obj["kind"] in READ_BY_NAME_KINDS else kind_verbs
            c.add(scope, obj["apiVersion"], obj["kind"], granted, names=names)
            if scope is not None:
                _list_across(c, obj["apiVersion"], obj["kind"])
        _list_across(c, "v1", "ConfigMap")
        flux = _flux_object(comp)
        if flux:
            api_version, kind, ns = flux
            c.add(ns, api_version, kind, APPLY)
            _list_across(c, api_version, kind)
            # Health of a Flux-managed component: the workloads it installs, read only.
            for api, k in (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
                           ("apps/v1", "DaemonSet"), ("v1", "PersistentVolumeClaim")):
                c.add(comp.namespace, api, k, READ)
        _input_secrets(c, comp, verbs)
        _moved_from(c, comp, manifests.get(comp.name, []))
        for check in comp.health:
            api = check.api_version or _default_api_version(check.kind, objects_by_kind)
            scope = None if check.kind in CLUSTER_SCOPED_KINDS else \
                (check.namespace or comp.namespace)
            if check.kind in READ_BY_NAME_KINDS:
                c.add(scope, api, check.kind, ("get",), names=[check.name])
            else:
                c.add(scope, api, check.kind, READ)
        _claim_classes(c, comp, manifests.get(comp.name, []))
    return objects_by_kind


def _claim_classes(c: _Collector, comp: Component,
                   objects: Iterable[Mapping[str, Any]]) -> None:
    """``get`` of the StorageClasses of the claims whose health the component waits for (every
    claim it applies, or those its ``health`` names): a Pending claim's health depends on its
    class's binding mode (``core.health.claim_health``). By name where every such claim names
    its class; unnamed where one takes the cluster's default class (its name is the cluster's,
    written by the DefaultStorageClass admission plugin) or is not applied by the component."""
    claims = {(str(o["metadata"].get("namespace") or comp.namespace), str(o["metadata"]["name"])):
              o for o in objects if o["kind"] == "PersistentVolumeClaim"}
    if comp.health:
        waited = [claims.get((h.namespace or comp.namespace, h.name)) for h in comp.health
                  if h.kind == "PersistentVolumeClaim"]
    else:
        waited = list(claims.values())
    if not waited:
        return
    names = set()
    for claim in waited:
        cls = None if claim is None else (claim.get("spec") or {}).get("storageClassName")
        if cls is None:  # the cluster's default class, or a claim not applied here
            c.add(None, "storage.k8s.io/v1", "StorageClass", ("get",))
            return
        names.add(str(cls))
    names.discard("")  # no class: nothing to read
    if names:
        c.add(None, "storage.k8s.io/v1", "StorageClass", ("get",), names=sorted(names))


def _input_secrets(c: _Collector, comp: Component, verbs: tuple[str, ...]) -> None:
    """The Secrets the reconcile writes a component's wired outputs into (a registry's pull
    Secret, a cache's password): server-side applied, a PATCH that is also a create when the
    Secret is new (create cannot be named), and read by name: the reconcile GETs each Secret
    (``engine.cluster_view.ClusterView.named``), so no list, which Kubernetes could not limit
    to ours and would make every Secret of the namespace readable. Deleted, by name, where the
    component prunes: the run that finds the wiring gone prunes the Secret with the RBAC
    deployed for the spec that had it."""
    granted = ("get", "create", "patch", *(("delete",) if "delete" in verbs else ()))
    for wiring in comp.inputs.wirings:
        kind, name = wiring.target
        if kind == "Secret":
            c.add(comp.namespace, "v1", "Secret", granted, names=[name])


def _applied(comp: Component,
             objects: Iterable[Mapping[str, Any]]) -> set[tuple[str | None, str, str, str]]:
    """(scope, apiVersion, kind, name) of each object the component applies, as its inventory
    lists them: its manifests (namespaces excepted: never pruned), its Flux object or Argo CD
    Application, its wired Secrets and the inventory itself."""
    named = {(_scope(o, comp.namespace), str(o["apiVersion"]), str(o["kind"]),
              str(o["metadata"]["name"])) for o in objects if o["kind"] != "Namespace"}
    named.add((comp.namespace, "v1", "ConfigMap", desired.inventory_name(comp.name)))
    named |= {(comp.namespace, "v1", kind, name)
              for kind, name in (w.target for w in comp.inputs.wirings) if kind == "Secret"}
    for gitops in (desired.flux_object(comp), desired.argocd_application(comp)):
        if gitops:
            api_version, kind, ns, name = desired.obj_id(gitops)
            named.add((ns or None, api_version, kind, name))
    return named


def _prune_by_name(c: _Collector, scope: str | None, api_version: str, kind: str,
                   name: str) -> None:
    verbs = ("get", "delete") if kind in READ_BY_NAME_KINDS else ("delete",)
    c.add(scope, api_version, kind, verbs, names=[name])


def _moved_from(c: _Collector, comp: Component, objects: Iterable[Mapping[str, Any]]) -> None:
    """What pruning a component's ``previous_namespaces`` needs, where it prunes: delete, by
    name, of its old inventory and of each object it applies in its namespace (its Flux object
    and wired Secrets included), as it left them there; get of those read by name (Secrets).
    The reads are the cluster-wide lists its kinds already have; nothing else is granted there,
    so no object can be written in a namespace the component left."""
    if not comp.prune:
        return
    named = sorted((api_version, kind, name) for scope, api_version, kind, name
                   in _applied(comp, objects) if scope == comp.namespace)
    for ns in sorted(set(comp.previous_namespaces) - {comp.namespace}):
        for api_version, kind, name in named:
            _prune_by_name(c, ns, api_version, kind, name)


def _absent(c: _Collector, comp: Component, objects: Iterable[Mapping[str, Any]]) -> None:
    """What the reconcile of an absent component needs, and nothing more: delete, by name, of
    each object its source applies (what its inventory may list: manifests, Flux object or
    Argo CD Application, wired Secrets), wherever it is, and of its inventory; get of those
    read by name (Secrets) and of the inventory; the cluster-wide list of their kinds the
    reconcile observes them with (never Secrets). No create, patch or update: the run cannot
    write an object of it, only delete. Its ``previous_namespaces`` are granted as for any
    component that moved."""
    objects = list(objects)
    for scope, api_version, kind, name in sorted(_applied(comp, objects),
                                                 key=lambda n: (n[0] or "", *n[1:])):
        _prune_by_name(c, scope, api_version, kind, name)
        if scope is not None:
            _list_across(c, api_version, kind)
    c.add(comp.namespace, "v1", "ConfigMap", ("get",), names=[desired.inventory_name(comp.name)])
    _moved_from(c, comp, objects)


# Kinds a restore drill never restores (``backups/drills.py`` skips them; the drill Role has no
# rights on them).
DRILL_SKIPPED_KINDS = frozenset({"Secret", "Role", "RoleBinding"})
# Cluster-scoped RBAC: applying these would let a spec pusher grant anything anywhere (the API
# server lets whoever may create a ClusterRoleBinding bind any ClusterRole it holds, cluster-wide).
CLUSTER_RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding"})
# Verbs that widen the holder's own power (Kubernetes RBAC docs, "Privilege escalation
# prevention and bootstrapping"), and the wildcard.
ESCALATION_VERBS = frozenset({"bind", "escalate", "impersonate", "*"})


def _refuse_cluster_binding(comp: Component, obj: Mapping[str, Any]) -> None:
    if obj["kind"] in CLUSTER_RBAC_KINDS:
        raise RbacError(
            f"component {comp.name} applies {obj['kind']}/{obj['metadata']['name']}: runs never "
            "get cluster-wide RBAC rights; a cluster admin applies cluster-scoped RBAC at "
            "deploy time (move it out of the component's manifests)")


def refuse_escalation(plan: RbacPlan) -> None:
    """Raise :class:`RbacError` on any grant that lets the account widen its own power."""
    for r in plan.all_rules():
        if ESCALATION_VERBS & set(r.verbs) or "*" in r.resources or r.api_group == "*":
            raise RbacError(f"refusing an RBAC rule that can escalate: {r}")
        if r in plan.cluster_rules and r.api_group == "rbac.authorization.k8s.io" and \
                {"rolebindings", "clusterrolebindings"} & set(r.resources) and \
                set(r.verbs) - set(READ):
            raise RbacError(f"refusing cluster-wide writes of role bindings: {r}")


def _list_across(c: _Collector, api_version: str, kind: str) -> None:
    """A reconcile lists each kind it applies once across namespaces (label-selected), which
    Kubernetes authorizes only cluster-wide. Never Secrets: that would be the right to read
    every Secret of the cluster; refused that list, the engine reads them by name."""
    if kind not in READ_BY_NAME_KINDS:
        c.add(None, api_version, kind, ("list",))


def _default_api_version(kind: str, objects_by_kind: Mapping[str, list[dict[str, Any]]]) -> str:
    applied = objects_by_kind.get(kind)
    if applied:
        return str(applied[0]["apiVersion"])
    for api, k in EXPORT_KINDS:
        if k == kind:
            return api
    raise RbacError(f"health check kind {kind!r} needs api_version: it is neither applied by "
                    "a component nor a well-known kind")


def _export_kinds(objects_by_kind: Mapping[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    """What a resources backup exports: the well-known kinds and every namespaced kind a
    component applies, never Secrets (they are exported only where a target asks)."""
    kinds = set(EXPORT_KINDS)
    for kind, objs in objects_by_kind.items():
        if kind not in CLUSTER_SCOPED_KINDS and kind != "Secret":
            kinds.update((str(o["apiVersion"]), kind) for o in objs)
    return kinds


def drill_dry_run_kinds(spec: PlatformSpec) -> frozenset[tuple[str, str]]:
    """(group, kind) of what the resources targets' ``include_kinds`` add beyond the well-known
    kinds: a drill only validates their objects by a server-side dry run. What a controller of
    an arbitrary kind starts when one is created cannot be known here, so nothing is created;
    the drill guard holds every drill namespace to it."""
    known = {(group_of(api), kind) for api, kind in EXPORT_KINDS}
    return frozenset(
        (group_of(api), kind) for t in (spec.backups.targets if spec.backups else [])
        if t.kind == "resources" for api, kind in map(split_kind, t.include_kinds)
    ) - known


def _backups(c: _Collector, spec: PlatformSpec,
             objects_by_kind: Mapping[str, list[dict[str, Any]]]) -> list[Rule]:
    """Grants for the backup targets; returns the rules of the restore-drill Role."""
    if not spec.backups:
        return []
    export_kinds = _export_kinds(objects_by_kind)
    included = {split_kind(k) for t in spec.backups.targets if t.kind == "resources"
                and t.method != "velero" for k in t.include_kinds}
    for t in spec.backups.targets:
        if t.kind == "volume" and t.namespace:
            _volume_target(c, t.namespace, t.pvc or "", t.method)
            _longhorn_target(c, spec, t)
        elif t.method == "velero":
            _velero_target(c, spec, t)
        elif t.kind == "resources":
            for ns in t.namespaces:
                for api, kind in sorted(export_kinds | set(map(split_kind, t.include_kinds))):
                    c.add(ns, api, kind, ("get", "list"))
                if t.include_secrets:
                    c.add(ns, "v1", "Secret", ("get", "list"))
    if not _drill_namespaces(spec):
        return []
    return _drill_rules(spec, export_kinds | included)


def _drill_rules(spec: PlatformSpec, kinds: set[tuple[str, str]]) -> list[Rule]:
    """The drill Role's rules for restoring objects of ``kinds`` (apiVersion, kind)."""
    # Restore drills write only inside their deploy-time namespaces (a Role there, bound
    # there), never Secrets or RBAC objects: a drill proves the objects restore, and a Secret
    # or a RoleBinding (to the drill Role, for an account of theirs) from the bucket is exactly
    # what a bucket writer would plant.
    drill = _Collector()
    dry_run = drill_dry_run_kinds(spec)
    for api, kind in sorted(kinds):
        if kind in DRILL_SKIPPED_KINDS:
            continue
        if (group_of(api), kind) in DRY_RUN_ONLY_KINDS | dry_run:
            # Only sent as a dry run (core/restore), which the API server authorizes as the
            # write itself: a server-side apply is a patch, and a create where the object is
            # new. The drill guard admits these only as dry runs.
            drill.add(None, api, kind, ("create", "patch"))
        else:
            drill.add(None, api, kind, PRUNE)
    return drill.rules(None)


def _velero_target(c: _Collector, spec: PlatformSpec, t: BackupTarget) -> None:
    """Velero reads the namespaces itself: the run only asks it, in Velero's namespace, for
    Backups, the drill's Restores and DeleteBackupRequests, and reads its storage location."""
    from platform_assets.core.graph import tool_component_of

    name = tool_component_of(spec, t)
    component = next((x for x in spec.components if x.name == name), None)
    if component is None:
        return
    ns = component.namespace
    c.add(ns, "velero.io/v1", "Backup", APPLY)
    c.add(ns, "velero.io/v1", "Restore", PRUNE)
    c.add(ns, "velero.io/v1", "DeleteBackupRequest", APPLY)
    c.add(ns, "velero.io/v1", "BackupStorageLocation", ("get",),
          names=[t.velero_settings.storage_location])


def _longhorn_target(c: _Collector, spec: PlatformSpec, t: BackupTarget) -> None:
    """Longhorn reads the volume itself: the run asks it, in Longhorn's namespace, for
    Snapshots and Backups (deleted by retention, a failed Backup before the partition is taken
    again) and the
    drill's Volume, reads the Volume behind the claim (named after its PV, so not nameable in
    advance) and the backup target by name."""
    from platform_assets.core.graph import tool_component_of
    from platform_assets.core.longhorn import drill_volume_name, files_volume_name

    name = tool_component_of(spec, t) if t.method == "longhorn" else None
    component = next((x for x in spec.components if x.name == name), None)
    if component is None:
        return
    ns, api = component.namespace, "longhorn.io/v1beta2"
    own = [drill_volume_name(t.name), files_volume_name(t.name)]
    c.add(ns, api, "Snapshot", PRUNE)  # retention deletes a night's Snapshot and Backup
    c.add(ns, api, "Backup", PRUNE)
    # Deleting a Volume deletes its data: only the run's own (the snapshot's clone, the
    # drill's restore), by name.
    c.add(ns, api, "Volume", APPLY)
    c.add(ns, api, "Volume", ("delete",), names=own)
    c.add(ns, api, "BackupTarget", ("get",), names=[t.longhorn_settings.backup_target])
    # The volume agent mounts those two through a static PV and claim of each (create cannot
    # be limited by name; patch and delete are). The PV is server-side applied: a PATCH, which
    # the API server also authorizes as create when it creates the object.
    _volume_agent(c, t.namespace or "", t.pvc or "")
    c.add(None, "v1", "PersistentVolume", ("create",))
    c.add(None, "v1", "PersistentVolume", ("patch", "delete"), names=own)


def _volume_target(c: _Collector, namespace: str, claim: str, method: str) -> None:
    c.add(namespace, "v1", "PersistentVolumeClaim", ("get",), names=[claim])
    # The PV's name is chosen by the provisioner: it cannot be named in advance.
    c.add(None, "v1", "PersistentVolume", ("get",))
    if method == "files":
        _volume_agent(c, namespace, claim)
    if method == "csi-snapshot":
        c.add(namespace, "snapshot.storage.k8s.io/v1", "VolumeSnapshot", PRUNE)
        c.add(None, "snapshot.storage.k8s.io/v1", "VolumeSnapshotContent", READ)
        c.add(None, "snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", ("get", "list"))


def _volume_agent(c: _Collector, namespace: str, claim: str) -> None:
    """The volume agent's Job in the claim's namespace: the Job, its pod and log, reading the
    agent's Secret, and the drill's scratch claims (named per night, so not nameable in
    advance)."""
    # The Job and the scratch claim are server-side applied (PATCH, plus create when new).
    c.add(namespace, "batch/v1", "Job", ("get", "list", "create", "patch", "delete"))
    c.add(namespace, "v1", "Pod", ("get", "list", "delete"))
    c.add_resource(namespace, "", "pods/log", ("get",))
    # Read only: the Secret is the deploy's (docs/backups.md).
    c.add(namespace, "v1", "Secret", ("get",), names=[SECRET_VOLUME_AGENT])
    c.add(namespace, "v1", "PersistentVolumeClaim", ("get", "create", "patch", "delete"))
    # Whether the node the claim is attached on is cordoned (a drain): the agent waits for the
    # claim's pod to move rather than being pinned where nothing is scheduled.
    c.add(None, "v1", "Node", ("get",))


def _drill_namespaces(spec: PlatformSpec) -> list[str]:
    targets = spec.backups.targets if spec.backups else []
    return sorted(drill_namespace(t.name) for t in targets if t.kind == "resources")


def _certificates(c: _Collector, spec: PlatformSpec,
                  manifests: Mapping[str, list[dict[str, Any]]]) -> None:
    declared = {(str((o.get("metadata") or {}).get("namespace") or ""), o["metadata"]["name"]): o
                for objs in manifests.values() for o in objs if o["kind"] == "Certificate"}
    for item in spec.certificates.items:
        ref = item.cert_manager
        if not ref:
            continue
        c.add(ref.namespace, "cert-manager.io/v1", "Certificate", READ)
        # Renewal (what ``cmctl renew`` does) writes the Issuing condition on the status.
        c.add_resource(ref.namespace, "cert-manager.io", "certificates/status",
                       ("get", "patch", "update"), names=[ref.name])
        secret = ref.secret or ((declared.get((ref.namespace, ref.name)) or {}).get("spec")
                                or {}).get("secretName")
        # Only the certificate's own Secret is readable; unknown name: the namespace's Secrets.
        c.add(ref.namespace, "v1", "Secret", ("get",), names=[secret] if secret else [])


def _remediation(c: _Collector, spec: PlatformSpec, namespaces: list[str]) -> None:
    for rule in spec.remediation.rules:
        component = rule_component(spec, rule)
        targets = [component.namespace] if component else namespaces
        for ns in targets:
            if rule.action == "restart_rollout":
                c.add(ns, "apps/v1", "Deployment", ("get", "patch"))
            elif rule.action == "expand_pvc":
                c.add(ns, "v1", "PersistentVolumeClaim", ("get", "patch"))
                # Whether the claim's class allows expansion, checked before the patch.
                c.add(None, "storage.k8s.io/v1", "StorageClass", ("get",))
                # A resize that stalls: does a running pod mount the claim (the kubelet grows
                # the filesystem only then)?
                c.add(ns, "v1", "Pod", ("list",))


def _cel_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


# Pod Security Admission, ``restricted`` profile, enforced (Kubernetes docs, "Enforce Pod
# Security Standards with Namespace Labels"): a restored workload that ever ran could not be
# privileged, mount host paths or run as root.
POD_SECURITY_RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted"
                           for mode in ("enforce", "audit", "warn")} | {
    "pod-security.kubernetes.io/enforce-version": "latest"}
# What a drill may restore into its namespace must stay inert; ``core/restore.for_drill`` makes
# it so, and the admission policy holds the product to it (CEL, by kind).
_INERT = [
    ("!(request.kind.kind in ['Deployment', 'StatefulSet', 'ReplicaSet', "
     "'ReplicationController']) || (has(object.spec.replicas) && object.spec.replicas == 0)",
     "workloads restored by a drill must have 0 replicas"),
    ("!(request.kind.kind in ['Job', 'CronJob']) || "
     "(has(object.spec.suspend) && object.spec.suspend == true)",
     "Jobs and CronJobs restored by a drill must be suspended"),
    ("request.kind.kind != 'DaemonSet' || "
     "(has(object.spec.template.spec.nodeSelector) && "
     + " && ".join(f"'{k}' in object.spec.template.spec.nodeSelector && "
                   f"object.spec.template.spec.nodeSelector['{k}'] == '{v}'"
                   for k, v in DRILL_NODE_SELECTOR.items()) + ")",
     "DaemonSets restored by a drill must select no node"),
    # Admission runs on dry runs too (``request.dryRun``), which is how a drill proves a Pod.
    ("request.kind.kind != 'Pod' || request.dryRun == true",
     "Pods are never created by a drill, only validated by dry run"),
    # Flux's controllers (cluster-admin) act wherever the object points; suspended, they do
    # not act at all (core/restore.FLUX_GROUPS).
    (f"!(request.kind.group in {_cel_list(FLUX_GROUPS)}) || request.dryRun == true || "
     "(has(object.spec) && has(object.spec.suspend) && object.spec.suspend == true)",
     "Flux objects restored by a drill must be suspended (spec.suspend: true)"),
    (f"!(request.kind.group + '/' + request.kind.kind in "
     f"{_cel_list(f'{g}/{k}' for g, k in sorted(DRY_RUN_ONLY_KINDS - ROUTING_KINDS) if g)}) "
     "|| request.dryRun == true",
     "Certificates, Issuers, ExternalSecrets and SecretStores are never created by a drill, "
     "only validated by dry run (their controllers act outside the namespace)"),
    # The ingress and gateway controllers would serve production's hosts from the drill
    # namespace (core/restore.ROUTING_KINDS).
    (f"!(request.kind.group + '/' + request.kind.kind in "
     f"{_cel_list(f'{g}/{k}' for g, k in sorted(ROUTING_KINDS))}) || request.dryRun == true",
     "Ingresses and Gateway API objects are never created by a drill, only validated by dry "
     "run (the cluster's ingress and gateway controllers would serve their hosts)"),
    # Validating admission sees the object after defaulting: a Service sent without ``type``
    # is a ClusterIP one here (core/restore.exposing_service).
    ("request.kind.group != '' || request.kind.kind != 'Service' || request.dryRun == true || "
     f"!has(object.spec) || (!(has(object.spec.type) && object.spec.type in "
     f"{_cel_list(EXPOSING_SERVICE_TYPES)}) && "
     "!(has(object.spec.externalIPs) && size(object.spec.externalIPs) > 0))",
     "Services of type LoadBalancer or NodePort, or with externalIPs, are never created by a "
     "drill, only validated by dry run (they reach outside the cluster)"),
]


def drill_guard(plan: RbacPlan) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding): in the drill namespaces, the run service
    account may create or update workloads only inert (0 replicas, suspended, no node), and
    Pods, what routes traffic from outside (Ingresses, the Gateway API's) and Services that
    reach outside the cluster only as dry runs, so objects planted in the backup bucket cannot
    run or serve there even if the product were wrong."""
    if not plan.drill_rules:
        return []
    user = f"system:serviceaccount:{plan.namespace}:{plan.service_account}"
    api = "admissionregistration.k8s.io/v1"
    name = f"{RUN_ROLE}-inert-drills"
    return [
        {"apiVersion": api, "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name, "labels": dict(MANAGED_BY_LABEL)},
         "spec": {
             "failurePolicy": "Fail",
             "matchConstraints": {
                 "namespaceSelector": {"matchLabels": {LABEL_DRILL: "true"}},
                 "resourceRules": _inert_rules(plan)},
             "matchConditions": [{"name": "run-service-account",
                                  "expression": f"request.userInfo.username == '{user}'"}],
             "validations": [{"expression": e, "message": m}
                             for e, m in _INERT + _dry_run_only(plan)]}},
        {"apiVersion": api, "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": name, "labels": dict(MANAGED_BY_LABEL)},
         "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ]


def _inert_rules(plan: RbacPlan) -> list[dict[str, Any]]:
    """The guard's resource rules: the built-in workloads, Pods and Services, Flux's kinds, and
    the kinds drills only dry-run (``DRY_RUN_ONLY_KINDS``, ``include_kinds``'; any version:
    the rule is about the kind)."""
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"]},
        {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["jobs", "cronjobs"]},
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["pods", "replicationcontrollers", "services"]},
        # Every kind of Flux's groups ("*" is every resource, not subresources).
        {"apiGroups": list(FLUX_GROUPS), "apiVersions": ["*"],
         "operations": ["CREATE", "UPDATE"], "resources": ["*"]}]
    by_group: dict[str, list[str]] = defaultdict(list)
    for group, kind in {*plan.drill_dry_run, *(k for k in DRY_RUN_ONLY_KINDS if k[0])}:
        by_group[group].append(plural_of(kind))
    rules += [{"apiGroups": [g], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
               "resources": sorted(plurals)} for g, plurals in sorted(by_group.items())]
    return rules


def _dry_run_only(plan: RbacPlan) -> list[tuple[str, str]]:
    if not plan.drill_dry_run:
        return []
    kinds = ", ".join(f"'{g}/{k}'" for g, k in plan.drill_dry_run)
    return [(f"!(request.kind.group + '/' + request.kind.kind in [{kinds}]) || "
             "request.dryRun == true",
             "objects of the kinds include_kinds adds are never created by a drill, only "
             "validated by dry run")]


def volume_guard(plan: RbacPlan) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding) for the one create RBAC cannot limit by
    name, PersistentVolumes (a ``method: longhorn`` target mounts its snapshot's clone and its
    drill's restore through one each): the run service account may create or update only a PV
    of Longhorn's CSI driver, named like one of those Volumes and pointing at it, never
    another volume source (a PV has exactly one) or another Volume."""
    from platform_assets.core.longhorn import CSI_DRIVER as LONGHORN_CSI

    names = sorted({n for r in plan.cluster_rules if r.api_group == "" and
                    "persistentvolumes" in r.resources and "delete" in r.verbs
                    for n in r.resource_names})
    if "create" not in plan.verbs_for("", "persistentvolumes") or not names:
        return []
    user = f"system:serviceaccount:{plan.namespace}:{plan.service_account}"
    api = "admissionregistration.k8s.io/v1"
    name = f"{RUN_ROLE}-own-volumes"
    allowed = "[" + ", ".join(f"'{n}'" for n in names) + "]"
    return [
        {"apiVersion": api, "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name, "labels": dict(MANAGED_BY_LABEL)},
         "spec": {
             "failurePolicy": "Fail",
             "matchConstraints": {"resourceRules": [
                 {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                  "resources": ["persistentvolumes"]}]},
             "matchConditions": [{"name": "run-service-account",
                                  "expression": f"request.userInfo.username == '{user}'"}],
             "validations": [
                 {"expression": f"has(object.spec.csi) && object.spec.csi.driver == "
                                f"'{LONGHORN_CSI}'",
                  "message": "the run may create only PersistentVolumes of Longhorn's CSI "
                             "driver"},
                 {"expression": f"object.metadata.name in {allowed} && "
                                "object.spec.csi.volumeHandle == object.metadata.name",
                  "message": "the run may mount only its own Longhorn Volumes (a snapshot's "
                             "clone, a drill's restore), each through the PV of its name"}]}},
        {"apiVersion": api, "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": name, "labels": dict(MANAGED_BY_LABEL)},
         "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ]


def drill_namespace_object(name: str) -> dict[str, Any]:
    """A restore drill's namespace: ours, marked as a drill's, PodSecurity ``restricted``."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {**MANAGED_BY_LABEL, LABEL_DRILL: "true",
                                                  **POD_SECURITY_RESTRICTED}}}


def _binding(name: str, namespace: str | None, role_kind: str,
             subject: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY_LABEL)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding" if namespace else "ClusterRoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                        "name": name},
            "subjects": [subject]}


def _role(name: str, namespace: str | None, rules: list[Rule]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY_LABEL)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role" if namespace else "ClusterRole", "metadata": meta,
            "rules": [r.to_dict() for r in rules]}


def to_objects(plan: RbacPlan, include_namespaces: bool = True,
               include_admission_policy: bool = True) -> list[dict[str, Any]]:
    """The ServiceAccount, ClusterRole and Roles with their bindings, as Kubernetes objects.

    With ``include_namespaces``, the component namespaces (other than the system ones), the job
    namespace and the drill namespaces come first, so the Roles can be applied before the first
    reconcile. Each drill namespace gets the drill Role, bound to the account. With
    ``include_admission_policy``, the policies of ``drill_guard`` and ``volume_guard`` come
    last.
    """
    subject = {"kind": "ServiceAccount", "name": plan.service_account,
               "namespace": plan.namespace}
    out: list[dict[str, Any]] = []
    if include_namespaces:
        for ns in sorted({*plan.namespaces, plan.namespace, *plan.namespace_rules}):
            if ns not in SYSTEM_NAMESPACES and ns not in plan.drill_namespaces:
                out.append({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": ns, "labels": dict(MANAGED_BY_LABEL)}})
        out += [drill_namespace_object(ns) for ns in plan.drill_namespaces]
    out.append({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": plan.service_account, "namespace": plan.namespace,
                             "labels": dict(MANAGED_BY_LABEL)}})
    out += [_role(RUN_ROLE, None, plan.cluster_rules),
            _binding(RUN_ROLE, None, "ClusterRole", subject)]
    for ns, rules in sorted(plan.namespace_rules.items()):
        out += [_role(RUN_ROLE, ns, rules), _binding(RUN_ROLE, ns, "Role", subject)]
    for ns in plan.drill_namespaces if plan.drill_rules else []:
        out += [_role(DRILL_ROLE, ns, plan.drill_rules), _binding(DRILL_ROLE, ns, "Role", subject)]
    if include_admission_policy:
        out.extend(drill_guard(plan) + volume_guard(plan))
    return out


def load_component_manifests(spec: PlatformSpec,
                             base_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The objects of every manifests-sourced component, read from the spec's directories."""
    out: dict[str, list[dict[str, Any]]] = {}
    for comp in spec.components:
        if comp.source.manifests:
            directory = base_dir / comp.source.manifests.path
            out[comp.name] = [m.obj for m in load_directory(directory, comp.namespace)]
    return out


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """The RBAC objects as one YAML stream with a do-not-edit header."""
    header = ("# Generated by `python -m platform_assets rbac` from the platform spec: "
              "do not edit.\n")
    return header + yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=None,
                                       width=100)


def render_rbac(spec_path: str | Path | None = None, *, service_account: str = RUN_SERVICE_ACCOUNT,
                job_namespace: str = RUN_NAMESPACE, include_namespaces: bool = True,
                include_admission_policy: bool = True) -> str:
    """The RBAC manifests (YAML) for the spec at ``spec_path`` (default ``$PLATFORM_SPEC``)."""
    from platform_assets.spec.loader import load_spec, spec_base_dir, spec_path_from_env

    path = Path(spec_path) if spec_path is not None else spec_path_from_env()
    spec = load_spec(path)
    manifests = load_component_manifests(spec, spec_base_dir(path))
    plan = derive_rbac(spec, manifests, service_account=service_account,
                       job_namespace=job_namespace)
    return to_yaml(to_objects(plan, include_namespaces=include_namespaces,
                              include_admission_policy=include_admission_policy))


def render_drill_guard(spec_path: str | Path | None = None, *,
                       service_account: str = RUN_SERVICE_ACCOUNT,
                       job_namespace: str = RUN_NAMESPACE) -> str:
    """Only the admission policies of ``drill_guard`` and ``volume_guard`` (YAML; empty when
    the spec needs neither)."""
    from platform_assets.spec.loader import load_spec, spec_base_dir, spec_path_from_env

    path = Path(spec_path) if spec_path is not None else spec_path_from_env()
    spec = load_spec(path)
    plan = derive_rbac(spec, load_component_manifests(spec, spec_base_dir(path)),
                       service_account=service_account, job_namespace=job_namespace)
    objects = drill_guard(plan) + volume_guard(plan)
    return to_yaml(objects) if objects else ""
