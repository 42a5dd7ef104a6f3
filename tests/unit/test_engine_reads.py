"""What a reconcile reads (one list per kind across namespaces for the whole run, health from
the same lists), the preflight of API versions and CRDs, the per-namespace fallback, and Secrets
read by name, never listed in a namespace."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core import preflight
from platform_assets.core.graph import Graph, component_key
from platform_assets.engine.reconcile import Engine, Options, ReconcileError
from platform_assets.reconcile_assets import reconciled_nodes
from tests.unit.engine_fakes import FakeBuckets, FakeClock, FakeCloud, FakeCluster, make_graph

MORE = """
  - name: {name}
    namespace: {name}
    source: {{manifests: {{path: manifests/web}}}}
    health_timeout: 1m
"""
NAMES = ["api", "blog", "shop"]


def three_more(text: str) -> str:
    head, sep, tail = text.partition("change_calendar:")
    return head + "".join(MORE.format(name=n) for n in NAMES) + sep + tail


def engine(graph: Graph, k8s: FakeCluster) -> Engine:
    assert graph.base_dir is not None
    return Engine(graph.spec, graph.base_dir, ionos=FakeCloud(), kubernetes=k8s,
                  object_storage=FakeBuckets(), sleep=FakeClock().sleep, clock=FakeClock(),
                  env={"MARIADB_PASSWORD": "x"}.get)


def components(graph: Graph) -> list[Any]:
    return [n for n in reconciled_nodes(graph) if n.kind == "component"]


def reconciled(tmp_path: Path) -> tuple[Graph, FakeCluster]:
    """Four components, reconciled once: what a later run finds in place."""
    graph = make_graph(tmp_path, edit=three_more)
    k8s = FakeCluster()
    first = engine(graph, k8s)
    for node in components(graph):
        first.reconcile(node)
    return graph, k8s


def test_a_no_op_run_lists_each_kind_once_for_all_components(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, edit=three_more)
    k8s = FakeCluster()
    first = engine(graph, k8s)
    assert sum(first.reconcile(n).writes for n in components(graph)) == 4 * 4
    k8s.reads.clear()
    again = engine(graph, k8s)
    outcomes = [again.reconcile(n) for n in components(graph)]
    assert all(o.writes == 0 and o.healthy for o in outcomes)
    # Deployment, ConfigMap (objects and inventories) and Namespace: three lists, no GETs.
    assert k8s.reads == {"LIST": 3}


def test_the_same_engine_reads_again_when_a_node_comes_round_again(tmp_path: Path) -> None:
    graph = make_graph(tmp_path)
    k8s = FakeCluster()
    eng = engine(graph, k8s)
    web = graph.nodes[component_key("platform", "web")]
    assert eng.reconcile(web).writes == 4
    # Someone deletes the ConfigMap between two passes of one engine: the second pass sees it.
    del k8s.objects[("v1", "ConfigMap", "web", "web-config")]
    assert eng.reconcile(web).writes == 1


def test_a_missing_crd_names_component_kind_version_and_who_installs_it(
        tmp_path: Path) -> None:
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "tls"}, "spec": {"secretName": "tls"}}
    graph = make_graph(tmp_path, objects=[cert], edit=lambda t: t.replace(
        "platform:\n", "platform:\n  - name: cert-manager\n    namespace: cert-manager\n"
        "    source: {helm_release: {chart: cert-manager, version: 1.16.2, repository: jetstack}}"
        "\n"))
    k8s = FakeCluster()
    k8s.not_served.add(("cert-manager.io/v1", "Certificate"))
    web = graph.nodes[component_key("platform", "web")]
    with pytest.raises(ReconcileError) as err:
        engine(graph, k8s).reconcile(web)
    assert str(err.value) == (
        "component web: Certificate cert-manager.io/v1 is not served (the server serves no "
        "version); component cert-manager should install it; depend on it (depends_on)")
    assert not k8s.writes
    planned = engine(graph, k8s).reconcile(web, Options(dry_run=True))
    assert any("cert-manager should install it" in n for n in planned.plan.notes)


def test_the_installer_is_the_component_whose_manifests_hold_the_crd(tmp_path: Path) -> None:
    graph = make_graph(tmp_path)
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "names": {"kind": "Widget"}}}
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    by_name = {"web": [crd]}
    found = preflight.installer(graph.spec, lambda c: by_name.get(c.name, []),
                                "example.com/v1", "Widget", "other")
    assert found == "component web installs it (its manifests hold the CRD)"
    # A component's own CRD is applied first in the same run: not a missing API.
    assert preflight.needed_kinds([crd, widget]) == [
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition")]
    assert "no component of the spec installs the example.com CRDs" in preflight.installer(
        graph.spec, lambda c: [], "example.com/v1", "Widget", "other")


class Forbidden(Exception):
    status = 403


def test_a_kind_the_run_may_not_list_across_namespaces_is_listed_per_namespace(
        tmp_path: Path) -> None:
    graph, k8s = reconciled(tmp_path)
    listed: list[str | None] = []
    real = k8s.list_managed

    def namespaced_only(api: str, kind: str, namespace: str | None,
                        selector: str) -> list[dict[str, Any]]:
        listed.append(namespace)
        if namespace is None and kind != "Namespace":
            raise Forbidden("deployments.apps is forbidden: cannot list at the cluster scope")
        return real(api, kind, namespace, selector)

    k8s.list_managed = namespaced_only  # type: ignore[method-assign]
    again = engine(graph, k8s)
    assert all(again.reconcile(n).writes == 0 for n in components(graph))
    assert sorted(n for n in listed if n) == sorted(["web", *NAMES] * 2)


def test_the_kinds_a_component_needs_are_listed_side_by_side(tmp_path: Path) -> None:
    """The first component's lists go out together (at a real server's latency one round trip,
    not one per kind): the Deployment and ConfigMap lists each wait at a barrier for the other,
    which only both reach if they run at the same time."""
    import threading

    graph, k8s = reconciled(tmp_path)
    both = threading.Barrier(2, timeout=10)
    real = k8s.list_managed

    def meeting(api: str, kind: str, namespace: str | None, selector: str) -> list[Any]:
        if kind in ("Deployment", "ConfigMap"):
            both.wait()  # BrokenBarrierError after 10 s if the lists ran one after the other
        return real(api, kind, namespace, selector)

    k8s.list_managed = meeting  # type: ignore[method-assign]
    k8s.reads.clear()
    again = engine(graph, k8s)
    assert all(again.reconcile(n).writes == 0 for n in components(graph))
    assert k8s.reads == {"LIST": 3}  # still one list per kind for the whole run


class Unavailable(Exception):
    status = 503


def test_a_list_that_fails_fails_its_first_reader_and_the_next_lists_again(
        tmp_path: Path) -> None:
    graph, k8s = reconciled(tmp_path)
    failures = [Unavailable("the server is currently unable to handle the request")]
    real = k8s.list_managed

    def once_down(api: str, kind: str, namespace: str | None, selector: str) -> list[Any]:
        if kind == "Deployment" and failures:
            raise failures.pop()
        return real(api, kind, namespace, selector)

    k8s.list_managed = once_down  # type: ignore[method-assign]
    again = engine(graph, k8s)
    nodes = components(graph)
    with pytest.raises(ReconcileError, match="LIST apps/v1 Deployment in all namespaces.*"
                                             "unable to handle"):
        again.reconcile(nodes[0])
    # The next component is not handed the first one's error: it lists again, and converges.
    assert all(again.reconcile(n).writes == 0 for n in nodes[1:])


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-token"},
          "type": "Opaque", "stringData": {"token": "not-a-secret"}}


class SecretsByName(FakeCluster):
    """The cluster as the derived RBAC lets the run see it: Secrets are never listed (403
    across namespaces and in a namespace alike), and only the named ones are readable."""

    def __init__(self, readable: set[tuple[str, str]] | None = None,
                 answers: bool = True) -> None:
        super().__init__()
        self.readable = readable  # (namespace, name); None: every Secret
        self.answers = answers  # whether access reviews are answered (else None: cannot say)
        self.secret_lists: list[str | None] = []

    def list_managed(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str) -> list[dict[str, Any]]:
        if kind == "Secret":
            self.reads["LIST"] += 1
            self.secret_lists.append(namespace)
            raise Forbidden(f"secrets is forbidden: cannot list resource \"secrets\" in "
                            f"{namespace or 'the cluster scope'}")
        return super().list_managed(api_version, kind, namespace, label_selector)

    def may(self, verb: str, api_version: str, kind: str,
            namespace: str | None = None) -> bool | None:
        self.reads["REVIEW"] += 1
        return kind != "Secret" if self.answers else None

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        if kind == "Secret" and self.readable is not None and \
                (namespace or "", name) not in self.readable:
            self.reads["GET"] += 1
            raise Forbidden(f'secrets "{name}" is forbidden: cannot get resource "secrets"')
        return super().get(api_version, kind, name, namespace)


def test_secrets_are_read_by_name_never_listed_in_a_namespace(tmp_path: Path) -> None:
    """Each component's Secret is one GET by name: the run asks once whether it may list
    Secrets across namespaces (an access review, not a refused list), is told no, and never
    lists Secrets at all (per namespace that would read every Secret there)."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=three_more)
    k8s = SecretsByName({(ns, "web-token") for ns in ["web", *NAMES]})
    first = engine(graph, k8s)
    assert sum(first.reconcile(n).writes for n in components(graph)) == 4 * 5
    assert k8s.secret_lists == []
    k8s.reads.clear()
    again = engine(graph, k8s)
    outcomes = [again.reconcile(n) for n in components(graph)]
    assert all(o.writes == 0 and o.healthy for o in outcomes)
    assert all(not o.orphans for o in outcomes)
    assert k8s.secret_lists == []  # no Secret list was tried, so none was refused
    # Deployment, ConfigMap and Namespace lists, the one review, one GET per Secret.
    assert k8s.reads == {"LIST": 3, "REVIEW": 1, "GET": 4}
    view = again.runtime.view()
    assert (view.gets, view.reviews) == (4, 1)


