"""Update validation of the built-in kinds' immutable fields: what kube-apiserver v1.32 refuses
with 422 Invalid when a write changes an existing object (PUT, every patch type, server-side
apply, dry runs alike), after its ``ValidateXUpdate`` functions (pkg/apis/*/validation/
validation.go) and the registry strategies' ``ValidateUpdate`` (pkg/registry/*/*/strategy.go).

``UPDATE_VALIDATORS`` maps a kind's (group, plural) to a function of the stored object and the
object the write would store; it returns the field errors as ``(field, message)``, the message
starting with the error type as ``field.Error.ErrorBody`` prints it (``Invalid value: ...``,
``Forbidden: ...``). ``api.invalid`` turns them into the Status. Custom resources are not here:
their rules are their CRD's ``x-kubernetes-validations`` (CEL, transition rules on ``oldSelf``),
which ``celrules.py`` evaluates.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from sandbox.kubernetes import govalue, quantity

Json = dict[str, Any]
Cause = tuple[str, str]
UpdateValidator = Callable[[Json, Json], list[Cause]]

IMMUTABLE = "field is immutable"
# k8s.io/apimachinery/pkg/api/validation/objectmeta.go FieldImmutableErrorMsg, and
# pkg/apis/core/validation ValidateConfigMapUpdate / ValidateSecretUpdate.
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def _spec(obj: Json) -> Json:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _norm(v: Any) -> Any:
    """A value as apimachinery's ``Semantic.DeepEqual`` compares it: a nil and an empty map or
    slice are equal, and an absent JSON field is the Go zero value (nil for maps, slices and
    pointers), so empty containers and nulls are dropped."""
    if isinstance(v, dict):
        out = {k: _norm(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [])}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def same(a: Any, b: Any) -> bool:
    """``apiequality.Semantic.DeepEqual`` of two decoded JSON values."""
    return bool(_norm(a) == _norm(b))


def _diff(old: Json, new: Json) -> str:
    """The changed fields, after the line break with which the real messages append a go-cmp
    diff. go-cmp's text is deliberately unstable (it varies its whitespace between runs, so no
    client can parse it); the sandbox lists the changed fields as ``-``/``+`` lines instead."""
    lines = []
    for key in sorted(set(_norm(old)) | set(_norm(new))):
        o, n = _norm(old).get(key), _norm(new).get(key)
        if o != n:
            if o is not None:
                lines.append(f"-\t{key}: {json.dumps(o, sort_keys=True)}")
            if n is not None:
                lines.append(f"+\t{key}: {json.dumps(n, sort_keys=True)}")
    return "\n".join(lines)


def _immutable(path: str, old: Any, new: Any, rendered: str) -> list[Cause]:
    """apimachinery ``ValidateImmutableField``: Invalid with the new value when it changed."""
    if same(old, new):
        return []
    return [(path, f"Invalid value: {rendered}: {IMMUTABLE}")]


def selector_immutable(old: Json, new: Json) -> list[Cause]:
    """apps/v1 Deployment, ReplicaSet and DaemonSet: ``spec.selector`` may not change
    (pkg/registry/apps/{deployment,replicaset,daemonset}/strategy.go ``ValidateUpdate``,
    "disallow mutation of selector" for every apps group version but the removed betas)."""
    o, n = _spec(old).get("selector"), _spec(new).get("selector")
    return _immutable("spec.selector", o, n, govalue.label_selector(n))


# pkg/apis/apps/validation ValidateStatefulSetUpdate (v1.32): the fields an update may change.
STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                       "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
STATEFULSET_FORBIDDEN = (
    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
    "'minReadySeconds' are forbidden")


def statefulset_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/apps/validation ValidateStatefulSetUpdate: the spec apart from the mutable
    fields must be unchanged (volumeClaimTemplates, serviceName, selector, podManagementPolicy,
    revisionHistoryLimit...)."""
    rest_old = {k: v for k, v in _spec(old).items() if k not in STATEFULSET_MUTABLE}
    rest_new = {k: v for k, v in _spec(new).items() if k not in STATEFULSET_MUTABLE}
    return [] if same(rest_old, rest_new) else [("spec", STATEFULSET_FORBIDDEN)]


