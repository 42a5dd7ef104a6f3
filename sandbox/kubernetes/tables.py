"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``.

A client that sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` (kubectl does, with
``v1beta1`` and plain JSON as fallbacks) gets a ``Table`` of column definitions and rows instead
of the object or list (https://kubernetes.io/docs/reference/using-api/api-concepts/
#receiving-resources-as-tables). The columns are the apiserver's:

- built-in kinds: kubernetes ``pkg/printers/internalversion/printers.go`` (``AddHandlers``), every
  column (priority 1 ones too: the server prints with ``Wide``; kubectl shows them with
  ``-o wide``);
- custom resources: the version's ``additionalPrinterColumns`` after ``Name`` (apiextensions-
  apiserver ``tableconvertor``), an ``Age`` column when there are none; ``date`` cells as
  human-readable durations, ``string`` cells printed, other types as JSON values;
- anything else: ``Name`` and ``Created At`` (apiserver ``registry/rest/table.go``
  ``defaultTableConvertor``).

``includeObject`` (``None``, ``Metadata``: the default, ``Object``) says what each row carries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sandbox.kubernetes.api import ApiError
from sandbox.kubernetes.registry import ResourceType

Obj = dict[str, Any]
NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
            "although some resources may allow a client to request the generation of an "
            "appropriate name automatically. Name is primarily intended for creation "
            "idempotence and configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was "
           "created. It is not guaranteed to be set in happens-before order across separate "
           "operations. Clients may not set this value. It is represented in RFC3339 form and "
           "is in UTC.")
TABLE_VERSIONS = ("v1", "v1beta1")


def table_version(accept: str) -> str | None:
    """The Table version the Accept header asks for first (None: a plain object will do).

    Raises:
        ApiError: 406 when only Tables of versions the server does not serve are acceptable.
    """
    if "as=Table" not in accept:
        return None
    plain = False
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        kind = media.split(";")[0].strip()
        if params.get("as") == "Table":
            if params.get("g") == "meta.k8s.io" and params.get("v") in TABLE_VERSIONS:
                return params["v"]
        elif kind in ("application/json", "*/*", "application/*"):
            plain = True
            break
    if plain:
        return None
    raise ApiError(406, "NotAcceptable", "only the following media types are accepted: "
                   "application/json, application/json;as=Table;v=v1;g=meta.k8s.io, "
                   "application/json;as=Table;v=v1beta1;g=meta.k8s.io")


def human_duration(seconds: float) -> str:
    """apimachinery ``util/duration.HumanDuration``: 45s, 5m3s, 90m, 5h30m, 36h, 3d4h, 400d."""
    s = int(seconds)
    if seconds < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    y = h // (24 * 365)
    if y < 8:
        days = (h // 24) % 365
        return f"{y}y{days}d" if days else f"{y}y"
    return f"{y}y"


def _since(timestamp: str | None, now: dt.datetime) -> str:
    if not timestamp:
        return "<unknown>"
    t = dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    return human_duration((now - t).total_seconds())


def _col(name: str, ctype: str = "string", priority: int = 0, desc: str = "",
         fmt: str = "") -> Obj:
    out: Obj = {"name": name, "type": ctype, "format": fmt, "description": desc,
                "priority": priority}
    return out


NAME = _col("Name", fmt="name", desc=NAME_DOC)
AGE = _col("Age", desc=AGE_DOC)


def _selector(sel: Obj | None) -> str:
    """metav1.FormatLabelSelector: ``a=b,c in (d)``; ``<none>`` when empty."""
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, values = e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{e.get('key')} in ({values})",
                      "NotIn": f"{e.get('key')} notin ({values})",
                      "Exists": str(e.get("key")),
                      "DoesNotExist": f"!{e.get('key')}"}.get(str(op), str(e.get("key"))))
    return ",".join(parts) or "<none>"


def _containers(obj: Obj) -> tuple[str, str]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    cs = spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _pod_reason(pod: Obj) -> str:
    """printPod's STATUS: the phase, or a container's waiting/terminated reason."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    gates = spec.get("readinessGates") or []
    return [f"{ready}/{len(spec.get('containers') or [])}", _pod_reason(o), str(restarts),
            _since(o["metadata"].get("creationTimestamp"), now), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            f"0/{len(gates)}" if gates else "<none>"]


def _deployment(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas', 1))}",
            int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0),
            _since(o["metadata"].get("creationTimestamp"), now), names, images,
            _selector(spec.get("selector"))]


def _replicaset(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [int(spec.get("replicas", 1)), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0),
            _since(o["metadata"].get("creationTimestamp"), now), names, images,
            _selector(spec.get("selector"))]


def _statefulset(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas', 1))}",
            _since(o["metadata"].get("creationTimestamp"), now), names, images]


def _daemonset(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    node_sel = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [int(status.get(k) or 0) for k in ("desiredNumberScheduled",
                                               "currentNumberScheduled", "numberReady",
                                               "updatedNumberScheduled", "numberAvailable")] + [
        ",".join(f"{k}={v}" for k, v in sorted(node_sel.items())) or "<none>",
        _since(o["metadata"].get("creationTimestamp"), now), names, images,
        _selector(spec.get("selector"))]


def _service(o: Obj, now: dt.datetime) -> list[Any]:
    spec = o.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/"
        f"{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    external = ",".join(spec.get("externalIPs") or [])
    if spec.get("type") == "LoadBalancer":
        ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress) \
            or external or "<pending>"
    sel = spec.get("selector") or {}
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            external or "<none>", ports, _since(o["metadata"].get("creationTimestamp"), now),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _namespace(o: Obj, now: dt.datetime) -> list[Any]:
    return [(o.get("status") or {}).get("phase") or "Active",
            _since(o["metadata"].get("creationTimestamp"), now)]


def _configmap(o: Obj, now: dt.datetime) -> list[Any]:
    return [len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            _since(o["metadata"].get("creationTimestamp"), now)]


def _secret(o: Obj, now: dt.datetime) -> list[Any]:
    return [o.get("type") or "Opaque", len(o.get("data") or {}),
            _since(o["metadata"].get("creationTimestamp"), now)]


def _service_account(o: Obj, now: dt.datetime) -> list[Any]:
    return [len(o.get("secrets") or []), _since(o["metadata"].get("creationTimestamp"), now)]


def _node(o: Obj, now: dt.datetime) -> list[Any]:
    status, labels = o.get("status") or {}, o["metadata"].get("labels") or {}
    ready = next((c.get("status") for c in status.get("conditions") or []
                  if c.get("type") == "Ready"), None)
    state = "Ready" if ready == "True" else "NotReady" if ready else "Unknown"
    if (o.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted({k.split("/", 1)[1] for k in labels
                    if k.startswith("node-role.kubernetes.io/") and "/" in k} |
                   ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    info = status.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [state, ",".join(roles) or "<none>",
            _since(o["metadata"].get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            addresses.get("InternalIP") or "<none>", addresses.get("ExternalIP") or "<none>",
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


_ACCESS = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
           "ReadWriteOncePod": "RWOP"}


def _pvc(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    bound = status.get("phase") == "Bound"
    modes = ",".join(_ACCESS.get(m, m) for m in status.get("accessModes") or []) if bound else ""
    return [status.get("phase") or "Pending", spec.get("volumeName") or "",
            ((status.get("capacity") or {}).get("storage") or "") if bound else "", modes,
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or "<unset>",
            _since(o["metadata"].get("creationTimestamp"), now),
            spec.get("volumeMode") or "Filesystem"]


def _cols(*spec: tuple[str, int] | tuple[str, int, str]) -> list[Obj]:
    """Columns after Name: (name, priority[, type]), ``Age`` where it stands."""
    return [NAME, *(AGE if c[0] == "Age" else _col(c[0], c[2] if len(c) > 2 else "string",
                                                    priority=c[1]) for c in spec)]


WORKLOAD = (("Containers", 1), ("Images", 1))
Printer = tuple[list[Obj], Callable[[Obj, dt.datetime], list[Any]]]
PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "pods"): (_cols(("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                         ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)), _pod),
    ("apps", "deployments"): (_cols(("Ready", 0), ("Up-to-date", 0), ("Available", 0),
                                    ("Age", 0), *WORKLOAD, ("Selector", 1)), _deployment),
    ("apps", "replicasets"): (_cols(("Desired", 0, "integer"), ("Current", 0, "integer"),
                                    ("Ready", 0, "integer"), ("Age", 0),
                                    *WORKLOAD, ("Selector", 1)), _replicaset),
    ("apps", "statefulsets"): (_cols(("Ready", 0), ("Age", 0), *WORKLOAD), _statefulset),
    ("apps", "daemonsets"): (_cols(("Desired", 0, "integer"), ("Current", 0, "integer"),
                                   ("Ready", 0, "integer"), ("Up-to-date", 0, "integer"),
                                   ("Available", 0, "integer"), ("Node Selector", 0),
                                   ("Age", 0), *WORKLOAD, ("Selector", 1)), _daemonset),
    ("", "services"): (_cols(("Type", 0), ("Cluster-IP", 0), ("External-IP", 0),
                             ("Port(s)", 0), ("Age", 0), ("Selector", 1)), _service),
    ("", "namespaces"): (_cols(("Status", 0), ("Age", 0)), _namespace),
    ("", "configmaps"): (_cols(("Data", 0), ("Age", 0)), _configmap),
    ("", "secrets"): (_cols(("Type", 0), ("Data", 0), ("Age", 0)), _secret),
    ("", "serviceaccounts"): (_cols(("Secrets", 0), ("Age", 0)), _service_account),
    ("", "nodes"): (_cols(("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0),
                          ("Internal-IP", 1), ("External-IP", 1), ("OS-Image", 1),
                          ("Kernel-Version", 1), ("Container-Runtime", 1)), _node),
    ("", "persistentvolumeclaims"): (_cols(("Status", 0), ("Volume", 0), ("Capacity", 0),
                                           ("Access Modes", 0), ("StorageClass", 0),
                                           ("VolumeAttributesClass", 0), ("Age", 0),
                                           ("VolumeMode", 1)), _pvc),
}


def _age(o: Obj, now: dt.datetime) -> str:
    return _since(o["metadata"].get("creationTimestamp"), now)


def _has_condition(o: Obj, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in (o.get("status") or {}).get("conditions") or [])


def _job(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    done = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{done}/{spec['completions']}"
    elif int(spec.get("parallelism") or 1) > 1:
        completions = f"{done}/1 of {spec['parallelism']}"
    else:
        completions = f"{done}/1"
    start, end = status.get("startTime"), status.get("completionTime")
    took = ""
    if start:
        t0 = dt.datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        t1 = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00")) if end else now
        took = human_duration((t1 - t0).total_seconds())
    state = next((label for ctype, label in (("Complete", "Complete"), ("Failed", "Failed"))
                  if _has_condition(o, ctype)), None)
    if state is None:
        state = "Terminating" if o["metadata"].get("deletionTimestamp") else next(
            (c for c in ("Suspended", "FailureTarget", "SuccessCriteriaMet")
             if _has_condition(o, c)), "Running")
    names, images = _containers(o)
    return [state, completions, took, _age(o, now), names, images,
            _selector(spec.get("selector"))]


def _cronjob(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    template = (spec.get("jobTemplate") or {}).get("spec") or {}
    cs = ((template.get("template") or {}).get("spec") or {}).get("containers") or []
    last = status.get("lastScheduleTime")
    return [spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            bool(spec.get("suspend")), len(status.get("active") or []),
            _since(last, now) if last else "<none>", _age(o, now),
            ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs),
            _selector(template.get("selector"))]


def _lb_addresses(o: Obj) -> str:
    ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress)


def _ingress(o: Obj, now: dt.datetime) -> list[Any]:
    spec = o.get("spec") or {}
    hosts = ",".join(r.get("host") or "*" for r in spec.get("rules") or []) or "*"
    return [spec.get("ingressClassName") or "<none>", hosts, _lb_addresses(o),
            "80, 443" if spec.get("tls") else "80", _age(o, now)]


def _endpoints(o: Obj, now: dt.datetime) -> list[Any]:
    shown: list[str] = []
    total = 0
    for ss in o.get("subsets") or []:
        ports = [p.get("port") for p in ss.get("ports") or []] or [None]
        for port in ports:
            for a in ss.get("addresses") or []:
                total += 1
                if len(shown) < 3:
                    shown.append(f"{a.get('ip')}:{port}" if port else str(a.get("ip")))
    text = ",".join(shown) + (f" + {total - 3} more..." if total > 3 else "")
    return [text or "<none>", _age(o, now)]


def _event(o: Obj, now: dt.datetime) -> list[Any]:
    first = o.get("firstTimestamp") or o.get("eventTime")
    last = o.get("lastTimestamp") or o.get("eventTime") or first
    count = int(o.get("count") or 1)
    seen = _since(last, now) if last else "<unknown>"
    if count > 1 and first:
        seen = f"{seen} (x{count} over {_since(first, now)})"
    inv, src = o.get("involvedObject") or {}, o.get("source") or {}
    source = ", ".join(x for x in (src.get("component"), src.get("host")) if x) or \
        str(o.get("reportingComponent") or "")
    return [seen, o.get("type", ""), o.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
            inv.get("fieldPath", ""), source, o.get("message", ""),
            _since(first, now) if first else "<unknown>", count, o["metadata"]["name"]]


def _lease(o: Obj, now: dt.datetime) -> list[Any]:
    return [(o.get("spec") or {}).get("holderIdentity") or "", _age(o, now)]


def _pv(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    ref = spec.get("claimRef") or {}
    return [(spec.get("capacity") or {}).get("storage", ""),
            ",".join(_ACCESS.get(m, m) for m in spec.get("accessModes") or []),
            spec.get("persistentVolumeReclaimPolicy", ""), status.get("phase", ""),
            f"{ref.get('namespace')}/{ref.get('name')}" if ref else "",
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or
            "<unset>", status.get("reason") or "", _age(o, now),
            spec.get("volumeMode") or "Filesystem"]


def _storage_class(o: Obj, now: dt.datetime) -> list[Any]:
    """printStorageClass: the name carries " (default)" for the default class."""
    ann = o["metadata"].get("annotations") or {}
    default = "true" in (ann.get("storageclass.kubernetes.io/is-default-class"),
                         ann.get("storageclass.beta.kubernetes.io/is-default-class"))
    return [o["metadata"]["name"] + (" (default)" if default else ""), o.get("provisioner", ""),
            o.get("reclaimPolicy") or "Delete", o.get("volumeBindingMode") or "Immediate",
            bool(o.get("allowVolumeExpansion")), _age(o, now)]


def _binding(o: Obj, now: dt.datetime) -> list[Any]:
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join((f"{s.get('namespace')}/" if kind == "ServiceAccount" else "") +
                         str(s.get("name")) for s in subjects if s.get("kind") == kind)

    return [f"{ref.get('kind')}/{ref.get('name')}", _age(o, now), names("User"),
            names("Group"), names("ServiceAccount")]


def _pdb(o: Obj, now: dt.datetime) -> list[Any]:
    spec = o.get("spec") or {}
    return [str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
            str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
            int((o.get("status") or {}).get("disruptionsAllowed") or 0), _age(o, now)]


def _network_policy(o: Obj, now: dt.datetime) -> list[Any]:
    sel = (o.get("spec") or {}).get("podSelector") or {}
    return [_selector(sel) if sel else "<none>", _age(o, now)]


def _controller_revision(o: Obj, now: dt.datetime) -> list[Any]:
    owner = next((r for r in o["metadata"].get("ownerReferences") or [] if r.get("controller")),
                 None)
    group = str((owner or {}).get("apiVersion", "")).rpartition("/")[0]
    kind = f"{str((owner or {}).get('kind', '')).lower()}{'.' + group if group else ''}"
    return [f"{kind}/{owner.get('name')}" if owner else "<none>",
            int(o.get("revision") or 0), _age(o, now)]


def _priority_class(o: Obj, now: dt.datetime) -> list[Any]:
    return [int(o.get("value") or 0), bool(o.get("globalDefault")), _age(o, now),
            o.get("preemptionPolicy") or "PreemptLowerPriority"]


def _endpoint_slice(o: Obj, now: dt.datetime) -> list[Any]:
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or [] if p.get("port")) \
        or "<unset>"
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [o.get("addressType", ""), ports, text or "<unset>", _age(o, now)]


def _webhooks(o: Obj, now: dt.datetime) -> list[Any]:
    return [len(o.get("webhooks") or []), _age(o, now)]


def _admission_policy(o: Obj, now: dt.datetime) -> list[Any]:
    spec = o.get("spec") or {}
    kind = spec.get("paramKind")
    param = f"{kind.get('apiVersion')}/{kind.get('kind')}" if isinstance(kind, dict) else "<unset>"
    return [len(spec.get("validations") or []), param, _age(o, now)]


def _admission_policy_binding(o: Obj, now: dt.datetime) -> list[Any]:
    spec = o.get("spec") or {}
    ref = spec.get("paramRef")
    param = "<unset>"
    if isinstance(ref, dict) and ref.get("name"):
        param = f"{ref.get('namespace') or '*'}/{ref['name']}"
    elif isinstance(ref, dict) and ref.get("selector") is not None:
        # Simplified: the printer shows the selector's Go String(), not this label form.
        param = _selector(ref["selector"])
    return [spec.get("policyName") or "", param, _age(o, now)]


def _rc(o: Obj, now: dt.datetime) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    sel = spec.get("selector") or {}
    return [int(spec.get("replicas", 1)), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0), _age(o, now), names, images,
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


PRINTERS.update({
    ("batch", "jobs"): (_cols(("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0),
                              *WORKLOAD, ("Selector", 1)), _job),
    ("batch", "cronjobs"): (_cols(("Schedule", 0), ("Timezone", 0), ("Suspend", 0, "boolean"),
                                  ("Active", 0, "integer"), ("Last Schedule", 0), ("Age", 0),
                                  *WORKLOAD, ("Selector", 1)), _cronjob),
    ("networking.k8s.io", "ingresses"): (_cols(("Class", 0), ("Hosts", 0), ("Address", 0),
                                               ("Ports", 0), ("Age", 0)), _ingress),
    ("", "endpoints"): (_cols(("Endpoints", 0), ("Age", 0)), _endpoints),
    ("", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
                      _col("Subobject", priority=1), _col("Source", priority=1),
                      _col("Message"), _col("First Seen", priority=1),
                      _col("Count", priority=1), _col("Name", priority=1, fmt="name")], _event),
    ("coordination.k8s.io", "leases"): (_cols(("Holder", 0), ("Age", 0)), _lease),
    ("", "persistentvolumes"): (_cols(("Capacity", 0), ("Access Modes", 0),
                                      ("Reclaim Policy", 0), ("Status", 0), ("Claim", 0),
                                      ("StorageClass", 0), ("VolumeAttributesClass", 0),
                                      ("Reason", 0), ("Age", 0), ("VolumeMode", 1)), _pv),
    # Its own name cell (with " (default)"): a copy of NAME, so none is prepended.
    ("storage.k8s.io", "storageclasses"): ([dict(NAME), *_cols(
        ("Provisioner", 0), ("ReclaimPolicy", 0), ("VolumeBindingMode", 0),
        ("AllowVolumeExpansion", 0), ("Age", 0))[1:]], _storage_class),
    ("rbac.authorization.k8s.io", "rolebindings"): (_cols(
        ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)), _binding),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (_cols(
        ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)), _binding),
    ("policy", "poddisruptionbudgets"): (_cols(("Min Available", 0), ("Max Unavailable", 0),
                                               ("Allowed Disruptions", 0, "integer"),
                                               ("Age", 0)), _pdb),
    ("networking.k8s.io", "networkpolicies"): (_cols(("Pod-Selector", 0), ("Age", 0)),
                                               _network_policy),
    ("apps", "controllerrevisions"): (_cols(("Controller", 0), ("Revision", 0), ("Age", 0)),
                                      _controller_revision),
    ("scheduling.k8s.io", "priorityclasses"): (_cols(("Value", 0, "integer"),
                                                     ("Global-Default", 0, "boolean"),
                                                     ("Age", 0), ("PreemptionPolicy", 0)),
                                               _priority_class),
    ("discovery.k8s.io", "endpointslices"): (_cols(("AddressType", 0), ("Ports", 0),
                                                   ("Endpoints", 0), ("Age", 0)),
                                             _endpoint_slice),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): (
        _cols(("Webhooks", 0, "integer"), ("Age", 0)), _webhooks),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): (
        _cols(("Webhooks", 0, "integer"), ("Age", 0)), _webhooks),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): (
        _cols(("Validations", 0, "integer"), ("ParamKind", 0), ("Age", 0)), _admission_policy),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): (
        _cols(("PolicyName", 0), ("ParamRef", 0), ("Age", 0)), _admission_policy_binding),
    ("", "replicationcontrollers"): (_cols(("Desired", 0, "integer"), ("Current", 0, "integer"),
                                           ("Ready", 0, "integer"), ("Age", 0), *WORKLOAD,
                                           ("Selector", 1)), _rc),
})


def _json_path(obj: Any, path: str) -> Any:
    """A simple JSONPath (``.status.sync.status``, ``.spec.ports[0].port``); None if absent."""
    node = obj
    for part in [p for p in path.strip().lstrip("$").split(".") if p]:
        name, _, index = part.partition("[")
        node = node.get(name) if isinstance(node, dict) and name else node
        if index:
            i = int(index.rstrip("]"))
            node = node[i] if isinstance(node, list) and -len(node) <= i < len(node) else None
        if node is None:
            return None
    return node


def _crd_cell(ctype: str, value: Any, now: dt.datetime) -> Any:
    if value is None:
        return None
    if ctype == "date":
        return _since(str(value), now)
    if ctype == "string":
        return value if isinstance(value, str) else json.dumps(value)
    return value


def crd_printer(columns: list[Obj] | None) -> Printer:
    """Name and the version's additionalPrinterColumns (an Age column when it has none)."""
    cols = columns or [{"name": "Age", "type": "date", "description": AGE_DOC,
                        "jsonPath": ".metadata.creationTimestamp"}]
    defs = [NAME, *(_col(str(c.get("name")), str(c.get("type") or "string"),
                         int(c.get("priority") or 0), str(c.get("description") or ""),
                         str(c.get("format") or "")) for c in cols)]

    def row(o: Obj, now: dt.datetime) -> list[Any]:
        return [_crd_cell(str(c.get("type") or "string"), _json_path(o, str(c.get("jsonPath"))),
                          now) for c in cols]

    return defs, row


DEFAULT: Printer = ([NAME, _col("Created At", "date", desc=AGE_DOC)],
                    lambda o, now: [o["metadata"].get("creationTimestamp")])


def _row_object(obj: Obj, include: str, version: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata") or {}}


def to_table(rt: ResourceType, body: Obj, printer: Printer, version: str,
             include: str | None) -> Obj:
    """The Table of a list (``items``) or of one object.

    Raises:
        ApiError: 400 for an ``includeObject`` other than None, Metadata or Object.
    """
    include = include or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise ApiError(400, "BadRequest", f'Unsupported value: "{include}": supported values: '
                       '"None", "Metadata", "Object"')
    defs, cells = printer
    now = dt.datetime.now(dt.UTC)
    is_list = "items" in body and body.get("kind", "").endswith("List")
    objs = body["items"] if is_list else [body]
    rows = []
    for o in objs:
        # Every printer but the Events' starts with the name (theirs is a wide column).
        first = [o["metadata"]["name"]] if defs[0] is NAME else []
        row: Obj = {"cells": [*first, *cells(o, now)]}
        obj = _row_object(o, include, version)
        if obj is not None:
            row["object"] = obj
        rows.append(row)
    meta = dict(body.get("metadata") or {}) if is_list else {
        "resourceVersion": (body.get("metadata") or {}).get("resourceVersion", "")}
    meta.pop("remainingItemCount", None)
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": meta,
            "columnDefinitions": defs, "rows": rows}
