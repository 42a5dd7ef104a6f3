"""The pure side of Longhorn backups (platform_assets.core.longhorn) and the spec's method
longhorn: names, the Snapshot, Backup and drill Volume objects, states, the bucket layout
(longhorn/backupstore ``config.go``), the backup cfg check, spec errors, RBAC, the example."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from platform_assets.core import longhorn as lh
from platform_assets.core.graph import backup_key, build_graph, component_key
from platform_assets.spec import SpecError, load_spec, load_spec_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "longhorn" / "platform.yaml"
SHA = hashlib.sha512(b"block").hexdigest()


def test_names_are_the_same_every_run() -> None:
    assert lh.object_name("wiki", "2026-11-20") == "platform-ops-wiki-2026-11-20"
    assert lh.object_name("wiki", "2026-11-20") == lh.object_name("wiki", "2026-11-20")
    assert len(lh.object_name("w" * 70, "2026-11-20")) <= 63
    assert lh.drill_volume_name("wiki") == "platform-ops-wiki-drill"


def test_the_backup_names_its_volume_in_the_label_longhorn_reads() -> None:
    body = lh.backup_manifest("b", "longhorn-system", "pvc-1", "s", "wiki", "2026-11-20",
                              "default")
    assert body["metadata"]["labels"]["backup-volume"] == "pvc-1"
    assert body["spec"] == {"snapshotName": "s", "labels": {
        "platform-ops.io/backup-target": "wiki", "platform-ops.io/partition": "2026-11-20"}}
    other = lh.backup_manifest("b", "ns", "v", "s", "wiki", "p", "offsite")
    assert other["spec"]["backupTargetName"] == "offsite"
    snap = lh.snapshot_manifest("s", "ns", "pvc-1", "wiki", "p")
    assert snap["spec"] == {"volume": "pvc-1", "createSnapshot": True}


@pytest.mark.parametrize(("state", "finished", "completed"), [
    ("", False, False), ("Pending", False, False), ("InProgress", False, False),
    ("Completed", True, True), ("Error", True, False), ("Unknown", True, False)])
def test_backup_states(state: str, finished: bool, completed: bool) -> None:
    got = lh.BackupState.of({"status": {"state": state}})
    assert (got.finished, got.completed) == (finished, completed)


def test_the_bucket_layout_is_backupstores() -> None:
    digest = hashlib.sha512(b"pvc-1").hexdigest()
    assert lh.backup_cfg_key("longhorn/", "pvc-1", "b1") == (
        f"longhorn/backupstore/volumes/{digest[:2]}/{digest[2:4]}/pvc-1/backups/backup_b1.cfg")
    assert lh.block_key("", "pvc-1", SHA).endswith(f"/pvc-1/blocks/{SHA[:2]}/{SHA[2:4]}/{SHA}.blk")
    assert lh.parse_target_url("s3://bkt@de/longhorn/") == ("bkt", "de", "longhorn/")
    assert lh.parse_target_url("s3://bkt@de") == ("bkt", "de", "")
    with pytest.raises(ValueError, match="not s3://"):
        lh.parse_target_url("nfs://server:/export")


def _cfg(**over: object) -> bytes:
    cfg = {"Name": "b1", "VolumeName": "v", "SnapshotName": "s", "Size": "10",
           "CreatedTime": "2026-11-20T02:00:00Z", "Blocks": [{"Offset": 0, "BlockChecksum": SHA}]}
    return json.dumps({**cfg, **over}).encode()


def test_a_backup_cfg_must_be_this_backup_complete_and_as_reported() -> None:
    cfg, problems = lh.check_backup_cfg(_cfg(), "b1", "v", "s", "10")
    assert problems == [] and cfg is not None and cfg.blocks == (SHA,) and cfg.size == 10
    assert "Name is 'other'" in lh.check_backup_cfg(_cfg(Name="other"), "b1", "v", "s",
                                                    "10")[1][0]
    assert "in progress" in " ".join(lh.check_backup_cfg(_cfg(CreatedTime=""), "b1", "v", "s",
                                                         "10")[1])
    assert "Size is '10', not '11'" in lh.check_backup_cfg(_cfg(), "b1", "v", "s", "11")[1][0]
    bad = _cfg(Blocks=[{"Offset": 0, "BlockChecksum": "../../x"}])
    assert "not sha512 hex" in lh.check_backup_cfg(bad, "b1", "v", "s", "10")[1][0]
    assert "not a backupstore backup cfg" in lh.check_backup_cfg(b"[1]", "b1", "v", "s",
                                                                 "10")[1][0]


def test_restore_outcome() -> None:
    assert lh.restore_outcome(None) == (False, "")
    assert lh.restore_outcome({"status": {"state": "detached", "restoreRequired": True}}) == (
        False, "")
    assert lh.restore_outcome({"status": {"state": "detached", "restoreRequired": False}}) == (
        True, "")
    failed = {"status": {"state": "detached", "restoreRequired": True, "conditions": [
        {"type": "Restore", "reason": "RestoreFailure", "message": "block mismatch"}]}}
    assert lh.restore_outcome(failed) == (True, "block mismatch")


def test_clone_outcome_and_the_static_claim_of_a_volume() -> None:
    """The snapshot's clone is done at cloneStatus completed or failed (longhorn-manager
    ``volume.go``); the static PV and claim name the Volume as Longhorn's docs' example does."""
    assert lh.clone_outcome(None) == (False, "")
    assert lh.clone_outcome({"status": {"cloneStatus": {"state": "initiated"}}}) == (False, "")
    assert lh.clone_outcome({"status": {"cloneStatus": {"state": "completed"}}}) == (True, "")
    finished, why = lh.clone_outcome({"status": {"cloneStatus": {
        "state": "failed", "snapshot": "s", "sourceVolume": "v"}}})
    assert finished and "'s'" in why and "'v'" in why
    clone = lh.clone_volume_manifest("c", "longhorn-system", "v", "s", "10", "t")
    assert clone["spec"]["dataSource"] == "snap://v/s"
    pv, pvc = lh.static_claim("c", "app", "10", "t")
    assert pv["spec"]["csi"] == {"driver": "driver.longhorn.io", "fsType": "ext4",
                                 "volumeHandle": "c"}
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pvc["spec"]["volumeName"] == "c" == pvc["metadata"]["name"]
    assert pv["spec"]["storageClassName"] == pvc["spec"]["storageClassName"] == ""


def test_the_longhorn_example_loads_and_its_backups_run_after_longhorn() -> None:
    spec = load_spec(EXAMPLE)
    targets = [t for t in spec.backups.targets if t.method == "longhorn"]  # type: ignore[union-attr]
    assert len(targets) == 3
    node = build_graph(spec).nodes[backup_key(targets[0].name)]
    assert component_key("platform", "longhorn") in node.deps
    assert node.kinds == frozenset({"s3", "kubernetes", "longhorn"})


def _problems(text: str) -> str:
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "platform.yaml")
    return str(exc.value)


def test_method_longhorn_without_a_longhorn_component_names_file_line_and_field() -> None:
    text = EXAMPLE.read_text().replace("chart: longhorn", "chart: other")
    line = text.splitlines().index("      method: longhorn") + 1
    assert (f"platform.yaml:{line}: backups.targets[0].method: method longhorn needs Longhorn "
            "installed by the spec") in _problems(text)


def test_longhorn_settings_need_method_longhorn_and_kind_volume() -> None:
    text = EXAMPLE.read_text()
    assert "method longhorn needs kind volume, not resources" in _problems(text.replace(
        "      kind: volume\n      namespace: bookstack\n      pvc: bookstack-longhorn\n",
        "      kind: resources\n      namespaces: [bookstack]\n", 1))
    assert "longhorn settings need method: longhorn" in _problems(
        text.replace("      method: longhorn\n", "", 1))
    named = text.replace("{backup_target: default, timeout: 1h}",
                         "{component: nope, timeout: 1h}", 1)
    assert "backups.targets[0].longhorn.component: unknown component 'nope'" in _problems(named)


def test_the_run_may_ask_longhorn_and_delete_only_its_drill_volume() -> None:
    """Least privilege: Snapshots and Backups in Longhorn's namespace, Volumes read and
    created, deleted only by the drill's name, the backup target by name."""
    from platform_assets.core.rbac import derive_rbac, load_component_manifests

    spec = load_spec(EXAMPLE)
    plan = derive_rbac(spec, load_component_manifests(spec, EXAMPLE.parent))
    ns = "longhorn-system"
    assert {"get", "create", "patch", "delete"} <= plan.verbs_for("longhorn.io", "snapshots", ns)
    assert "delete" in plan.verbs_for("longhorn.io", "backups", ns)
    assert "delete" not in plan.verbs_for("longhorn.io", "volumes", ns)
    assert "delete" in plan.verbs_for("longhorn.io", "volumes", ns,
                                      lh.drill_volume_name("bookstack-data"))
    assert plan.verbs_for("longhorn.io", "backuptargets", ns, "default") == {"get"}
    assert not plan.verbs_for("longhorn.io", "backuptargets", ns, "other")
    # The snapshot's clone and the drill's restore are mounted through a PV each: deleted
    # only by those names.
    clone = lh.files_volume_name("bookstack-data")
    assert "delete" in plan.verbs_for("longhorn.io", "volumes", ns, clone)
    assert "delete" in plan.verbs_for("", "persistentvolumes", None, clone)
    assert "delete" not in plan.verbs_for("", "persistentvolumes", None)
    assert "create" in plan.verbs_for("", "persistentvolumes", None)
    # ... which RBAC cannot limit by name: the admission policy does (Longhorn's driver, the
    # run's own Volumes, each through the PV of its name).
    from platform_assets.core.rbac import to_objects, volume_guard

    policy, binding = volume_guard(plan)
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    checks = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert "object.spec.csi.driver == 'driver.longhorn.io'" in checks
    for volume in (clone, lh.drill_volume_name("bookstack-data"), lh.drill_volume_name(
            "zammad-data")):
        assert f"'{volume}'" in checks
    assert "object.spec.csi.volumeHandle == object.metadata.name" in checks
    assert policy in to_objects(plan)


def test_the_example_builds_definitions_with_a_restore_drill_per_volume() -> None:
    """Longhorn targets keep their objects in the bucket: copied, checksummed and drilled like
    dumps (not the snapshot_available check of IONOS and CSI snapshots)."""
    import dagster as dg

    from platform_assets.definitions import build_definitions

    graph = build_definitions(EXAMPLE).get_repository_def().asset_graph
    for target in ("bookstack-data", "zammad-data", "grafana-data"):
        key = dg.AssetKey(["backups", target])
        names = {c.name for c in graph.asset_check_keys if c.asset_key == key}
        assert names == {"rpo", "retention_compliance", "manifest_checksums", "restore_drill"}
        assert dg.AssetKey(["backups", "cross_region", target]) in graph.get_all_asset_keys()