def _mutable_scheduling_template(old_t: Json, new_t: Json) -> Json:
    """pkg/apis/batch/validation validatePodTemplateUpdate with AllowMutableSchedulingDirectives:
    the old template with the new one's node affinity, node selector, tolerations, scheduling
    gates, labels and annotations, so only other changes count."""
    out = copy.deepcopy(old_t)
    old_spec, new_spec = out.setdefault("spec", {}), new_t.get("spec") or {}
    new_aff, old_aff = new_spec.get("affinity"), old_spec.get("affinity")
    if new_aff is None and old_aff is not None:
        rest = {k: v for k, v in old_aff.items() if k != "nodeAffinity"}
        if _norm(rest):
            old_spec["affinity"] = rest
        else:
            old_spec.pop("affinity", None)
    elif new_aff is not None and old_aff is None:
        old_spec["affinity"] = {"nodeAffinity": new_aff.get("nodeAffinity")}
    elif new_aff is not None and old_aff is not None:
        old_spec["affinity"] = {**old_aff, "nodeAffinity": new_aff.get("nodeAffinity")}
    for key in ("nodeSelector", "tolerations", "schedulingGates"):
        old_spec[key] = new_spec.get(key)
    meta = out.setdefault("metadata", {})
    new_meta = new_t.get("metadata") or {}
    for key in ("labels", "annotations"):
        meta[key] = new_meta.get(key)
    return out


