"""What an exported object becomes when a restore drill re-creates it, and what of it must come
back unchanged. Pure: no Dagster, no SDK.

A real API server assigns some fields itself and refuses them from a client in another place:
a Service's ``clusterIP`` is allocated cluster-wide (re-using it in a scratch namespace is a 422
"provided IP is already allocated"), a claim's ``volumeName`` binds it to a volume that belongs
to the original, a Pod's ``nodeName`` is the scheduler's, a Job's selector is made from its uid.
Velero's restore item actions drop the same fields (``pkg/restore/service_action.go``,
``pvc_action.go``, ``job_action.go``). A drill proves the objects restore; it does not start
production copies, so workloads come back scaled to zero.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

Obj = dict[str, Any]

# metadata the server owns, never sent back
VOLATILE_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
                     "selfLink", "ownerReferences", "finalizers", "deletionTimestamp",
                     "deletionGracePeriodSeconds")

# annotations the server or a controller writes about this very object
_SERVER_ANNOTATIONS = ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
                       "volume.beta.kubernetes.io/storage-provisioner",
                       "volume.kubernetes.io/storage-provisioner",
                       "volume.kubernetes.io/selected-node",
                       "deployment.kubernetes.io/revision")

# a label no node carries, so a restored DaemonSet places no pod
DRILL_NODE_SELECTOR = {"platform-ops.io/restore-drill": "no-node-has-this"}


def _service(spec: Obj) -> None:
    for key in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
        spec.pop(key, None)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.pop("nodePort", None)


def _claim(spec: Obj) -> None:
    spec.pop("volumeName", None)


def _pod(spec: Obj) -> None:
    spec.pop("nodeName", None)


# The labels the API server puts on a Job's pod template and selector, from the Job's uid.
_JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _job(spec: Obj) -> None:
    # Unless the selector is manual, the server generates it from the new Job's uid and refuses
    # one sent with the old uid ("`selector` not auto-generated"; pkg/registry/batch/job/
    # strategy.go generateSelector, validation.ValidateGeneratedSelector). Velero's restore item
    # action drops the same (pkg/restore/actions/job_action.go).
    if spec.get("manualSelector") is True:
        return
    spec.pop("selector", None)
    template = spec.get("template")
    meta = template.get("metadata") if isinstance(template, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if isinstance(labels, dict):
        for key in _JOB_UID_LABELS:
            labels.pop(key, None)


_SERVER_ASSIGNED: Mapping[str, Callable[[Obj], None]] = {
    "Service": _service,
    "PersistentVolumeClaim": _claim,
    "Pod": _pod,
    "Job": _job,
}


# Kinds whose ``spec.replicas`` says how many pods their controller keeps running; a
# ReplicationController defaults it to 1 when absent (pkg/apis/core/v1 defaults), as the apps
# kinds do.
SCALED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")


# Flux's API groups. Flux's controllers run with cluster-admin and act wherever an object
# points (a HelmRelease's ``targetNamespace``, ``serviceAccountName`` or ``kubeConfig``, a
# Kustomization's ``targetNamespace`` and cross-namespace ``sourceRef``): a restored one that
# Flux reconciled would change the real platform. The kinds a drill restores have
# ``spec.suspend`` (helm-controller api/v2 HelmReleaseSpec.Suspend, kustomize-controller api/v1
# KustomizationSpec.Suspend, source-controller api/v1 GitRepository/HelmRepository ``Suspend``),
# and a suspended object is not reconciled at all; nor is it uninstalled or pruned when the
# drill deletes it (helm-controller skips the uninstall, kustomize-controller the garbage
# collection, of a suspended object). Other fields are left as they were: the drill proves
# they restore, and nothing reads them while suspended. A kind of these groups without the
# field loses it to the API server's pruning, and the drill guard then refuses the object.
FLUX_GROUPS = ("helm.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io",
               "source.toolkit.fluxcd.io", "notification.toolkit.fluxcd.io",
               "image.toolkit.fluxcd.io")


def group_of(api_version: str) -> str:
    """The API group of an ``apiVersion`` (``v1`` is the core group, ``""``)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _group(obj: Mapping[str, Any]) -> str:
    return group_of(str(obj.get("apiVersion") or ""))


def _suspend_flux(obj: Obj) -> None:
    if _group(obj) in FLUX_GROUPS:
        spec = obj.get("spec")
        obj["spec"] = {**(spec if isinstance(spec, dict) else {}), "suspend": True}


def _scale_to_zero(obj: Obj) -> None:
    kind = obj.get("kind")
    if kind not in (*SCALED_KINDS, "DaemonSet", "CronJob", "Job"):
        return
    spec = obj.setdefault("spec", {})
    if kind in SCALED_KINDS:
        spec["replicas"] = 0
    elif kind == "DaemonSet":
        pod_spec = spec.setdefault("template", {}).setdefault("spec", {})
        pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}),
                                    **DRILL_NODE_SELECTOR}
    elif kind in ("CronJob", "Job"):
        spec["suspend"] = True


