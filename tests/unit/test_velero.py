"""The pure side of Velero backups (platform_assets.core.velero) and the spec's method velero:
names, the Backup and Restore objects, statuses, the bucket layout, the tarball, spec errors."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest

from platform_assets.core import velero as v
from platform_assets.core.graph import backup_key, build_graph, component_key
from platform_assets.spec import SpecError, load_spec, load_spec_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "velero" / "platform.yaml"


def test_backup_names_are_the_same_every_run_and_valid_labels() -> None:
    assert v.backup_name("todo", "2026-11-20") == "platform-ops-todo-2026-11-20"
    assert v.backup_name("todo", "2026-11-20") == v.backup_name("todo", "2026-11-20")
    long = v.backup_name("t" * 60, "2026-11-20")
    assert len(long) <= 63 and long != v.backup_name("t" * 59 + "u", "2026-11-20")
    assert len(v.restore_name(long)) <= 63 and len(v.delete_request_name(long)) <= 63


def test_ttl_is_written_as_velero_writes_a_go_duration() -> None:
    assert v.go_duration(timedelta(days=30)) == "720h0m0s"
    assert v.go_duration(timedelta(hours=1, minutes=30, seconds=5)) == "1h30m5s"


def test_the_backup_object_carries_the_targets_choices() -> None:
    req = v.BackupRequest("b", "velero", "todo", "2026-11-20", ("todo", "api"), "default",
                          timedelta(hours=240), False, {"app": "todo"})
    body = req.manifest()
    assert body["apiVersion"] == "velero.io/v1" and body["kind"] == "Backup"
    assert body["spec"] == {"includedNamespaces": ["todo", "api"], "storageLocation": "default",
                            "ttl": "240h0m0s", "snapshotVolumes": False,
                            "labelSelector": {"matchLabels": {"app": "todo"}}}
    assert body["metadata"]["labels"]["platform-ops.io/partition"] == "2026-11-20"
    plain = v.BackupRequest("b", "velero", "todo", "p", ("todo",), "default",
                            timedelta(hours=1), True).manifest()
    assert "labelSelector" not in plain["spec"] and plain["spec"]["snapshotVolumes"] is True


def test_the_drill_restore_maps_every_namespace_and_leaves_out_secrets_and_pods() -> None:
    body = v.restore_manifest("r", "velero", "b", "todo", {"todo": "drill-todo"})
    assert body["spec"]["namespaceMapping"] == {"todo": "drill-todo"}
    assert body["spec"]["includedNamespaces"] == ["todo"]
    assert {"secrets", "pods", "replicasets.apps"} <= set(body["spec"]["excludedResources"])


@pytest.mark.parametrize(("status", "finished", "completed"), [
    ({}, False, False), ({"phase": "New"}, False, False),
    ({"phase": "InProgress"}, False, False), ({"phase": "FinalizingPartiallyFailed"}, False, False),
    ({"phase": "Completed"}, True, True), ({"phase": "PartiallyFailed"}, True, False),
    ({"phase": "Failed"}, True, False), ({"phase": "FailedValidation"}, True, False)])
def test_phases_velero_is_still_working_in_are_not_final(status: dict[str, str], finished: bool,
                                                         completed: bool) -> None:
    got = v.Status.of({"status": status})
    assert (got.finished, got.completed) == (finished, completed)


def test_the_cause_is_velero_own_words() -> None:
    assert v.Status.of({"status": {"phase": "FailedValidation", "validationErrors": [
        "a", "b"]}}).cause() == "a; b"
    assert v.Status.of({"status": {"phase": "Failed", "failureReason": "boom"}}).cause() == "boom"
    partial = v.Status.of({"status": {"phase": "PartiallyFailed", "errors": 2, "warnings": 1,
                                      "progress": {"totalItems": 5, "itemsBackedUp": 4}}})
    assert partial.cause() == "2 error(s), 1 warning(s)"
    assert (partial.total_items, partial.items_done) == (5, 4)


def test_the_keys_follow_velero_object_store_layout() -> None:
    keys = v.backup_keys("velero", "b1")
    assert keys["metadata"] == "velero/backups/b1/velero-backup.json"
    assert keys["contents"] == "velero/backups/b1/b1.tar.gz"
    assert keys["log"] == "velero/backups/b1/b1-logs.gz"
    assert keys["results"] == "velero/backups/b1/b1-results.gz"
    assert v.backup_keys("", "b1")["contents"] == "backups/b1/b1.tar.gz"


def _metadata(name: str = "b1", uid: str = "u1", phase: str = "Completed") -> bytes:
    return json.dumps({"kind": "Backup", "metadata": {"name": name, "uid": uid},
                       "status": {"phase": phase}}).encode()


def test_the_metadata_must_be_this_backup_and_completed() -> None:
    assert v.check_metadata(_metadata(), "b1", "u1") == []
    assert "another Backup" in v.check_metadata(_metadata(uid="old"), "b1", "u1")[0]
    assert "not Backup 'b1'" in v.check_metadata(_metadata(name="b2"), "b1", "u1")[0]
    assert "PartiallyFailed" in v.check_metadata(_metadata(phase="PartiallyFailed"), "b1",
                                                 "u1")[0]
    assert "not JSON" in v.check_metadata(b"{", "b1", "u1")[0]


@pytest.mark.parametrize("planted", [
    {"kind": "Backup", "metadata": ["b1"], "status": {"phase": "Completed"}},
    {"kind": "Backup", "metadata": {"name": "b1", "uid": "u1"}, "status": ["Completed"]},
    {"kind": "Backup", "metadata": {"name": "b1", "uid": "u1"},
     "status": {"phase": {"x": 1}, "warnings": "many", "errors": [1],
                "progress": "done", "validationErrors": 7}},
])
def test_a_planted_metadata_file_of_the_wrong_shape_is_a_problem_not_a_crash(
        planted: dict[str, object]) -> None:
    # The file comes from the bucket: wrong types are findings (found by fuzzing the parsers of
    # bucket objects; a list under metadata raised AttributeError).
    problems = v.check_metadata(json.dumps(planted).encode(), "b1", "u1")
    assert problems and all(isinstance(p, str) for p in problems)
    status = v.Status.of(planted)
    assert (status.warnings, status.errors, status.validation_errors) == (0, 0, ())


def _tarball(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in entries.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_the_tarball_items_are_the_preferred_versions() -> None:
    cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "c", "namespace": "todo"}}).encode()
    raw = _tarball({"metadata/version": b"1.1.0",
                    "resources/configmaps/namespaces/todo/c.json": cm,
                    "resources/configmaps/v1-preferredversion/namespaces/todo/c.json": cm,
                    "resources/namespaces/v1-preferredversion/cluster/todo.json": json.dumps(
                        {"kind": "Namespace", "metadata": {"name": "todo"}}).encode()})
    items, version = v.tarball_items(raw)
    assert version == "1.1.0"
    assert sorted((i.resource, i.namespace, i.name) for i in items) == [
        ("configmaps", "todo", "c"), ("namespaces", None, "todo")]
    assert [i.name for i in items if v.drilled(i)] == ["c"]


@pytest.mark.parametrize(("raw", "why"), [
    (b"not a tarball", "not a gzipped tar"),
    (_tarball({"resources/configmaps/v1-preferredversion/namespaces/a/c.json": b"{}"}),
     "not a Kubernetes object"),
    (_tarball({"resources/x/y": b""}), "no metadata/version")],
    ids=["garbage", "not-an-object", "no-version"])
def test_a_tarball_that_is_not_velero_is_refused(raw: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        v.tarball_items(raw)


def test_owned_and_preexisting_objects_are_not_expected_back() -> None:
    owned = v.Item("pods", "todo", "p", {"metadata": {"ownerReferences": [{"kind": "RS"}]}})
    sa = v.Item("serviceaccounts", "todo", "default", {"metadata": {}})
    secret = v.Item("secrets", "todo", "s", {"metadata": {}})
    assert not any(v.drilled(i) for i in (owned, sa, secret))


def test_the_first_errors_of_the_results_say_where() -> None:
    raw = gzip.compress(json.dumps({"errors": {"velero": ["v1"], "namespaces": {
        "todo": ["item failed"]}}}).encode())
    assert v.result_messages(raw) == ["velero: v1", "namespace todo: item failed"]
    assert v.result_messages(b"garbage") == []


def test_the_velero_example_loads_and_its_backup_runs_after_velero() -> None:
    spec = load_spec(EXAMPLE)
    target = next(t for t in spec.backups.targets if t.method == "velero")  # type: ignore[union-attr]
    node = build_graph(spec).nodes[backup_key(target.name)]
    assert component_key("platform", "velero") in node.deps
    assert node.kinds == frozenset({"s3", "kubernetes", "velero"})
    assert target.velero_settings.storage_location == "default"


def _problems(text: str) -> str:
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "platform.yaml")
    return str(exc.value)


def test_method_velero_without_a_velero_component_names_file_line_and_field() -> None:
    text = EXAMPLE.read_text().replace("chart: velero", "chart: other")
    line = text.splitlines().index("      method: velero") + 1
    assert (f"platform.yaml:{line}: backups.targets[0].method: method velero needs Velero "
            "installed by the spec") in _problems(text)


def test_velero_settings_need_method_velero_and_kind_resources() -> None:
    text = EXAMPLE.read_text()
    assert "needs kind resources, not volume" in _problems(
        text.replace("      kind: resources\n", "      kind: volume\n      namespace: todo\n"
                     "      pvc: data\n", 1))
    assert "velero settings need method: velero" in _problems(
        text.replace("      method: velero\n", "", 1))


def test_an_unknown_velero_component_is_named() -> None:
    text = EXAMPLE.read_text().replace("        storage_location: default\n",
                                       "        storage_location: default\n"
                                       "        component: nope\n", 1)
    assert "backups.targets[0].velero.component: unknown component 'nope'" in _problems(text)


def test_the_run_may_ask_velero_but_not_read_the_namespaces_itself() -> None:
    """Least privilege: Backups, Restores and DeleteBackupRequests in Velero's namespace, the
    storage location by name only."""
    from platform_assets.core.rbac import derive_rbac, load_component_manifests

    spec = load_spec(EXAMPLE)
    plan = derive_rbac(spec, load_component_manifests(spec, EXAMPLE.parent))
    assert {"get", "create", "patch"} <= plan.verbs_for("velero.io", "backups", "velero")
    assert "delete" in plan.verbs_for("velero.io", "restores", "velero")
    assert "create" in plan.verbs_for("velero.io", "deletebackuprequests", "velero")
    assert plan.verbs_for("velero.io", "backupstoragelocations", "velero", "default") == {"get"}
    assert not plan.verbs_for("velero.io", "backupstoragelocations", "velero", "other")