def job_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/batch/validation ValidateJobSpecUpdate (v1.32), with the options of
    pkg/registry/batch/job/strategy.go: completions (elastic only for Indexed Jobs, in tandem
    with parallelism), selector, template (its scheduling directives only while the Job is
    suspended and never started), completionMode, podFailurePolicy, backoffLimitPerIndex,
    managedBy and successPolicy are immutable."""
    o, n = _spec(old), _spec(new)
    causes: list[Cause] = []
    indexed = n.get("completionMode") == "Indexed"
    if not indexed:
        causes += _immutable("spec.completions", o.get("completions"), n.get("completions"),
                             govalue.value(n.get("completions")))
    elif n.get("completions") is not None and not same(o.get("completions"),
                                                         n.get("completions")):
        if n.get("completions") != n.get("parallelism"):
            causes.append(("spec.completions", f"Invalid value: {n['completions']}: can only "
                           "be modified in tandem with spec.parallelism"))
    causes += _immutable("spec.selector", o.get("selector"), n.get("selector"),
                         govalue.label_selector(n.get("selector")))
    old_t, new_t = o.get("template") or {}, n.get("template") or {}
    started = bool((old.get("status") or {}).get("startTime"))
    if o.get("suspend") is True and not started:
        old_t = _mutable_scheduling_template(old_t, new_t)
    causes += _immutable("spec.template", old_t, new_t,
                         govalue.abbreviated("core.PodTemplateSpec", new_t))
    causes += _immutable("spec.completionMode", o.get("completionMode"),
                         n.get("completionMode"), govalue.value(n.get("completionMode")))
    causes += _immutable("spec.podFailurePolicy", o.get("podFailurePolicy"),
                         n.get("podFailurePolicy"),
                         govalue.abbreviated("batch.PodFailurePolicy", n.get("podFailurePolicy")))
    causes += _immutable("spec.backoffLimitPerIndex", o.get("backoffLimitPerIndex"),
                         n.get("backoffLimitPerIndex"),
                         govalue.value(n.get("backoffLimitPerIndex")))
    causes += _immutable("spec.managedBy", o.get("managedBy"), n.get("managedBy"),
                         govalue.value(n.get("managedBy")))
    causes += _immutable("spec.successPolicy", o.get("successPolicy"), n.get("successPolicy"),
                         govalue.abbreviated("batch.SuccessPolicy", n.get("successPolicy")))
    return causes


def _cluster_ips(spec: Json) -> list[str]:
    ips = spec.get("clusterIPs")
    if isinstance(ips, list) and ips:
        return [str(i) for i in ips]
    return [str(spec["clusterIP"])] if spec.get("clusterIP") else []


def _effective_cluster_ips(old_spec: Json, new_spec: Json) -> list[str]:
    """The new ``clusterIPs`` as validation sees them, after the strategy's PrepareForUpdate
    (pkg/registry/core/service/strategy.go patchAllocatedValues keeps the old ones when the
    update omits them; NormalizeClusterIPs follows a changed ``clusterIP`` into
    ``clusterIPs[0]``)."""
    ips = _cluster_ips(new_spec)
    if not ips:
        return _cluster_ips(old_spec)
    primary = new_spec.get("clusterIP")
    old_ips = _cluster_ips(old_spec)
    if primary and primary != old_spec.get("clusterIP") and old_ips and \
            isinstance(new_spec.get("clusterIPs"), list) and new_spec["clusterIPs"] and \
            new_spec["clusterIPs"][0] == old_ips[0]:
        ips[0] = str(primary)
    return ips


def service_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidateServiceUpdate (v1.32): validateUpgradeDowngradeClusterIPs
    (a cluster IP may not change once set, unless the Service is or becomes ExternalName or
    stays headless; a secondary IP is released only with ipFamilyPolicy SingleStack),
    validateUpgradeDowngradeIPFamilies, and validateLoadBalancerClassField."""
    o, n = _spec(old), _spec(new)
    causes: list[Cause] = []
    external = "ExternalName" in (o.get("type"), n.get("type"))
    old_ips, new_ips = _cluster_ips(o), _effective_cluster_ips(o, n)
    shown = govalue.string_list(new_ips)
    old_headless = bool(old_ips) and old_ips[0] == "None"
    new_headless = bool(new_ips) and new_ips[0] == "None"
    if not external and not (old_headless and new_headless):
        if len(old_ips) == len(new_ips):
            causes += [(f"spec.clusterIPs[{i}]", f"Invalid value: {shown}: may not change once "
                        "set") for i, ip in enumerate(old_ips) if ip != new_ips[i]]
        elif len(old_ips) > len(new_ips):
            if not new_ips:
                causes.append(("spec.clusterIPs[0]", f"Invalid value: {shown}: primary "
                               "clusterIP can not be unset"))
            elif new_ips[0] != old_ips[0]:
                causes.append(("spec.clusterIPs[0]", f"Invalid value: {shown}: may not change "
                               "once set"))
            if len(new_ips) == 1 and n.get("ipFamilyPolicy") != "SingleStack":
                causes.append(("spec.clusterIPs[0]", f"Invalid value: {shown}: `ipFamilyPolicy` "
                               "must be set to 'SingleStack' when releasing the secondary "
                               "clusterIP"))
        elif old_ips and new_ips[0] != old_ips[0]:
            causes.append(("spec.clusterIPs[0]", f"Invalid value: {shown}: may not change once "
                           "set"))
    if not external and old_headless == new_headless and not new_headless:
        causes += _ip_families(o, n, new_ips)
    if o.get("type") == "LoadBalancer" and n.get("type") == "LoadBalancer" and \
            o.get("loadBalancerClass") != n.get("loadBalancerClass"):
        causes.append(("spec.loadBalancerClass", "Invalid value: "
                       f"{govalue.value(n.get('loadBalancerClass'))}: may not change once set"))
    return causes


def _ip_families(o: Json, n: Json, new_ips: list[str]) -> list[Cause]:
    """validateUpgradeDowngradeIPFamilies for a Service that is not headless before or after."""
    old_f = [str(f) for f in o.get("ipFamilies") or []]
    new_f = [str(f) for f in n.get("ipFamilies") or []]
    families = govalue.string_list(new_f, "[]core.IPFamily")
    ips = govalue.string_list(new_ips)
    if len(old_f) == len(new_f):
        return [("spec.ipFamilies[0]", f"Invalid value: {families}: may not change once set")
                for i, f in enumerate(old_f) if f != new_f[i]]
    causes: list[Cause] = []
    if len(old_f) > len(new_f):
        if new_f and new_f[0] != old_f[0]:
            causes.append(("spec.ipFamilies[0]", f"Invalid value: {ips}: may not change once "
                           "set"))
        if len(new_f) == 1 and n.get("ipFamilyPolicy") != "SingleStack":
            causes.append(("spec.clusterIPs[0]", f"Invalid value: {ips}: `ipFamilyPolicy` must "
                           "be set to 'SingleStack' when releasing the secondary ipFamily"))
    elif old_f and new_f[0] != old_f[0]:
        causes.append(("spec.ipFamilies[0]", f"Invalid value: {ips}: may not change once set"))
    return causes


