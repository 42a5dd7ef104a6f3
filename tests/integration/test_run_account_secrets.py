"""The run account's Secrets on the sandbox (RBAC as kube-apiserver's, sandbox/kubernetes/rbac.py):
a Secret, or an object of a kind the inventory did not name, applied by a run killed before its
inventory is still pruned once it leaves the spec, as is what a component moved to another
namespace left in the old one and what a component marked absent applied, and no Secret
request of a reconcile is refused (it asks with a SelfSubjectAccessReview,
pkg/registry/authorization/selfsubjectaccessreview/rest.go, instead of trying the list)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.graph import Graph, component_key
from platform_assets.core.rbac import derive_rbac, load_component_manifests, to_objects, to_yaml
from platform_assets.engine.reconcile import Engine, Options, ReconcileError
from resources.kubernetes import KubernetesResource
from sandbox.http import COUNTER, serve
from sandbox.kubernetes import KubernetesService
from sandbox.world import World
from tests.integration.run_account import install, runner_resource
from tests.unit.engine_fakes import CONFIG, DEPLOYMENT, FakeBuckets, FakeCloud, make_graph

pytestmark = pytest.mark.integration

WEB = component_key("platform", "web")
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-token"},
          "type": "Opaque", "stringData": {"token": "not-a-secret"}}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class KilledAfter:
    """The run's Kubernetes API until the run dies, right after applying its first object of
    ``kind`` (the pod killed, the node gone): every later call fails."""

    def __init__(self, inner: KubernetesResource, kind: str = "Secret"):
        self.inner = inner
        self.kind = kind
        self.applied: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def apply(self, obj: dict[str, Any], force: bool = True, dry_run: bool = False,
              subresource: str | None = None) -> dict[str, Any]:
        if self.applied and self.applied[-1].startswith(f"{self.kind}/"):
            raise RuntimeError("the run was killed")
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return dict(self.inner.apply(obj, force, dry_run, subresource))


@pytest.fixture
def sandbox_k8s(tmp_path: Path) -> Iterator[tuple[KubernetesService, KubernetesResource]]:
    svc = KubernetesService(World())
    svc.add_nodes()
    svc.start_controllers()
    server = serve(svc)
    (tmp_path / "admin").write_text(svc.kubeconfig(server.url))
    try:
        yield svc, KubernetesResource(kubeconfig_path=str(tmp_path / "admin"), retry_attempts=2,
                                      retry_max_wait_seconds=0.2)
    finally:
        svc.stop()
        server.stop()


def engine(graph: Graph, k8s: Any) -> Engine:
    assert graph.base_dir is not None
    return Engine(graph.spec, graph.base_dir, ionos=FakeCloud(), kubernetes=k8s,
                  object_storage=FakeBuckets())


def run_account(admin: KubernetesResource, graph: Graph, tmp_path: Path) -> KubernetesResource:
    """The run account, with the RBAC derived from ``graph``'s spec installed by the admin."""
    assert graph.base_dir is not None
    install(admin, to_yaml(to_objects(derive_rbac(
        graph.spec, load_component_manifests(graph.spec, graph.base_dir)))))
    return runner_resource(tmp_path / "admin", tmp_path / "runner")


def k8s_writes() -> int:
    return sum(n for m, n in COUNTER.snapshot().get("kubernetes", {}).items() if m in WRITES)