def test_a_server_that_cannot_answer_the_review_is_asked_by_listing(tmp_path: Path) -> None:
    """No answer to the review (no review API, or reviews refused): the view tries the list
    across namespaces as it would without asking, and the 403 sends it to the GETs by name."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=three_more)
    k8s = SecretsByName({(ns, "web-token") for ns in ["web", *NAMES]}, answers=False)
    first = engine(graph, k8s)
    assert sum(first.reconcile(n).writes for n in components(graph)) == 4 * 5
    k8s.reads.clear()
    k8s.secret_lists.clear()
    again = engine(graph, k8s)
    assert all(again.reconcile(n).writes == 0 for n in components(graph))
    assert k8s.secret_lists == [None]
    assert k8s.reads == {"LIST": 4, "REVIEW": 1, "GET": 4}


def test_a_secret_removed_from_the_spec_is_pruned_by_its_inventory_name(tmp_path: Path) -> None:
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    web = graph.nodes[component_key("platform", "web")]
    assert engine(graph, k8s).reconcile(web).writes == 5
    # Someone else's Secret in the namespace with our labels copied: not in our inventory, so
    # never read, never pruned.
    stray = {**SECRET, "metadata": {**k8s.objects[("v1", "Secret", "web", "web-token")]
                                    ["metadata"], "name": "theirs"}}
    k8s.objects[("v1", "Secret", "web", "theirs")] = stray
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG])
    k8s.secret_lists.clear()
    outcome = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")],
                                           Options(force=True))  # outside the window
    assert [(c.action, c.address) for c in outcome.plan.changes if c.writes] == [
        ("delete", "v1 Secret web/web-token"),
        ("update", "v1 ConfigMap web/platform-ops-inventory-web")]
    assert ("v1", "Secret", "web", "web-token") not in k8s.objects
    assert ("v1", "Secret", "web", "theirs") in k8s.objects
    assert k8s.secret_lists == []


def test_a_secret_not_ours_by_its_labels_is_neither_diffed_nor_pruned(tmp_path: Path) -> None:
    """A GET returns whatever has the name: only an object with the component's labels counts,
    as a label-selected list would have it."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    web = graph.nodes[component_key("platform", "web")]
    engine(graph, k8s).reconcile(web)
    key = ("v1", "Secret", "web", "web-token")
    k8s.objects[key]["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "someone-else"}
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG])
    outcome = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")],
                                           Options(force=True))
    assert not any(c.action == "delete" for c in outcome.plan.changes)
    assert key in k8s.objects