_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
PVC_FORBIDDEN = ("Forbidden: spec is immutable after creation except resources.requests and "
                 "volumeAttributesClassName for bound claims")


def _storage(obj: Json, *path: str) -> Fraction:
    cur: Any = obj
    for key in path:
        cur = cur.get(key) if isinstance(cur, dict) else None
    try:
        return quantity.parse(str(cur))[0] if cur is not None else Fraction(0)
    except quantity.QuantityError:
        return Fraction(0)


def pvc_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate (v1.32, with
    RecoverVolumeExpansionFailure, beta and on): the spec is immutable but for ``volumeName``
    once (the binder sets it), a storage class upgraded from the beta annotation or set where
    there was none (retroactive default class), and, for a Bound claim, ``resources.requests``
    and ``volumeAttributesClassName``; the storage request may shrink only while above
    ``status.capacity``; ``volumeMode`` is immutable."""
    o, n = copy.deepcopy(_spec(old)), copy.deepcopy(_spec(new))
    causes: list[Cause] = []
    if not o.get("volumeName"):
        o["volumeName"] = n.get("volumeName")
    old_ann = (old.get("metadata") or {}).get("annotations") or {}
    new_ann = (new.get("metadata") or {}).get("annotations") or {}
    old_class, new_class = _spec(old).get("storageClassName"), _spec(new).get("storageClassName")
    upgraded = (_BETA_CLASS in old_ann and _BETA_CLASS in new_ann and old_class is None
                and old_ann[_BETA_CLASS] == new_ann[_BETA_CLASS] == new_class)
    if upgraded:
        n.pop("storageClassName", None)
    else:
        if old_ann.get(_BETA_CLASS) != new_ann.get(_BETA_CLASS):
            causes.append((f"metadata.annotations.{_BETA_CLASS}", "Invalid value: "
                           f"{govalue.quote(str(new_ann.get(_BETA_CLASS) or ''))}: {IMMUTABLE}"))
        if old_class is None and _BETA_CLASS not in old_ann and new_class is not None:
            n.pop("storageClassName", None)
    bound = ((new.get("status") or {}).get("phase")) == "Bound"
    requests = (n.get("resources") or {}).get("requests")
    if bound and isinstance(requests, dict):
        old_storage = ((o.get("resources") or {}).get("requests") or {}).get("storage")
        if old_storage is None:
            requests.pop("storage", None)
        else:
            requests["storage"] = old_storage
    if bound and n.get("volumeAttributesClassName") is not None:
        n["volumeAttributesClassName"] = o.get("volumeAttributesClassName")
    if not same(o, n):
        causes.append(("spec", f"{PVC_FORBIDDEN}\n{_diff(o, n)}"))
    new_size = _storage(new, "spec", "resources", "requests", "storage")
    old_size = _storage(old, "spec", "resources", "requests", "storage")
    if new_size < old_size and new_size <= _storage(old, "status", "capacity", "storage"):
        causes.append(("spec.resources.requests.storage",
                       "Forbidden: field can not be less than status.capacity"))
    causes += _immutable("volumeMode", _spec(old).get("volumeMode"),
                         _spec(new).get("volumeMode"),
                         govalue.value(_spec(new).get("volumeMode")))
    return causes


# k8s.io/api core/v1 PersistentVolumeSource: the inline volume source of a PV's spec.
PV_SOURCES = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd",
              "iscsi", "cinder", "cephfs", "fc", "flocker", "flexVolume", "azureFile",
              "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
              "scaleIO", "local", "storageos", "csi")


def pv_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidatePersistentVolumeUpdate (v1.32): the volume source is
    immutable (a CSI source may gain a ``controllerExpandSecretRef`` it lacked), ``volumeMode``
    too, and a node affinity once set."""
    o, n = _spec(old), _spec(new)
    old_src = {k: o.get(k) for k in PV_SOURCES}
    new_src = copy.deepcopy({k: n.get(k) for k in PV_SOURCES})
    old_csi, new_csi = old_src.get("csi"), new_src.get("csi")
    if isinstance(old_csi, dict) and isinstance(new_csi, dict) and \
            old_csi.get("controllerExpandSecretRef") is None:
        new_csi.pop("controllerExpandSecretRef", None)
    causes: list[Cause] = []
    if not same(old_src, new_src):
        causes.append(("spec.persistentvolumesource", "Forbidden: spec.persistentvolumesource "
                       f"is immutable after creation\n{_diff(old_src, new_src)}"))
    causes += _immutable("volumeMode", o.get("volumeMode"), n.get("volumeMode"),
                         govalue.value(n.get("volumeMode")))
    if o.get("nodeAffinity") is not None:
        causes += _immutable("nodeAffinity", o.get("nodeAffinity"), n.get("nodeAffinity"),
                             govalue.abbreviated("core.VolumeNodeAffinity",
                                                 n.get("nodeAffinity")))
    return causes


