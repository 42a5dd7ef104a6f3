"""The table of served kinds: built-ins, and kinds derived from stored CRDs.

Discovery, routing, generation rules and patch rules all read this table; no kind is coded
elsewhere except in the simulated controllers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    generation: bool = False
    custom: bool = False
    field_labels: tuple[str, ...] = ()
    # What discovery says the type serves: the access reviews (``reviews.py``) are create-only.
    verbs: tuple[str, ...] = tuple(VERBS)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def gk(self) -> tuple[str, str]:
        """Storage key: one store per group and plural, whatever the served version."""
        return (self.group, self.plural)

    @property
    def resource(self) -> str:
        """The ``plural.group`` name used in error messages (just ``plural`` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"

    def discovery(self) -> list[dict[str, Any]]:
        main: dict[str, Any] = {
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        for sub in sorted(self.subresources):
            entry: dict[str, Any] = {"name": f"{self.plural}/{sub}", "singularName": "",
                                     "namespaced": self.namespaced, "kind": self.kind,
                                     "verbs": SUB_VERBS}
            if sub == "scale":
                entry.update(group="autoscaling", version="v1", kind="Scale")
            elif sub == "log":
                entry["verbs"] = ["get"]
            elif sub == "eviction":
                # pkg/registry/core/pod/storage/eviction.go GroupVersionKind: policy/v1.
                entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
            elif sub == "token":
                entry.update(group="authentication.k8s.io", version="v1", kind="TokenRequest",
                             verbs=["create"])
            out.append(entry)
        return out


def _rt(gv: str, kind: str, plural: str, namespaced: bool = True, short: str = "",
        subs: str = "", gen: bool = False, cats: str = "", fields: str = "",
        verbs: str = ",".join(VERBS)) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(
        group=group, version=version, kind=kind, plural=plural, singular=kind.lower(),
        namespaced=namespaced, short_names=tuple(s for s in short.split(",") if s),
        categories=tuple(c for c in cats.split(",") if c),
        subresources=frozenset(s for s in subs.split(",") if s), generation=gen,
        field_labels=tuple(f for f in fields.split(",") if f), verbs=tuple(verbs.split(",")),
    )


_POD_FIELDS = ("spec.nodeName,spec.restartPolicy,spec.schedulerName,spec.serviceAccountName,"
               "spec.hostNetwork,status.phase,status.podIP,status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind,involvedObject.namespace,involvedObject.name,"
                 "involvedObject.uid,involvedObject.apiVersion,involvedObject.resourceVersion,"
                 "involvedObject.fieldPath,reason,reportingComponent,source,type")

BUILTINS: list[ResourceType] = [
    _rt("v1", "Namespace", "namespaces", False, "ns", "status", fields="status.phase"),
    _rt("v1", "ConfigMap", "configmaps", short="cm"),
    _rt("v1", "Secret", "secrets", fields="type"),
    _rt("v1", "Service", "services", short="svc", subs="status", cats="all"),
    _rt("v1", "ServiceAccount", "serviceaccounts", short="sa", subs="token"),
    _rt("v1", "PersistentVolumeClaim", "persistentvolumeclaims", short="pvc", subs="status"),
    _rt("v1", "PersistentVolume", "persistentvolumes", False, "pv", "status"),
    _rt("v1", "Pod", "pods", short="po", subs="status,log,eviction", cats="all",
        fields=_POD_FIELDS),
    _rt("v1", "Event", "events", short="ev", fields=_EVENT_FIELDS),
    _rt("v1", "Node", "nodes", False, "no", "status", fields="spec.unschedulable"),
    _rt("v1", "Endpoints", "endpoints", short="ep"),
    _rt("v1", "LimitRange", "limitranges", short="limits"),
    _rt("v1", "ResourceQuota", "resourcequotas", short="quota", subs="status"),
    _rt("v1", "ReplicationController", "replicationcontrollers", short="rc", subs="status,scale",
        gen=True, cats="all"),
    _rt("v1", "PodTemplate", "podtemplates"),
    _rt("apps/v1", "ReplicaSet", "replicasets", short="rs", subs="status,scale", gen=True,
        cats="all"),
    _rt("apps/v1", "ControllerRevision", "controllerrevisions"),
    _rt("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    _rt("coordination.k8s.io/v1", "Lease", "leases"),
    _rt("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short="hpa",
        subs="status", cats="all"),
    # The same objects in autoscaling/v1, after v2: v2 is the preferred and storage version
    # (``conversion.py``).
    _rt("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short="hpa",
        subs="status", cats="all"),
    _rt("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", False, "pc"),
    _rt("node.k8s.io/v1", "RuntimeClass", "runtimeclasses", False),
    _rt("certificates.k8s.io/v1", "CertificateSigningRequest", "certificatesigningrequests",
        False, "csr", "status"),
    _rt("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations", False, gen=True),
    _rt("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations", False, gen=True),
    _rt("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies", False, subs="status", gen=True, cats="api-extensions"),
    _rt("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings", False, gen=True, cats="api-extensions"),
    _rt("apps/v1", "Deployment", "deployments", short="deploy", subs="status,scale", gen=True,
        cats="all"),
    _rt("apps/v1", "StatefulSet", "statefulsets", short="sts", subs="status,scale", gen=True,
        cats="all"),
    _rt("apps/v1", "DaemonSet", "daemonsets", short="ds", subs="status", gen=True, cats="all"),
    _rt("batch/v1", "Job", "jobs", subs="status", gen=True, cats="all",
        fields="status.successful"),
    _rt("batch/v1", "CronJob", "cronjobs", short="cj", subs="status", gen=True, cats="all"),
    _rt("rbac.authorization.k8s.io/v1", "Role", "roles"),
    _rt("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("networking.k8s.io/v1", "Ingress", "ingresses", short="ing", subs="status", gen=True),
    _rt("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", short="netpol", gen=True),
    _rt("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    _rt("storage.k8s.io/v1", "StorageClass", "storageclasses", False, "sc"),
    _rt("storage.k8s.io/v1", "CSIDriver", "csidrivers", False),
    _rt("storage.k8s.io/v1", "CSINode", "csinodes", False),
    _rt("storage.k8s.io/v1", "VolumeAttachment", "volumeattachments", False, subs="status"),
    _rt("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", short="pdb", subs="status",
        gen=True),
    _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions",
        False, "crd,crds", "status", gen=True),
    # Create-only and never stored: answered by the authorizer (reviews.py).
    _rt("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
        verbs="create"),
    _rt("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", False,
        verbs="create"),
]


@dataclass(frozen=True)
class CrdSpec:
    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...]
    status: bool = True
    categories: tuple[str, ...] = ()
    # additionalPrinterColumns: (name, type, jsonPath, priority)
    columns: tuple[tuple[str, str, str, int], ...] = ()


def crd_object(spec: CrdSpec) -> dict[str, Any]:
    """A CustomResourceDefinition manifest for a table entry (open schema)."""
    versions = []
    for i, v in enumerate(spec.versions):
        entry: dict[str, Any] = {
            "name": v, "served": True, "storage": i == 0,
            "schema": {"openAPIV3Schema": {"type": "object",
                                           "x-kubernetes-preserve-unknown-fields": True}},
        }
        if spec.status:
            entry["subresources"] = {"status": {}}
        if spec.columns:
            entry["additionalPrinterColumns"] = [
                {"name": n, "type": t, "jsonPath": p, **({"priority": pr} if pr else {})}
                for n, t, p, pr in spec.columns]
        versions.append(entry)
    names: dict[str, Any] = {"plural": spec.plural, "singular": spec.kind.lower(),
                             "kind": spec.kind, "listKind": f"{spec.kind}List"}
    if spec.short_names:
        names["shortNames"] = list(spec.short_names)
    if spec.categories:
        names["categories"] = list(spec.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{spec.plural}.{spec.group}"},
        "spec": {"group": spec.group, "names": names,
                 "scope": "Namespaced" if spec.namespaced else "Cluster",
                 "versions": versions},
    }


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The served ResourceTypes of a stored CRD object (empty when it is malformed)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
    if not (isinstance(group, str) and isinstance(kind, str) and isinstance(plural, str)):
        return []
    out = []
    for v in spec.get("versions") or []:
        if not isinstance(v, dict) or not v.get("served", True) or not v.get("name"):
            continue
        subs = set((v.get("subresources") or spec.get("subresources") or {}).keys())
        out.append(ResourceType(
            group=group, version=str(v["name"]), kind=kind, plural=plural,
            singular=names.get("singular") or kind.lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=frozenset(s for s in subs if s in ("status", "scale")),
            generation=True, custom=True,
        ))
    return out


@dataclass
class Registry:
    """Lookup of served types by group/version/plural, rebuilt when CRDs change."""

    _lock: threading.RLock = field(default_factory=threading.RLock)
    _by_path: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _crd_types: dict[str, list[ResourceType]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rt in BUILTINS:
            self._by_path[(rt.group, rt.version, rt.plural)] = rt

    def set_crd(self, name: str, crd: dict[str, Any] | None) -> None:
        with self._lock:
            for rt in self._crd_types.pop(name, []):
                self._by_path.pop((rt.group, rt.version, rt.plural), None)
            if crd is None:
                return
            types = [t for t in types_from_crd(crd)
                     if (t.group, t.version, t.plural) not in self._by_path]
            self._crd_types[name] = types
            for rt in types:
                self._by_path[(rt.group, rt.version, rt.plural)] = rt

    def clear_crds(self) -> None:
        with self._lock:
            for name in list(self._crd_types):
                self.set_crd(name, None)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_gk(self, group: str, plural: str) -> ResourceType | None:
        with self._lock:
            for rt in self._by_path.values():
                if rt.group == group and rt.plural == plural:
                    return rt
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        with self._lock:
            for rt in self._by_path.values():
                if rt.api_version == api_version and rt.kind == kind:
                    return rt
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions (core group is ``""``), in a stable order."""
        out: dict[str, list[str]] = {}
        for rt in self.all():
            vs = out.setdefault(rt.group, [])
            if rt.version not in vs:
                vs.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]