def test_an_inventoried_secret_the_run_may_not_read_is_reported_not_pruned(
        tmp_path: Path) -> None:
    """The spec dropped a Secret, and the RBAC rendered from it no longer names it: the run is
    refused its GET, so it leaves it, keeps it in the inventory and reports it as an orphan."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    web = graph.nodes[component_key("platform", "web")]
    engine(graph, k8s).reconcile(web)
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG])
    k8s.readable = set()
    k8s.writes.clear()
    outcome = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")],
                                           Options(force=True))
    assert outcome.orphans == ["v1 Secret web/web-token"]
    assert outcome.writes == 0 and not k8s.writes
    assert ("v1", "Secret", "web", "web-token") in k8s.objects
    assert "not pruned" in next(c.reason for c in outcome.plan.changes
                                if c.address == "v1 Secret web/web-token")


def test_a_secret_of_the_spec_the_run_may_not_read_fails_naming_the_rbac_command(
        tmp_path: Path) -> None:
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName(readable=set())
    with pytest.raises(ReconcileError) as err:
        engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    assert str(err.value) == (
        "component web: the run may not read Secret web/web-token (403): its RBAC is older "
        "than the spec; apply `python -m platform_assets rbac` for this spec")
    assert not k8s.writes


def test_an_account_that_may_list_secrets_across_namespaces_lists_them_once(
        tmp_path: Path) -> None:
    """An account allowed the label-selected list across namespaces (a cluster admin's; the
    derived RBAC never grants it) reads every component's Secrets from that one list."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=three_more)
    k8s = FakeCluster()
    for n in components(graph):
        engine(graph, k8s).reconcile(n)
    k8s.reads.clear()
    again = engine(graph, k8s)
    again.expect(reconciled_nodes(graph))  # nothing is fetched by name ahead for it either
    assert all(again.reconcile(n).writes == 0 for n in components(graph))
    assert k8s.reads == {"LIST": 4, "REVIEW": 1}  # the question costs one small POST


