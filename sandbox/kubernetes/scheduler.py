"""kube-scheduler's filters for the sandbox, and the kubelet's checks before a pod starts.

Filters (pkg/scheduler/framework/plugins; the reasons are the plugins' own strings, counted per
node and sorted, in the ``0/3 nodes are available: ...`` message of the FailedScheduling event
and the PodScheduled=False condition): NodeUnschedulable, NodeName, NodeAffinity (nodeSelector
and required node affinity), NodeResourcesFit (requests against allocatable minus what the
node's pods request, and the pod count), InterPodAffinity (required affinity and anti-affinity,
both ways), VolumeBinding (a claim that does not exist or is not bound yet) and
VolumeRestrictions (ReadWriteOncePod). A ReadWriteOnce claim does not filter nodes: as in a real
cluster, the second pod is bound and its volume attach fails with the attach/detach
controller's ``Multi-Attach error`` (event FailedAttachVolume), so the pod waits in
ContainerCreating. Missing ConfigMaps and Secrets referenced by env are the kubelet's
``CreateContainerConfigError``.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.api import now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.workloads import (
    _fits_selector,
    _q,
    pod_requests,
    selector_matches,
)

if TYPE_CHECKING:
    from sandbox.kubernetes.workloads import Workloads

SCHEDULER = "default-scheduler"
_TERMINAL = ("Succeeded", "Failed")


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _terms(pod: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    aff = (((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {})
    return [t for t in aff.get("requiredDuringSchedulingIgnoredDuringExecution") or []
            if isinstance(t, dict)]


def _term_selects(term: dict[str, Any], owner_ns: str, other: dict[str, Any]) -> bool:
    namespaces = term.get("namespaces") or ([] if term.get("namespaceSelector") is not None
                                            else [owner_ns])
    if namespaces and other["metadata"].get("namespace") not in namespaces:
        return False
    return selector_matches(term.get("labelSelector"), other["metadata"].get("labels") or {})


class Scheduler:
    def __init__(self, w: Workloads):
        self.w = w
        self.api = w.api
        self.store = w.store
        self.nodes = {n["metadata"]["name"]: n for n in self.store.select(("", "nodes"))
                      if not n["metadata"].get("deletionTimestamp")}
        self.pods = [p for p in self.store.select(("", "pods"))
                     if (p.get("status") or {}).get("phase") not in _TERMINAL]

    def _node_pods(self, node: str) -> list[dict[str, Any]]:
        return [p for p in self.pods if (p.get("spec") or {}).get("nodeName") == node]

    def run(self) -> None:
        prt = self.w._rt("", "pods")
        for pod in list(self.pods):
            spec = pod.get("spec") or {}
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if spec.get("nodeName"):
                self.kubelet(prt, pod)
                continue
            if spec.get("schedulerName", SCHEDULER) != SCHEDULER:
                continue
            node, why = self.pick(pod)
            if node is None:
                self._unschedulable(prt, pod, why)
            else:
                self._bind(prt, pod, node)

    def pick(self, pod: dict[str, Any]) -> tuple[str | None, str]:
        if not self.nodes:
            return None, "no nodes available to schedule pods"
        volume_reason = self._volumes(pod)
        if volume_reason:
            n = len(self.nodes)
            return None, (f"0/{n} nodes are available: {volume_reason}. preemption: 0/{n} nodes "
                          f"are available: {n} Preemption is not helpful for scheduling.")
        reasons: Counter[str] = Counter()
        fits = []
        for name in sorted(self.nodes):
            why = self.filter(pod, self.nodes[name])
            if why:
                reasons.update(why)
            else:
                fits.append(name)
        if fits:
            # Least allocated (NodeResourcesFit's default score): the node with the most free cpu.
            return min(fits, key=lambda n: (self._used(n).get("cpu", Fraction(0)), n)), ""
        n = len(self.nodes)
        text = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        return None, (f"0/{n} nodes are available: {text}. preemption: 0/{n} nodes are "
                      f"available: {n} Preemption is not helpful for scheduling.")

    def filter(self, pod: dict[str, Any], node: dict[str, Any]) -> list[str]:
        spec = pod.get("spec") or {}
        if (node.get("spec") or {}).get("unschedulable"):
            return ["node(s) were unschedulable"]
        if not _ready(node):
            return ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        if not _fits_selector(spec, node):
            return ["node(s) didn't match Pod's node affinity/selector"]
        out = self._resources(pod, node)
        if not self._affinity_ok(pod, node):
            out.append("node(s) didn't match pod affinity rules")
        if not self._anti_affinity_ok(pod, node):
            out.append("node(s) didn't match pod anti-affinity rules")
        if self._rwop_conflict(pod, node):
            out.append("node has pod using PersistentVolumeClaim with the same name and "
                       "ReadWriteOncePod access mode")
        return out

    def _used(self, node: str) -> dict[str, Fraction]:
        used: dict[str, Fraction] = {}
        for p in self._node_pods(node):
            for k, v in pod_requests(p).items():
                used[k] = used.get(k, Fraction(0)) + v
        return used

    def _resources(self, pod: dict[str, Any], node: dict[str, Any]) -> list[str]:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        used = self._used(node["metadata"]["name"])
        out = []
        if len(self._node_pods(node["metadata"]["name"])) + 1 > int(_q(alloc.get("pods", 110))):
            out.append("Too many pods")
        for res, want in sorted(pod_requests(pod).items()):
            if want <= 0:
                continue
            cap = _q(alloc[res]) if res in alloc else Fraction(0)
            if used.get(res, Fraction(0)) + want > cap:
                out.append(f"Insufficient {res}")
        return out

    def _topology(self, node: dict[str, Any], key: str) -> str | None:
        return (node["metadata"].get("labels") or {}).get(key)

    def _pod_topology(self, other: dict[str, Any], key: str) -> str | None:
        node = self.nodes.get((other.get("spec") or {}).get("nodeName") or "")
        return self._topology(node, key) if node else None

    def _affinity_ok(self, pod: dict[str, Any], node: dict[str, Any]) -> bool:
        ns = pod["metadata"]["namespace"]
        for term in _terms(pod, "podAffinity"):
            key = str(term.get("topologyKey") or "")
            value = self._topology(node, key)
            matching = [p for p in self.pods if (p.get("spec") or {}).get("nodeName")
                        and _term_selects(term, ns, p)]
            # A pod matching its own affinity may go first anywhere (the first of a group).
            if not matching and _term_selects(term, ns, pod):
                continue
            if value is None or not any(self._pod_topology(p, key) == value for p in matching):
                return False
        return True

    def _anti_affinity_ok(self, pod: dict[str, Any], node: dict[str, Any]) -> bool:
        ns = pod["metadata"]["namespace"]
        placed = [p for p in self.pods if (p.get("spec") or {}).get("nodeName")
                  and p["metadata"]["uid"] != pod["metadata"].get("uid")]
        for term in _terms(pod, "podAntiAffinity"):
            key = str(term.get("topologyKey") or "")
            value = self._topology(node, key)
            if value is not None and any(_term_selects(term, ns, p)
                                         and self._pod_topology(p, key) == value
                                         for p in placed):
                return False
        for other in placed:  # the placed pods' own anti-affinity against this one
            for term in _terms(other, "podAntiAffinity"):
                key = str(term.get("topologyKey") or "")
                value = self._topology(node, key)
                if value is not None and self._pod_topology(other, key) == value and \
                        _term_selects(term, other["metadata"]["namespace"], pod):
                    return False
        return True

    def _claims(self, pod: dict[str, Any]) -> list[str]:
        return [str(v["persistentVolumeClaim"].get("claimName"))
                for v in (pod.get("spec") or {}).get("volumes") or []
                if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)]

    def _volumes(self, pod: dict[str, Any]) -> str:
        ns = pod["metadata"]["namespace"]
        for claim in self._claims(pod):
            pvc = self.store.get(("", "persistentvolumeclaims"), ns, claim)
            if pvc is None:
                return f'persistentvolumeclaim "{claim}" not found'
            if pvc["metadata"].get("deletionTimestamp"):
                return f'persistentvolumeclaim "{claim}" is being deleted'
            if (pvc.get("status") or {}).get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
        return ""

    def _rwop_conflict(self, pod: dict[str, Any], node: dict[str, Any]) -> bool:
        ns = pod["metadata"]["namespace"]
        for claim in self._claims(pod):
            pvc = self.store.get(("", "persistentvolumeclaims"), ns, claim) or {}
            if "ReadWriteOncePod" not in ((pvc.get("spec") or {}).get("accessModes") or []):
                continue
            if any(claim in self._claims(p) and p["metadata"]["namespace"] == ns
                   and (p.get("spec") or {}).get("nodeName") for p in self.pods
                   if p["metadata"]["uid"] != pod["metadata"]["uid"]):
                return True
        return False

    def _bind(self, prt: Any, pod: dict[str, Any], node: str) -> None:
        new = clone(pod)
        new["spec"]["nodeName"] = node
        status = new.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.insert(0, {"type": "PodScheduled", "status": "True",
                         "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conds
        status.setdefault("phase", "Pending")
        bound = self.api.write_object(prt, pod, new, SCHEDULER)
        self.pods = [bound if p["metadata"]["uid"] == pod["metadata"]["uid"] else p
                     for p in self.pods]
        self.w.event(bound, "Normal", "Scheduled",
                     f'Successfully assigned {pod["metadata"]["namespace"]}/'
                     f'{pod["metadata"]["name"]} to {node}', SCHEDULER)

    def _unschedulable(self, prt: Any, pod: dict[str, Any], why: str) -> None:
        status = clone(pod.get("status") or {})
        old = next((c for c in status.get("conditions") or []
                    if c.get("type") == "PodScheduled"), None)
        if old is not None and old.get("message") == why:
            return
        status.setdefault("phase", "Pending")
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != "PodScheduled"] + [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": why, "lastTransitionTime": now_rfc3339()}]
        self.api.write_status(prt, pod, status, SCHEDULER)
        self.w.event(pod, "Warning", "FailedScheduling", why, SCHEDULER)

    def kubelet(self, prt: Any, pod: dict[str, Any]) -> None:
        """A bound pod's volumes attach and its containers start, or the reason they do not is
        written as the kubelet and the attach/detach controller would."""
        if (pod.get("status") or {}).get("phase") not in (None, "Pending"):
            return
        problem = self._attach_problem(pod) or self._config_problem(pod)
        self.w.ctl.start_pod(prt, pod, problem)

    def _attach_problem(self, pod: dict[str, Any]) -> tuple[str, str] | None:
        ns = pod["metadata"]["namespace"]
        node = pod["spec"]["nodeName"]
        for claim in self._claims(pod):
            pvc = self.store.get(("", "persistentvolumeclaims"), ns, claim) or {}
            modes = (pvc.get("spec") or {}).get("accessModes") or []
            if "ReadWriteOnce" not in modes or "ReadWriteMany" in modes:
                continue
            users = [p for p in self.pods
                     if p["metadata"]["uid"] != pod["metadata"]["uid"]
                     and p["metadata"]["namespace"] == ns and claim in self._claims(p)
                     and (p.get("spec") or {}).get("nodeName") not in (None, node)
                     and (p.get("status") or {}).get("phase") == "Running"]
            if users:
                volume = (pvc.get("spec") or {}).get("volumeName") or claim
                names = ", ".join(sorted(p["metadata"]["name"] for p in users))
                return ("FailedAttachVolume", f'Multi-Attach error for volume "{volume}" '
                        f"Volume is already used by pod(s) {names}")
        return None

    def _config_problem(self, pod: dict[str, Any]) -> tuple[str, str] | None:
        ns = pod["metadata"]["namespace"]
        for c in (pod.get("spec") or {}).get("containers") or []:
            refs: list[tuple[str, dict[str, Any]]] = []
            for src in c.get("envFrom") or []:
                refs += [(k, src[k]) for k in ("configMapRef", "secretRef") if src.get(k)]
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                refs += [(k, vf[k]) for k in ("configMapKeyRef", "secretKeyRef") if vf.get(k)]
            for kind, ref in refs:
                if ref.get("optional"):
                    continue
                plural, word = (("secrets", "secret") if kind.startswith("secret")
                                else ("configmaps", "configmap"))
                obj = self.store.get(("", plural), ns, str(ref.get("name", "")))
                if obj is None:
                    return ("CreateContainerConfigError", f'{word} "{ref.get("name")}" not found')
                key = ref.get("key")
                if key and key not in (obj.get("data") or {}) and \
                        key not in (obj.get("binaryData") or {}):
                    kind_name = "Secret" if word == "secret" else "ConfigMap"
                    return ("CreateContainerConfigError",
                            f"couldn't find key {key} in {kind_name} {ns}/{ref.get('name')}")
        return None
