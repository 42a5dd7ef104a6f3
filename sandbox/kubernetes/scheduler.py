"""kube-scheduler's filters for the sandbox, and the kubelet's checks before a pod starts.

Filters (pkg/scheduler/framework/plugins; the reasons are the plugins' own strings, counted per
node and sorted, in the ``0/3 nodes are available: ...`` message of the FailedScheduling event
and the PodScheduled=False condition; a node is rejected by the first plugin that fails, in the
default profile's order): NodeUnschedulable (unless tolerated), TaintToleration (NoSchedule and
NoExecute taints, a NotReady node's ``node.kubernetes.io/not-ready``), NodeAffinity
(nodeSelector and required node affinity), NodeResourcesFit (requests against allocatable minus
what the node's pods request, and the pod count), VolumeRestrictions (ReadWriteOncePod),
PodTopologySpread (``DoNotSchedule`` constraints: maxSkew, minDomains, matchLabelKeys,
nodeAffinityPolicy/nodeTaintsPolicy), InterPodAffinity (required affinity and anti-affinity,
both ways), and VolumeBinding (plugins/volumebinding/binder.go: a claim that does not exist or
an unbound claim of an ``Immediate`` class makes the pod unschedulable; a bound claim's PV node
affinity and a delayed claim's selected node filter nodes; for the unbound claims of a
``WaitForFirstConsumer`` class the chosen node goes on the claim as
``volume.kubernetes.io/selected-node``, or a fitting unbound PV is pre-bound to it, and the pod
is bound only once they are Bound, as PreBind waits for them). A
ReadWriteOnce claim does not filter nodes: as in a real cluster, the second pod is bound and its
volume attach fails with the attach/detach controller's ``Multi-Attach error`` (event
FailedAttachVolume), so the pod waits in ContainerCreating. Missing ConfigMaps and Secrets
referenced by env are the kubelet's ``CreateContainerConfigError``. The taint eviction
controller deletes running pods that do not tolerate a node's NoExecute taint.
"""

from __future__ import annotations

import time
from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes import storage
from sandbox.kubernetes.api import now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.quantity import QuantityError
from sandbox.kubernetes.quantity import parse as parse_quantity
from sandbox.kubernetes.workloads import (
    UNSCHEDULABLE_TAINT,
    _fits_selector,
    _q,
    no_execute_grace,
    pod_requests,
    selector_matches,
    tolerates,
    untolerated_taint,
)

if TYPE_CHECKING:
    from sandbox.kubernetes.workloads import Workloads

SCHEDULER = "default-scheduler"
EVICTION = "taint-eviction-controller"
SPREAD_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
_TERMINAL = ("Succeeded", "Failed")


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


def _with_label_keys(selector: dict[str, Any] | None, keys: list[str] | None,
                     labels: dict[str, str]) -> dict[str, Any] | None:
    """``matchLabelKeys``: the pod's own values of those keys join the selector. None: no
    selector, which selects no pod (``labels.Nothing()``)."""
    if selector is None:
        return None
    out = dict(selector)
    extra = {k: labels[k] for k in keys or [] if k in labels}
    if extra:
        out["matchLabels"] = {**(out.get("matchLabels") or {}), **extra}
    return out


