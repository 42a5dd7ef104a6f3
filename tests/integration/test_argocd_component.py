"""An Argo CD component reconciled against the sandbox cluster with the real kubernetes client:
a missing Argo CD install is a clear preflight error; once Argo CD runs, the Application is
applied, a sync requested as ``argocd app sync`` does (``operation``), the component healthy
once Argo CD reports it Synced and Healthy; a second reconcile writes nothing; a spec change
requests a new sync. Contract: argo-cd ``server/application/application.go`` ``Sync`` and
``util/argo.SetAppOperation`` (the request), ``controller/appcontroller.go``
``setOperationState`` (the outcome in ``status.operationState``, ``operation`` cleared)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.core.graph import Graph, component_key
from platform_assets.engine.handler import ReconcileError
from platform_assets.engine.reconcile import Engine, Options, ReconcileOutcome
from resources.kubernetes import KubernetesResource
from sandbox.http import COUNTER
from tests.integration.test_sandbox_argocd import APPS, _controller, _ns
from tests.integration.test_sandbox_kubernetes import Cluster, _start
from tests.unit.engine_fakes import FakeBuckets, FakeCloud, make_graph

pytestmark = [pytest.mark.integration]

WEB = component_key("platform", "web")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
SOURCE = ("source:\n      argocd_application:\n"
          "        repo_url: https://github.com/argoproj/argocd-example-apps.git\n"
          "        path: guestbook\n"
          "        target_revision: {revision}")


def _graph(tmp: Path, revision: str = "HEAD") -> Graph:
    return make_graph(tmp / f"spec-{revision}", [], edit=lambda s: s.replace(
        "source: {manifests: {path: manifests/web}}", SOURCE.replace("{revision}", revision)))


def _reconcile(k8s: Cluster, graph: Graph) -> ReconcileOutcome:
    assert graph.base_dir is not None
    client = KubernetesResource(kubeconfig_path=str(k8s.kubeconfig), retry_attempts=3,
                                retry_max_wait_seconds=0.2)
    engine = Engine(graph.spec, graph.base_dir, ionos=FakeCloud(), kubernetes=client,
                    object_storage=FakeBuckets())
    return engine.reconcile(graph.nodes[WEB], Options())


def _k8s_writes() -> int:
    return sum(n for m, n in COUNTER.snapshot().get("kubernetes", {}).items() if m in WRITES)


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path, preinstall_crds=False)


def test_without_argocd_the_component_fails_preflight_naming_what_is_missing(
        bare: Cluster, tmp_path: Path) -> None:
    with pytest.raises(ReconcileError) as info:
        _reconcile(bare, _graph(tmp_path))
    message = str(info.value)
    assert message.startswith("component web: ")
    assert "Application" in message and "argoproj.io/v1alpha1" in message
    assert "Argo CD is not installed in the cluster" in message
    assert bare.http("GET", "/api/v1/namespaces/web")[0] == 404  # nothing was written


def test_an_argocd_component_converges_reports_health_and_then_writes_nothing(
        bare: Cluster, tmp_path: Path) -> None:
    bare.svc.install_chart("argo-cd", "7.7.11")
    _ns(bare, "argocd")
    _controller(bare)
    graph = _graph(tmp_path)
    first = _reconcile(bare, graph)
    assert first.healthy, first.unhealthy
    # The namespace, the Application, the inventory, and the sync request.
    assert first.writes == 4, first.plan.to_text()
    assert first.metadata["argocd_sync"] == "Synced"
    assert first.metadata["argocd_health"] == "Healthy"
    assert first.metadata["health"] == "Application/web=ok"
    app = bare.http("GET", f"{APPS}/web")[1]
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["operation"]["initiatedBy"] == {"username": "platform-ops"}
    assert state["operation"]["info"] == [{"name": "requestedAt",
                                           "value": first.metadata["sync_requested_at"]}]
    assert "operation" not in app  # the controller cleared it

    COUNTER.reset()
    second = _reconcile(bare, graph)
    assert second.writes == 0 and _k8s_writes() == 0, second.plan.to_text()
    assert second.healthy and "sync_requested_at" not in second.metadata

    third = _reconcile(bare, _graph(tmp_path, "v2"))
    assert third.healthy and third.writes == 2  # the Application and the sync request
    app = bare.http("GET", f"{APPS}/web")[1]
    assert app["spec"]["source"]["targetRevision"] == "v2"
    assert app["status"]["operationState"]["operation"]["sync"]["revision"] == "v2"
    assert len(app["status"]["history"]) == 2


def test_a_failing_sync_fails_the_component_with_argocds_message(
        bare: Cluster, tmp_path: Path) -> None:
    """A destination cluster Argo CD does not know: the controller reports the
    ``InvalidSpecError`` condition and our sync ends in phase Error; the component is not
    healthy and its error carries Argo CD's words (not a timeout without a reason)."""
    bare.svc.install_chart("argo-cd", "7.7.11")
    _ns(bare, "argocd")
    _controller(bare)
    graph = make_graph(tmp_path / "spec-bad", [], edit=lambda s: s.replace(
        "source: {manifests: {path: manifests/web}}",
        SOURCE.replace("{revision}", "HEAD") +
        "\n        destination_server: https://elsewhere.example.com").replace(
        "health_timeout: 1m", "health_timeout: 3s"))
    with pytest.raises(ReconcileError) as info:
        _reconcile(bare, graph)
    message = str(info.value)
    assert message.startswith("component web: not healthy after 3s: Application/web: ")
    assert 'InvalidSpecError: cluster "https://elsewhere.example.com" not found' in message
    state = bare.http("GET", f"{APPS}/web")[1]["status"]["operationState"]
    assert state["phase"] == "Error"
