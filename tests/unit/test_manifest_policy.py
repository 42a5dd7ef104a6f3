"""Per-component allow-list: manifests create objects only in their namespaces and allowed kinds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.core.graph import component_key
from platform_assets.core.loading import graph_from_source
from platform_assets.core.manifests import ManifestError
from platform_assets.engine.component import component_manifests
from platform_assets.engine.reconcile import Engine, Options, ReconcileError
from platform_assets.spec import SpecError
from platform_assets.spec.loader import DEFAULT_SPEC, load_spec
from platform_assets.spec.models import Component
from platform_assets.spec.source import DirectorySource
from tests.unit.engine_fakes import FakeBuckets, FakeClock, FakeCloud, FakeCluster, make_graph

BINDING = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "pwned"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                       "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "web"}]}
ROLE_BINDING = {**BINDING, "kind": "RoleBinding",
                "metadata": {"name": "admin-here", "namespace": "web"}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}


def _component(tmp_path: Path, objects: list[dict[str, Any]], **allow: Any) -> Component:
    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "objects.yaml").write_text(yaml.safe_dump_all(objects))
    return Component.model_validate({"name": "web", "namespace": "web",
                                     "source": {"manifests": {"path": "m"}}, "allow": allow})


@pytest.mark.parametrize(("objects", "message"), [
    ([CM, BINDING], "ClusterRoleBinding/pwned: kind: ClusterRoleBinding is cluster-scoped"),
    ([ROLE_BINDING], "RoleBinding/admin-here: kind: RoleBinding grants rights (RBAC)"),
    ([{**CM, "metadata": {"name": "c", "namespace": "kube-system"}}],
     "ConfigMap/c: metadata.namespace: namespace 'kube-system' is not one of component 'web'"),
    ([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}],
     "Namespace/kube-system: kind: Namespace is cluster-scoped"),
    ([{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
       "metadata": {"name": "inject"}}], "MutatingWebhookConfiguration is cluster-scoped"),
])
def test_objects_outside_the_allow_list_are_refused_with_file_and_line(
        tmp_path: Path, objects: list[dict[str, Any]], message: str) -> None:
    comp = _component(tmp_path, objects)
    with pytest.raises(ManifestError) as info:
        component_manifests(tmp_path, comp)
    assert f"{tmp_path / 'm' / 'objects.yaml'}:" in str(info.value)
    assert message in str(info.value)


def test_the_allow_list_grants_namespaces_and_kinds_explicitly(tmp_path: Path) -> None:
    objects = [CM, BINDING, ROLE_BINDING,
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}},
               {**CM, "metadata": {"name": "c", "namespace": "shared"}}]
    comp = _component(tmp_path, objects, namespaces=["shared"],
                      kinds=["ClusterRoleBinding", "RoleBinding"])
    got = component_manifests(tmp_path, comp)
    assert [(o["kind"], o["metadata"].get("namespace")) for o in got] == [
        ("ConfigMap", "web"), ("ClusterRoleBinding", None), ("RoleBinding", "web"),
        ("Namespace", None), ("ConfigMap", "shared")]


def test_the_example_platform_declares_what_it_needs() -> None:
    spec = load_spec(DEFAULT_SPEC)
    for comp in spec.components:
        component_manifests(DEFAULT_SPEC.parent, comp)  # raises on any refused object
    store = spec.component("secret-store")
    assert store.allow.kinds == ["ClusterSecretStore"]
    assert set(store.allow.namespaces) == {"cert-manager", "services"}


def test_a_kind_discovery_says_is_cluster_scoped_is_refused_before_any_write(
        tmp_path: Path) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "ClusterWidget",
              "metadata": {"name": "w"}}
    graph = make_graph(tmp_path, [CM, widget])
    k8s = FakeCluster(True)
    k8s.cluster_kinds.add("ClusterWidget")  # not in the static table; the API server knows
    clock = FakeClock()
    engine = Engine(graph.spec, graph.base_dir, ionos=FakeCloud(), kubernetes=k8s,
                    object_storage=FakeBuckets(), now=lambda: datetime(2026, 11, 25, tzinfo=UTC),
                    sleep=clock.sleep, clock=clock, env={}.get)
    with pytest.raises(ReconcileError, match="ClusterWidget/w: kind: ClusterWidget is "
                                             "cluster-scoped"):
        engine.reconcile(graph.nodes[component_key("platform", "web")], Options())
    assert not k8s.writes


def test_a_commit_with_a_refused_object_is_a_spec_error_naming_the_manifest(
        tmp_path: Path) -> None:
    import shutil

    base = tmp_path / "platform"
    shutil.copytree(DEFAULT_SPEC.parent, base)
    (base / "manifests" / "wordpress" / "rbac.yaml").write_text(
        "# a commit that makes the default ServiceAccount cluster-admin\n"
        + yaml.safe_dump({**BINDING, "subjects": [{"kind": "ServiceAccount", "name": "default",
                                                   "namespace": "services"}]}))
    source = DirectorySource(base)
    graph_from_source(source, "platform.yaml")  # the code location's load stays lean
    with pytest.raises(SpecError) as info:
        graph_from_source(source, "platform.yaml", check_manifests=True)
    (problem,) = info.value.problems
    assert problem.file.endswith("manifests/wordpress/rbac.yaml") and problem.line == 2
    assert problem.path == "ClusterRoleBinding/pwned: kind"
    assert "allow.kinds" in problem.message
