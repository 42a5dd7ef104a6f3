"""PodDisruptionBudgets: the eviction subresource that honours them and the disruption
controller that keeps their status.

The eviction subresource (``POST .../pods/NAME/eviction`` with a policy/v1 ``Eviction``), as
kubernetes pkg/registry/core/pod/storage/eviction.go (v1.32) answers it:

- the Eviction's name must be the URL's (400); the pod must exist (404);
- a terminal, Pending or already deleting pod is deleted at once (``canIgnorePDB``), a Pending
  one with a resourceVersion precondition;
- the PDBs of the pod's namespace whose selector matches its labels are looked up (a null
  selector matches nothing, an empty one everything, as policy/v1 defines it); for more than one
  the handler returns a Failure Status with code 500, which the create handler
  (k8s.io/apiserver handlers/create.go) writes with its HTTP 201 (it only fills a Status's
  missing code), so clients (client-go ``Do().Error()``) read it as success; none deletes the
  pod;
- a pod that is not Ready is deleted without touching the budget when the PDB's
  ``unhealthyPodEvictionPolicy`` is ``AlwaysAllow``, or when the PDB is satisfied
  (``currentHealthy >= desiredHealthy > 0``, the ``IfHealthyBudget`` default), with a
  resourceVersion precondition: a conflict is a 429;
- otherwise ``checkAndDecrement``: a PDB whose ``status.observedGeneration`` is behind its
  generation is a 429 (``Retry-After: 10``, "... is still being processed by the server."), a
  negative ``disruptionsAllowed`` or more than 2000 ``disruptedPods`` a 403, 0 a 429 with the
  ``DisruptionBudget`` cause "The disruption budget NAME needs X healthy pods and has Y
  currently"; else ``disruptionsAllowed`` is decremented (the DisruptionAllowed condition
  updated when it reaches 0) and the pod recorded in ``status.disruptedPods`` (not on a dry
  run);
- the pod is deleted with the Eviction's ``deleteOptions`` (dry run from the query or the
  options) after its ``DisruptionTarget`` condition is set (``addConditionAndDeletePod``:
  reason ``EvictionByEvictionAPI``, message "Eviction API: evicting"); the answer is a 201
  ``Status`` Success.

``Evictions.drain`` is a node drain over the same handler (k8s.io/kubectl pkg/drain with
``--ignore-daemonsets``): every pod bound to the node but DaemonSet and mirror pods is evicted, a
refused one stays; with ``force`` they are deleted. IONOS's node replacement uses it.

The disruption controller (pkg/controller/disruption/disruption.go ``trySync``): for each PDB,
the pods its selector matches; ``expectedPods`` and ``desiredHealthy`` from ``minAvailable`` (an
integer: that many of the matching pods; a percentage: of the owning controllers' scale,
rounded up) or ``maxUnavailable`` (integer or percentage, rounded up, of the controllers'
scale); the scale of a pod's controller is a ReplicaSet's (a Deployment's when one owns it), a
StatefulSet's or ReplicationController's replicas, or any scale subresource's, and a controller
without one ("daemonsets.apps does not implement the scale subresource") fails the sync
(``failSafe``: ``disruptionsAllowed`` 0, DisruptionAllowed False with reason SyncFailed);
``currentHealthy`` counts Ready pods that are neither being deleted nor in ``disruptedPods``
(entries drop after ``DeletionTimeout``, 2 minutes); ``disruptionsAllowed`` is
``currentHealthy - desiredHealthy`` (0 when negative or with no expected pods);
``observedGeneration`` and the DisruptionAllowed condition (SufficientPods/InsufficientPods,
k8s.io/component-helpers apps/poddisruptionbudget) follow. Events: NoPods, UnmanagedPods,
CalculateExpectedPodCountFailed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.api import ApiError, ApiServer, UserInfo, now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType
from sandbox.kubernetes.workloads import _int_or_percent, is_ready, selector_matches

if TYPE_CHECKING:
    from sandbox.kubernetes.workloads import Workloads

PDB_GK = ("policy", "poddisruptionbudgets")
PODS_GK = ("", "pods")
CONTROLLER = "kube-controller-manager"
# The eviction handler updates PDB status through the apiserver's loopback client.
APISERVER = "kube-apiserver"
MAX_DISRUPTED_PODS = 2000
DELETION_TIMEOUT = dt.timedelta(minutes=2)
_EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")
_VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."
_TERMINAL = ("Succeeded", "Failed")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def _too_many(message: str, cause: str, retry_after: int = 0) -> ApiError:
    """apimachinery ``errors.NewTooManyRequests`` with a DisruptionBudget cause; a positive
    retry is also the ``Retry-After`` header (responsewriters)."""
    details: dict[str, Any] = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    headers = {}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return ApiError(429, "TooManyRequests", message, details, headers)


def _processing(pdb_name: str) -> ApiError:
    return _too_many(_VIOLATES, f"The disruption budget {pdb_name} is still being processed by "
                     "the server.", 10)


def _forbidden(pdb_name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'poddisruptionbudget.policy "{pdb_name}" is forbidden: '
                    f"{why}", {"name": pdb_name, "group": "policy",
                               "kind": "poddisruptionbudget"})


def pdb_selects(pdb: dict[str, Any], labels: dict[str, Any]) -> bool:
    """policy/v1: a null selector selects nothing, an empty one every pod of the namespace."""
    selector = (pdb.get("spec") or {}).get("selector")
    if not isinstance(selector, dict):
        return False
    return selector_matches(selector, labels)


def _set_allowed_condition(status: dict[str, Any]) -> None:
    """component-helpers ``UpdateDisruptionAllowedCondition``."""
    if int(status.get("disruptionsAllowed") or 0) > 0:
        _set_condition(status, "True", "SufficientPods", "")
    else:
        _set_condition(status, "False", "InsufficientPods", "")


def _set_condition(status: dict[str, Any], value: str, reason: str, message: str) -> None:
    """apimachinery ``meta.SetStatusCondition`` for DisruptionAllowed."""
    conditions = status.setdefault("conditions", [])
    cond = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    generation = int(status.get("observedGeneration") or 0)
    if cond is None:
        conditions.append({"type": "DisruptionAllowed", "status": value,
                           "observedGeneration": generation,
                           "lastTransitionTime": now_rfc3339(), "reason": reason,
                           "message": message})
        return
    if cond.get("status") != value:
        cond["lastTransitionTime"] = now_rfc3339()
    cond.update(status=value, reason=reason, message=message, observedGeneration=generation)


def _conditions_up_to_date(pdb: dict[str, Any]) -> bool:
    """component-helpers ``ConditionsAreUpToDate``."""
    status = pdb.get("status") or {}
    cond = next((c for c in status.get("conditions") or []
                 if c.get("type") == "DisruptionAllowed"), None)
    if cond is None or int(status.get("observedGeneration") or 0) != int(
            pdb["metadata"].get("generation") or 0):
        return False
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return cond.get("status") == "True" and cond.get("reason") == "SufficientPods"
    return cond.get("status") == "False" and cond.get("reason") == "InsufficientPods"


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


class Evictions:
    """The pods/eviction subresource over the object layer."""

    def __init__(self, api: ApiServer):
        self.api = api

    def _rt(self, group: str, plural: str) -> ResourceType:
        rt = self.api.registry.by_gk(group, plural)
        assert rt is not None, (group, plural)
        return rt

    def evict(self, ns: str, name: str, body: Any, query_dry_run: bool, manager: str,
              user: UserInfo | None) -> tuple[int, dict[str, Any]]:
        """Answer an Eviction POST: (HTTP code, Status body); refusals raise ApiError."""
        eviction = self._eviction(name, body)
        options = dict(eviction.get("deleteOptions") or {})
        if query_dry_run and not options.get("dryRun"):
            options["dryRun"] = ["All"]
        dry_run = options.get("dryRun") == ["All"]
        prt = self._rt(*PODS_GK)
        with self.api.store.lock:
            pod = self.api.get(prt, ns, name)
            if _can_ignore_pdb(pod):
                rv = None
                if _enforce_rv(pod) and not _rv_precondition(options):
                    rv = pod["metadata"]["resourceVersion"]
                self._delete(prt, pod, options, rv, dry_run, manager, user)
                return _success()
            pdbs = [p for p in self.api.store.select(PDB_GK, ns)
                    if pdb_selects(p, pod["metadata"].get("labels") or {})]
            if len(pdbs) > 1:
                return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Failure", "message": "This pod has more than one "
                             "PodDisruptionBudget, which the eviction subresource does not "
                             "support.", "code": 500}
            unhealthy_ok = False
            if pdbs:
                pdb = pdbs[0]
                unhealthy_ok = not is_ready(pod) and _unhealthy_evictable(pdb)
                if not unhealthy_ok:
                    self._check_and_decrement(pdb, name, dry_run)
            rv = pod["metadata"]["resourceVersion"] if unhealthy_ok else None
            try:
                self._delete(prt, pod, options, rv, dry_run, manager, user)
            except ApiError as exc:
                if exc.code == 409 and unhealthy_ok and not _rv_precondition(options):
                    raise _processing(pdbs[0]["metadata"]["name"]) from None
                raise
        return _success()

    def drain(self, node: str, force: bool, manager: str) -> list[str]:
        """Evict every pod bound to ``node`` through :meth:`evict`, as ``kubectl drain
        --ignore-daemonsets --delete-emptydir-data`` does (k8s.io/kubectl pkg/drain: DaemonSet
        and mirror pods stay, a refused eviction is retried by the caller); ``force`` deletes
        instead, as IONOS does once PodDisruptionBudgets have held a node for an hour.
        Returns ``namespace/name`` of the pods still on the node."""
        prt = self._rt(*PODS_GK)
        with self.api.store.lock:
            for pod in self._drainable(node):
                meta = pod["metadata"]
                if meta.get("deletionTimestamp") and not force:
                    continue
                try:
                    if force:  # the node goes next, so nothing is left to stop them gracefully
                        self.api.delete(prt, meta["namespace"], meta["name"],
                                        {"gracePeriodSeconds": 0}, False, manager, None)
                    else:
                        self.evict(meta["namespace"], meta["name"], {
                            "apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": meta["name"], "namespace": meta["namespace"]}},
                            False, manager, None)
                except ApiError as exc:
                    if exc.code not in (404, 429):
                        raise
            return [f'{p["metadata"]["namespace"]}/{p["metadata"]["name"]}'
                    for p in self._drainable(node)]

    def _drainable(self, node: str) -> list[dict[str, Any]]:
        """The pods on ``node`` a drain must move: not a DaemonSet's (it tolerates the cordon)
        nor a mirror pod (the kubelet's own)."""
        return [p for p in self.api.store.select(PODS_GK)
                if (p.get("spec") or {}).get("nodeName") == node
                and MIRROR_ANNOTATION not in (p["metadata"].get("annotations") or {})
                and not any(r.get("controller") and r.get("kind") == "DaemonSet"
                            for r in p["metadata"].get("ownerReferences") or [])]

    @staticmethod
    def _eviction(name: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of an eviction must be a JSON object")
        if body.get("kind") not in (None, "Eviction") or body.get("apiVersion") not in (
                None, *_EVICTION_VERSIONS):
            raise ApiError(400, "BadRequest", f"the body of an eviction must be an Eviction of "
                           f"{' or '.join(_EVICTION_VERSIONS)}, not {body.get('apiVersion')} "
                           f"{body.get('kind')}")
        if (body.get("metadata") or {}).get("name") != name:
            raise ApiError(400, "BadRequest", "name in URL does not match name in Eviction "
                           "object")
        options = body.get("deleteOptions")
        if options is not None and not isinstance(options, dict):
            raise ApiError(400, "BadRequest", "deleteOptions must be a DeleteOptions object")
        return body

    def _check_and_decrement(self, pdb: dict[str, Any], pod_name: str, dry_run: bool) -> None:
        meta, status = pdb["metadata"], clone(pdb.get("status") or {})
        pdb_name = meta["name"]
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
            raise _processing(pdb_name)
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise _forbidden(pdb_name, "pdb disruptions allowed is negative")
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise _forbidden(pdb_name, "DisruptedPods map too big - too many evictions not "
                             "confirmed by PDB controller")
        if allowed == 0:
            raise _too_many(_VIOLATES, f"The disruption budget {pdb_name} needs "
                            f"{int(status.get('desiredHealthy') or 0)} healthy pods and has "
                            f"{int(status.get('currentHealthy') or 0)} currently")
        status["disruptionsAllowed"] = allowed - 1
        if allowed - 1 == 0:
            _set_allowed_condition(status)
        if dry_run:
            return
        status.setdefault("disruptedPods", {})[pod_name] = now_rfc3339()
        self.api.write_status(self._rt(*PDB_GK), pdb, status, APISERVER)

    def _delete(self, prt: ResourceType, pod: dict[str, Any], options: dict[str, Any],
                rv: str | None, dry_run: bool, manager: str, user: UserInfo | None) -> None:
        """``addConditionAndDeletePod``: the DisruptionTarget condition, then the delete (with a
        resourceVersion precondition ``rv`` when the eviction decided on this pod's state)."""
        meta = pod["metadata"]
        pre = dict(options.get("preconditions") or {})
        if rv is not None:
            pre["resourceVersion"] = rv
        if not dry_run:
            if pre.get("uid") and pre["uid"] != meta["uid"] or pre.get(
                    "resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods '
                               f'"{meta["name"]}": the object has been modified; please apply '
                               "your changes to the latest version and try again",
                               {"name": meta["name"], "kind": "pods"})
            status = clone(pod.get("status") or {})
            conditions = [c for c in status.get("conditions") or []
                          if c.get("type") != "DisruptionTarget"]
            conditions.append({"type": "DisruptionTarget", "status": "True",
                               "lastTransitionTime": now_rfc3339(),
                               "reason": "EvictionByEvictionAPI",
                               "message": "Eviction API: evicting"})
            status["conditions"] = conditions
            updated = self.api.write_status(prt, pod, status, manager or APISERVER) or pod
            if pre.get("resourceVersion"):
                pre["resourceVersion"] = updated["metadata"]["resourceVersion"]
        delete_options = {k: v for k, v in options.items() if k != "preconditions"}
        if pre:
            delete_options["preconditions"] = pre
        self.api.delete(prt, meta["namespace"], meta["name"], delete_options, dry_run,
                        manager, user)


def _success() -> tuple[int, dict[str, Any]]:
    # The create handler sets a returned Status's code to 201 (apiserver handlers/create.go).
    return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                 "code": 201}


def _can_ignore_pdb(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in (*_TERMINAL, "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _enforce_rv(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in _TERMINAL and not pod["metadata"].get("deletionTimestamp")


def _rv_precondition(options: dict[str, Any]) -> bool:
    return bool((options.get("preconditions") or {}).get("resourceVersion"))


def _unhealthy_evictable(pdb: dict[str, Any]) -> bool:
    """An unready pod leaves the budget alone: always under ``AlwaysAllow``, and under the
    default ``IfHealthyBudget`` while the budget is met."""
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired > 0


class SyncFailed(Exception):
    """The expected pod count cannot be computed (disruption.go ``getExpectedScale``)."""


class DisruptionController:
    """kube-controller-manager's disruption controller, run by ``Controllers.reconcile_once``."""

    def __init__(self, workloads: Workloads):
        self.w = workloads
        self.api = workloads.api
        self.store = workloads.store

    def reconcile(self) -> None:
        rt = self.api.registry.by_gk(*PDB_GK)
        if rt is None:
            return
        for pdb in self.store.select(PDB_GK):
            if not pdb["metadata"].get("deletionTimestamp") and self.w.ctl._due(rt, pdb):
                self._sync(rt, pdb)

    def _sync(self, rt: ResourceType, pdb: dict[str, Any]) -> None:
        ns = pdb["metadata"]["namespace"]
        pods = [p for p in self.store.select(PODS_GK, ns)
                if pdb_selects(pdb, p["metadata"].get("labels") or {})]
        if not pods:
            self.w.event(pdb, "Normal", "NoPods", "No matching pods found", CONTROLLER)
        try:
            expected, desired, unmanaged = self._expected(pdb, pods)
        except SyncFailed as exc:
            self.w.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                         f"Failed to calculate the number of expected pods: {exc}", CONTROLLER)
            status = clone(pdb.get("status") or {})
            status["disruptionsAllowed"] = 0
            _set_condition(status, "False", "SyncFailed", str(exc))
            self._write(rt, pdb, status)
            return
        if unmanaged:
            selector = (pdb.get("spec") or {}).get("selector")
            self.w.event(pdb, "Warning", "UnmanagedPods", f"Pods selected by this "
                         f"PodDisruptionBudget (selector: {selector}) were found to be "
                         "unmanaged. As a result, the status of the PDB cannot be calculated "
                         "correctly, which may result in undefined behavior. To account for "
                         "these pods please set \".spec.minAvailable\" field of the PDB to an "
                         "integer value.", CONTROLLER)
        now = dt.datetime.now(dt.UTC)
        disrupted = self._disrupted(pdb, pods, now)
        healthy = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
                      and p["metadata"]["name"] not in disrupted and is_ready(p))
        allowed = healthy - desired if expected > 0 else 0
        status = pdb.get("status") or {}
        generation = int(pdb["metadata"].get("generation") or 0)
        if (status.get("currentHealthy"), status.get("desiredHealthy"),
                status.get("expectedPods"), status.get("disruptionsAllowed"),
                status.get("disruptedPods") or {}, status.get("observedGeneration")) == (
                healthy, desired, expected, max(allowed, 0), disrupted, generation) and \
                _conditions_up_to_date(pdb):
            return
        new: dict[str, Any] = {"observedGeneration": generation, "disruptionsAllowed":
                               max(allowed, 0), "currentHealthy": healthy,
                               "desiredHealthy": desired, "expectedPods": expected,
                               "conditions": clone(status.get("conditions") or [])}
        if disrupted:
            new["disruptedPods"] = disrupted
        _set_allowed_condition(new)
        self._write(rt, pdb, new)

    def _write(self, rt: ResourceType, pdb: dict[str, Any], status: dict[str, Any]) -> None:
        if (pdb.get("status") or {}) != status:
            self.api.write_status(rt, pdb, status, CONTROLLER)

    def _disrupted(self, pdb: dict[str, Any], pods: list[dict[str, Any]],
                   now: dt.datetime) -> dict[str, str]:
        """``buildDisruptedPodMap``: entries of live pods younger than DeletionTimeout."""
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        out = {}
        for pod in pods:
            name = pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp") or name not in recorded:
                continue
            at = _parse_time(str(recorded[name]))
            if at is not None and at + DELETION_TIMEOUT >= now:
                out[name] = recorded[name]
            else:
                self.w.event(pod, "Warning", "NotDeleted", f"Pod was expected by PDB "
                             f"{pdb['metadata']['namespace']}/{pdb['metadata']['namespace']} "
                             "to be deleted but it wasn't", CONTROLLER)
        return out

    def _expected(self, pdb: dict[str, Any], pods: list[dict[str, Any]]
                  ) -> tuple[int, int, list[str]]:
        """``getExpectedPodCount``: (expectedPods, desiredHealthy, unmanaged pod names)."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = self._expected_scale(pods)
            unavailable = _scaled(spec["maxUnavailable"], expected)
            return expected, max(expected - unavailable, 0), unmanaged
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int):
            return len(pods), min_available, []
        if isinstance(min_available, str):
            expected, unmanaged = self._expected_scale(pods)
            return expected, _scaled(min_available, expected), unmanaged
        return 0, 0, []

    def _expected_scale(self, pods: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """``getExpectedScale``: the sum of the scales of the pods' controllers."""
        scales: dict[str, int] = {}
        unmanaged = []
        for pod in pods:
            ref = next((r for r in pod["metadata"].get("ownerReferences") or []
                        if r.get("controller")), None)
            if ref is None:
                unmanaged.append(pod["metadata"]["name"])
                continue
            if ref.get("uid") in scales:
                continue
            found = self._controller_scale(ref, pod["metadata"]["namespace"])
            if found is None:
                raise SyncFailed(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            scales[found[0]] = found[1]
        return sum(scales.values()), unmanaged

    def _controller_scale(self, ref: dict[str, Any], ns: str) -> tuple[str, int] | None:
        """The finders in order: ReplicaSet (unless a Deployment owns it), Deployment (through
        its ReplicaSet), ReplicationController, StatefulSet, then any scale subresource."""
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind, name, uid = ref.get("kind"), str(ref.get("name") or ""), ref.get("uid")
        if kind == "ReplicaSet" and group in ("apps", "extensions"):
            rs = self.store.get(("apps", "replicasets"), ns, name)
            if rs is None or rs["metadata"]["uid"] != uid:
                return None
            owner = next((r for r in rs["metadata"].get("ownerReferences") or []
                          if r.get("controller")), None)
            if owner is None or owner.get("kind") != "Deployment":
                return uid, _replicas(rs)
            dep = self.store.get(("apps", "deployments"), ns, str(owner.get("name")))
            if dep is None or dep["metadata"]["uid"] != owner.get("uid"):
                return None
            return dep["metadata"]["uid"], _replicas(dep)
        for gk, want in ((("", "replicationcontrollers"), ("", "ReplicationController")),
                         (("apps", "statefulsets"), ("apps", "StatefulSet"))):
            if (group, kind) == want:
                obj = self.store.get(gk, ns, name)
                if obj is None or obj["metadata"]["uid"] != uid:
                    return None
                return uid, _replicas(obj)
        rt = self.api.registry.by_kind(str(ref.get("apiVersion") or ""), str(kind))
        if rt is None:
            raise SyncFailed(f'no matches for kind "{kind}" in version '
                             f'"{ref.get("apiVersion")}"')
        if "scale" not in rt.subresources:
            raise SyncFailed(f"{rt.resource} does not implement the scale subresource")
        obj = self.store.get(rt.gk, ns, name)
        if obj is None or obj["metadata"]["uid"] != uid:
            return None
        return uid, _replicas(obj)


def _replicas(obj: dict[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def _scaled(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent, rounded up as the controller asks."""
    return _int_or_percent(value, total, True)
