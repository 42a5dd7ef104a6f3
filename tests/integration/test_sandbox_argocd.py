"""Fidelity of the sandbox's Argo CD emulation: the CRDs arrive with the argo-cd chart, the
application controller acts only once Argo CD runs, and it processes ``operation`` as the real
one does. Each test names the real behaviour's source (argoproj/argo-cd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_k8s_crds import wait_quiet
from tests.integration.test_sandbox_k8s_workloads import RESTRICTED_POD, wait
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
IN_CLUSTER = "https://kubernetes.default.svc"


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path, preinstall_crds=False)


def _ns(k8s: Cluster, name: str) -> None:
    assert k8s.http("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201


def _controller(k8s: Cluster) -> None:
    """Argo CD's application controller as ``manifests/install.yaml`` runs it: a StatefulSet
    labelled ``app.kubernetes.io/name: argocd-application-controller``."""
    labels = {"app.kubernetes.io/name": "argocd-application-controller"}
    code, body = k8s.http("POST", "/apis/apps/v1/namespaces/argocd/statefulsets", {
        "metadata": {"name": "argocd-application-controller", "labels": labels},
        "spec": {"serviceName": "argocd-application-controller",
                 "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": RESTRICTED_POD}}})
    assert code == 201, body


def _app(k8s: Cluster, name: str, dest_ns: str, **spec: Any) -> None:
    body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps",
                                "path": "guestbook", "targetRevision": "HEAD"},
                     "destination": {"server": IN_CLUSTER, "namespace": dest_ns}, **spec}}
    code, made = k8s.http("POST", APPS, body)
    assert code == 201, made


def _get(k8s: Cluster, name: str) -> dict[str, Any]:
    return k8s.http("GET", f"{APPS}/{name}")[1]


def _sync(k8s: Cluster, name: str, **sync: Any) -> None:
    """What ``argocd app sync`` sets (util/argo.SetAppOperation): ``operation`` and no
    ``status.operationState``."""
    code, body = k8s.http("PATCH", f"{APPS}/{name}", {
        "operation": {"sync": {"revision": "HEAD", **sync},
                      "initiatedBy": {"username": "admin"}},
        "status": {"operationState": None}}, content_type="application/merge-patch+json")
    assert code == 200, body


def _installed(bare: Cluster) -> None:
    assert bare.http("GET", APPS)[0] == 404  # no Argo CD CRDs on a fresh cluster
    names = bare.svc.install_chart("argo-cd", "7.7.11")
    assert sorted(names) == ["applications.argoproj.io", "applicationsets.argoproj.io",
                             "appprojects.argoproj.io"]
    _ns(bare, "argocd")


def test_the_controller_acts_only_once_argocd_runs_and_creates_the_default_project(
        bare: Cluster) -> None:
    """Before the application controller runs, an Application is stored untouched; once it
    runs, argocd-server's ``default`` AppProject exists (server/server.go
    ``initializeDefaultProject``: sourceRepos ``*``, destinations ``*``/``*``) and a new
    Application is compared: OutOfSync, health Missing (gitops-engine pkg/health
    ``HealthStatusMissing``), ``comparedTo`` the spec's source and destination."""
    _installed(bare)
    _ns(bare, "guestbook")
    _app(bare, "guestbook", "guestbook")
    assert "status" not in wait_quiet(lambda: _get(bare, "guestbook"), 0.6)
    _controller(bare)
    app = wait(lambda: (a := _get(bare, "guestbook")).get("status") and a, "a refresh")
    project = bare.http("GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/"
                        "default")[1]
    assert project["spec"]["destinations"] == [{"server": "*", "namespace": "*"}]
    status = app["status"]
    assert status["sync"]["status"] == "OutOfSync"
    assert status["sync"]["comparedTo"] == {"source": app["spec"]["source"],
                                            "destination": app["spec"]["destination"]}
    assert status["health"]["status"] == "Missing"
    assert "operationState" not in status and "operation" not in app