class KilledAfter(SecretsByName):
    """The run dies right after its first object of ``kind`` is applied (the pod killed, the
    node gone), before anything else is written: the inventory last of all, in particular."""

    def __init__(self, kind: str = "Secret") -> None:
        super().__init__()
        self.kill = True
        self.kind = kind
        self.applied: list[str] = []

    def apply(self, obj: dict[str, Any], force: bool = True, dry_run: bool = False,
              subresource: str | None = None) -> dict[str, Any]:
        if self.kill and self.applied and self.applied[-1].startswith(f"{self.kind}/"):
            raise RuntimeError("the run was killed")
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return super().apply(obj, force, dry_run, subresource)


def inventoried(k8s: FakeCluster, ns: str = "web", component: str = "") -> list[str]:
    import json

    inv = k8s.objects[("v1", "ConfigMap", ns, f"platform-ops-inventory-{component or ns}")]
    return list(json.loads(inv["data"]["objects"]))


def test_a_secret_applied_by_a_killed_run_is_pruned_once_it_leaves_the_spec(
        tmp_path: Path) -> None:
    """The Secret is written into the inventory before it is applied: the run killed right
    after applying it leaves it inventoried, so the next run, after the spec dropped it, reads
    it by that name and prunes it; then nothing is written. (Without the write-ahead the
    inventory came last, was never written, and no run could find the Secret again.)"""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = KilledAfter()
    with pytest.raises(ReconcileError, match="the run was killed"):
        engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    assert k8s.applied == ["Namespace/web", "ConfigMap/web-config",
                           "ConfigMap/platform-ops-inventory-web", "Secret/web-token"]
    assert "v1/Secret/web/web-token" in inventoried(k8s)
    k8s.kill = False
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG])
    outcome = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")],
                                           Options(force=True))
    assert ("delete", "v1 Secret web/web-token") in [
        (c.action, c.address) for c in outcome.plan.changes if c.writes]
    assert ("v1", "Secret", "web", "web-token") not in k8s.objects
    assert inventoried(k8s) == ["apps/v1/Deployment/web/web", "v1/ConfigMap/web/web-config"]
    k8s.writes.clear()
    again = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    assert again.writes == 0 and not k8s.writes
    assert k8s.secret_lists == []


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def test_an_object_of_a_new_kind_a_killed_run_applied_is_pruned_once_it_leaves_the_spec(
        tmp_path: Path) -> None:
    """A run adds a Service, the component's first (a kind and namespace its inventory does
    not list, so no later run would list it for the spec's sake once the spec drops it) and
    dies right after applying it. The inventory is written ahead of it, as for a new Secret:
    the next run, after the spec dropped the Service, lists Services there, finds it by its
    labels and prunes it; then nothing is written. (Without the write-ahead the inventory came
    last, was never written, and the Service stayed for good.)"""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    web = component_key("platform", "web")
    k8s = KilledAfter("Service")
    k8s.kill = False
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG])
    assert engine(graph, k8s).reconcile(graph.nodes[web]).writes == 4
    k8s.kill = True
    k8s.applied.clear()
    image2 = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}
    graph = make_graph(tmp_path, objects=[image2, CONFIG, SERVICE])
    with pytest.raises(ReconcileError, match="the run was killed"):
        engine(graph, k8s).reconcile(graph.nodes[web])
    # The inventory (nothing to prune: the final one) ahead of the Service, and not again.
    assert k8s.applied == ["ConfigMap/platform-ops-inventory-web", "Service/web"]
    assert "v1/Service/web/web" in inventoried(k8s)
    k8s.kill = False
    graph = make_graph(tmp_path, objects=[image2, CONFIG])
    k8s.writes.clear()
    outcome = engine(graph, k8s).reconcile(graph.nodes[web], Options(force=True))
    assert [(c.action, c.address) for c in outcome.plan.changes if c.writes] == [
        ("update", "apps/v1 Deployment web/web"), ("delete", "v1 Service web/web"),
        ("update", "v1 ConfigMap web/platform-ops-inventory-web")]
    assert outcome.writes == 3 and sum(k8s.writes.values()) == 3
    assert ("v1", "Service", "web", "web") not in k8s.objects
    assert inventoried(k8s) == ["apps/v1/Deployment/web/web", "v1/ConfigMap/web/web-config"]
    k8s.writes.clear()
    assert engine(graph, k8s).reconcile(graph.nodes[web]).writes == 0 and not k8s.writes


