"""Object semantics shared by the HTTP handlers and the simulated controllers: create, update,
patch, server-side apply and delete, with the API server's metadata, generation, finalizer and
propagation rules. Errors are raised as ApiError carrying a ``Status`` body.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.kubernetes import (
    celrules,
    conversion,
    govalue,
    immutable,
    jobs,
    schema,
    ssa,
    storage,
    vap,
)
from sandbox.kubernetes.patch import PatchError, clone, json_patch, merge_patch, strategic_merge
from sandbox.kubernetes.podsecurity import PodSecurityAdmission
from sandbox.kubernetes.registry import Registry, ResourceType
from sandbox.kubernetes.store import Store

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (APPLY, MERGE, STRATEGIC, JSON_PATCH)

# The service CIDR of IONOS managed Kubernetes clusters' API servers (kube-apiserver
# --service-cluster-ip-range); the first addresses are the apiserver's and DNS's.
SERVICE_CIDR = ipaddress.ip_network("10.233.0.0/18")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_LABEL_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PATH_SEGMENT_RE = re.compile(r"^(?!\.\.?$)[^/%]+$")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_IMMUTABLE_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "name", "namespace")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(n))


class ApiError(Exception):
    """An API failure answered with a Status body and the same HTTP code."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Failure", "message": self.message,
                               "reason": self.reason, "code": self.code}
        if self.details is not None:
            out["details"] = self.details
        return out


class ConflictStatus(ApiError):
    def __init__(self, body: dict[str, Any]):
        super().__init__(409, "Conflict", body["message"], body.get("details"))


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.resource} "{name}" not found',
                    {"name": name, "group": rt.group, "kind": rt.plural})


# k8s.io/apimachinery/pkg/util/validation/field/errors.go: each ErrorType's text, which starts
# the error's body (``ErrorBody``), and the cause type (``metav1.CauseType``) it is reported as.
_CAUSE_TYPES = (("Invalid value", "FieldValueInvalid"), ("Forbidden", "FieldValueForbidden"),
                ("Required value", "FieldValueRequired"),
                ("Unsupported value", "FieldValueNotSupported"),
                ("Duplicate value", "FieldValueDuplicate"), ("Too long", "FieldValueTooLong"),
                ("Too many", "FieldValueTooMany"), ("Not found", "FieldValueNotFound"),
                ("Internal error", "InternalError"))


def _cause_type(message: str) -> str:
    for text, cause in _CAUSE_TYPES:
        if message.startswith(text):
            return cause
    return "FieldValueInvalid"


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid with ``causes`` as (field, message), as apimachinery ``errors.NewInvalid``
    builds it: the message is ``<Kind>.<group> "<name>" is invalid: `` and the aggregate of
    the field errors (one alone, several as ``[a, b]`` without repeats), each cause typed by
    its message's error type, and an empty name left out of the details."""
    texts = list(dict.fromkeys(f"{f}: {m}" for f, m in causes))
    text = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    details: dict[str, Any] = {"name": name} if name else {}
    details.update({"group": rt.group, "kind": rt.kind,
                    "causes": [{"reason": _cause_type(m), "message": m, "field": f}
                               for f, m in causes]})
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details)


