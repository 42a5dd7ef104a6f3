"""Argo CD's application controller, emulated: it acts only once Argo CD is installed.

Argo CD's kinds are served only after its CRDs exist (``catalogue.py``: the argo-cd chart).
Argo CD counts as installed in a namespace where its ``argocd-application-controller``
StatefulSet (``manifests/install.yaml``) has a ready replica, or where a HelmRelease of the
argo-cd chart is Ready (the sandbox renders no chart workloads). There, as argocd-server does on
start-up (``server/server.go`` ``initializeDefaultProject``), the ``default`` AppProject is
created, and only the Applications of that namespace are processed (Argo CD watches its own
namespace unless configured otherwise).

What the controller writes, from argoproj/argo-cd ``controller/appcontroller.go`` and
gitops-engine ``pkg/sync``:

- Refresh: ``status.sync`` (``Synced``/``OutOfSync``, ``revision``, ``comparedTo`` = the
  spec's source and destination), ``status.health`` (``Missing`` before the first sync,
  ``Healthy`` after), ``status.reconciledAt``, ``status.sourceType``. A spec naming an
  AppProject that does not exist gets the ``InvalidSpecError`` condition "Application
  referencing project X which does not exist", sync and health ``Unknown``.
- Operation (``processRequestedAppOperation``/``setOperationState``): an ``operation.sync``
  (set by ``argocd app sync`` through ``util/argo.SetAppOperation``, or by automated sync) is
  run and recorded in ``status.operationState`` (``operation``, ``phase``, ``message``,
  ``startedAt``, ``finishedAt``, ``syncResult``); once the phase is completed, ``operation`` is
  removed. Success: "successfully synced (all tasks run)" and an entry in ``status.history``.
  Failures emulated: the destination namespace does not exist and ``CreateNamespace=true`` is
  not among the sync options ("one or more objects failed to apply, reason: namespaces "x" not
  found"); a destination server other than the in-cluster one with no cluster Secret
  (``cluster "x" not found``); a project that does not exist ("Failed to load application
  project: ..."). Retries (``syncPolicy.retry``) are not emulated: a failure is final.
- Automated sync (``syncPolicy.automated``): an OutOfSync application is synced with
  ``initiatedBy.automated: true``, once per revision (the controller does not retry a revision
  whose automated sync failed).

Simplified: a change of destination alone does not make the application OutOfSync (the sandbox
keeps no live resources to compare), and health is ``Healthy`` from the first successful sync.

The Application has no status subresource: status, ``operation`` and the spec are written
together, and every status change bumps ``metadata.generation`` as the API server does for a
custom resource without one. Repositories and charts are never fetched: the resolved revision
of a Git source is a hash of URL and target revision; a chart's is its version.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.api import now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers

CHART = "argo-cd"
CONTROLLER = "argocd-application-controller"
SERVER = "argocd-server"
IN_CLUSTER = "https://kubernetes.default.svc"
GROUP = "argoproj.io"
CLUSTER_SECRET_LABEL = "argocd.argoproj.io/secret-type"


def _revision(source: dict[str, Any]) -> str:
    if source.get("chart"):
        return str(source.get("targetRevision") or "")
    key = json.dumps([source.get("repoURL"), source.get("targetRevision") or "HEAD"])
    return hashlib.sha1(key.encode()).hexdigest()  # noqa: S324 - a Git commit id's shape


def _option(options: list[Any] | None, name: str) -> bool:
    return any(str(o).replace(" ", "") == f"{name}=true" for o in options or [])


class ArgoCD:
    def __init__(self, ctl: Controllers):
        self.ctl = ctl
        self.api = ctl.api
        self.store = ctl.store

    def namespaces(self) -> set[str]:
        """Where Argo CD runs: a ready application controller, or a deployed argo-cd chart."""
        out = set()
        for sts in self.store.select(("apps", "statefulsets")):
            meta = sts["metadata"]
            if (meta.get("labels") or {}).get("app.kubernetes.io/name") == CONTROLLER and \
                    int((sts.get("status") or {}).get("readyReplicas") or 0) > 0:
                out.add(str(meta.get("namespace")))
        for hr in self.store.select(("helm.toolkit.fluxcd.io", "helmreleases")):
            spec = hr.get("spec") or {}
            chart = ((spec.get("chart") or {}).get("spec") or {}).get("chart")
            released = any(c.get("type") == "Ready" and c.get("status") == "True"
                           for c in (hr.get("status") or {}).get("conditions") or [])
            if chart == CHART and released:
                out.add(str(spec.get("targetNamespace") or hr["metadata"]["namespace"]))
        return out

    def reconcile(self) -> None:
        if self.ctl._rt(GROUP, "applications") is None:
            return
        namespaces = self.namespaces()
        for ns in sorted(namespaces):
            self._default_project(ns)
        for rt, app in self.ctl._each(GROUP, "applications"):
            if app["metadata"].get("namespace") in namespaces:
                self.one(rt, app)

    def _default_project(self, ns: str) -> None:
        prt = self.ctl._rt(GROUP, "appprojects")
        nsrt = self.ctl._rt("", "namespaces")
        if prt is None or nsrt is None or self.store.get(prt.gk, ns, "default") is not None \
                or self.store.get(nsrt.gk, "", ns) is None:
            return
        self.api.write_object(prt, None, {
            "apiVersion": f"{GROUP}/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": ns},
            "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                     "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}, SERVER)

    def _project_error(self, app: dict[str, Any]) -> str | None:
        prt = self.ctl._rt(GROUP, "appprojects")
        project = str((app.get("spec") or {}).get("project") or "")
        if prt is None or self.store.get(prt.gk, app["metadata"]["namespace"], project) is None:
            return project
        return None

    def _destination_error(self, dest: dict[str, Any]) -> str | None:
        """Why the destination cannot be synced to (None: it can)."""
        server = str(dest.get("server") or "").rstrip("/")
        if server and server != IN_CLUSTER:
            known = any((s["metadata"].get("labels") or {}).get(CLUSTER_SECRET_LABEL) ==
                        "cluster" and
                        str((s.get("stringData") or {}).get("server") or "").rstrip("/") ==
                        server for s in self.store.select(("", "secrets")))
            if not known:
                return f'cluster "{server}" not found'
        return None

    def one(self, rt: ResourceType, app: dict[str, Any]) -> None:
        spec = app.get("spec") or {}
        new = clone(app)
        status = new.setdefault("status", {})
        self._refresh(app, status)
        op = app.get("operation")
        automated = (spec.get("syncPolicy") or {}).get("automated") is not None
        if op is None and automated and (status.get("sync") or {}).get("status") == "OutOfSync":
            op = self._auto_operation(app, status)
        if op is not None:
            self._operate(app, op, status)
            new.pop("operation", None)
            self._refresh(new, status)
        if new == app:
            return
        status["reconciledAt"] = now_rfc3339()
        self._write(rt, app, new)

    def _write(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
        with self.store.lock:
            meta = old["metadata"]
            cur = self.store.get(rt.gk, meta["namespace"], meta["name"])
            if cur is None or cur["metadata"]["resourceVersion"] != meta["resourceVersion"]:
                return  # changed meanwhile: the next pass sees the new spec
            self.api.write_object(rt, cur, new, CONTROLLER)

    def _refresh(self, app: dict[str, Any], status: dict[str, Any]) -> None:
        """Compare the spec with what was last synced (the controller's refresh)."""
        spec = app.get("spec") or {}
        source, dest = spec.get("source") or {}, spec.get("destination") or {}
        missing = self._project_error(app)
        conds = [c for c in status.get("conditions") or []
                 if c.get("type") != "InvalidSpecError"]
        if missing is not None:
            conds.append({"type": "InvalidSpecError", "message": f"Application referencing "
                          f"project {missing} which does not exist",
                          "lastTransitionTime": now_rfc3339()})
        bad_dest = self._destination_error(dest)
        if missing is None and bad_dest:
            conds.append({"type": "InvalidSpecError", "message": bad_dest,
                          "lastTransitionTime": now_rfc3339()})
        if conds:
            status["conditions"] = [*conds[:-1], self._keep_time(status, conds[-1])]
        else:
            status.pop("conditions", None)
        compared = {"source": source, "destination": dest}
        if missing is not None or bad_dest:
            status["sync"] = {"status": "Unknown", "comparedTo": compared}
            status["health"] = self._health(status, "Unknown")
            return
        revision = _revision(source)
        last = (status.get("history") or [{}])[-1]
        synced = last.get("source") == source and last.get("revision") == revision
        status["sync"] = {"status": "Synced" if synced else "OutOfSync",
                          "revision": revision, "comparedTo": compared}
        status["sourceType"] = "Helm" if source.get("chart") else "Directory"
        deployed = bool(status.get("history"))
        status["health"] = self._health(status, "Healthy" if deployed else "Missing")

    @staticmethod
    def _keep_time(status: dict[str, Any], cond: dict[str, Any]) -> dict[str, Any]:
        old = next((c for c in status.get("conditions") or [] if c.get("type") == cond["type"]
                    and c.get("message") == cond["message"]), None)
        return {**cond, "lastTransitionTime": old["lastTransitionTime"]} if old else cond

    @staticmethod
    def _health(status: dict[str, Any], state: str) -> dict[str, Any]:
        old = status.get("health") or {}
        if old.get("status") == state:
            return old
        return {"status": state, "lastTransitionTime": now_rfc3339()}

    def _auto_operation(self, app: dict[str, Any],
                        status: dict[str, Any]) -> dict[str, Any] | None:
        """The automated sync of an OutOfSync app, unless this revision's already failed."""
        spec = app.get("spec") or {}
        revision = (status.get("sync") or {}).get("revision")
        last = status.get("operationState") or {}
        if (last.get("syncResult") or {}).get("revision") == revision and \
                last.get("phase") in ("Failed", "Error") and \
                ((last.get("operation") or {}).get("initiatedBy") or {}).get("automated"):
            return None
        policy = spec.get("syncPolicy") or {}
        sync: dict[str, Any] = {"revision": revision,
                                "prune": bool((policy.get("automated") or {}).get("prune"))}
        if policy.get("syncOptions"):
            sync["syncOptions"] = list(policy["syncOptions"])
        return {"sync": sync, "initiatedBy": {"automated": True}, "retry": {}}

    def _operate(self, app: dict[str, Any], op: dict[str, Any], status: dict[str, Any]) -> None:
        spec = app.get("spec") or {}
        source = spec.get("source") or {}
        started = now_rfc3339()
        revision = _revision(source)
        state: dict[str, Any] = {"operation": op, "startedAt": started, "finishedAt": started}
        failure = self._sync_failure(app, op)
        if op.get("sync") is None:
            state.update(phase="Error", message="Operation unspecified")
        elif failure is not None:
            state.update(phase=failure[0], message=failure[1])
            state["syncResult"] = {"revision": revision, "source": source, "resources": []}
        else:
            state.update(phase="Succeeded", message="successfully synced (all tasks run)")
            state["syncResult"] = {"revision": revision, "source": source, "resources": []}
            history = list(status.get("history") or [])
            history.append({"id": len(history), "revision": revision, "source": source,
                            "deployStartedAt": started, "deployedAt": started,
                            "initiatedBy": op.get("initiatedBy") or {}})
            status["history"] = history[-10:]  # revisionHistoryLimit's default
        status["operationState"] = state

    def _sync_failure(self, app: dict[str, Any], op: dict[str, Any]) -> tuple[str, str] | None:
        spec = app.get("spec") or {}
        dest = spec.get("destination") or {}
        project = self._project_error(app)
        if project is not None:
            return "Error", (f"Failed to load application project: appprojects.argoproj.io "
                             f'"{project}" not found')
        bad_dest = self._destination_error(dest)
        if bad_dest:
            return "Error", bad_dest
        ns = str(dest.get("namespace") or "")
        options = (op.get("sync") or {}).get("syncOptions") or \
            (spec.get("syncPolicy") or {}).get("syncOptions")
        if ns and self.store.get(("", "namespaces"), "", ns) is None:
            if not _option(options, "CreateNamespace"):
                return "Failed", ("one or more objects failed to apply, reason: namespaces "
                                  f'"{ns}" not found')
            nsrt = self.ctl._rt("", "namespaces")
            if nsrt is not None:
                self.api.write_object(nsrt, None, {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns}}, CONTROLLER)
        return None