def test_a_secret_a_killed_run_applied_is_pruned_by_the_run_account(
        sandbox_k8s: tuple[KubernetesService, KubernetesResource], tmp_path: Path) -> None:
    """As the run account with the RBAC derived from the spec that has the Secret (the deployed
    RBAC, which a spec commit reconciled by ``git_changes`` does not change): the run dies
    right after applying the Secret; the inventory, written ahead of it, names it; the next
    run, after the spec dropped it, reads it by that name and prunes it, and a third writes
    nothing. No Secret request was refused: the run asked whether it may list them."""
    svc, admin = sandbox_k8s
    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET])
    runner = run_account(admin, graph, tmp_path)
    svc.authorizer.denials.clear()

    killed = KilledAfter(runner)
    with pytest.raises(ReconcileError, match="the run was killed"):
        engine(graph, killed).reconcile(graph.nodes[WEB])
    assert killed.applied == ["ConfigMap/web-config", "ConfigMap/platform-ops-inventory-web",
                              "Secret/web-token"]
    assert admin.get("v1", "Secret", "web-token", "web") is not None
    inventory = admin.get("v1", "ConfigMap", "platform-ops-inventory-web", "web")
    assert inventory is not None
    assert "v1/Secret/web/web-token" in json.loads(inventory["data"]["objects"])

    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG])
    outcome = engine(graph, runner).reconcile(graph.nodes[WEB], Options(force=True))
    assert ("delete", "v1 Secret web/web-token") in [
        (c.action, c.address) for c in outcome.plan.changes if c.writes]
    assert admin.get("v1", "Secret", "web-token", "web") is None
    inventory = admin.get("v1", "ConfigMap", "platform-ops-inventory-web", "web")
    assert inventory is not None
    assert json.loads(inventory["data"]["objects"]) == [
        "apps/v1/Deployment/web/web", "v1/ConfigMap/web/web-config"]

    COUNTER.reset()
    again = engine(graph, runner).reconcile(graph.nodes[WEB])
    assert again.writes == 0 and k8s_writes() == 0, again.plan.to_text()
    assert not [m for m in svc.authorizer.denials if '"secrets"' in m], \
        list(svc.authorizer.denials)


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def test_an_object_of_a_new_kind_a_killed_run_applied_is_pruned_by_the_run_account(
        sandbox_k8s: tuple[KubernetesService, KubernetesResource], tmp_path: Path) -> None:
    """A spec adds the component's first Service and changes its Deployment; the run dies right
    after applying the Service, before the Deployment. The inventory was written ahead of the
    Service (nothing to prune, so the final one, not written again): the next run, after the
    spec dropped the Service, lists Services in the namespace the inventory names, prunes it,
    and a third writes nothing. Without the write-ahead no later run listed Services there and
    the Service stayed for good."""
    _, admin = sandbox_k8s
    image2 = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}
    adding = make_graph(tmp_path / "spec", objects=[image2, CONFIG, SERVICE])
    runner = run_account(admin, adding, tmp_path)
    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG])
    # The ConfigMap, the Deployment and the inventory (the RBAC's install made the namespace).
    assert engine(graph, runner).reconcile(graph.nodes[WEB]).writes == 3

    adding = make_graph(tmp_path / "spec", objects=[image2, CONFIG, SERVICE])
    killed = KilledAfter(runner, "Service")
    COUNTER.reset()
    with pytest.raises(ReconcileError, match="the run was killed"):
        engine(adding, killed).reconcile(adding.nodes[WEB])
    assert killed.applied == ["ConfigMap/platform-ops-inventory-web", "Service/web"]
    assert k8s_writes() == 2
    assert admin.get("v1", "Service", "web", "web") is not None
    inventory = admin.get("v1", "ConfigMap", "platform-ops-inventory-web", "web")
    assert inventory is not None
    assert "v1/Service/web/web" in json.loads(inventory["data"]["objects"])

    graph = make_graph(tmp_path / "spec", objects=[image2, CONFIG])
    COUNTER.reset()
    outcome = engine(graph, runner).reconcile(graph.nodes[WEB], Options(force=True))
    assert [(c.action, c.address) for c in outcome.plan.changes if c.writes] == [
        ("update", "apps/v1 Deployment web/web"), ("delete", "v1 Service web/web"),
        ("update", "v1 ConfigMap web/platform-ops-inventory-web")]
    assert outcome.writes == 3 and k8s_writes() == 3
    assert admin.get("v1", "Service", "web", "web") is None

    COUNTER.reset()
    again = engine(graph, runner).reconcile(graph.nodes[WEB])
    assert again.writes == 0 and k8s_writes() == 0, again.plan.to_text()