def _immutable_data(old: Json, new: Json, fields: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    causes: list[Cause] = []
    if new.get("immutable") is not True:
        causes.append(("immutable", f"Forbidden: {IMMUTABLE_WHEN_SET}"))
    causes += [(f, f"Forbidden: {IMMUTABLE_WHEN_SET}") for f in fields
               if not same({"v": old.get(f)}, {"v": new.get(f)})]
    return causes


def configmap_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidateConfigMapUpdate: once ``immutable: true``, it stays so
    and ``data`` and ``binaryData`` may not change."""
    return _immutable_data(old, new, ("data", "binaryData"))


def secret_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidateSecretUpdate: ``type`` is always immutable; once
    ``immutable: true``, it stays so and ``data`` may not change (``stringData`` is folded
    into ``data`` before validation)."""
    causes = _immutable("type", old.get("type"), new.get("type"),
                        govalue.value(new.get("type")))
    return causes + _immutable_data(old, new, ("data",))


def storageclass_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/storage/validation ValidateStorageClassUpdate: parameters, provisioner and
    reclaimPolicy Forbidden, volumeBindingMode immutable (both compared as stored, i.e.
    defaulted: pkg/apis/storage/v1/defaults.go sets Delete and Immediate)."""
    causes: list[Cause] = []
    if not same({"v": old.get("parameters")}, {"v": new.get("parameters")}):
        causes.append(("parameters", "Forbidden: updates to parameters are forbidden."))
    if old.get("provisioner") != new.get("provisioner"):
        causes.append(("provisioner", "Forbidden: updates to provisioner are forbidden."))
    if old.get("reclaimPolicy") != new.get("reclaimPolicy"):
        causes.append(("reclaimPolicy", "Forbidden: updates to reclaimPolicy are forbidden."))
    old_mode, new_mode = old.get("volumeBindingMode"), new.get("volumeBindingMode")
    causes += _immutable("volumeBindingMode", old_mode, new_mode, govalue.value(new_mode))
    return causes


def _role_ref(ref: Any) -> tuple[str, str, str]:
    ref = ref if isinstance(ref, dict) else {}
    return (str(ref.get("apiGroup") or ""), str(ref.get("kind") or ""),
            str(ref.get("name") or ""))


def rolebinding_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/rbac/validation ValidateRoleBindingUpdate / ValidateClusterRoleBindingUpdate:
    ``roleRef`` may not change (delete and recreate the binding)."""
    if _role_ref(old.get("roleRef")) == _role_ref(new.get("roleRef")):
        return []
    group, kind, name = _role_ref(new.get("roleRef"))
    shown = govalue.struct("rbac.RoleRef", [("APIGroup", govalue.quote(group)),
                                           ("Kind", govalue.quote(kind)),
                                           ("Name", govalue.quote(name))])
    return [("roleRef", f"Invalid value: {shown}: cannot change roleRef")]


# pkg/apis/core/validation ValidatePodUpdate (v1.32, InPlacePodVerticalScaling off).
POD_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)")