def test_a_sync_operation_is_run_recorded_and_cleared(bare: Cluster) -> None:
    """``operation.sync`` is run and recorded in ``status.operationState`` (phase Succeeded,
    message "successfully synced (all tasks run)" as gitops-engine pkg/sync/sync_context.go
    sets it, the operation copied, syncResult with the revision); on completion the controller
    removes ``operation`` (controller/appcontroller.go ``setOperationState``: "If operation is
    completed, clear the operation field"), adds a ``status.history`` entry, and the app is
    Synced and Healthy. The Application has no status subresource (manifests/crds/
    application-crd.yaml ``subresources: {}``): the status write bumps ``generation``."""
    _installed(bare)
    _ns(bare, "guestbook")
    _controller(bare)
    _app(bare, "guestbook", "guestbook")
    wait(lambda: (_get(bare, "guestbook").get("status") or {}).get("sync"), "a refresh")
    _sync(bare, "guestbook")
    app = wait(lambda: (a := _get(bare, "guestbook")).get("status", {}).get("operationState")
               and a, "the sync")
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["message"] == "successfully synced (all tasks run)"
    assert state["operation"]["initiatedBy"] == {"username": "admin"}
    assert state["syncResult"]["revision"] == app["status"]["sync"]["revision"]
    assert "operation" not in app
    assert app["status"]["sync"]["status"] == "Synced"
    assert app["status"]["health"]["status"] == "Healthy"
    assert [h["revision"] for h in app["status"]["history"]] == [state["syncResult"]["revision"]]
    assert app["metadata"]["generation"] > 1
    managers = {m["manager"] for m in app["metadata"]["managedFields"]}
    assert "argocd-application-controller" in managers

    # A new target revision: OutOfSync again until the next sync.
    code, _ = bare.http("PATCH", f"{APPS}/guestbook", {"spec": {"source": {
        "targetRevision": "v2"}}}, content_type="application/merge-patch+json")
    assert code == 200
    wait(lambda: _get(bare, "guestbook")["status"]["sync"]["status"] == "OutOfSync",
         "OutOfSync after a new target revision")


def test_sync_failures_and_an_unknown_project(bare: Cluster) -> None:
    """A destination namespace that does not exist fails the sync unless ``CreateNamespace=true``
    (docs/user-guide/sync-options.md "Create Namespace"; gitops-engine "one or more objects
    failed to apply"); an unknown project is the ``InvalidSpecError`` condition "Application
    referencing project X which does not exist" (controller/appcontroller.go
    ``projectErrorToCondition``) with sync and health Unknown."""
    _installed(bare)
    _controller(bare)
    _app(bare, "nowhere", "missing-ns")
    wait(lambda: (_get(bare, "nowhere").get("status") or {}).get("sync"), "a refresh")
    _sync(bare, "nowhere")
    state = wait(lambda: _get(bare, "nowhere")["status"].get("operationState"), "the sync")
    assert state["phase"] == "Failed"
    assert state["message"] == ('one or more objects failed to apply, reason: namespaces '
                                '"missing-ns" not found')
    assert "operation" not in _get(bare, "nowhere")
    assert bare.http("GET", "/api/v1/namespaces/missing-ns")[0] == 404

    _sync(bare, "nowhere", syncOptions=["CreateNamespace=true"])
    wait(lambda: (_get(bare, "nowhere")["status"].get("operationState") or {}).get("phase")
         == "Succeeded", "the second sync")
    assert bare.http("GET", "/api/v1/namespaces/missing-ns")[0] == 200

    _app(bare, "orphan", "missing-ns", project="nope")
    app = wait(lambda: (a := _get(bare, "orphan")).get("status") and a, "a refresh")
    assert app["status"]["conditions"][0]["type"] == "InvalidSpecError"
    assert app["status"]["conditions"][0]["message"] == \
        "Application referencing project nope which does not exist"
    assert app["status"]["sync"]["status"] == "Unknown"


def test_automated_sync_policy_syncs_by_itself(bare: Cluster) -> None:
    """With ``syncPolicy.automated`` the controller syncs an OutOfSync app itself, the
    operation ``initiatedBy.automated: true`` (controller/appcontroller.go ``autoSync``;
    docs/user-guide/auto_sync.md)."""
    _installed(bare)
    _ns(bare, "guestbook")
    _controller(bare)
    _app(bare, "auto", "guestbook", syncPolicy={"automated": {"prune": True}})
    app = wait(lambda: (a := _get(bare, "auto")).get("status", {}).get("operationState") and a,
               "the automated sync")
    assert app["status"]["operationState"]["operation"]["initiatedBy"] == {"automated": True}
    assert app["status"]["operationState"]["operation"]["sync"]["prune"] is True
    assert app["status"]["sync"]["status"] == "Synced"
