"""Workload controllers and the scheduler: Deployments own ReplicaSets, ReplicaSets,
ReplicationControllers, StatefulSets and DaemonSets own Pods, the scheduler binds Pods to
Nodes, and workload status is counted from the Pods, as kube-controller-manager and
kube-scheduler do.

Sources: pkg/controller/deployment (``pod-template-hash`` label and ReplicaSet name
``<deployment>-<hash>``, ``deployment.kubernetes.io/revision``, the Available/Progressing/
ReplicaFailure conditions and their reasons in deployment/util/deployment_util.go),
pkg/controller/replicaset (``FailedCreate`` and the ReplicaFailure condition), pkg/controller/
statefulset (ordinal names, ``controller-revision-hash``, claims ``<template>-<pod>``,
OrderedReady), pkg/controller/daemon (one pod per eligible node, pinned with a required node
affinity on ``metadata.name``), pkg/scheduler/framework/plugins (NodeResourcesFit ``Insufficient
cpu``, NodeAffinity ``node(s) didn't match Pod's node affinity/selector``, InterPodAffinity
``node(s) didn't match pod anti-affinity rules``, VolumeBinding, VolumeRestrictions for
ReadWriteOncePod) and the attach/detach controller's ``Multi-Attach error`` for a
ReadWriteOnce volume attached to another node (a ReadWriteOnce claim does not block
scheduling: the second pod is bound and waits in ContainerCreating).

A Deployment rolls out as deployment/rolling.go does (the new ReplicaSet grows within
``maxSurge``, the old ones shrink while ``maxUnavailable`` allows, one step per pass) or as
recreate.go does (old pods gone before the new ReplicaSet is created).

Simplified: the template hash is FNV-1a of the template's JSON (the real one hashes a Go dump),
no preemption or pod priorities, images are never pulled (a scheduled pod with its volumes
attached is Running and Ready at once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes import quantity, storage
from sandbox.kubernetes.api import ApiError, now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers

MANAGER = "kube-controller-manager"
SCHEDULER = "default-scheduler"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# deployment_util.go annotationsToSkip: what copyDeploymentAnnotationsToReplicaSet leaves out.
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"})
# maxRevHistoryLengthInChars (deployment/sync.go).
MAX_REVISION_HISTORY_CHARS = 2000
# rand.SafeEncodeString's alphabet (no vowels, no confusable digits).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_TERMINAL = ("Succeeded", "Failed")


def safe_encode(n: int, length: int = 10) -> str:
    out = ""
    while n and len(out) < length:
        out += _SAFE[n % len(_SAFE)]
        n //= len(_SAFE)
    return out or _SAFE[0]


def template_hash(template: Any, collisions: int = 0) -> str:
    """FNV-1a (32 bit) of the template, safe-encoded like controller.ComputeHash."""
    h = 0x811C9DC5
    for b in (json.dumps(template, sort_keys=True) + str(collisions or "")).encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return safe_encode(h)


def _suffix(seed: str) -> str:
    return safe_encode(int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16), 5)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    """A LabelSelector against labels (an empty selector matches everything)."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = str(expr.get("key")), expr.get("operator")
        values = expr.get("values") or []
        ok = {"In": labels.get(key) in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(str(op), False)
        if not ok:
            return False
    return True


def _node_term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    for expr in term.get("matchExpressions") or []:
        if not _node_expr(expr, labels):
            return False
    for expr in term.get("matchFields") or []:
        if not _node_expr(expr, fields):
            return False
    return True


def _node_expr(expr: dict[str, Any], labels: dict[str, Any]) -> bool:
    key, op, values = str(expr.get("key")), expr.get("operator"), expr.get("values") or []
    if op in ("Gt", "Lt"):
        try:
            have, want = int(labels[key]), int(values[0])
        except (KeyError, IndexError, ValueError):
            return False
        return have > want if op == "Gt" else have < want
    return {"In": labels.get(key) in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels, "DoesNotExist": key not in labels}.get(str(op), False)


def pod_requests(pod: dict[str, Any]) -> dict[str, Fraction]:
    """The pod's effective requests: the sum over containers, or an init container's if larger
    (resource_helpers.PodRequests)."""
    spec = pod.get("spec") or {}
    total: dict[str, Fraction] = {}
    for c in spec.get("containers") or []:
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            total[k] = total.get(k, Fraction(0)) + _q(v)
    for c in spec.get("initContainers") or []:
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            total[k] = max(total.get(k, Fraction(0)), _q(v))
    return total


def _q(value: Any) -> Fraction:
    try:
        return quantity.parse(str(value))[0]
    except quantity.QuantityError:
        return Fraction(0)


def is_ready(pod: dict[str, Any]) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _owned(pods: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    return [p for p in pods if any(r.get("uid") == uid and r.get("controller")
                                   for r in p["metadata"].get("ownerReferences") or [])]


def _owner_ref(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _cond(ctype: str, status: str, reason: str, message: str,
          old: list[dict[str, Any]], update_time: bool = False) -> dict[str, Any]:
    prev = next((c for c in old if c.get("type") == ctype), None)
    ts = now_rfc3339()
    same = prev is not None and prev.get("status") == status
    cond = {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": prev.get("lastTransitionTime", ts) if same and prev else ts}
    if update_time:
        unchanged = same and prev is not None and prev.get("reason") == reason \
            and prev.get("message") == message
        cond["lastUpdateTime"] = prev.get("lastUpdateTime", ts) if unchanged and prev else ts
    return cond


class Workloads:
    """The workload controllers and the scheduler, run by ``Controllers.reconcile_once``."""

    def __init__(self, ctl: Controllers):
        self.ctl = ctl
        self.api = ctl.api
        self.store = ctl.store
        self._backoff: dict[str, tuple[float, float]] = {}  # owner uid -> (retry at, step)
        # pod uid -> when the taint manager will evict it (a NoExecute toleration's seconds)
        self.evict_at: dict[str, float] = {}

    def _rt(self, group: str, plural: str) -> ResourceType:
        rt = self.api.registry.by_gk(group, plural)
        assert rt is not None, (group, plural)
        return rt

    def _pods(self, ns: str) -> list[dict[str, Any]]:
        return self.store.select(("", "pods"), ns)

    def event(self, involved: dict[str, Any], etype: str, reason: str, message: str,
              source: str) -> None:
        """Record an Event, one per object and reason: a repeat with another message updates
        it and bumps ``count`` (as the event recorder's aggregation does); the same message
        again writes nothing."""
        meta = involved["metadata"]
        ns = meta.get("namespace") or "default"
        name = f'{meta["name"]}.{_suffix(meta.get("uid", "") + reason)}'
        ert = self._rt("", "events")
        old = self.store.get(ert.gk, ns, name)
        ts = now_rfc3339()
        try:
            if old is not None:
                if old.get("message") == message:
                    return
                new = clone(old)
                new.update(message=message, lastTimestamp=ts,
                           count=int(old.get("count") or 1) + 1)
                self.api.write_object(ert, old, new, source)
                return
            self.api.write_object(ert, None, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {"apiVersion": involved.get("apiVersion"),
                                   "kind": involved.get("kind"), "name": meta["name"],
                                   "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                                   "resourceVersion": meta.get("resourceVersion")},
                "reason": reason, "message": message, "type": etype,
                "source": {"component": source}, "reportingComponent": source,
                "firstTimestamp": ts, "lastTimestamp": ts, "count": 1}, source)
        except ApiError:
            pass

    def create_pod(self, owner: dict[str, Any], pod: dict[str, Any], manager: str,
                   failures: list[str]) -> dict[str, Any] | None:
        """Create a controller's pod through admission; a denial is a FailedCreate event and a
        message for the owner's ReplicaFailure condition."""
        uid = owner["metadata"]["uid"]
        if self._backoff.get(uid, (0.0, 0.0))[0] > time.monotonic():
            failures.append("")
            return None
        try:
            created = self.api.write_object(self._rt("", "pods"), None, pod, manager)
            self._backoff.pop(uid, None)
            return created
        except ApiError as exc:
            message = exc.message
            # The controllers' rate limiter: retries back off from 1 s, doubling up to 60 s.
            step = min(60.0, max(1.0, self._backoff.get(uid, (0.0, 0.0))[1] * 2))
            self._backoff[uid] = (time.monotonic() + step, step)
            failures.append(message)
            self.event(owner, "Warning", "FailedCreate", f"Error creating: {message}", manager)
            return None

    def reconcile(self) -> None:
        for step in (self.deployments, self.replicasets, self.statefulsets, self.daemonsets,
                     self.schedule):
            try:
                step()
            except ApiError:
                continue

    def _pod_from_template(self, owner: dict[str, Any], template: dict[str, Any], name: str,
                           labels: dict[str, str], ref: dict[str, Any]) -> dict[str, Any]:
        tmeta = template.get("metadata") or {}
        meta: dict[str, Any] = {"name": name, "namespace": owner["metadata"]["namespace"],
                                "labels": {**(tmeta.get("labels") or {}), **labels},
                                "ownerReferences": [ref]}
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": clone(template.get("spec") or {})}

    def deployments(self) -> None:
        rsrt = self._rt("apps", "replicasets")
        for rt, dep in self.ctl._each("apps", "deployments"):
            meta, spec = dep["metadata"], dep.get("spec") or {}
            ns = meta["namespace"]
            owned = _owned(self.store.select(rsrt.gk, ns), meta["uid"])
            template = spec.get("template") or {}
            collisions = int((dep.get("status") or {}).get("collisionCount") or 0)
            h = template_hash(template, collisions)
            want = int(spec.get("replicas", 1))
            new_rs = next((r for r in owned
                           if (r["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
            revisions = [_revision(r) for r in owned]
            olds = [r for r in owned if new_rs is None
                    or r["metadata"]["uid"] != new_rs["metadata"]["uid"]]
            if new_rs is not None:
                new_rs = self._sync_new_replicaset(
                    rsrt, dep, new_rs, max(map(_revision, olds), default=0) + 1)
            if not spec.get("paused"):
                if (spec.get("strategy") or {}).get("type") == "Recreate":
                    new_rs = self._recreate(rsrt, dep, new_rs, olds, h, want, revisions)
                else:
                    new_rs = self._rolling(rsrt, dep, new_rs, olds, h, want, revisions)
            owned = _owned(self.store.select(rsrt.gk, ns), meta["uid"])
            status = self._deployment_status(dep, owned, new_rs, want)
            annotations = dict(meta.get("annotations") or {})
            revision = ((new_rs or {}).get("metadata", {}).get("annotations") or {}).get(REVISION)
            if revision is not None and annotations.get(REVISION) != revision:
                # SetDeploymentRevision, written with UpdateStatus (deployment/sync.go).
                annotations[REVISION] = revision
                self.api.write_status(rt, dep, status, MANAGER, annotations)
            else:
                self.ctl._status(rt, dep, status, MANAGER)

    def _recreate(self, rsrt: ResourceType, dep: dict[str, Any], new_rs: dict[str, Any] | None,
                  olds: list[dict[str, Any]], h: str, want: int,
                  revisions: list[int]) -> dict[str, Any] | None:
        """rolloutRecreate (deployment/recreate.go): the old ReplicaSets go to 0, and only
        once none of their pods is left is the new one created and scaled up."""
        for old in olds:
            if (old.get("spec") or {}).get("replicas"):
                self._scale_rs(rsrt, old, 0, dep)
        if any(int((o.get("status") or {}).get("replicas") or 0) for o in olds) or any(
                _owned(self._pods(dep["metadata"]["namespace"]), o["metadata"]["uid"])
                for o in olds):
            return new_rs
        if new_rs is None:
            return self._new_replicaset(rsrt, dep, h, want, max(revisions, default=0) + 1, want)
        if (new_rs.get("spec") or {}).get("replicas") != want:
            return self._scale_rs(rsrt, new_rs, want, dep)
        return new_rs

    def _rolling(self, rsrt: ResourceType, dep: dict[str, Any], new_rs: dict[str, Any] | None,
                 olds: list[dict[str, Any]], h: str, want: int,
                 revisions: list[int]) -> dict[str, Any] | None:
        """rolloutRolling (deployment/rolling.go): the new ReplicaSet grows while the total
        stays within replicas + maxSurge (NewRSNewReplicas); the old ones shrink while the
        available pods stay at least replicas - maxUnavailable (reconcileOldReplicaSets:
        unhealthy replicas first, then the oldest), one step per pass."""
        surge, unavailable = rolling_limits(dep.get("spec") or {}, want)
        total = sum(_spec_replicas(r) for r in [*olds, *([new_rs] if new_rs else [])])
        have = _spec_replicas(new_rs) if new_rs else 0
        if have > want and new_rs is not None:
            new_rs = self._scale_rs(rsrt, new_rs, want, dep)
        elif have < want:
            count = have + max(0, min(want + surge - total, want - have))
            if new_rs is None:
                new_rs = self._new_replicaset(rsrt, dep, h, want, max(revisions, default=0) + 1,
                                              count)
            elif count != have:
                new_rs = self._scale_rs(rsrt, new_rs, count, dep)
        self._scale_down_old(rsrt, dep, olds, new_rs, want - unavailable)
        return new_rs

    def _scale_down_old(self, rsrt: ResourceType, dep: dict[str, Any],
                        olds: list[dict[str, Any]],
                        new_rs: dict[str, Any] | None, min_available: int) -> None:
        live = [o for o in olds if _spec_replicas(o)]
        if not live:
            return
        new_unavailable = (_spec_replicas(new_rs) - _available(new_rs)) if new_rs else 0
        everything = [*olds, *([new_rs] if new_rs else [])]
        budget = sum(map(_spec_replicas, everything)) - min_available - new_unavailable
        live.sort(key=lambda r: (r["metadata"].get("creationTimestamp") or "",
                                 r["metadata"]["name"]))
        size = {o["metadata"]["uid"]: _spec_replicas(o) for o in live}
        for old in live:  # cleanupUnhealthyReplicas: what is not available goes first
            cut = min(budget, max(0, size[old["metadata"]["uid"]] - _available(old)))
            if cut > 0:
                size[old["metadata"]["uid"]] -= cut
                budget -= cut
        # scaleDownOldReplicaSetsForRollingUpdate: available pods above the minimum.
        spare = sum(map(_available, everything)) - min_available
        for old in live:
            cut = min(spare, size[old["metadata"]["uid"]])
            if cut > 0:
                size[old["metadata"]["uid"]] -= cut
                spare -= cut
        for old in live:
            if size[old["metadata"]["uid"]] != _spec_replicas(old):
                self._scale_rs(rsrt, old, size[old["metadata"]["uid"]], dep)

    def _new_replicaset(self, rsrt: ResourceType, dep: dict[str, Any], h: str, want: int,
                        revision: int, count: int) -> dict[str, Any] | None:
        meta, spec = dep["metadata"], dep.get("spec") or {}
        template = clone(spec.get("template") or {})
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
        selector = clone(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        annotations = _copied_annotations(dep, {})
        annotations.update({DESIRED_REPLICAS: str(want),
                            MAX_REPLICAS: str(want + _max_surge(dep, want)),
                            REVISION: str(revision)})
        body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f'{meta["name"]}-{h}', "namespace": meta["namespace"],
                             "labels": dict(tmeta["labels"]), "annotations": annotations,
                             "ownerReferences": [_owner_ref(dep, "apps/v1", "Deployment")]},
                "spec": {"replicas": count, "selector": selector, "template": template,
                         "minReadySeconds": spec.get("minReadySeconds", 0)}}
        try:
            return self.api.write_object(rsrt, None, body, "deployment-controller")
        except ApiError as exc:
            if exc.code == 409:
                # A ReplicaSet of that name not ours: a hash collision (collisionCount++).
                status = {**(dep.get("status") or {}),
                          "collisionCount": int((dep.get("status") or {}).get(
                              "collisionCount") or 0) + 1}
                self.api.write_status(self._rt("apps", "deployments"), dep, status, MANAGER)
            return None

    def _scale_rs(self, rsrt: ResourceType, rs: dict[str, Any], n: int,
                  dep: dict[str, Any]) -> dict[str, Any]:
        """scaleReplicaSet (deployment/sync.go): the new size, and the Deployment's replicas
        and replicas + maxSurge in the replica annotations."""
        want = int((dep.get("spec") or {}).get("replicas", 1))
        new = clone(rs)
        new["spec"]["replicas"] = n
        new["metadata"].setdefault("annotations", {}).update(
            {DESIRED_REPLICAS: str(want), MAX_REPLICAS: str(want + _max_surge(dep, want))})
        return self.api.write_object(rsrt, rs, new, "deployment-controller")

    def _sync_new_replicaset(self, rsrt: ResourceType, dep: dict[str, Any], rs: dict[str, Any],
                             revision: int) -> dict[str, Any]:
        """getNewReplicaSet for an existing new ReplicaSet (deployment/sync.go): the
        Deployment's annotations copied over and the revision raised to one above the old
        ReplicaSets' (SetNewReplicaSetAnnotations; the revision it had goes to the
        revision history, as on a rollback), minReadySeconds kept equal; one update."""
        annotations = _copied_annotations(dep, rs["metadata"].get("annotations") or {})
        old = (rs["metadata"].get("annotations") or {}).get(REVISION)
        if _int(old) < revision:
            annotations[REVISION] = str(revision)
            if old is not None:
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                while history and len(",".join([*history, old])) > MAX_REVISION_HISTORY_CHARS:
                    history.pop(0)
                annotations[REVISION_HISTORY] = ",".join([*history, old])
        min_ready = (dep.get("spec") or {}).get("minReadySeconds", 0)
        if annotations == (rs["metadata"].get("annotations") or {}) and \
                (rs.get("spec") or {}).get("minReadySeconds", 0) == min_ready:
            return rs
        new = clone(rs)
        new["metadata"]["annotations"] = annotations
        new["spec"]["minReadySeconds"] = min_ready
        return self.api.write_object(rsrt, rs, new, "deployment-controller")

    def _deployment_status(self, dep: dict[str, Any], owned: list[dict[str, Any]],
                           new_rs: dict[str, Any] | None, want: int) -> dict[str, Any]:
        spec = dep.get("spec") or {}
        old = dep.get("status") or {}
        counts = {k: sum(int((r.get("status") or {}).get(k) or 0) for r in owned)
                  for k in ("replicas", "readyReplicas", "availableReplicas")}
        updated = int(((new_rs or {}).get("status") or {}).get("replicas") or 0)
        max_unavailable = _int_or_percent((spec.get("strategy") or {}).get(
            "rollingUpdate", {}).get("maxUnavailable", "25%"), want, False)
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            max_unavailable = 0
        conds_old = old.get("conditions") or []
        available = counts["availableReplicas"] >= want - max_unavailable
        conds = [_cond("Available", "True", "MinimumReplicasAvailable",
                       "Deployment has minimum availability.", conds_old, True) if available
                 else _cond("Available", "False", "MinimumReplicasUnavailable",
                            "Deployment does not have minimum availability.", conds_old, True)]
        rs_name = (new_rs or {}).get("metadata", {}).get("name", "")
        done = (new_rs is not None and updated == want and counts["replicas"] == want
                and counts["availableReplicas"] >= want)
        if done:
            conds.append(_cond("Progressing", "True", "NewReplicaSetAvailable",
                               f'ReplicaSet "{rs_name}" has successfully progressed.',
                               conds_old, True))
        elif new_rs is not None:
            conds.append(self._progressing(spec, old, counts, updated, rs_name))
        failure = next((c for r in owned for c in (r.get("status") or {}).get("conditions") or []
                        if c.get("type") == "ReplicaFailure" and c.get("status") == "True"), None)
        if failure is not None:
            conds.append(_cond("ReplicaFailure", "True", str(failure.get("reason")),
                               str(failure.get("message")), conds_old, True))
        status: dict[str, Any] = {"observedGeneration": dep["metadata"].get("generation", 1),
                                  "replicas": counts["replicas"], "updatedReplicas": updated,
                                  "readyReplicas": counts["readyReplicas"],
                                  "availableReplicas": counts["availableReplicas"],
                                  "conditions": conds}
        unavailable = max(want, counts["replicas"]) - counts["availableReplicas"]
        if unavailable > 0:
            status["unavailableReplicas"] = unavailable
        if old.get("collisionCount"):
            status["collisionCount"] = old["collisionCount"]
        # The API omits zero counts (omitempty), as a real Deployment's status shows.
        return {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}

    @staticmethod
    def _progressing(spec: dict[str, Any], old: dict[str, Any], counts: dict[str, int],
                     updated: int, rs_name: str) -> dict[str, Any]:
        """The Progressing condition of a rollout under way (deployment/progress.go): its
        lastUpdateTime moves whenever the counts move; a rollout that has not moved for
        ``progressDeadlineSeconds`` (default 600) is False/ProgressDeadlineExceeded."""
        conds_old = old.get("conditions") or []
        prev = next((c for c in conds_old if c.get("type") == "Progressing"), None)
        moved = prev is None or updated != int(old.get("updatedReplicas") or 0) or any(
            counts[k] != int(old.get(k) or 0) for k in counts)
        if moved:
            return {**_cond("Progressing", "True", "ReplicaSetUpdated",
                            f'ReplicaSet "{rs_name}" is progressing.', conds_old, True),
                    "lastUpdateTime": now_rfc3339()}
        assert prev is not None
        since = prev.get("lastUpdateTime") or now_rfc3339()
        waited = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(
            since.replace("Z", "+00:00"))).total_seconds()
        deadline = spec.get("progressDeadlineSeconds", 600)
        if prev.get("reason") == "ProgressDeadlineExceeded" or waited > deadline:
            return _cond("Progressing", "False", "ProgressDeadlineExceeded",
                         f'ReplicaSet "{rs_name}" has timed out progressing.', conds_old, True)
        return dict(prev)

    def replicasets(self) -> None:
        """The ReplicaSet controller, and the ReplicationController manager, which is the same
        controller over the older kind (pkg/controller/replication/replication_controller.go:
        replicaset.NewBaseController with the v1 ReplicationController kind, events from
        ``replication-controller``)."""
        for group, plural, api, kind, manager in (
                ("apps", "replicasets", "apps/v1", "ReplicaSet", "replicaset-controller"),
                ("", "replicationcontrollers", "v1", "ReplicationController",
                 "replication-controller")):
            for rt, rs in self.ctl._each(group, plural):
                self._replicate(rt, rs, api, kind, manager)

    def _replicate(self, rt: ResourceType, rs: dict[str, Any], api: str, kind: str,
                   manager: str) -> None:
        meta, spec = rs["metadata"], rs.get("spec") or {}
        pods = [p for p in _owned(self._pods(meta["namespace"]), meta["uid"])
                if not p["metadata"].get("deletionTimestamp")]
        want = int(spec.get("replicas", 1))
        failures: list[str] = []
        if len(pods) < want:
            for _ in range(want - len(pods)):
                name = f'{meta["name"]}-{_suffix(str(uuid.uuid4()))}'
                pod = self._pod_from_template(rs, spec.get("template") or {}, name, {},
                                              _owner_ref(rs, api, kind))
                created = self.create_pod(rs, pod, manager, failures)
                if created is None:
                    break  # slow start: stop the batch at the first failure
                pods.append(created)
        elif len(pods) > want:
            # Unscheduled and not-ready pods go first (controller.ActivePods ordering).
            pods.sort(key=lambda p: (bool((p.get("spec") or {}).get("nodeName")),
                                     is_ready(p)))
            prt = self._rt("", "pods")
            for p in pods[:len(pods) - want]:
                self.api.delete(prt, meta["namespace"], p["metadata"]["name"], {})
            pods = pods[len(pods) - want:]
        self.ctl._status(rt, rs, self._rs_status(rs, pods, failures), MANAGER)

    def _rs_status(self, rs: dict[str, Any], pods: list[dict[str, Any]],
                   failures: list[str]) -> dict[str, Any]:
        old = rs.get("status") or {}
        ready = sum(1 for p in pods if is_ready(p))
        status: dict[str, Any] = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                                  "readyReplicas": ready, "availableReplicas": ready,
                                  "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k == "replicas"}
        old_failure = next((c for c in old.get("conditions") or []
                            if c.get("type") == "ReplicaFailure"), None)
        if failures and failures[0]:
            status["conditions"] = [_cond("ReplicaFailure", "True", "FailedCreate", failures[0],
                                          old.get("conditions") or [])]
        elif old_failure is not None and len(pods) < int((rs.get("spec") or {}).get(
                "replicas", 1)):
            status["conditions"] = [old_failure]
        return status

    def statefulsets(self) -> None:
        prt = self._rt("", "pods")
        for rt, sts in self.ctl._each("apps", "statefulsets"):
            meta, spec = sts["metadata"], sts.get("spec") or {}
            ns = meta["namespace"]
            want = int(spec.get("replicas", 1))
            rev = f'{meta["name"]}-{template_hash(spec.get("template") or {})}'
            pods = {p["metadata"]["name"]: p for p in _owned(self._pods(ns), meta["uid"])}
            failures: list[str] = []
            parallel = spec.get("podManagementPolicy") == "Parallel"
            for i in range(want):
                name = f'{meta["name"]}-{i}'
                if name in pods:
                    if not (parallel or is_ready(pods[name])):
                        break
                    continue
                self._claims(sts, name)
                pod = self._pod_from_template(
                    sts, spec.get("template") or {}, name,
                    {"controller-revision-hash": rev, "statefulset.kubernetes.io/pod-name": name,
                     "apps.kubernetes.io/pod-index": str(i)},
                    _owner_ref(sts, "apps/v1", "StatefulSet"))
                pod["spec"]["hostname"] = name
                if spec.get("serviceName"):
                    pod["spec"]["subdomain"] = spec["serviceName"]
                pod["spec"]["volumes"] = [v for v in pod["spec"].get("volumes") or []] + [
                    {"name": t["metadata"]["name"],
                     "persistentVolumeClaim": {"claimName": f'{t["metadata"]["name"]}-{name}'}}
                    for t in spec.get("volumeClaimTemplates") or []]
                created = self.create_pod(sts, pod, "statefulset-controller", failures)
                if created is None or not parallel:
                    break
            for name in pods:
                if _ordinal(name) >= want:
                    self.api.delete(prt, ns, name, {})
            live = [p for p in _owned(self._pods(ns), meta["uid"])
                    if _ordinal(p["metadata"]["name"]) < want]
            ready = sum(1 for p in live if is_ready(p))
            status: dict[str, Any] = {
                "observedGeneration": meta.get("generation", 1), "replicas": len(live),
                "readyReplicas": ready, "currentReplicas": len(live),
                "updatedReplicas": len(live), "availableReplicas": ready,
                "currentRevision": rev, "updateRevision": rev, "collisionCount": 0}
            status = {k: v for k, v in status.items()
                      if v or k in ("observedGeneration", "replicas", "collisionCount",
                                    "availableReplicas")}
            if failures and failures[0]:
                self.event(sts, "Warning", "FailedCreate",
                           f"create Pod {meta['name']} in StatefulSet {meta['name']} failed "
                           f"error: {failures[0]}", "statefulset-controller")
            self.ctl._status(rt, sts, status, MANAGER)

    def _claims(self, sts: dict[str, Any], pod_name: str) -> None:
        crt = self._rt("", "persistentvolumeclaims")
        spec = sts.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        for t in spec.get("volumeClaimTemplates") or []:
            name = f'{t["metadata"]["name"]}-{pod_name}'
            if self.store.get(crt.gk, sts["metadata"]["namespace"], name) is not None:
                continue
            claim_spec = clone(t.get("spec") or {})
            # The controller creates the claim through the API, so DefaultStorageClass
            # admission gives an unset class the default, as for any client's claim.
            default = storage.default_class(self.store.select(storage.CLASSES_GK))
            if claim_spec.get("storageClassName") is None and default is not None:
                claim_spec["storageClassName"] = default
            self.api.write_object(crt, None, {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": sts["metadata"]["namespace"],
                             "labels": {**((t.get("metadata") or {}).get("labels") or {}),
                                        **selector}},
                "spec": claim_spec}, "statefulset-controller")

    def daemonsets(self) -> None:
        prt = self._rt("", "pods")
        nodes = [n for n in self.store.select(("", "nodes"))
                 if not n["metadata"].get("deletionTimestamp")]
        for rt, ds in self.ctl._each("apps", "daemonsets"):
            meta, spec = ds["metadata"], ds.get("spec") or {}
            template = spec.get("template") or {}
            ns = meta["namespace"]
            # nodeShouldRunDaemonPod: the node selector and affinity, and the taints the
            # pods tolerate (their own tolerations and the controller's).
            pod_spec = {**(template.get("spec") or {}), "tolerations": [
                *((template.get("spec") or {}).get("tolerations") or []), *DAEMON_TOLERATIONS]}
            eligible = [n for n in nodes if _fits_selector(pod_spec, n)
                        and untolerated_taint(pod_spec, n) is None]
            names = {n["metadata"]["name"] for n in eligible}
            pods = _owned(self._pods(ns), meta["uid"])
            by_node = {self._ds_node(p): p for p in pods}
            rev = template_hash(template)
            failures: list[str] = []
            for node in sorted(names - set(by_node)):
                pod = self._pod_from_template(
                    ds, template, f'{meta["name"]}-{_suffix(meta["uid"] + node)}',
                    {"controller-revision-hash": rev,
                     "pod-template-generation": str(meta.get("generation", 1))},
                    _owner_ref(ds, "apps/v1", "DaemonSet"))
                pod["spec"]["tolerations"] = [
                    *(pod["spec"].get("tolerations") or []),
                    *(t for t in DAEMON_TOLERATIONS
                      if t not in (pod["spec"].get("tolerations") or []))]
                pod["spec"]["affinity"] = {**(pod["spec"].get("affinity") or {}),
                                           "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                        "matchFields": [{"key": "metadata.name", "operator": "In",
                                         "values": [node]}]}]}}}
                self.create_pod(ds, pod, "daemonset-controller", failures)
            for node, p in by_node.items():
                if node not in names:
                    self.api.delete(prt, ns, p["metadata"]["name"], {})
            live = [p for p in _owned(self._pods(ns), meta["uid"]) if self._ds_node(p) in names]
            ready = sum(1 for p in live if is_ready(p))
            scheduled = sum(1 for p in live if (p.get("spec") or {}).get("nodeName"))
            status = {"observedGeneration": meta.get("generation", 1),
                      "currentNumberScheduled": scheduled,
                      "desiredNumberScheduled": len(names), "numberMisscheduled": 0,
                      "numberReady": ready, "numberAvailable": ready,
                      "updatedNumberScheduled": scheduled}
            if len(names) - ready:
                status["numberUnavailable"] = len(names) - ready
            status = {k: v for k, v in status.items()
                      if v or k in ("observedGeneration", "currentNumberScheduled",
                                    "desiredNumberScheduled", "numberMisscheduled",
                                    "numberReady")}
            self.ctl._status(rt, ds, status, MANAGER)

    @staticmethod
    def _ds_node(pod: dict[str, Any]) -> str:
        terms = (((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                  .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
                 .get("nodeSelectorTerms") or [{}])
        for f in terms[0].get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
        return str((pod.get("spec") or {}).get("nodeName") or "")

    def schedule(self) -> None:
        """Bind each pending pod to a feasible node, or record why none fits."""
        from sandbox.kubernetes.scheduler import Scheduler

        Scheduler(self).run()


def _fits_selector(pod_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
                .get("nodeSelectorTerms"))
    if required:
        return any(_node_term_matches(t, node) for t in required if isinstance(t, dict))
    return True


NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
# What the DaemonSet controller adds to its pods (pkg/controller/daemon/util
# AddOrUpdateDaemonPodTolerations), so they run on not-ready or cordoned nodes.
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def tolerates(tolerations: list[dict[str, Any]] | None, taint: dict[str, Any]) -> bool:
    """k8s.io/api core/v1 ``Toleration.ToleratesTaint``: an empty effect matches every
    effect, an empty key with ``Exists`` every key; ``Equal`` (the default) compares values."""
    for t in tolerations or []:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("key") and t.get("key") != taint.get("key"):
            continue
        if t.get("operator") == "Exists" or \
                str(t.get("value") or "") == str(taint.get("value") or ""):
            return True
    return False


def no_execute_grace(pod_spec: dict[str, Any], node: dict[str, Any]) -> float | None:
    """How long a pod may keep running on ``node`` under its NoExecute taints (None: no such
    taint applies; 0: evict now): the taint manager's minimum ``tolerationSeconds`` over the
    taints, unbounded for a toleration without seconds (controller/tainteviction)."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or []
              if t.get("effect") == "NoExecute"]
    if not taints:
        return None
    grace = float("inf")
    for taint in taints:
        matching = [t for t in pod_spec.get("tolerations") or []
                    if tolerates([t], taint)]
        if not matching:
            return 0.0
        seconds = [float(t["tolerationSeconds"]) for t in matching
                   if t.get("tolerationSeconds") is not None]
        if len(seconds) == len(matching):
            grace = min(grace, max(0.0, min(seconds)))
    return None if grace == float("inf") else grace


def untolerated_taint(pod_spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    """The first NoSchedule/NoExecute taint of ``node`` the pod does not tolerate (the
    TaintToleration filter); a NotReady node carries ``node.kubernetes.io/not-ready``."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or [])
    if not ready:
        taints.insert(0, NOT_READY_TAINT)
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and \
                not tolerates(pod_spec.get("tolerations"), taint):
            return dict(taint)
    return None


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _revision(rs: dict[str, Any]) -> int:
    return _int((rs["metadata"].get("annotations") or {}).get(REVISION))


def _copied_annotations(dep: dict[str, Any], rs_annotations: dict[str, str]) -> dict[str, str]:
    """copyDeploymentAnnotationsToReplicaSet: the ReplicaSet's annotations with the
    Deployment's added or overwritten, but for ``ANNOTATIONS_TO_SKIP`` (none is removed)."""
    out = dict(rs_annotations)
    for k, v in (dep["metadata"].get("annotations") or {}).items():
        if k not in ANNOTATIONS_TO_SKIP:
            out[k] = v
    return out


def _max_surge(dep: dict[str, Any], want: int) -> int:
    """deployment_util.go MaxSurge: 0 unless the strategy is RollingUpdate."""
    spec = dep.get("spec") or {}
    if (spec.get("strategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    return rolling_limits(spec, want)[0]


def _spec_replicas(rs: dict[str, Any] | None) -> int:
    return int(((rs or {}).get("spec") or {}).get("replicas", 1))


def _available(rs: dict[str, Any] | None) -> int:
    return int(((rs or {}).get("status") or {}).get("availableReplicas") or 0)


def rolling_limits(spec: dict[str, Any], want: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate Deployment (deployment_util
    ``ResolveFenceposts``: surge rounds up, unavailable down, both 0 means unavailable 1)."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _int_or_percent(rolling.get("maxSurge", "25%"), want, True)
    unavailable = _int_or_percent(rolling.get("maxUnavailable", "25%"), want, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, want)


def _ordinal(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        try:
            pct = int(text[:-1])
        except ValueError:
            return 0
        scaled = Fraction(pct * total, 100)
        return -(-scaled.numerator // scaled.denominator) if round_up else int(scaled)
    try:
        return int(text)
    except ValueError:
        return 0