def _containers_changed(o: Json, n: Json, key: str) -> list[Cause]:
    """ValidateContainerUpdates: no container added or removed, every image set."""
    old_c, new_c = o.get(key) or [], n.get(key) or []
    if len(old_c) != len(new_c):
        return [(f"spec.{key}", "Forbidden: pod updates may not add or remove containers")]
    return [(f"spec.{key}[{i}].image", "Required value") for i, c in enumerate(new_c)
            if isinstance(c, dict) and not c.get("image")]


def _active_deadline(o: Json, n: Json) -> tuple[list[Cause], bool]:
    """ValidatePodUpdate's activeDeadlineSeconds: set from nil, or lowered, never unset (the
    second value says validation stops here, as the source returns early)."""
    old_ads, new_ads = o.get("activeDeadlineSeconds"), n.get("activeDeadlineSeconds")
    if new_ads is None:
        if old_ads is None:
            return [], False
        return [("spec.activeDeadlineSeconds", 'Invalid value: "null": must not update from '
                 "a positive integer to nil value")], False
    if not isinstance(new_ads, int) or new_ads < 0 or new_ads > 2**31 - 1:
        return [("spec.activeDeadlineSeconds", f"Invalid value: {new_ads}: must be between 0 "
                 "and 2147483647, inclusive")], True
    if old_ads is not None and old_ads < new_ads:
        return [("spec.activeDeadlineSeconds", f"Invalid value: {new_ads}: must be less than "
                 "or equal to previous value")], True
    return [], False


def _tolerations_and_gates(o: Json, n: Json) -> list[Cause]:
    """validateOnlyAddedTolerations and validateOnlyDeletedSchedulingGates."""
    causes: list[Cause] = []
    new_tol = [t for t in n.get("tolerations") or [] if isinstance(t, dict)]
    for tol in o.get("tolerations") or []:
        if isinstance(tol, dict) and not any(
                same({**tol, "tolerationSeconds": t.get("tolerationSeconds")}, t)
                for t in new_tol):
            causes.append(("spec.tolerations", "Forbidden: existing toleration can not be "
                           "modified except its tolerationSeconds"))
            break
    old_gates = [g.get("name") for g in o.get("schedulingGates") or [] if isinstance(g, dict)]
    for g in n.get("schedulingGates") or []:
        if isinstance(g, dict) and g.get("name") not in old_gates:
            causes.append(("spec.schedulingGates", "Forbidden: only deletion is allowed, but "
                           f"found new scheduling gate '{g.get('name')}'"))
            break
    return causes


def _munged_pod_spec(o: Json, n: Json) -> Json:
    """The new spec with the fields an update may change set back to the old values."""
    munged = copy.deepcopy(n)
    for key in ("containers", "initContainers"):
        old_c = o.get(key) or []
        for i, c in enumerate(munged.get(key) or []):
            if isinstance(c, dict) and i < len(old_c) and isinstance(old_c[i], dict):
                c["image"] = old_c[i].get("image")
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged[key] = o.get(key)
    old_grace = o.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and \
            munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def pod_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidatePodUpdate: only images, a lowered or newly set
    activeDeadlineSeconds, added tolerations (or a changed tolerationSeconds), removed
    scheduling gates, and terminationGracePeriodSeconds from negative to 1 may change."""
    o, n = _spec(old), _spec(new)
    for key in ("containers", "initContainers"):
        stop = _containers_changed(o, n, key)
        if stop:
            return stop
    causes, done = _active_deadline(o, n)
    if done:
        return causes
    causes += _tolerations_and_gates(o, n)
    munged = _munged_pod_spec(o, n)
    if not same(munged, o):
        causes.append(("spec", f"{POD_FORBIDDEN}\n{_diff(o, munged)}"))
    return causes


def _field_immutable(path: str, default: Any = None) -> UpdateValidator:
    """A validator of one scalar field under ``ValidateImmutableField`` (compared as the
    server defaults it when ``default`` is given)."""
    keys = path.split(".")

    def get(obj: Json) -> Any:
        cur: Any = obj
        for key in keys:
            cur = cur.get(key) if isinstance(cur, dict) else None
        return default if cur is None else cur

    def check(old: Json, new: Json) -> list[Cause]:
        return _immutable(path, get(old), get(new), govalue.value(get(new)))

    check.__doc__ = f"``{path}`` is immutable."
    return check


def priorityclass_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/scheduling/validation ValidatePriorityClassUpdate: ``value`` Forbidden to
    change, ``preemptionPolicy`` immutable (defaulted to PreemptLowerPriority)."""
    causes: list[Cause] = []
    if old.get("value") != new.get("value"):
        causes.append(("value", "Forbidden: may not be changed in an update."))
    return causes + _field_immutable("preemptionPolicy", "PreemptLowerPriority")(old, new)


