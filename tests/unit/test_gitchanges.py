"""Which assets a Git commit changed: spec sections, manifest directories, graph shape."""

from __future__ import annotations

import pytest

from platform_assets.core.gitchanges import (
    diff_graphs,
    diff_spec_texts,
    dirs_of_files,
    path_checker,
    repo_path,
)
from platform_assets.core.graph import build_graph, component_key, node_pool_key
from platform_assets.spec.loader import SpecError, load_spec_text

BASE = """\
apiVersion: platform-ops/v1
metadata: {name: test-platform}
ionos:
  datacenter: {name: dc, location: de/fra}
  cluster:
    name: k8s
    k8s_version: 1.32.6
    maintenance_window: {day: Sunday, time: "10:00"}
  node_pools:
    - {name: pool, node_count: 2, cores: 2, ram: 8GB, storage_size: 50GB}
platform:
  - name: edge
    namespace: edge
    source: {helm_release: {chart: edge, version: 1.0.0, repository: charts}}
applications:
  - name: shop
    namespace: shop
    depends_on: [edge]
    source: {manifests: {path: manifests/shop}}
  - name: worker
    namespace: shop
    depends_on: [shop]
    source: {manifests: {path: manifests/worker}}
"""

DIRS = {"manifests", "manifests/shop", "manifests/worker"}
EXISTS = path_checker("platform.yaml", DIRS)


def graph(text: str):  # noqa: ANN201 - test helper
    return build_graph(load_spec_text(text, "platform.yaml", path_exists=EXISTS))


def test_changed_section_selects_only_that_asset_and_its_downstream() -> None:
    new = BASE.replace("version: 1.0.0", "version: 1.1.0")
    change = diff_graphs(graph(BASE), graph(new), ["platform.yaml"], "platform.yaml")
    assert change.changed == {component_key("platform", "edge")}
    assert change.selection == [("platform", "edge")]
    assert {("applications", "shop"), ("applications", "worker")} <= change.downstream
    assert not change.shape_changed


def test_manifest_file_change_selects_its_component() -> None:
    change = diff_graphs(graph(BASE), graph(BASE), ["manifests/worker/deploy.yaml"],
                         "platform.yaml")
    assert change.selection == [("applications", "worker")]


def test_manifest_change_outside_any_component_selects_nothing() -> None:
    change = diff_graphs(graph(BASE), graph(BASE), ["README.md", "manifests/shopping/x.yaml"],
                         "platform.yaml")
    assert change.selection == []


def test_node_pool_change_is_selected() -> None:
    new = BASE.replace("node_count: 2", "node_count: 3")
    change = diff_graphs(graph(BASE), graph(new), ["platform.yaml"], "platform.yaml")
    assert change.selection == [node_pool_key("pool")]
    assert component_key("applications", "worker") in change.downstream


def test_added_component_changes_the_shape() -> None:
    new = BASE + """\
  - name: batch
    namespace: shop
    source: {kustomization: {path: ./apps/batch}}
"""
    change = diff_graphs(graph(BASE), graph(new), ["platform.yaml"], "platform.yaml")
    assert change.added == {("applications", "batch")}
    assert change.shape_changed
    assert ("applications", "batch") in change.selection


def test_removed_component_changes_the_shape() -> None:
    new = BASE.split("  - name: worker")[0]
    change = diff_graphs(graph(BASE), graph(new), ["platform.yaml"], "platform.yaml")
    assert change.removed == {("applications", "worker")}
    assert change.shape_changed
    assert change.selection == []


def test_rules_only_change_selects_no_asset() -> None:
    new = BASE + """\
remediation:
  rules:
    - {name: r, match: {alertname: X}, action: reconcile, target: shop}
"""
    change = diff_graphs(graph(BASE), graph(new), ["platform.yaml"], "platform.yaml")
    assert change.selection == []


def test_unknown_old_spec_selects_everything_reconciled() -> None:
    change = diff_spec_texts(None, BASE, [], new_path_exists=EXISTS)
    assert ("ionos", "datacenter") in change.selection
    assert len(change.selection) == len(graph(BASE).nodes)


def test_invalid_old_spec_counts_as_unknown() -> None:
    change = diff_spec_texts("apiVersion: [", BASE, [], new_path_exists=EXISTS,
                             old_path_exists=EXISTS)
    assert len(change.selection) == len(graph(BASE).nodes)


def test_invalid_new_spec_raises_with_file_and_line() -> None:
    bad = BASE.replace("depends_on: [edge]", "depends_on: [nowhere]")
    with pytest.raises(SpecError, match=r"platform\.yaml:\d+: applications\[0\]\.depends_on"):
        diff_spec_texts(BASE, bad, ["platform.yaml"], new_path_exists=EXISTS)


def test_missing_manifest_directory_at_commit_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="manifests/worker"):
        load_spec_text(BASE, "platform.yaml",
                       path_exists=path_checker("platform.yaml", {"manifests/shop"}))


def test_spec_in_a_subdirectory() -> None:
    assert repo_path("deploy/platform.yaml", "manifests/shop") == "deploy/manifests/shop"
    assert repo_path("platform.yaml", "./manifests/shop") == "manifests/shop"
    exists = path_checker("deploy/platform.yaml", {"deploy/manifests/shop",
                                                   "deploy/manifests/worker"})
    old = build_graph(load_spec_text(BASE, "x", path_exists=exists))
    change = diff_graphs(old, old, ["deploy/manifests/shop/a.yaml", "manifests/worker/b.yaml"],
                         "deploy/platform.yaml")
    assert change.selection == [("applications", "shop")]


def test_dirs_of_files() -> None:
    assert dirs_of_files(["a/b/c.yaml", "d.yaml"]) == {"a", "a/b"}


def test_credentials_in_git_urls_are_redacted() -> None:
    from resources.git import redact

    assert redact("cannot fetch https://bot:s3cret@git.example/p.git") == \
        "cannot fetch https://***@git.example/p.git"
    assert redact("file:///tmp/x.git") == "file:///tmp/x.git"


def test_git_cursor_reads_json_and_bare_shas() -> None:
    from sensors.ticks.git_changes import GitCursor

    sha = "a" * 40
    assert GitCursor.parse(sha).applied == sha
    cur = GitCursor(handled=sha, applied=sha, pending=None)
    assert GitCursor.parse(cur.dump()) == cur
    assert GitCursor.parse('{"handled": 3}').handled is None


def test_spec_dir_is_relative_to_the_repository_root() -> None:
    """A leading slash or ``./`` does not change where the spec lives in the tree."""
    from platform_assets.core.gitchanges import spec_dir

    assert spec_dir("/platform/platform.yaml") == "platform"
    assert spec_dir("./platform/platform.yaml") == "platform"
    assert spec_dir("platform.yaml") == ""