def test_the_inventory_written_ahead_keeps_what_a_pending_prune_still_needs(
        tmp_path: Path) -> None:
    """A run that adds a Secret while pruning another writes ahead the old entries and the new
    one (no duplicates), then the final inventory; a run that adds one and prunes nothing
    writes the inventory once, ahead, as it would have written it last."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    web = component_key("platform", "web")
    assert engine(graph, k8s).reconcile(graph.nodes[web]).writes == 5
    renamed = {**SECRET, "metadata": {"name": "web-token-2"}}
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, renamed])
    seen: list[list[str]] = []
    real_apply = k8s.apply

    def apply(obj: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        if obj["metadata"]["name"] == "platform-ops-inventory-web":
            import json

            seen.append(json.loads(obj["data"]["objects"]))
        return real_apply(obj, *args, **kwargs)

    k8s.apply = apply  # type: ignore[method-assign]
    outcome = engine(graph, k8s).reconcile(graph.nodes[web], Options(force=True))
    base = ["apps/v1/Deployment/web/web", "v1/ConfigMap/web/web-config"]
    assert seen == [[*base, "v1/Secret/web/web-token", "v1/Secret/web/web-token-2"],
                    [*base, "v1/Secret/web/web-token-2"]]
    # The Secret, the prune and the inventory twice.
    assert outcome.writes == 4
    assert ("v1", "Secret", "web", "web-token") not in k8s.objects
    seen.clear()
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, renamed, {
        **SECRET, "metadata": {"name": "web-token-3"}}])
    assert engine(graph, k8s).reconcile(graph.nodes[web]).writes == 2
    assert seen == [[*base, "v1/Secret/web/web-token-2", "v1/Secret/web/web-token-3"]]


class SecretsTogether(SecretsByName):
    """GETs of Secrets pass only four at a time (a barrier): a run that reads each component's
    Secret when it comes to that component, one component after another, never gets through."""

    def __init__(self) -> None:
        super().__init__()
        self.together: threading.Barrier | None = None

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        if kind == "Secret" and self.together is not None:
            self.together.wait()
        return super().get(api_version, kind, name, namespace)


def test_the_runs_secrets_are_read_together_ahead_of_the_components(tmp_path: Path) -> None:
    """Told the run's components (``Engine.expect``), the view GETs every Secret their
    inventories list on one pool as soon as ConfigMaps are listed: the four components'
    Secrets are in flight at once although the components are reconciled one by one, each
    read once."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=three_more)
    k8s = SecretsTogether()
    first = engine(graph, k8s)
    assert sum(first.reconcile(n).writes for n in components(graph)) == 4 * 5
    k8s.together = threading.Barrier(4, timeout=30)
    k8s.reads.clear()
    again = engine(graph, k8s)
    again.expect(reconciled_nodes(graph))
    outcomes = [again.reconcile(n) for n in components(graph)]
    assert all(o.writes == 0 and o.healthy for o in outcomes)
    assert not k8s.together.broken
    assert k8s.reads["GET"] == 4 and again.runtime.view().gets == 4