def test_what_a_component_moved_to_another_namespace_left_is_pruned_by_the_run_account(
        sandbox_k8s: tuple[KubernetesService, KubernetesResource], tmp_path: Path) -> None:
    """The spec moves the component from ``web`` to ``web2`` with ``previous_namespaces:
    [web]``; the RBAC derived from it is applied over the old one as the deploy does
    (``kubectl apply --server-side``): the Role in ``web`` keeps its name, and its rules, a list
    without merge key (atomic for server-side apply: structured-merge-diff's default), become
    only what pruning there needs: the delete, by name, of what the component applies and the
    GET of its Secret by name. The run finds the old inventory where the
    last materialization recorded it, prunes the Deployment, the ConfigMap and the Secret
    there, then that inventory; nothing is refused and a second run writes nothing."""
    svc, admin = sandbox_k8s
    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET])
    runner = run_account(admin, graph, tmp_path)
    first = engine(graph, runner).reconcile(graph.nodes[WEB])
    assert admin.get("v1", "Secret", "web-token", "web") is not None

    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET], edit=lambda s: s
                       .replace("    namespace: web\n",
                                "    namespace: web2\n    previous_namespaces: [web]\n"))
    runner = run_account(admin, graph, tmp_path)
    assert runner.may("patch", "apps/v1", "Deployment", "web") is False
    assert runner.may("create", "v1", "ConfigMap", "web") is False
    svc.authorizer.denials.clear()
    COUNTER.reset()
    outcome = engine(graph, runner).reconcile(graph.nodes[WEB], Options(
        force=True, previous_metadata=first.metadata))
    deleted = sorted(c.address for c in outcome.plan.changes if c.action == "delete")
    assert deleted == [
        "apps/v1 Deployment web/web", "v1 ConfigMap web/platform-ops-inventory-web",
        "v1 ConfigMap web/web-config", "v1 Secret web/web-token"]
    assert outcome.metadata["inventory_namespaces"] == "web2"
    # Three objects and the inventory in web2 (the namespace came with the RBAC), four deletes.
    assert outcome.writes == 8 and k8s_writes() == 8, outcome.plan.to_text()
    assert admin.list_managed("v1", "ConfigMap", "web", "platform-ops/component=web") == []
    assert admin.get("v1", "Secret", "web-token", "web") is None
    assert admin.get("apps/v1", "Deployment", "web", "web") is None
    assert admin.get("v1", "Secret", "web-token", "web2") is not None
    assert not svc.authorizer.denials, list(svc.authorizer.denials)

    COUNTER.reset()
    again = engine(graph, runner).reconcile(graph.nodes[WEB], Options(
        previous_metadata=outcome.metadata))
    assert again.writes == 0 and k8s_writes() == 0, again.plan.to_text()


