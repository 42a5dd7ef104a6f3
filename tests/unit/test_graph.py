"""The asset graph comes from the spec: keys, dependencies, groups and code versions."""

from __future__ import annotations

import re
from pathlib import Path

from platform_assets.core.graph import (
    KEY_CLUSTER,
    KEY_DATACENTER,
    KEY_MARIADB,
    backup_copy_key,
    backup_key,
    bucket_key,
    build_graph,
    certificate_key,
    component_key,
    lan_key,
    node_pool_key,
)
from platform_assets.spec import load_spec, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC

ROOT = Path(__file__).resolve().parents[2]
OTHER = ROOT / "tests" / "fixtures" / "other" / "platform.yaml"


def test_example_graph_layers_and_dependencies() -> None:
    g = build_graph(load_spec(DEFAULT_SPEC))
    assert g.nodes[KEY_DATACENTER].group == "infrastructure"
    assert g.nodes[lan_key("k8s-private")].deps == (KEY_DATACENTER,)
    assert set(g.nodes[KEY_CLUSTER].deps) == {KEY_DATACENTER, lan_key("k8s-private"),
                                              lan_key("edge-public")}
    pool = g.nodes[node_pool_key("application-pool")]
    assert KEY_CLUSTER in pool.deps and pool.kinds == {"ionos", "kubernetes"}
    flux = g.nodes[component_key("platform", "flux-install")]
    assert flux.deps == (node_pool_key("application-pool"),)
    sources = g.nodes[component_key("platform", "flux-sources")]
    assert set(sources.deps) == {node_pool_key("application-pool"),
                                 component_key("platform", "flux-install")}
    issuers = g.nodes[component_key("platform", "cert-manager-issuers")]
    assert component_key("platform", "cert-manager") in issuers.deps
    app = g.nodes[component_key("applications", "wordpress")]
    assert app.group == "applications" and app.owners == ("team:web",)
    backup = g.nodes[backup_key("wordpress-content")]
    assert backup.group == "backups"
    assert set(backup.deps) == {component_key("applications", "wordpress"),
                                bucket_key("samcloud-platform-backups")}
    assert g.nodes[backup_key("wordpress-database")].deps[0] == KEY_MARIADB
    resources = g.nodes[backup_key("cluster-resources")]
    assert component_key("platform", "kube-prometheus-stack") in resources.deps
    assert component_key("platform", "ingress") not in resources.deps  # kube-system not listed
    copy = g.nodes[backup_copy_key("wordpress-content")]
    assert set(copy.deps) == {backup_key("wordpress-content"),
                              bucket_key("samcloud-platform-backups-dr")}
    cert = g.nodes[certificate_key("wildcard-samcloud-online")]
    # After the DNS zone that holds the records its hosts resolve through.
    zone = ("ionos", "dns_zone", "samcloud.online")
    assert cert.deps == (component_key("platform", "cert-manager-issuers"), zone)
    assert g.nodes[certificate_key("cdn-samcloud-online")].deps == (zone,)


def test_topological_order_respects_every_dependency() -> None:
    g = build_graph(load_spec(DEFAULT_SPEC))
    order = [n.key for n in g.topological()]
    assert sorted(order) == sorted(g.nodes) and sum(len(n.deps) for n in g.nodes.values()) > 20
    for n in g.nodes.values():
        for d in n.deps:
            assert order.index(d) < order.index(n.key)
    # WordPress reads the cluster's host (inputs.mariadb): it runs after it, and so does
    # everything that backs WordPress up.
    wordpress = component_key("applications", "wordpress")
    assert KEY_MARIADB in g.nodes[wordpress].deps
    assert {KEY_MARIADB, wordpress, backup_key("wordpress-database"),
            backup_copy_key("wordpress-database")} <= g.downstream({KEY_MARIADB})


def test_a_different_spec_yields_its_own_graph() -> None:
    example = build_graph(load_spec(DEFAULT_SPEC))
    other = build_graph(load_spec(OTHER))
    assert set(other.nodes).isdisjoint(set(example.nodes) - {KEY_DATACENTER, KEY_CLUSTER})
    assert component_key("applications", "shop") in other.nodes
    worker = other.nodes[component_key("applications", "shop-worker")]
    assert component_key("applications", "shop") in worker.deps
    assert {node_pool_key("general"), node_pool_key("memory")} <= set(worker.deps)
    assert KEY_MARIADB not in other.nodes
    assert not other.by_group("backups") and not other.by_group("certificates")
    assert "flux" in worker.kinds and "manifests" in other.nodes[
        component_key("applications", "shop")].kinds


def test_code_version_changes_only_with_the_assets_section() -> None:
    text = DEFAULT_SPEC.read_text()
    before = build_graph(load_spec_text(text))
    after = build_graph(load_spec_text(text.replace("node_count: 3", "node_count: 4")))
    changed = {k for k in before.nodes if before.nodes[k].code_version
               != after.nodes[k].code_version}
    assert changed == {node_pool_key("application-pool")}


def test_manifest_edits_change_the_component_code_version() -> None:
    spec = load_spec(DEFAULT_SPEC)
    a = build_graph(spec, manifest_digest=lambda p: "one" if p.endswith("wordpress") else "x")
    b = build_graph(spec, manifest_digest=lambda p: "two" if p.endswith("wordpress") else "x")
    key = component_key("applications", "wordpress")
    assert a.nodes[key].code_version != b.nodes[key].code_version
    assert a.nodes[KEY_CLUSTER].code_version == b.nodes[KEY_CLUSTER].code_version


def test_no_component_name_of_the_example_appears_in_python_code() -> None:
    spec = load_spec(DEFAULT_SPEC)
    names = {c.name for c in spec.components} | {t.name for t in spec.backups.targets}  # type: ignore[union-attr]
    names |= {c.name for c in spec.certificates.items}
    pattern = re.compile("|".join(rf"['\"]{re.escape(n)}['\"]" for n in sorted(names)))
    offenders = []
    for folder in ("platform_assets", "jobs", "schedules", "sensors", "resources"):
        for path in (ROOT / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert offenders == []


def test_readme_shows_the_example_graph() -> None:
    from platform_assets.core.graph import to_mermaid

    readme = (ROOT / "README.md").read_text()
    assert to_mermaid(build_graph(load_spec(DEFAULT_SPEC))) in readme, (
        "the README's diagram is stale: paste `python -m platform_assets graph` into it")