def test_a_secret_written_during_the_run_is_read_as_written(tmp_path: Path) -> None:
    """A Secret this run wrote (a registry's pull Secret, our own apply) is what a later read
    of the run sees, not the GET made ahead of the write."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    web = graph.nodes[component_key("platform", "web")]
    engine(graph, k8s).reconcile(web)
    again = engine(graph, k8s)
    again.expect([web])
    view = again.runtime.view()
    oid = ("v1", "Secret", "web", "web-token")
    view.prefetch_named(again.runtime.components)
    before = view.named([oid], "web")[0][oid]
    written = {**before, "data": {"token": "bmV3"}}
    view.wrote(written)
    assert view.named([oid], "web")[0][oid] == written
    view.deleted(oid)
    assert view.named([oid], "web") == ({}, [])
    assert view.gets == 1


def moved(text: str) -> str:
    """The unit spec with the web component moved to namespace ``web2``."""
    return text.replace("    namespace: web\n", "    namespace: web2\n")


def test_a_component_moved_to_another_namespace_prunes_what_it_left_in_the_old_one(
        tmp_path: Path) -> None:
    """The spec moves the component from ``web`` to ``web2``. The inventory in ``web`` is no
    longer the component's, so the run finds it where the last materialization recorded it
    (its ``inventory_namespaces``, else its ``namespace``) and prunes what it lists, the
    Secret included, with the reason shown in the plan, then that inventory itself, after the
    new one is written. A later run writes nothing."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    first = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    assert first.writes == 5
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=moved)
    web = graph.nodes[component_key("platform", "web")]
    outcome = engine(graph, k8s).reconcile(web, Options(
        force=True, previous_metadata=first.metadata))
    deleted = [c for c in outcome.plan.changes if c.action == "delete"]
    assert sorted(c.address for c in deleted) == [
        "apps/v1 Deployment web/web", "v1 ConfigMap web/platform-ops-inventory-web",
        "v1 ConfigMap web/web-config", "v1 Secret web/web-token"]
    assert all("moved to namespace web2" in c.reason for c in deleted), \
        [c.reason for c in deleted]
    assert sorted(k for k in k8s.objects if k[1] != "Namespace") == [
        ("apps/v1", "Deployment", "web2", "web"),
        ("v1", "ConfigMap", "web2", "platform-ops-inventory-web"),
        ("v1", "ConfigMap", "web2", "web-config"), ("v1", "Secret", "web2", "web-token")]
    assert outcome.metadata["inventory_namespaces"] == "web2"
    assert k8s.secret_lists == []
    k8s.writes.clear()
    again = engine(graph, k8s).reconcile(web, Options(previous_metadata=outcome.metadata))
    assert again.writes == 0 and not k8s.writes, again.plan.to_text()