def test_a_move_the_rbac_does_not_know_fails_saying_how_to_grant_it(
        sandbox_k8s: tuple[KubernetesService, KubernetesResource], tmp_path: Path) -> None:
    """The same move without ``previous_namespaces``: the RBAC derived from that spec grants
    nothing in ``web``, so the prune there is refused (403) and the component fails naming the
    field and the command; the run after them prunes, and the old inventory was kept until
    then (a failed run records no materialization, so the same metadata finds it)."""
    _, admin = sandbox_k8s
    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET])
    runner = run_account(admin, graph, tmp_path)
    first = engine(graph, runner).reconcile(graph.nodes[WEB])
    for kind in ("RoleBinding", "Role"):
        admin.delete("rbac.authorization.k8s.io/v1", kind, "platform-ops-runner", "web")

    def moved(previous: str) -> Graph:
        return make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET],
                          edit=lambda s: s.replace("    namespace: web\n",
                                                   f"    namespace: web2\n{previous}"))

    graph = moved("")
    runner = run_account(admin, graph, tmp_path)
    with pytest.raises(ReconcileError, match=r"may not delete .* web/.*\(403\), left in "
                       r"namespace web .* add `previous_namespaces: \[web\]` to component web"):
        engine(graph, runner).reconcile(graph.nodes[WEB], Options(
            force=True, previous_metadata=first.metadata))
    assert admin.get("v1", "ConfigMap", "platform-ops-inventory-web", "web") is not None

    graph = moved("    previous_namespaces: [web]\n")
    runner = run_account(admin, graph, tmp_path)
    outcome = engine(graph, runner).reconcile(graph.nodes[WEB], Options(
        force=True, previous_metadata=first.metadata))
    assert outcome.metadata["pruned"] == 4
    assert admin.list_managed("v1", "ConfigMap", "web", "platform-ops/component=web") == []
    assert admin.get("v1", "Secret", "web-token", "web") is None


def test_an_absent_component_is_pruned_by_the_run_account_with_delete_rights_only(
        sandbox_k8s: tuple[KubernetesService, KubernetesResource], tmp_path: Path) -> None:
    """The spec marks the component ``absent: true``; the RBAC derived from it is applied over
    the old one as the deploy does (server-side apply: the Role's rules, an atomic list, are
    replaced): in ``web`` the run account may only get and delete, by name, what the
    component applied and its inventory (no patch, no create). The run deletes the
    Deployment, the ConfigMap and the Secret, then the inventory: 4 writes, no request refused,
    recorded ``absent: gone``; a second run writes nothing."""
    svc, admin = sandbox_k8s
    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET])
    runner = run_account(admin, graph, tmp_path)
    first = engine(graph, runner).reconcile(graph.nodes[WEB])
    assert admin.get("v1", "Secret", "web-token", "web") is not None

    graph = make_graph(tmp_path / "spec", objects=[DEPLOYMENT, CONFIG, SECRET], edit=lambda s: s
                       .replace("    prune: true\n", "    prune: true\n    absent: true\n"))
    runner = run_account(admin, graph, tmp_path)
    for verb, api, kind in (("patch", "apps/v1", "Deployment"), ("create", "v1", "ConfigMap"),
                            ("patch", "v1", "ConfigMap"), ("create", "v1", "Secret")):
        assert runner.may(verb, api, kind, "web") is False, (verb, kind)
    svc.authorizer.denials.clear()
    COUNTER.reset()
    outcome = engine(graph, runner).reconcile(graph.nodes[WEB], Options(
        force=True, previous_metadata=first.metadata))
    assert [(c.action, c.address) for c in outcome.plan.changes if c.writes] == [
        ("delete", "apps/v1 Deployment web/web"), ("delete", "v1 ConfigMap web/web-config"),
        ("delete", "v1 Secret web/web-token"),
        ("delete", "v1 ConfigMap web/platform-ops-inventory-web")]
    assert all(c.reason.startswith("component is absent from the spec")
               for c in outcome.plan.changes if c.writes)
    assert outcome.writes == 4 and k8s_writes() == 4, outcome.plan.to_text()
    assert outcome.metadata["absent"] == "gone"
    assert admin.list_managed("v1", "ConfigMap", "web", "platform-ops/component=web") == []
    assert admin.get("v1", "Secret", "web-token", "web") is None
    assert admin.get("apps/v1", "Deployment", "web", "web") is None
    assert not svc.authorizer.denials, list(svc.authorizer.denials)

    COUNTER.reset()
    again = engine(graph, runner).reconcile(graph.nodes[WEB], Options(
        force=True, previous_metadata=outcome.metadata))
    assert again.writes == 0 and k8s_writes() == 0, again.plan.to_text()
    assert not svc.authorizer.denials, list(svc.authorizer.denials)