def volumeattachment_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/storage/validation ValidateVolumeAttachmentUpdate: the spec is immutable."""
    return _immutable("spec", _spec(old), _spec(new),
                      govalue.abbreviated("storage.VolumeAttachmentSpec", _spec(new)))


NODE_POD_CIDR = 'Forbidden: node updates may not change podCIDR except from "" to valid'
NODE_PROVIDER_ID = 'Forbidden: node updates may not change providerID except from "" to valid'


def node_update(old: Json, new: Json) -> list[Cause]:
    """pkg/apis/core/validation ValidateNodeUpdate: ``podCIDRs`` and ``providerID`` are set
    once (from empty) and never changed."""
    o, n = _spec(old), _spec(new)
    causes: list[Cause] = []
    old_cidrs, new_cidrs = o.get("podCIDRs") or [], n.get("podCIDRs") or []
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            causes.append(("spec.podCIDRs", NODE_POD_CIDR))
        else:
            causes += [("spec.podCIDRs", NODE_POD_CIDR)
                       for a, b in zip(old_cidrs, new_cidrs, strict=True) if a != b]
    if o.get("providerID") and o.get("providerID") != n.get("providerID"):
        causes.append(("spec.providerID", NODE_PROVIDER_ID))
    return causes


UPDATE_VALIDATORS: dict[tuple[str, str], UpdateValidator] = {
    ("apps", "deployments"): selector_immutable,
    ("apps", "replicasets"): selector_immutable,
    ("apps", "daemonsets"): selector_immutable,
    ("apps", "statefulsets"): statefulset_update,
    ("batch", "jobs"): job_update,
    ("", "services"): service_update,
    ("", "persistentvolumeclaims"): pvc_update,
    ("", "persistentvolumes"): pv_update,
    ("", "configmaps"): configmap_update,
    ("", "secrets"): secret_update,
    ("", "pods"): pod_update,
    ("storage.k8s.io", "storageclasses"): storageclass_update,
    ("rbac.authorization.k8s.io", "rolebindings"): rolebinding_update,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): rolebinding_update,
    ("", "nodes"): node_update,
    # pkg/apis/networking/validation ValidateIngressClassUpdate.
    ("networking.k8s.io", "ingressclasses"): _field_immutable("spec.controller"),
    # pkg/apis/discovery/validation ValidateEndpointSliceUpdate.
    ("discovery.k8s.io", "endpointslices"): _field_immutable("addressType"),
    # pkg/apis/node/validation ValidateRuntimeClassUpdate.
    ("node.k8s.io", "runtimeclasses"): _field_immutable("handler"),
    ("scheduling.k8s.io", "priorityclasses"): priorityclass_update,
    ("storage.k8s.io", "volumeattachments"): volumeattachment_update,
}


def update_causes(gk: tuple[str, str], old: Json, new: Json) -> list[Cause]:
    """The field errors of an update of a built-in kind (empty when it may be stored)."""
    check = UPDATE_VALIDATORS.get(gk)
    return check(old, new) if check is not None else []