def test_a_move_outside_the_window_keeps_the_old_inventory_until_the_prune_runs(
        tmp_path: Path) -> None:
    """Outside a maintenance window the prunes are deferred: the old inventory stays, the new
    one lists what is deferred, and the metadata still names the old namespace; a dry run
    keeps naming it too. The run inside the window prunes and drops it."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    first = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=moved)
    web = graph.nodes[component_key("platform", "web")]
    deferred = engine(graph, k8s).reconcile(web, Options(previous_metadata=first.metadata))
    assert deferred.plan.counts()["deferred"] == 4
    assert ("v1", "ConfigMap", "web", "platform-ops-inventory-web") in k8s.objects
    assert "v1/Secret/web/web-token" in inventoried(k8s, "web2", "web")
    assert deferred.metadata["inventory_namespaces"] == "web,web2"
    dry = engine(graph, k8s).reconcile(web, Options(
        dry_run=True, force=True, previous_metadata=deferred.metadata))
    assert dry.metadata["inventory_namespaces"] == "web,web2"
    done = engine(graph, k8s).reconcile(web, Options(force=True, previous_metadata=dry.metadata))
    assert done.metadata["inventory_namespaces"] == "web2"
    assert not [k for k in k8s.objects if k[2] == "web" and k[1] != "Namespace"]
    assert inventoried(k8s, "web2", "web") == [
        "apps/v1/Deployment/web2/web", "v1/ConfigMap/web2/web-config", "v1/Secret/web2/web-token"]


def test_a_move_killed_midway_converges(tmp_path: Path) -> None:
    """The run of the move dies right after its first Secret in the new namespace (the new
    inventory written ahead of it, the old one untouched): it recorded nothing, so the next run
    reads the old inventory from the same metadata, prunes, and a third writes nothing."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = KilledAfter()
    k8s.kill = False
    first = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    k8s.kill, k8s.applied = True, []
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=moved)
    web = graph.nodes[component_key("platform", "web")]
    with pytest.raises(ReconcileError, match="the run was killed"):
        engine(graph, k8s).reconcile(web, Options(force=True, previous_metadata=first.metadata))
    assert k8s.applied == ["Namespace/web2", "ConfigMap/web-config",
                           "ConfigMap/platform-ops-inventory-web", "Secret/web-token"]
    k8s.kill = False
    outcome = engine(graph, k8s).reconcile(web, Options(force=True,
                                                        previous_metadata=first.metadata))
    assert outcome.metadata["pruned"] == 4
    assert not [k for k in k8s.objects if k[2] == "web" and k[1] != "Namespace"]
    k8s.writes.clear()
    again = engine(graph, k8s).reconcile(web, Options(previous_metadata=outcome.metadata))
    assert again.writes == 0 and not k8s.writes, again.plan.to_text()


def absent(text: str) -> str:
    """The unit spec with the web component marked absent."""
    return text.replace("    prune: true\n", "    prune: true\n    absent: true\n")