_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
_QUALIFIED_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and "
                  "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                  "'my.name',  or '123-abc', regex used for validation is "
                  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def label_causes(path: str, labels: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in labels.items():
        if not isinstance(k, str) or not isinstance(v, str):
            continue
        prefix, _, name_part = k.rpartition("/")
        if not name_part or len(name_part) > 63 or not _LABEL_VALUE_RE.match(name_part) or (
                prefix and (len(prefix) > 253 or not _NAME_RE.match(prefix))):
            out.append((path, f'Invalid value: "{k}": {_QUALIFIED_MSG}'))
        if len(v) > 63:
            out.append((f"{path}", f'Invalid value: "{v}": must be no more than 63 characters'))
        elif not _LABEL_VALUE_RE.match(v):
            out.append((f"{path}", f'Invalid value: "{v}": {_LABEL_VALUE_MSG}'))
    return out


def _spec_fields(rt: ResourceType) -> dict[str, Any]:
    name = schema.model_of(rt.api_version, rt.kind)
    models = schema.builtin_schemas()["models"]
    spec_type = (models.get(name or "", {}).get("spec") or [""])[0]
    fields = models.get(spec_type, {})
    # Only label selectors (ReplicationController's plain map selector is defaulted instead).
    if (fields.get("selector") or [""])[0] != "V1LabelSelector":
        return {}
    return dict(fields)


def _selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op, values = str(expr.get("key")), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _replication_controller_causes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """ValidateReplicationControllerSpec and ValidatePodTemplateSpecForRC
    (pkg/apis/core/validation/validation.go): non-negative replicas and minReadySeconds, a
    non-empty selector (a plain map, defaulted from the template's labels) matching the
    template's labels, a template whose restartPolicy is Always and that sets no
    activeDeadlineSeconds."""
    causes: list[tuple[str, str]] = []
    for fld in ("replicas", "minReadySeconds"):
        value = spec.get(fld)
        if isinstance(value, int) and value < 0:
            causes.append((f"spec.{fld}",
                           f"Invalid value: {value}: must be greater than or equal to 0"))
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        causes.append(("spec.selector", "Required value"))
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*causes, ("spec.template", "Required value")]
    tlabels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(selector, dict) and selector and isinstance(tlabels, dict) and any(
            tlabels.get(k) != v for k, v in selector.items()):
        rendered = ", ".join(f'"{k}":"{v}"' for k, v in sorted(tlabels.items()))
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: map[string]string{{{rendered}}}: `selector` does not "
                       "match template `labels`"))
    pod = template.get("spec")
    if not isinstance(pod, dict):
        pod = {}
    policy = pod.get("restartPolicy", "Always")
    if policy != "Always":
        causes.append(("spec.template.spec.restartPolicy",
                       f'Unsupported value: "{policy}": supported values: "Always"'))
    if pod.get("activeDeadlineSeconds") is not None:
        causes.append(("spec.template.spec.activeDeadlineSeconds", "Forbidden: "
                       "activeDeadlineSeconds in ReplicationController is not Supported"))
    return causes


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _generation_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """What bumps ``metadata.generation``: everything but metadata, and but status only where
    status is a subresource (a custom resource without one bumps on status changes too)."""
    if rt.custom and not rt.has_status:
        return {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    return spec_part(obj)


@dataclass
class FieldValidation:
    """A request's ``fieldValidation`` (Strict, Warn or Ignore; Warn is the server's default)
    and the warnings its write collects for the ``Warning`` response header."""

    mode: str = "Warn"
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UserInfo:
    """Who sent a request, as authentication sets it (authentication.k8s.io/v1 UserInfo)."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        return out


# The kubeconfig's token: the cluster's admin (the sandbox's name; system:masters as a
# kubeadm or managed cluster's admin credential has).
ADMIN = UserInfo("cluster-admin", ("system:masters", "system:authenticated"))
# The simulated controllers' own writes (a Deployment's ReplicaSet, a ReplicaSet's Pods).
CONTROLLERS = UserInfo("system:kube-controller-manager", ("system:authenticated",))


@dataclass
class AdmissionRequest:
    """One write as admission plugins see it (the fields of an ``AdmissionReview`` request).

    ``obj`` is the object about to be stored; a mutating plugin changes it in place. For DELETE
    it is None and ``old`` is the object being deleted.
    """

    rt: ResourceType
    operation: str  # CREATE, UPDATE, DELETE
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    subresource: str
    manager: str
    dry_run: bool
    user: UserInfo = CONTROLLERS
    # Warnings for the response's ``Warning`` header (a policy binding's Warn action).
    warnings: list[str] = field(default_factory=list)


class Admission(Protocol):
    """An admission plugin: mutate ``req.obj`` in place, or raise ApiError to deny."""

    def __call__(self, req: AdmissionRequest) -> None: ...


class ApiServer:
    """The object layer: every write goes through ``_commit``.

    Requests from clients pass admission as in kube-apiserver: ``mutating_admission`` plugins
    run first (in order, on the object after defaulting), then validation, then
    ``validating_admission`` plugins. The simulated controllers' own writes do not pass through
    admission.
    """

    def __init__(self, registry: Registry, store: Store):
        self.registry = registry
        self.store = store
        self.on_removed: list[Callable[[ResourceType, dict[str, Any]], None]] = []
        self.mutating_admission: list[Admission] = []
        # Checks of the storage layer between mutating and validating admission (RBAC's
        # escalation prevention, which rbac.py adds).
        self.storage_guards: list[Admission] = []
        # Built-in plugins, as kube-apiserver enables them by default.
        self.validating_admission: list[Admission] = [
            PodSecurityAdmission(self._namespace_labels)]

    def _namespace_labels(self, ns: str) -> dict[str, Any] | None:
        obj = self.store.get(("", "namespaces"), "", ns)
        return (obj or {}).get("metadata", {}).get("labels")

    def admit(self, req: AdmissionRequest) -> None:
        """Run the mutating then the validating plugins on one write (raises ApiError)."""
        self.admit_mutating(req)
        self.admit_validating(req)

    def admit_mutating(self, req: AdmissionRequest) -> None:
        """The mutating plugins, then the storage's guards that precede validation."""
        for plugin in self.mutating_admission:
            plugin(req)
        if req.obj is not None and req.operation != "DELETE":
            req.obj["apiVersion"], req.obj["kind"] = req.rt.api_version, req.rt.kind
        for plugin in self.storage_guards:
            plugin(req)

    def admit_validating(self, req: AdmissionRequest) -> None:
        for plugin in self.validating_admission:
            plugin(req)

    def _admission_request(self, rt: ResourceType, old: dict[str, Any] | None,
                           new: dict[str, Any], sub: str, manager: str, dry_run: bool,
                           user: UserInfo | None, fv: FieldValidation | None) -> AdmissionRequest:
        meta = new["metadata"]
        req = AdmissionRequest(
            rt=rt, operation="CREATE" if old is None else "UPDATE",
            namespace=meta.get("namespace") or "", name=meta.get("name") or "", obj=new,
            old=old, subresource=sub, manager=manager, dry_run=dry_run,
            user=user or CONTROLLERS)
        if fv is not None:
            req.warnings = fv.warnings
        return req

    def _admit_write(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any],
                     sub: str, manager: str, dry_run: bool, user: UserInfo | None,
                     fv: FieldValidation | None) -> None:
        if not (self.mutating_admission or self.validating_admission or self.storage_guards):
            return
        self.admit(self._admission_request(rt, old, new, sub, manager, dry_run, user, fv))

    def rt_for(self, gk: tuple[str, str]) -> ResourceType | None:
        return self.registry.by_gk(*gk)

    def namespace_exists(self, ns: str) -> bool:
        return self.store.get(("", "namespaces"), "", ns) is not None

    def _check_namespace(self, rt: ResourceType, ns: str) -> None:
        if not rt.namespaced:
            return
        ns_obj = self.store.get(("", "namespaces"), "", ns)
        if ns_obj is None:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"{rt.resource} is forbidden: unable to create new "
                           f"content in namespace {ns} because it is being terminated",
                           {"name": ns, "kind": "namespaces"})

    def decode(self, rt: ResourceType, body: dict[str, Any], fv: FieldValidation | None,
               apply: bool = False, defaults: bool = True) -> dict[str, Any]:
        """A request body as the server decodes it (typed, pruned, normalized, defaulted).

        Unknown fields are dropped and reported as ``fv.mode`` asks; a wrong type is a 400."""
        try:
            if rt.custom:
                out, unknown = schema.prune_custom(body, self.crd_schema(rt), defaults)
            elif defaults:
                out, unknown = schema.decode_builtin(rt.api_version, rt.kind, body)
            else:
                out, unknown = schema.prune_builtin(rt.api_version, rt.kind, body)
        except schema.DecodeError as exc:
            if apply:
                raise bad_request(f"failed to create typed patch object "
                                  f"({rt.api_version}, Kind={rt.kind}): {exc}") from None
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                              f"{rt.kind}: {exc}") from None
        mode = fv.mode if fv is not None else "Ignore"
        if unknown and mode == "Strict":
            if apply:
                raise bad_request("\n".join(f".{p}: field not declared in schema"
                                             for p in unknown))
            raise bad_request("strict decoding error: " + ", ".join(
                f'unknown field "{p}"' for p in unknown))
        if unknown and mode == "Warn" and fv is not None:
            fv.warnings.extend(f'unknown field "{p}"' for p in unknown)
        return out

    def crd_schema(self, rt: ResourceType) -> dict[str, Any] | None:
        """The ``openAPIV3Schema`` of a custom resource's served version, if its CRD has one."""
        crd = self.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "",
                             f"{rt.plural}.{rt.group}")
        for v in ((crd or {}).get("spec") or {}).get("versions") or []:
            if isinstance(v, dict) and v.get("name") == rt.version:
                found = (v.get("schema") or {}).get("openAPIV3Schema")
                return found if isinstance(found, dict) else None
        return None

    def _custom_causes(self, rt: ResourceType, old: dict[str, Any] | None,
                       new: dict[str, Any], fv: FieldValidation | None) -> list[tuple[str, str]]:
        """A custom resource's validation by its CRD (apiextensions-apiserver
        pkg/registry/customresource/strategy.go ``Validate``/``ValidateUpdate``): its schema,
        then its ``x-kubernetes-validations`` unless the schema's errors are blocking; the
        ratcheted rule failures become ``Warning`` headers."""
        if not rt.custom:
            return []
        open_api = self.crd_schema(rt)
        causes, blocking = schema.custom_causes(new, open_api)
        if not celrules.has_rules(open_api):
            return causes
        if blocking:
            return [*causes, celrules.NOT_CHECKED]
        assert isinstance(open_api, dict)
        outcome = celrules.validate(open_api, new, old)
        if fv is not None:
            fv.warnings.extend(outcome.warnings)
        return causes + outcome.causes

    def _check_custom(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any],
                      fv: FieldValidation | None) -> None:
        causes = self._custom_causes(rt, old, new, fv)
        if causes:
            raise invalid(rt, str((new.get("metadata") or {}).get("name") or ""), causes)

    def _validate_shape(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Rules the types' validation functions state for every kind of a shape: label keys
        and values, and a workload's selector matching its pod template's labels
        (k8s.io/apimachinery/pkg/apis/meta/v1/validation, pkg/apis/apps/validation)."""
        causes = self._shape_causes(rt, obj)
        if causes:
            raise invalid(rt, str((obj.get("metadata") or {}).get("name") or ""), causes)

    def _shape_causes(self, rt: ResourceType, obj: dict[str, Any]) -> list[tuple[str, str]]:
        meta = obj.get("metadata") or {}
        causes: list[tuple[str, str]] = []
        labels = meta.get("labels")
        if isinstance(labels, dict):
            causes += label_causes("metadata.labels", labels)
        if rt.group == vap.GROUP:
            causes += vap.object_causes(rt.kind, obj)
        if rt.gk == ("apiextensions.k8s.io", "customresourcedefinitions"):
            causes += celrules.crd_causes(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict) and not rt.custom and isinstance(spec.get("template"), dict) \
                and "selector" in _spec_fields(rt):
            selector = spec.get("selector")
            tlabels = ((spec["template"].get("metadata") or {}).get("labels") or {})
            if isinstance(tlabels, dict):
                causes += label_causes("spec.template.metadata.labels", tlabels)
            if not isinstance(selector, dict) or not (
                    selector.get("matchLabels") or selector.get("matchExpressions")):
                causes.append(("spec.selector", "Required value"))
            elif not _selector_matches(selector, tlabels):
                rendered = ", ".join(f'"{k}":"{v}"' for k, v in sorted(tlabels.items()))
                causes.append(("spec.template.metadata.labels",
                               f"Invalid value: map[string]string{{{rendered}}}: `selector` "
                               "does not match template `labels`"))
        if rt.gk == ("", "replicationcontrollers") and isinstance(spec, dict):
            causes += _replication_controller_causes(spec)
        if rt.gk == ("batch", "jobs"):
            causes += _generated_selector_causes(obj) + jobs.spec_causes(obj)
        if rt.gk == ("batch", "cronjobs"):
            causes += jobs.cron_job_causes(obj)
        if rt.gk == storage.CLASSES_GK:
            causes += storage.class_causes(obj)
        return causes

    def allocate(self, rt: ResourceType, old: dict[str, Any] | None,
                 new: dict[str, Any]) -> None:
        """Server-assigned Service fields: ``clusterIP``/``clusterIPs`` from the service CIDR
        (kept on update when omitted), a 422 for a requested IP that is taken or outside the
        range (pkg/registry/core/service/ipallocator)."""
        if rt.gk != ("", "services"):
            return
        spec = new.get("spec")
        if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
            return
        old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
        wanted = spec.get("clusterIP") or ((spec.get("clusterIPs") or [None])[0])
        name = str(new["metadata"].get("name") or "")
        # A changed IP was refused by the update validation (immutable.service_update).
        if old_ip and not wanted:
            wanted = old_ip
        if wanted == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return
        taken = {((o.get("spec") or {}).get("clusterIP")) for o in self.store.select(rt.gk)
                 if o["metadata"].get("uid") != new["metadata"].get("uid")}
        if wanted and wanted != old_ip:
            try:
                addr = ipaddress.ip_address(wanted)
            except ValueError:
                raise invalid(rt, name, [("spec.clusterIPs[0]", f'Invalid value: "{wanted}": '
                                          "must be a valid IP address")]) from None
            if addr not in SERVICE_CIDR:
                raise invalid(rt, name, [("spec.clusterIPs", f'Invalid value: []string{{"'
                              f'{wanted}"}}: failed to allocate IP {wanted}: the provided IP '
                              f"({wanted}) is not in the valid range. The range of valid IPs "
                              f"is {SERVICE_CIDR}")])
            if wanted in taken:
                raise invalid(rt, name, [("spec.clusterIPs", f'Invalid value: []string{{"'
                              f'{wanted}"}}: failed to allocate IP {wanted}: provided IP is '
                              "already allocated")])
        if not wanted:
            wanted = next(str(SERVICE_CIDR.network_address + i)
                          for i in range(10, SERVICE_CIDR.num_addresses - 1)
                          if str(SERVICE_CIDR.network_address + i) not in taken)
        spec["clusterIP"], spec["clusterIPs"] = wanted, [wanted]

    def _validate(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata")
        name = str((meta or {}).get("name") or "")
        causes: list[tuple[str, str]] = []
        if not isinstance(meta, dict):
            raise invalid(rt, name, [("metadata", "Required value")])
        _check_meta_types(meta)
        regex, limit = (_LABEL_NAME_RE, 63) if rt.plural == "namespaces" else (_NAME_RE, 253)
        if rt.group == "rbac.authorization.k8s.io":
            regex = _PATH_SEGMENT_RE
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif len(name) > limit or not regex.match(name):
            causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 '
                           "name must consist of lower case alphanumeric characters, '-' or '.'"))
        for fld in ("labels", "annotations"):
            values = meta.get(fld)
            if values is None:
                continue
            if not isinstance(values, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
                causes.append((f"metadata.{fld}", "Invalid value: must be a map of strings"))
        causes += _finalizer_causes(meta.get("finalizers"))
        if causes:
            raise invalid(rt, name, causes)

    def _fold_secret(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.gk != ("", "secrets"):
            return
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()

    def output(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        conv = conversion.of(rt.group, rt.version, rt.plural)
        if conv is not None:
            return conv.from_storage(obj)
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    def _converted(self, rt: ResourceType) -> tuple[conversion.Conversion, ResourceType] | None:
        """The conversion of a version served from another version's objects, and the type of
        that storage version (``conversion.py``)."""
        conv = conversion.of(rt.group, rt.version, rt.plural)
        if conv is None:
            return None
        srt = self.registry.get(rt.group, conv.storage_version, rt.plural)
        assert srt is not None, (rt.group, conv.storage_version, rt.plural)
        return conv, srt

    def _to_storage(self, rt: ResourceType, conv: conversion.Conversion, body: dict[str, Any],
                    fv: FieldValidation | None) -> dict[str, Any]:
        """A request body of a served version, decoded in that version, then converted."""
        self.check_kind(rt, body)
        decoded = self.decode(rt, {**body, "apiVersion": rt.api_version, "kind": rt.kind}, fv)
        try:
            return conv.to_storage(decoded)
        except conversion.ConversionError as exc:
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                              f"{rt.kind}: {exc}") from None

    def check_kind(self, rt: ResourceType, body: dict[str, Any]) -> None:
        av, kind = body.get("apiVersion"), body.get("kind")
        if av is not None and av != rt.api_version and not (
                rt.custom and isinstance(av, str) and av.startswith(rt.group + "/")):
            raise bad_request(f"the API version in the data ({av}) does not match the expected "
                              f"API version ({rt.api_version})")
        if kind is not None and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                              f"({rt.kind})")

    def _commit(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any],
                dry_run: bool, validate: bool = True) -> dict[str, Any]:
        meta = new["metadata"]
        if old is not None:
            old_meta = old["metadata"]
            meta["resourceVersion"] = old_meta["resourceVersion"]
            if new == old:
                return old
            if rt.generation and _generation_part(rt, old) != _generation_part(rt, new):
                meta["generation"] = int(old_meta.get("generation") or 1) + 1
            if validate and old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise invalid(rt, meta["name"], [("metadata.finalizers", "Forbidden: no new "
                                  "finalizers can be added if the object is being deleted, found "
                                  f"new finalizers {_go_strings(sorted(added))}")])
        if dry_run:
            return new
        with self.store.lock:
            meta["resourceVersion"] = str(self.store.next_rv())
            if _delete_during_update(rt, old, new):
                self._remove(rt, new)
            else:
                self.store.put(rt.gk, new, "ADDED" if old is None else "MODIFIED")
        return new

    def create(self, rt: ResourceType, ns: str, body: Any, manager: str,
               dry_run: bool = False, fv: FieldValidation | None = None,
               user: UserInfo | None = None) -> dict[str, Any]:
        """A POST, in kube-apiserver's order (handlers/create.go, then
        generic/registry/store.go ``create``): decoding; mutating admission, whose first plugin
        NamespaceLifecycle refuses a missing or terminating namespace; the strategy's
        PrepareForCreate and Validate (422); validating admission; and only then the storage's
        create, which answers 409 AlreadyExists for a taken name, dry runs included."""
        if not isinstance(body, dict):
            raise bad_request(f"the body of a create must be a JSON object, got "
                              f"{type(body).__name__}")
        converted = self._converted(rt)
        if converted is not None:
            return self.create(converted[1], ns, self._to_storage(rt, converted[0], body, fv),
                               manager, dry_run, fv, user)
        obj = self._decode_create(rt, ns, body, fv)
        meta = obj["metadata"]
        with self.store.lock:
            self._check_namespace(rt, ns)
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{random_suffix()}"
            self._init_meta(rt, obj)
            ssa.record_update(None, obj, self._ctx(rt, manager, ""))
            req = self._admission_request(rt, None, obj, "", manager, dry_run, user, fv)
            self.admit_mutating(req)
            self.allocate(rt, None, obj)
            self._validate(rt, obj)
            self._validate_shape(rt, obj)
            # The status subresource's status was dropped by PrepareForCreate (_init_meta).
            self._check_custom(rt, None, obj, fv)
            self.admit_validating(req)
            self._check_exists(rt, ns, meta["name"])
            return self._commit(rt, None, obj, dry_run)

    def _decode_create(self, rt: ResourceType, ns: str, body: dict[str, Any],
                       fv: FieldValidation | None) -> dict[str, Any]:
        """A create's body as the handler decodes it, before any admission: typed, pruned,
        defaulted, and in the request's namespace (a different one is a 400)."""
        self.check_kind(rt, body)
        obj = clone(body)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if isinstance(obj.get("metadata"), dict):
            obj = self.decode(rt, obj, fv)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise invalid(rt, "", [("metadata", "Invalid value: must be an object")])
        _check_meta_types(meta)
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        return obj

    def _check_exists(self, rt: ResourceType, ns: str, name: str) -> None:
        """The storage's create of a taken key (store.go ``create``): 409 AlreadyExists, its
        message prefixed while the object there is being deleted."""
        current = self.store.get(rt.gk, ns if rt.namespaced else "", name)
        if current is None:
            return
        message = f'{rt.resource} "{name}" already exists'
        if current["metadata"].get("deletionTimestamp"):
            message = f"object is being deleted: {message}"
        raise ApiError(409, "AlreadyExists", message,
                       {"name": name, "group": rt.group, "kind": rt.plural})

    def _init_meta(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "managedFields", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.has_status and rt.gk not in (("", "namespaces"),):
            obj.pop("status", None)
        if not rt.custom and "status" not in obj:
            initial = _initial_status(rt, obj)
            if initial is not None:
                obj["status"] = initial
        if rt.gk == ("", "namespaces"):
            obj["status"] = {"phase": "Active"}
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            name = str(meta.get("name") or "")
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        self._fold_secret(rt, obj)
        if rt.gk == ("batch", "jobs"):
            _default_job(obj)

    def _ctx(self, rt: ResourceType, manager: str, sub: str,
             force: bool = False) -> ssa.WriteContext:
        return ssa.WriteContext(manager=manager, api_version=rt.api_version, now=now_rfc3339(),
                                subresource=sub, status_sub=rt.has_status, keyed=not rt.custom,
                                force=force)

    def get(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.gk, ns if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    def _merge_update(self, rt: ResourceType, old: dict[str, Any], body: dict[str, Any],
                      sub: str, fv: FieldValidation | None = None) -> dict[str, Any]:
        """The object a PUT of ``body`` produces (before managedFields and commit)."""
        meta_in = body.get("metadata")
        if not isinstance(meta_in, dict):
            raise invalid(rt, old["metadata"]["name"], [("metadata", "Required value")])
        body = self.decode(rt, {**body, "apiVersion": rt.api_version, "kind": rt.kind}, fv)
        meta_in = body["metadata"]
        rv = meta_in.get("resourceVersion")
        if rv and str(rv) != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {rt.resource} '
                           f'"{old["metadata"]["name"]}": the object has been modified; please '
                           "apply your changes to the latest version and try again",
                           {"name": old["metadata"]["name"], "group": rt.group,
                            "kind": rt.plural})
        for k, label in (("name", "name"), ("namespace", "namespace")):
            given = meta_in.get(k)
            if given and given != (old["metadata"].get(k) or ""):
                raise bad_request(f"the {label} of the object ({given}) does not match the "
                                  f"{label} on the URL ({old['metadata'].get(k) or ''})")
        if sub == "status":
            new = clone(old)
            if "status" in body:
                new["status"] = clone(body["status"])
            else:
                new.pop("status", None)
            self._check_custom(rt, old, new, fv)
            return new
        new = clone(body)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        meta = new["metadata"]
        for k in _IMMUTABLE_META:
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
            else:
                meta.pop(k, None)
        if "managedFields" in old["metadata"]:
            meta["managedFields"] = old["metadata"]["managedFields"]
        else:
            meta.pop("managedFields", None)
        if rt.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        self._fold_secret(rt, new)
        self._validate(rt, new)
        self._validate_update(rt, old, new, fv)
        self.allocate(rt, old, new)
        return new

    def update(self, rt: ResourceType, ns: str, name: str, body: Any, manager: str,
               sub: str = "", dry_run: bool = False, fv: FieldValidation | None = None,
               user: UserInfo | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the body of an update must be a JSON object")
        converted = self._converted(rt)
        if converted is not None:
            return self.update(converted[1], ns, name,
                               self._to_storage(rt, converted[0], body, fv), manager, sub,
                               dry_run, fv, user)
        self.check_kind(rt, body)
        with self.store.lock:
            old = self.get(rt, ns, name)
            # A uid in the body is a precondition of the update (k8s.io/apiserver
            # pkg/registry/rest/update.go defaultUpdatedObjectInfo.Preconditions): an object
            # deleted and created again under the same name is a 409, not overwritten.
            sent_uid = (body.get("metadata") or {}).get("uid") if isinstance(
                body.get("metadata"), dict) else None
            if sent_uid:
                _check_preconditions(rt, name, old["metadata"], {"uid": sent_uid})
            new = self._merge_update(rt, old, body, sub, fv)
            ssa.record_update(old, new, self._ctx(rt, manager, sub))
            self._admit_write(rt, old, new, sub, manager, dry_run, user, fv)
            return self._commit(rt, old, new, dry_run)

    def patch(self, rt: ResourceType, ns: str, name: str, ptype: str, body: Any, manager: str,
              sub: str = "", dry_run: bool = False, force: bool | None = None,
              fv: FieldValidation | None = None,
              user: UserInfo | None = None) -> tuple[dict[str, Any], bool]:
        """Apply a patch; returns (object, created)."""
        if ptype == APPLY:
            return self.apply(rt, ns, name, body, manager, sub, dry_run, bool(force), fv, user)
        if force is not None:
            raise ApiError(422, "Invalid", "force: Forbidden: may not be specified for "
                           "non-apply patch",
                           {"causes": [{"reason": "FieldValueForbidden", "field": "force",
                                        "message": "Forbidden: may not be specified for "
                                                   "non-apply patch"}]})
        if ptype == STRATEGIC and rt.custom:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml")
        converted = self._converted(rt)
        with self.store.lock:
            old = self.get(rt, ns, name)
            # A patch to another served version applies to the object in that version.
            base = self.output(rt, old) if converted is not None else old
            try:
                if ptype == JSON_PATCH:
                    patched = json_patch(base, body)
                elif not isinstance(body, dict):
                    raise bad_request("a merge patch body must be a JSON object")
                elif ptype == MERGE:
                    patched = merge_patch(base, body)
                else:
                    patched = strategic_merge(base, body)
            except PatchError as exc:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an "
                               f"error in our request: {exc}") from exc
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patch result is not an object")
            # A patch that changes the uid fails the update's metadata validation
            # (k8s.io/apimachinery/pkg/api/validation ValidateObjectMetaAccessorUpdate); one
            # that drops it keeps the stored uid (rest.BeforeUpdate).
            patched_uid = (patched.get("metadata") or {}).get("uid") if isinstance(
                patched.get("metadata"), dict) else None
            if patched_uid and patched_uid != old["metadata"]["uid"]:
                raise invalid(rt, name, [("metadata.uid", f"Invalid value: "
                                          f"{govalue.value(patched_uid)}: field is immutable")])
            if converted is not None:
                return self.update(rt, ns, name, patched, manager, sub, dry_run, fv, user), False
            new = self._merge_update(rt, old, patched, sub, fv)
            ssa.record_update(old, new, self._ctx(rt, manager, sub))
            self._admit_write(rt, old, new, sub, manager, dry_run, user, fv)
            return self._commit(rt, old, new, dry_run), False

    def apply(self, rt: ResourceType, ns: str, name: str, body: Any, manager: str,
              sub: str = "", dry_run: bool = False, force: bool = False,
              fv: FieldValidation | None = None,
              user: UserInfo | None = None) -> tuple[dict[str, Any], bool]:
        self._check_apply(rt, ns, name, body, manager)
        # The applied configuration is typed and normalized, not defaulted: the applier owns
        # only the fields it sent (sigs.k8s.io/structured-merge-diff).
        body = self.decode(rt, body, fv, apply=True, defaults=False)
        converted = self._converted(rt)
        # Another served version is applied to the object in that version, then stored in the
        # storage version (``srt``); its managedFields record the served version's paths.
        srt = converted[1] if converted is not None else rt
        with self.store.lock:
            old = self.store.get(rt.gk, ns if rt.namespaced else "", name)
            if old is None:
                if sub:
                    raise not_found(rt, name)
                self._check_namespace(rt, ns)
                base: dict[str, Any] = {"apiVersion": rt.api_version, "kind": rt.kind,
                                        "metadata": {"name": name}}
                if rt.namespaced:
                    base["metadata"]["namespace"] = ns
            else:
                base = old if converted is None else self.output(rt, old)
            try:
                new = ssa.apply(base, body, self._ctx(rt, manager, sub, force))
            except ssa.ApplyConflict as exc:
                raise ConflictStatus(exc.status()) from exc
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            new = self.decode(rt, new, None)
            if converted is not None:
                new = self.decode(srt, self._to_storage(rt, converted[0], new, None), None)
            if old is None:
                self._applied_new(srt, new, fv)
            elif sub == "status":
                new = _status_applied(old, new)
                self._check_custom(srt, old, new, fv)
            else:
                self._applied_update(srt, old, new, fv)
            self._admit_write(srt, old, new, sub, manager, dry_run, user, fv)
            return self._commit(srt, old, new, dry_run), old is None

    def _check_apply(self, rt: ResourceType, ns: str, name: str, body: Any,
                     manager: str) -> None:
        """What the API server refuses in an apply request before it looks at the object."""
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: '
                           "fieldManager: Required value: is required for apply patch",
                           {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                               {"reason": "FieldValueRequired", "field": "fieldManager",
                                "message": "Required value: is required for apply patch"}]})
        if not isinstance(body, dict):
            raise bad_request("an apply patch must be an object")
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata must be set in the apply configuration")
        if body.get("apiVersion") is None or body.get("kind") is None:
            raise bad_request("apiVersion and kind must be set in the apply configuration")
        self.check_kind(rt, body)
        if meta.get("name") != name:
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match "
                              f"the name on the URL ({name})")
        if rt.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the object does not match the namespace on "
                              "the URL")
        if "managedFields" in meta:
            raise bad_request("metadata.managedFields must be nil")

    def _applied_new(self, rt: ResourceType, new: dict[str, Any],
                     fv: FieldValidation | None) -> None:
        """An apply that creates: server-set metadata, validation, allocations."""
        managed = new["metadata"].get("managedFields")
        self._init_meta(rt, new)
        if managed:
            new["metadata"]["managedFields"] = managed
        self._validate(rt, new)
        self._check_custom(rt, None, new, fv)
        self._validate_shape(rt, new)
        self.allocate(rt, None, new)

    def _applied_update(self, rt: ResourceType, old: dict[str, Any],
                        new: dict[str, Any], fv: FieldValidation | None) -> None:
        for k in _IMMUTABLE_META + ("resourceVersion",):
            if k in old["metadata"]:
                new["metadata"][k] = old["metadata"][k]
        self._fold_secret(rt, new)
        if rt.gk == ("batch", "jobs"):
            # An applied configuration is not defaulted; the object it makes is.
            jobs.default_spec(new.get("spec"))
        self._validate(rt, new)
        self._validate_update(rt, old, new, fv)
        self.allocate(rt, old, new)

    def _validate_update(self, rt: ResourceType, old: dict[str, Any],
                         new: dict[str, Any], fv: FieldValidation | None = None) -> None:
        """The validation of every write that replaces a stored object (PUT, each patch type,
        apply, dry runs): the object's shape and what the kind lets an update change
        (``immutable.UPDATE_VALIDATORS``, kube-apiserver's ``ValidateXUpdate``; a custom
        resource's CRD schema and rules), answered in one Status as the real server aggregates
        the spec's and the update's errors."""
        causes = self._shape_causes(rt, new)
        if rt.custom:
            causes += self._custom_causes(rt, old, new, fv)
        else:
            causes += immutable.update_causes(rt.gk, old, new)
        if causes:
            raise invalid(rt, str(new["metadata"].get("name") or ""), causes)

    def delete(self, rt: ResourceType, ns: str, name: str, options: dict[str, Any],
               dry_run: bool = False, manager: str = "", user: UserInfo | None = None,
               warnings: list[str] | None = None) -> dict[str, Any]:
        """Delete an object; returns the body to answer with.

        ``manager`` is set for a client's request, which passes admission (``warnings``
        collects its Warn actions); the garbage collector's and namespace controller's deletes
        leave it empty.
        """
        with self.store.lock:
            old = self.get(rt, ns, name)
            if manager and (self.mutating_admission or self.validating_admission):
                self.admit(AdmissionRequest(rt=rt, operation="DELETE", namespace=ns, name=name,
                                            obj=None, old=old, subresource="", manager=manager,
                                            dry_run=dry_run, user=user or CONTROLLERS,
                                            warnings=[] if warnings is None else warnings))
            meta = old["metadata"]
            _check_preconditions(rt, name, meta, options.get("preconditions") or {})
            finalizers = gc_finalizers(rt, meta, options)
            # A dry run takes the same path; its updates are not persisted (store.go Delete).
            if rt.gk == ("", "namespaces"):
                return self._delete_namespace(rt, old, dry_run)
            if rt.gk == ("", "pods"):
                graceful = self._delete_gracefully(rt, old, options, finalizers, dry_run)
                if graceful is not None:
                    return graceful
                old = self.get(rt, ns, name)
            if finalizers:
                return self._mark_deleting(rt, old, finalizers, dry_run)
            if dry_run:
                return self._deleted_body(rt, old)
            gone = clone(old)
            gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self._remove(rt, gone)
            return self._deleted_body(rt, gone)

    def _mark_deleting(self, rt: ResourceType, old: dict[str, Any], finalizers: list[str],
                       dry_run: bool) -> dict[str, Any]:
        """A delete the finalizers hold (store.go updateForGracefulDeletionAndFinalizers): the
        object stays with the garbage collector's finalizers the options ask for, and
        markAsDeleting's deletionTimestamp, deletionGracePeriodSeconds 0 and, the first time,
        generation + 1. The storage update skips validation, so a second delete may swap
        ``orphan`` for ``foregroundDeletion`` where a client's update could add neither. A dry
        run answers the object so marked, unsaved (updateForGracefulDeletionAndFinalizers'
        dry-run GuaranteedUpdate; Delete returns it, not a Status, as deleteImmediately is
        false while finalizers are pending)."""
        meta = old["metadata"]
        if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
            return old
        new = clone(old)
        new["metadata"]["finalizers"] = finalizers
        if not meta.get("deletionTimestamp"):
            new["metadata"]["deletionTimestamp"] = now_rfc3339()
            if int(meta.get("generation") or 0) > 0:
                new["metadata"]["generation"] = int(meta["generation"]) + 1
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        return self._commit(rt, old, new, dry_run, validate=False)

    def _delete_gracefully(self, rt: ResourceType, old: dict[str, Any],
                           options: dict[str, Any], finalizers: list[str],
                           dry_run: bool) -> dict[str, Any] | None:
        """A pod's graceful deletion (pkg/registry/core/pod/strategy.go CheckGracefulDelete,
        apiserver pkg/registry/rest/delete.go BeforeDelete): the period is the request's
        ``gracePeriodSeconds``, else the pod's ``terminationGracePeriodSeconds``, and 0 for a
        pod not scheduled or already terminal. A period above 0 keeps the pod with
        deletionTimestamp = now + period and deletionGracePeriodSeconds = period, for the
        kubelet to stop its containers and delete it with 0; a second delete may only shorten
        it. Returns the pod to answer with, or None when the delete proceeds at once (period
        0, or an earlier graceful delete already brought to 0)."""
        meta, spec = old["metadata"], old.get("spec") or {}
        requested = options.get("gracePeriodSeconds")
        if not isinstance(requested, int | None):
            raise bad_request(f"gracePeriodSeconds: {requested!r} is not an integer")
        if requested is not None and requested < 0:
            requested = 1  # BeforeDelete: a negative period is taken as 1 s
        if meta.get("deletionTimestamp"):
            current = meta.get("deletionGracePeriodSeconds")
            if not current:
                return None
            if requested is None or int(requested) >= int(current):
                return old
            period = int(requested)
            start = _parse_rfc3339(meta["deletionTimestamp"]) - dt.timedelta(seconds=current)
        else:
            period = int(requested if requested is not None
                          else spec.get("terminationGracePeriodSeconds", 0) or 0)
            if not spec.get("nodeName") or \
                    (old.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                period = 0
            start = dt.datetime.now(dt.UTC)
        if period <= 0 and not meta.get("deletionTimestamp"):
            return None
        new = clone(old)
        new["metadata"]["deletionTimestamp"] = _rfc3339(start + dt.timedelta(seconds=period))
        new["metadata"]["deletionGracePeriodSeconds"] = period
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
        marked = self._commit(rt, old, new, dry_run, validate=False)
        # Shortened to 0: the delete proceeds at once (unless finalizers hold the pod).
        return None if period <= 0 else marked

    def _deleted_body(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if rt.custom:
            return self.output(rt, obj)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": obj["metadata"]["name"], "group": rt.group,
                            "kind": rt.plural, "uid": obj["metadata"]["uid"]}}

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Remove an object from storage. Its dependents are the garbage collector's
        (``gc.GarbageCollector``, run by the controllers), as in a real cluster."""
        self.store.remove(rt.gk, obj)
        if rt.gk == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self.registry.set_crd(obj["metadata"]["name"], None)
        for hook in self.on_removed:
            hook(rt, obj)

    def remove_finalizer(self, rt: ResourceType, obj: dict[str, Any], finalizer: str,
                         manager: str) -> None:
        """A controller's patch dropping ``finalizer`` from the current state of ``obj`` (the
        object goes once a deleting object's last finalizer is gone); nothing when the object
        is gone or was replaced by another of the same name."""
        with self.store.lock:
            meta = obj["metadata"]
            cur = self.store.get(rt.gk, meta.get("namespace") or "", meta["name"])
            if cur is None or cur["metadata"]["uid"] != meta["uid"] or \
                    finalizer not in (cur["metadata"].get("finalizers") or []):
                return
            new = clone(cur)
            fins = [f for f in cur["metadata"]["finalizers"] if f != finalizer]
            if fins:
                new["metadata"]["finalizers"] = fins
            else:
                new["metadata"].pop("finalizers", None)
            ssa.record_update(cur, new, self._ctx(rt, manager, ""))
            self._commit(rt, cur, new, False)

    def _delete_namespace(self, rt: ResourceType, old: dict[str, Any],
                          dry_run: bool) -> dict[str, Any]:
        if old["metadata"].get("deletionTimestamp") is None or \
                (old.get("status") or {}).get("phase") != "Terminating":
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = now_rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["status"] = {"phase": "Terminating"}
            old = self._commit(rt, old, new, dry_run)
        return old

    def finish_namespace(self, ns_obj: dict[str, Any]) -> dict[str, Any] | None:
        """Delete a terminating namespace's contents; remove it once empty."""
        ns = ns_obj["metadata"]["name"]
        namespaced = [(gk, rt) for gk in self.store.kinds()
                      if (rt := self.rt_for(gk)) is not None and rt.namespaced]
        for gk, rt in namespaced:
            for obj in self.store.select(gk, ns):
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        self.delete(rt, ns, obj["metadata"]["name"],
                                    {"propagationPolicy": "Background"})
                    except ApiError:
                        pass
        if any(self.store.select(gk, ns) for gk, _ in namespaced):
            return None
        nrt = self.registry.by_gk("", "namespaces")
        assert nrt is not None
        current = self.store.get(("", "namespaces"), "", ns)
        if current is None:
            return None
        gone = clone(current)
        gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
        gone["metadata"].pop("finalizers", None)
        self.store.remove(nrt.gk, gone)
        return gone

    def write_status(self, rt: ResourceType, obj: dict[str, Any], status: dict[str, Any],
                     manager: str,
                     annotations: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Replace ``status`` (and ``annotations``, where the kind's status strategy lets them
        through) if ``obj`` is still current; None when it changed meanwhile."""
        with self.store.lock:
            meta = obj["metadata"]
            cur = self.store.get(rt.gk, meta.get("namespace") or "", meta["name"])
            if cur is None or cur["metadata"]["resourceVersion"] != meta["resourceVersion"]:
                return None
            new = clone(cur)
            new["status"] = status
            if annotations is not None:
                new["metadata"]["annotations"] = annotations
            ssa.record_update(cur, new, self._ctx(rt, manager, "status" if rt.has_status else ""))
            return self._commit(rt, cur, new, False)

    def write_object(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any],
                     manager: str) -> dict[str, Any]:
        """A controller's create (old None) or full update, recorded under ``manager``."""
        with self.store.lock:
            if old is None:
                ns = new["metadata"].get("namespace") or ""
                return self.create(rt, ns, new, manager)
            ssa.record_update(old, new, self._ctx(rt, manager, ""))
            return self._commit(rt, old, new, False)


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON (or YAML for apply patches); raises ApiError 400 on malformed input."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise bad_request("the request body is empty")
    try:
        return json.loads(text)
    except ValueError as exc:
        if content_type == APPLY:
            import yaml

            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as yexc:
                raise bad_request(f"error decoding YAML: {yexc}") from yexc
        raise bad_request(f"the request body is not valid JSON: {exc}") from exc


def _initial_status(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any] | None:
    """What a new built-in object's status reads right after a create: the Go types' status
    structs are never omitted (``{}``), and a few kinds' strategies set a first value
    (pkg/registry/core/pod/strategy.go sets phase Pending and the QoS class, the PVC and PV
    strategies phase Pending, Services and Ingresses an empty load-balancer status)."""
    model = schema.builtin_schemas()["models"].get(schema.model_of(rt.api_version, rt.kind) or "")
    if not model or "status" not in model:
        return None
    if rt.gk == ("", "pods"):
        from sandbox.kubernetes.controllers import qos_class

        return {"phase": "Pending", "qosClass": qos_class(obj)}
    if rt.gk in (("", "persistentvolumeclaims"), ("", "persistentvolumes")):
        return {"phase": "Pending"}
    if rt.gk in (("", "services"), ("networking.k8s.io", "ingresses")):
        return {"loadBalancer": {}}
    return dict(_ZERO_STATUS.get(rt.gk, {}))


# Status counts the Go types serialize without omitempty (k8s.io/api apps/v1 and core/v1
# types.go), so a new object's status shows them as 0: typed clients require them.
_ZERO_STATUS: dict[tuple[str, str], dict[str, int]] = {
    ("apps", "replicasets"): {"replicas": 0},
    ("", "replicationcontrollers"): {"replicas": 0},
    ("apps", "statefulsets"): {"replicas": 0, "availableReplicas": 0},
    ("apps", "daemonsets"): {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                             "desiredNumberScheduled": 0, "numberReady": 0},
    # k8s.io/api policy/v1 PodDisruptionBudgetStatus.
    ("policy", "poddisruptionbudgets"): {"disruptionsAllowed": 0, "currentHealthy": 0,
                                         "desiredHealthy": 0, "expectedPods": 0},
}


def _job_labels(job: dict[str, Any]) -> dict[str, str]:
    meta = job["metadata"]
    name = str(meta.get("name") or "")
    return {"batch.kubernetes.io/controller-uid": meta["uid"],
            "batch.kubernetes.io/job-name": name, "controller-uid": meta["uid"], "job-name": name}


def _default_job(job: dict[str, Any]) -> None:
    """The Job defaulting of the real API server (pkg/registry/batch/job/strategy.go,
    generateSelector): unless the selector is manual, the pod template gets the labels of the
    Job's uid and name that it does not carry yet, and the selector its controller-uid. A label
    or selector a client sent is kept, so validation can refuse one of another uid."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    labels = _job_labels(job)
    selector = spec.setdefault("selector", {})
    if isinstance(selector, dict):
        match = selector.setdefault("matchLabels", {})
        if isinstance(match, dict):
            match.setdefault("batch.kubernetes.io/controller-uid", labels[
                "batch.kubernetes.io/controller-uid"])
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        tmeta = template.setdefault("metadata", {})
        if isinstance(tmeta, dict):
            tmeta["labels"] = {**labels, **(tmeta.get("labels") or {})}
    for name, default in (("backoffLimit", 6), ("completions", 1), ("parallelism", 1)):
        spec.setdefault(name, default)
    jobs.default_spec(spec)


def _status_applied(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """An apply to the status subresource changes only status (and the managed fields)."""
    final = clone(old)
    if "status" in new:
        final["status"] = new["status"]
    else:
        final.pop("status", None)
    final["metadata"]["managedFields"] = new["metadata"].get("managedFields", [])
    return final


def _check_preconditions(rt: ResourceType, name: str, meta: dict[str, Any],
                         pre: dict[str, Any]) -> None:
    """DeleteOptions.preconditions: uid and resourceVersion must match (409 otherwise)."""
    if pre.get("uid") and pre["uid"] != meta["uid"]:
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.resource} '
                       f'"{name}": Precondition failed: UID in precondition: '
                       f'{pre["uid"]}, UID in object meta: {meta["uid"]}')
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.resource} '
                       f'"{name}": Precondition failed: ResourceVersion in precondition:'
                       f' {pre["resourceVersion"]}, ResourceVersion in object meta: '
                       f'{meta["resourceVersion"]}')


def _delete_during_update(rt: ResourceType, old: dict[str, Any] | None,
                          new: dict[str, Any]) -> bool:
    """store.go shouldDeleteDuringUpdate: an update that removes the last finalizer of an
    object being deleted removes it, unless a graceful deletion is still pending (a pod's
    deletionGracePeriodSeconds above 0). Namespaces go through their controller."""
    meta = new["metadata"]
    return (old is not None and bool(old["metadata"].get("finalizers"))
            and not meta.get("finalizers") and bool(meta.get("deletionTimestamp"))
            and not meta.get("deletionGracePeriodSeconds") and rt.gk != ("", "namespaces"))


def _check_meta_types(meta: dict[str, Any]) -> None:
    for fld in ("name", "namespace", "generateName"):
        if meta.get(fld) is not None and not isinstance(meta[fld], str):
            # The real API server fails to decode the body, before any validation.
            raise bad_request(f"json: cannot unmarshal {type(meta[fld]).__name__} into Go "
                              f"struct field ObjectMeta.metadata.{fld} of type string")


def _go_strings(values: list[str]) -> str:
    """A []string as Go's %#v prints it in validation messages."""
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


ORPHAN = "orphan"  # metav1.FinalizerOrphanDependents
FOREGROUND = "foregroundDeletion"  # metav1.FinalizerDeleteDependents


def _finalizer_causes(fin: Any) -> list[tuple[str, str]]:
    """A list of strings, not both of the garbage collector's (apimachinery
    pkg/api/validation/objectmeta.go ValidateFinalizers)."""
    if fin is None:
        return []
    if not (isinstance(fin, list) and all(isinstance(f, str) for f in fin)):
        return [("metadata.finalizers", "Invalid value: must be a list of strings")]
    if ORPHAN in fin and FOREGROUND in fin:
        return [("metadata.finalizers", f"Invalid value: {_go_strings(fin)}: finalizer "
                 f"{ORPHAN} and {FOREGROUND} cannot be both set")]
    return []


def gc_finalizers(rt: ResourceType, meta: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The finalizers a delete leaves on the object (store.go
    deletionFinalizersForGarbageCollection): ``orphan`` and ``foregroundDeletion`` are set from
    the options (``orphanDependents``, then ``propagationPolicy``), else kept from the object,
    else the kind's default (batch/v1 Jobs orphan, for backwards compatibility,
    pkg/registry/batch/job/strategy.go); the other finalizers stay as they are."""
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in ("Background", "Foreground", "Orphan"):
        raise bad_request(f"propagationPolicy {policy!r} is not one of Background, "
                          "Foreground, Orphan")
    current = [f for f in meta.get("finalizers") or [] if isinstance(f, str)]
    orphan_option = options.get("orphanDependents")
    if isinstance(orphan_option, bool):
        orphan, foreground = orphan_option, False
    elif policy is not None:
        orphan, foreground = policy == "Orphan", policy == "Foreground"
    elif ORPHAN in current or FOREGROUND in current:
        orphan = next(f for f in current if f in (ORPHAN, FOREGROUND)) == ORPHAN
        foreground = not orphan
    else:
        orphan, foreground = rt.gk == ("batch", "jobs"), False
    wanted = [f for f in current if f not in (ORPHAN, FOREGROUND)]
    wanted += [ORPHAN] * orphan + [FOREGROUND] * foreground
    return current if set(wanted) == set(current) else wanted



def _generated_selector_causes(job: dict[str, Any]) -> list[tuple[str, str]]:
    """pkg/apis/batch/validation ValidateGeneratedSelector: a generated selector's labels must be
    this Job's (its uid and name), and the selector must select them; a Job exported from
    elsewhere and created again carries another uid's ("`selector` not auto-generated")."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return []
    template = spec.get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    tlabels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    causes = []
    for key, want in _job_labels(job).items():
        got = tlabels.get(key) if isinstance(tlabels, dict) else None
        if got != want:
            causes.append((f"spec.template.metadata.labels[{key}]",
                           f'Invalid value: "{got}": must be \'{want}\''))
    selector = spec.get("selector")
    if isinstance(selector, dict) and not _selector_matches(selector, _job_labels(job)):
        causes.append(("spec.selector", "Invalid value: `selector` not auto-generated"))
    return causes