class Scheduler:
    def __init__(self, w: Workloads):
        self.w = w
        self.api = w.api
        self.store = w.store
        self.nodes = {n["metadata"]["name"]: n for n in self.store.select(("", "nodes"))
                      if not n["metadata"].get("deletionTimestamp")}
        self.pods = [p for p in self.store.select(("", "pods"))
                     if (p.get("status") or {}).get("phase") not in _TERMINAL]
        self.classes = {c["metadata"]["name"]: c for c in self.store.select(storage.CLASSES_GK)}

    def _node_pods(self, node: str) -> list[dict[str, Any]]:
        return [p for p in self.pods if (p.get("spec") or {}).get("nodeName") == node]

    def run(self) -> None:
        prt = self.w._rt("", "pods")
        for pod in list(self.pods):
            spec = pod.get("spec") or {}
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if spec.get("nodeName"):
                if not self._evicted(prt, pod):
                    self.kubelet(prt, pod)
                continue
            if spec.get("schedulerName", SCHEDULER) != SCHEDULER:
                continue
            node, why = self.pick(pod)
            if node is None:
                self._unschedulable(prt, pod, why)
            elif not self._prebind(pod, node):
                self._bind(prt, pod, node)

    def _evicted(self, prt: Any, pod: dict[str, Any]) -> bool:
        """The taint eviction controller: a pod on a node with a NoExecute taint it does not
        tolerate (or only for ``tolerationSeconds``, now passed) gets the DisruptionTarget
        condition (DeletionByTaintManager), a TaintManagerEviction event, and is deleted."""
        node = self.nodes.get(pod["spec"]["nodeName"])
        uid = pod["metadata"]["uid"]
        grace = no_execute_grace(pod.get("spec") or {}, node) if node else None
        if grace is None:
            self.w.evict_at.pop(uid, None)
            return False
        due = self.w.evict_at.setdefault(uid, time.monotonic() + grace)
        if time.monotonic() < due:
            return False
        status = clone(pod.get("status") or {})
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != "DisruptionTarget"] + [{
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": now_rfc3339()}]
        self.api.write_status(prt, pod, status, EVICTION)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.w.event(pod, "Normal", "TaintManagerEviction",
                     f"Marking for deletion Pod {ns}/{name}", EVICTION)
        self.api.delete(prt, ns, name, {})
        self.w.evict_at.pop(uid, None)
        return True

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
        # FitError.Error (schedule_one.go) sorts the "<count> <reason>" strings themselves.
        text = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
        return None, (f"0/{n} nodes are available: {text}. preemption: 0/{n} nodes are "
                      f"available: {n} Preemption is not helpful for scheduling.")

    def filter(self, pod: dict[str, Any], node: dict[str, Any]) -> list[str]:
        """The reasons of the first filter plugin that rejects ``node``, in the default
        profile's order (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit,
        VolumeRestrictions, PodTopologySpread, InterPodAffinity); empty when it fits."""
        spec = pod.get("spec") or {}
        if (node.get("spec") or {}).get("unschedulable") and \
                not tolerates(spec.get("tolerations"), UNSCHEDULABLE_TAINT):
            return ["node(s) were unschedulable"]
        taint = untolerated_taint(spec, node)
        if taint is not None:
            return [f"node(s) had untolerated taint {{{taint.get('key')}: "
                    f"{taint.get('value') or ''}}}"]
        if not _fits_selector(spec, node):
            return ["node(s) didn't match Pod's node affinity/selector"]
        out = self._resources(pod, node)
        if out:
            return out
        if self._rwop_conflict(pod, node):
            return ["node has pod using PersistentVolumeClaim with the same name and "
                    "ReadWriteOncePod access mode"]
        volume = self._volume_binding(pod, node)
        if volume:
            return [volume]
        spread = self._spread(pod, node)
        if spread:
            return [spread]
        if not self._affinity_ok(pod, node):
            return ["node(s) didn't match pod affinity rules"]
        if not self._anti_affinity_ok(pod, node):
            return ["node(s) didn't match pod anti-affinity rules"]
        return []

    def _spread(self, pod: dict[str, Any], node: dict[str, Any]) -> str:
        """PodTopologySpread's filter for ``whenUnsatisfiable: DoNotSchedule`` constraints
        (plugins/podtopologyspread/filtering.go): the node needs the topology label; the
        matching pods in its domain, plus this pod if it matches, minus the least populated
        domain's count (0 with fewer domains than ``minDomains``) may not exceed ``maxSkew``.
        Domains are the nodes that pass the pod's node affinity (``nodeAffinityPolicy``
        Honor) and, only with ``nodeTaintsPolicy: Honor``, its taints."""
        spec, labels = pod.get("spec") or {}, pod["metadata"].get("labels") or {}
        for c in spec.get("topologySpreadConstraints") or []:
            if c.get("whenUnsatisfiable", "DoNotSchedule") != "DoNotSchedule":
                continue
            key = str(c.get("topologyKey") or "")
            value = self._topology(node, key)
            if value is None:
                return SPREAD_NOT_MATCH + " (missing required label)"
            selector = _with_label_keys(c.get("labelSelector"), c.get("matchLabelKeys"), labels)
            counts = {v: 0 for n in self.nodes.values()
                      if (v := self._topology(n, key)) is not None and self._domain(c, spec, n)}
            for other in self.pods:
                where = self.nodes.get((other.get("spec") or {}).get("nodeName") or "")
                v = self._topology(where, key) if where else None
                if v in counts and other["metadata"].get("namespace") == \
                        pod["metadata"]["namespace"] and \
                        not other["metadata"].get("deletionTimestamp") and \
                        other["metadata"].get("uid") != pod["metadata"].get("uid") and \
                        selector is not None and \
                        selector_matches(selector, other["metadata"].get("labels") or {}):
                    counts[str(v)] += 1
            least = min(counts.values()) if len(counts) >= int(c.get("minDomains") or 1) else 0
            own = 1 if selector is not None and selector_matches(selector, labels) else 0
            if counts.get(value, 0) + own - least > int(c.get("maxSkew") or 1):
                return SPREAD_NOT_MATCH
        return ""

    @staticmethod
    def _domain(c: dict[str, Any], spec: dict[str, Any], node: dict[str, Any]) -> bool:
        if c.get("nodeAffinityPolicy", "Honor") == "Honor" and not _fits_selector(spec, node):
            return False
        return not (c.get("nodeTaintsPolicy") == "Honor" and untolerated_taint(spec, node))

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
            if (pvc.get("status") or {}).get("phase") != "Bound" and \
                    not storage.delays_binding(pvc, self.classes):
                return "pod has unbound immediate PersistentVolumeClaims"
        return ""

    def _pod_claims(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        ns = pod["metadata"]["namespace"]
        found = (self.store.get(("", "persistentvolumeclaims"), ns, c) for c in self._claims(pod))
        return [c for c in found if c is not None]

    def _volume_binding(self, pod: dict[str, Any], node: dict[str, Any]) -> str:
        """VolumeBinding's Filter: a bound claim's PV must allow the node (its nodeAffinity);
        a delayed claim the scheduler already placed (selected-node) only fits that node."""
        for pvc in self._pod_claims(pod):
            if (pvc.get("status") or {}).get("phase") == "Bound":
                pv = self.store.get(("", "persistentvolumes"), "",
                                    str((pvc.get("spec") or {}).get("volumeName") or "")) or {}
                required = (((pv.get("spec") or {}).get("nodeAffinity") or {})
                            .get("required"))
                if required and not _fits_selector({"affinity": {"nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": required}}}, node):
                    return "node(s) had volume node affinity conflict"
            elif storage.selected_node(pvc) not in (None, node["metadata"]["name"]):
                return "node(s) didn't find available persistent volumes to bind"
        return ""

    def _prebind(self, pod: dict[str, Any], node: str) -> bool:
        """AssumePodVolumes and BindPodVolumes for the pod's unbound delayed claims: a fitting
        unbound PV of the claim's class is pre-bound to it (its claimRef), else the claim gets
        the chosen node (selected-node) for its provisioner. True while one is still unbound:
        the pod waits in PreBind and is not bound to the node yet."""
        waiting = False
        pvrt, crt = self.w._rt("", "persistentvolumes"), self.w._rt("", "persistentvolumeclaims")
        for pvc in self._pod_claims(pod):
            if (pvc.get("status") or {}).get("phase") == "Bound" or \
                    not storage.delays_binding(pvc, self.classes):
                continue
            waiting = True
            if storage.selected_node(pvc) is not None:
                continue
            spec, meta = pvc.get("spec") or {}, pvc["metadata"]
            try:
                request = int(parse_quantity(str(((spec.get("resources") or {}).get(
                    "requests") or {}).get("storage") or "0"))[0])
            except QuantityError:
                request = 0
            pv_name = storage.static_volume(pvc, request, self.store.select(pvrt.gk))
            if pv_name is not None:
                pv = self.store.get(pvrt.gk, "", pv_name)
                new_pv = clone(pv)
                new_pv["spec"]["claimRef"] = {
                    "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                    "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}
                self.api.write_object(pvrt, pv, new_pv, SCHEDULER)
                continue
            new = clone(pvc)
            new["metadata"].setdefault("annotations", {})[storage.SELECTED_NODE] = node
            self.api.write_object(crt, pvc, new, SCHEDULER)
        return waiting

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