def test_an_absent_component_is_pruned_to_nothing_and_recorded_gone(tmp_path: Path) -> None:
    """``absent: true`` deletes what the inventory lists, the Secret (read by name, never
    listed) included, each with the reason, then the inventory, and records ``absent: gone``;
    outside the window it defers all and keeps the inventory; a later run writes nothing."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = SecretsByName()
    first = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=absent)
    web = graph.nodes[component_key("platform", "web")]
    assert web.description.startswith("Absent (absent: true): its reconcile deletes")
    k8s.writes.clear()
    deferred = engine(graph, k8s).reconcile(web, Options(previous_metadata=first.metadata))
    assert deferred.plan.counts()["deferred"] == 3 and deferred.writes == 0
    assert not k8s.writes and deferred.metadata["absent"] == "pruning"
    outcome = engine(graph, k8s).reconcile(web, Options(
        force=True, previous_metadata=deferred.metadata))
    assert [(c.address, c.reason) for c in outcome.plan.changes if c.writes] == [
        ("apps/v1 Deployment web/web", "component is absent from the spec"),
        ("v1 ConfigMap web/web-config", "component is absent from the spec"),
        ("v1 Secret web/web-token", "component is absent from the spec"),
        ("v1 ConfigMap web/platform-ops-inventory-web",
         "component is absent from the spec: its inventory in web, deleted last")]
    assert outcome.writes == 4 and sum(k8s.writes.values()) == 4, k8s.writes
    assert [k for k in k8s.objects if k[1] != "Namespace"] == []
    assert outcome.metadata["absent"] == "gone" and outcome.metadata["pruned"] == 4
    assert outcome.metadata["inventory_namespaces"] == ""
    assert k8s.secret_lists == []
    k8s.writes.clear()
    again = engine(graph, k8s).reconcile(web, Options(force=True,
                                                      previous_metadata=outcome.metadata))
    assert again.writes == 0 and not k8s.writes, again.plan.to_text()
    assert again.metadata["absent"] == "gone"


class KilledDeleting(SecretsByName):
    """The run dies right after its first delete (the pod killed)."""

    def __init__(self) -> None:
        super().__init__()
        self.kill = False
        self.deleted: list[str] = []

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               propagation: str | None = None) -> None:
        if self.kill and self.deleted:
            raise RuntimeError("the run was killed")
        self.deleted.append(f"{kind}/{name}")
        super().delete(api_version, kind, name, namespace, propagation)


def test_an_absent_component_killed_midway_converges(tmp_path: Path) -> None:
    """Killed after its first delete, the run has not touched the inventory: the next run
    finds the rest from it and deletes them, the inventory last; a third writes nothing."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = KilledDeleting()
    first = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=absent)
    web = graph.nodes[component_key("platform", "web")]
    k8s.kill = True
    with pytest.raises(ReconcileError, match="the run was killed"):
        engine(graph, k8s).reconcile(web, Options(force=True, previous_metadata=first.metadata))
    assert k8s.deleted == ["Deployment/web"]
    assert inventoried(k8s) == ["apps/v1/Deployment/web/web", "v1/ConfigMap/web/web-config",
                                "v1/Secret/web/web-token"]
    k8s.kill = False
    outcome = engine(graph, k8s).reconcile(web, Options(force=True,
                                                        previous_metadata=first.metadata))
    assert outcome.metadata["pruned"] == 3 and outcome.metadata["absent"] == "gone"
    assert [k for k in k8s.objects if k[1] != "Namespace"] == []
    k8s.writes.clear()
    again = engine(graph, k8s).reconcile(web, Options(previous_metadata=outcome.metadata))
    assert again.writes == 0 and not k8s.writes, again.plan.to_text()


class RefusesDelete(SecretsByName):
    """The deployed RBAC does not name one object: its DELETE is refused (403)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.refused = name

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               propagation: str | None = None) -> None:
        if name == self.refused:
            raise Forbidden(f'{kind.lower()}s "{name}" is forbidden: cannot delete')
        super().delete(api_version, kind, name, namespace, propagation)


def test_an_absent_components_refused_delete_names_the_rbac_command(tmp_path: Path) -> None:
    """A delete the deployed RBAC does not grant fails the component saying what to do; the
    inventory stays, so the run after the fix deletes the rest and the inventory."""
    from tests.unit.engine_fakes import CONFIG, DEPLOYMENT

    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET])
    k8s = RefusesDelete("web-config")
    first = engine(graph, k8s).reconcile(graph.nodes[component_key("platform", "web")])
    graph = make_graph(tmp_path, objects=[DEPLOYMENT, CONFIG, SECRET], edit=absent)
    web = graph.nodes[component_key("platform", "web")]
    with pytest.raises(ReconcileError, match=r"component web is absent: the run may not delete "
                       r"v1 ConfigMap web/web-config \(403\).*python -m platform_assets rbac"):
        engine(graph, k8s).reconcile(web, Options(force=True, previous_metadata=first.metadata))
    assert len(inventoried(k8s)) == 3
    k8s.refused = ""
    outcome = engine(graph, k8s).reconcile(web, Options(force=True,
                                                        previous_metadata=first.metadata))
    assert outcome.metadata["absent"] == "gone"
    assert [k for k in k8s.objects if k[1] != "Namespace"] == []