def without_server_fields(obj: Mapping[str, Any]) -> Obj:
    """``obj`` without what the server assigns: volatile metadata, server annotations, status and
    the per-kind allocated fields."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in VOLATILE_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in _SERVER_ANNOTATIONS:
                annotations.pop(key, None)
            if not annotations:
                meta.pop("annotations")
    spec = out.get("spec")
    strip = _SERVER_ASSIGNED.get(str(out.get("kind")))
    if strip is not None and isinstance(spec, dict):
        strip(spec)
    return out


# (group, kind) of what a drill never creates, only sends as a server-side dry run
# (``dryRun=All``: validation and admission run, nothing is stored). A Pod: no field of it keeps
# it from running once created (it has no replicas, suspend or selector; a bare one, with no
# ownerReferences, is what a drill gets; owned ones are its controller's). And the kinds whose
# controllers act outside the namespace on creation and have no suspend: cert-manager issues
# for a Certificate (an ACME order to Let's Encrypt for the real domain, through the Issuer's
# account) and registers an Issuer's ACME account; the External Secrets Operator reads a
# SecretStore's provider (Vault, a cloud's secret manager) and copies an ExternalSecret's
# secrets out of it. And what routes traffic from outside the cluster (``ROUTING_KINDS``).
# Their objects are compared with the backup by nothing: the API server's acceptance is what a
# drill proves of them, and they come back exactly as exported (no inert form to compare).
# An Ingress: the cluster's ingress controller serves its hosts, production's real names
# routed to the drill's empty Services (ingress-nginx merges the rules of one host across
# namespaces, so a drill's paths would take production's), and cert-manager's ingress-shim
# orders a certificate for one annotated ``cert-manager.io/cluster-issuer``. The Gateway API's
# Gateways (a listener is a load balancer and its address) and routes do the same through a
# Gateway's controller; ReferenceGrants let another namespace's routes reach the drill's
# Services. Not exported by default (``core.rbac.EXPORT_KINDS``); listed so that a
# component applying them or a target's ``include_kinds`` gets no real one either.
ROUTING_KINDS = frozenset({
    ("networking.k8s.io", "Ingress"),
    *(("gateway.networking.k8s.io", k) for k in (
        "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute",
        "ReferenceGrant"))})
DRY_RUN_ONLY_KINDS = frozenset({
    ("", "Pod"), ("cert-manager.io", "Certificate"), ("cert-manager.io", "Issuer"),
    ("external-secrets.io", "ExternalSecret"), ("external-secrets.io", "SecretStore"),
    *ROUTING_KINDS})

# Service types that reach outside the cluster: a LoadBalancer's creates a real load balancer
# with a public IP (the IONOS cloud controller manager; ``loadBalancerIP`` or its annotations
# may ask for production's), a NodePort opens its port on every node (and an exported explicit
# nodePort is production's: "provided port is already allocated"; core.restore drops it
# anyway). A Service with ``externalIPs`` has kube-proxy take traffic for those addresses on
# every node (CVE-2020-8554: another's IPs intercepted). Such a Service is only dry-run; a
# ClusterIP one without externalIPs is restored (it reaches nothing outside the namespace).
# The API server defaults a missing ``type`` to ClusterIP (pkg/apis/core/v1 defaults.go
# SetDefaults_Service), as the drill guard, which sees the defaulted object, assumes.
EXPOSING_SERVICE_TYPES = ("LoadBalancer", "NodePort")


def exposing_service(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is a core Service that would reach outside the cluster once created:
    of an ``EXPOSING_SERVICE_TYPES`` type or with ``externalIPs``."""
    if (_group(obj), obj.get("kind")) != ("", "Service"):
        return False
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return False
    return spec.get("type") in EXPOSING_SERVICE_TYPES or bool(spec.get("externalIPs"))


def validated_by_dry_run(obj: Mapping[str, Any],
                         also: frozenset[tuple[str, str]] = frozenset()) -> bool:
    """Whether a drill only dry-runs ``obj``: creating it would run something or act outside
    the drill namespace (``DRY_RUN_ONLY_KINDS``, a Service that ``exposing_service``), or its
    kind is one of ``also`` ((group, kind): what ``include_kinds`` adds, whose controllers'
    doings are unknown). The one place this is decided; the drill guard and the drill Role
    are derived from the same constants (core.rbac)."""
    key = (_group(obj), obj.get("kind"))
    return key in DRY_RUN_ONLY_KINDS or key in also or exposing_service(obj)


def for_drill(obj: Mapping[str, Any], namespace: str) -> Obj:
    """The body a drill applies in its scratch ``namespace``: server fields gone, workloads
    (ReplicationControllers too) scaled to zero (or, for a DaemonSet, selecting no node; Jobs
    and CronJobs suspended), Flux's objects suspended."""
    out = without_server_fields(obj)
    out.setdefault("metadata", {})["namespace"] = namespace
    _scale_to_zero(out)
    _suspend_flux(out)
    return out


def drill_content(obj: Mapping[str, Any]) -> Obj:
    """What must come back as it was restored: everything but metadata, status, the type fields
    and what the server assigns on the way in."""
    return {k: v for k, v in without_server_fields(obj).items()
            if k not in ("metadata", "status", "apiVersion", "kind")}
