"""File-level volume backups on a sandbox that runs Jobs: the agent Job, dedup across nights, the
cross-region copy, the restore drill into a scratch PVC, and the faults (eviction, a volume
deleted mid-backup, the second region unreachable, a corrupted chunk).

Sources of the emulated contracts: a PVC bound to a PV whose filesystem the pod sees at its
``volumeMounts[].mountPath`` (Kubernetes docs, "Persistent Volumes"); a Job with
``backoffLimit: 0`` is ``Failed`` once its pod fails (Kubernetes docs, "Jobs", pod backoff
failure policy); a pod with DisruptionTarget fails the agent's Job by its ``podFailurePolicy``
FailJob rule, reason ``PodFailurePolicy`` (kubernetes pkg/controller/job/pod_failure_policy.go
matchPodFailurePolicy), the pod kept by the ``batch.kubernetes.io/job-tracking`` finalizer
until the Job controller has counted it; node-pressure eviction leaves the pod ``Failed`` with
``reason: Evicted`` and DisruptionTarget ``TerminationByKubelet`` (Kubernetes docs,
"Node-pressure Eviction"; pkg/kubelet/eviction/eviction_manager.go); S3 ``ListObjectsV2``
returns each object's ``ETag`` and ``Size`` (AWS S3 API reference).
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.core.graph import backup_copy_key, backup_key
from platform_assets.core.volume_index import chunks_prefix
from tests.integration.backup_env import BackupEnv, spec_head
from tests.integration.test_sandbox_kubernetes import claim_user

pytestmark = pytest.mark.integration

KEY = base64.b64encode(bytes(range(1, 33))).decode()
SPEC = spec_head("vol") + """platform:
  - name: app
    namespace: {namespace}
    source: {{manifests: {{path: manifests}}}}
backups:
  start_date: "2026-09-01"
  bucket: {bucket}
  cross_region_copy: {{bucket: {dr_bucket}}}
  encryption: {{key_env: VOL_TEST_KEY}}
  volume_agent: {{chunk_mb: 1, timeout: {timeout}}}
  targets:
    - {{name: files, kind: volume, protects: app, namespace: {namespace}, pvc: data,
        method: files}}
"""


@pytest.fixture(scope="module")
def jobs_sandbox() -> Iterator[Any]:
    """A sandbox of its own whose Jobs really run (``run_jobs``), with three nodes."""
    from sandbox.app import start_sandbox

    app = start_sandbox(timeout=120.0, run_jobs=True)
    try:
        app.admin.add_nodes("pool", 3)
        yield app
    finally:
        app.stop()


class Volumes(BackupEnv):
    """One test's spec, buckets, namespace, PVC and its files."""

    def __init__(self, app: Any, tmp: Path, timeout: str = "5m"):
        tag = uuid.uuid4().hex[:8]
        self.namespace = f"vol-{tag}"
        os.environ["VOL_TEST_KEY"] = KEY
        super().__init__(app, tmp, SPEC.format(bucket=f"vol-{tag}", dr_bucket=f"vol-dr-{tag}",
                                               namespace=self.namespace, timeout=timeout),
                         f"vol-{tag}", f"vol-dr-{tag}", "files")
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": self.namespace}})
        self.make_claim()

    def make_claim(self) -> None:
        # A deleted claim stays (pvc-protection) until no pod uses it: applying onto it would
        # only touch the one going away, so an operator waits for it to go first.
        wait_for(lambda: (self.kube.get("v1", "PersistentVolumeClaim", "data", self.namespace)
                          or {}).get("metadata", {}).get("deletionTimestamp") is None,
                 "the deleted claim to go")
        self.kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": "data", "namespace": self.namespace},
                         "spec": {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": "1Gi"}}}})
        # The application's Pod: the claim's class binds WaitForFirstConsumer, and a claim made
        # anew (after a loss) needs a new Pod as the application's restart would bring.
        self.kube.apply({**claim_user("data"), "metadata": {
            "name": f"app-{uuid.uuid4().hex[:6]}", "namespace": self.namespace}})
        wait_for(lambda: (self.kube.get("v1", "PersistentVolumeClaim", "data",
                                        self.namespace) or {}).get("status", {}).get("phase")
                 == "Bound", "the PVC to bind")

    @property
    def data(self) -> Path:
        return Path(self.app.services["kubernetes"].claim_path(self.namespace, "data"))

    def write(self, files: dict[str, bytes]) -> None:
        self.app.admin.write_volume_files(self.namespace, "data", files)

    def chunks(self, dr: bool = False) -> dict[str, tuple[int, str]]:
        bucket, region = (self.dr_bucket, "eu-central-3") if dr else (self.bucket, "de")
        return self.store.list_objects(bucket, chunks_prefix("backups", "files"), region)


def wait_for(cond: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def meta(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    mats = [e.materialization for e in result.get_asset_materialization_events()]
    assert mats, "nothing was materialized"
    return {k: v.value for k, v in mats[-1].metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def failure(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error.message)
                     for e in result.get_step_failure_events() if e.step_failure_data.error)


@pytest.fixture
def vols(jobs_sandbox: Any, tmp_path: Path) -> Iterator[Volumes]:
    v = Volumes(jobs_sandbox, tmp_path)
    yield v
    jobs_sandbox.admin.clear_faults()


def content(n: int, seed: int) -> bytes:
    return bytes((i * seed + i // 7) % 251 for i in range(n))


def test_files_backup_dedups_copies_and_the_drill_restores_them(vols: Volumes) -> None:
    vols.write({"wp-content/uploads/a.jpg": content(2_500_000, 3),
                "wp-content/themes/t/style.css": b"body { color: red }\n",
                "empty.txt": b""})
    first = vols.run(backup_key("files"), "2026-11-20", with_checks=True)
    assert first.success, failure(first)
    m1 = meta(first)
    assert m1["files"] == 3 and m1["new_chunks"] >= 3 and m1["uploaded_bytes"] > 0
    manifest = vols.manifest("2026-11-20")
    assert manifest is not None and manifest.kind == "volume"
    roles = [o.details.get("role") for o in manifest.objects]
    assert roles.count("index") == 1 and roles.count("chunk") == len(vols.chunks())
    assert manifest.details["method"] == "files" and manifest.details["files"] == 3
    result = checks(first)
    assert result["restore_drill"].passed, result["restore_drill"].metadata
    assert result["restore_drill"].metadata["restored_files"].value == 3
    assert result["manifest_checksums"].passed
    # Nothing in the bucket is plaintext: chunk names are keyed hashes, contents sealed.
    raw = vols.store.get_bytes(vols.bucket, next(iter(vols.chunks())), "de") or b""
    assert raw.startswith(b"POBKENC1")
    # The drill's scratch claim and the Jobs are gone (the claim once pvc-protection has seen
    # that no pod uses it any more: the controllers' next pass).
    wait_for(lambda: [p["metadata"]["name"] for p in vols.kube.list(
        "v1", "PersistentVolumeClaim", vols.namespace)] == ["data"], "the scratch claim to go")
    assert vols.kube.list("batch/v1", "Job", vols.namespace) == []

    second = vols.run(backup_key("files"), "2026-11-21")
    assert second.success, failure(second)
    m2 = meta(second)
    assert (m2["new_chunks"], m2["uploaded_bytes"], m2["reused_files"]) == (0, 0, 3)

    vols.write({"wp-content/uploads/b.jpg": content(300_000, 5)})
    third = vols.run(backup_key("files"), "2026-11-22")
    assert third.success, failure(third)
    assert meta(third)["new_chunks"] == 1 and meta(third)["reused_files"] == 3

    copy = vols.run(backup_copy_key("files"), "2026-11-22", with_checks=True)
    assert copy.success, failure(copy)
    assert vols.chunks(dr=True).keys() == vols.chunks().keys()
    assert checks(copy)["manifest_checksums"].passed
    dr = vols.manifest("2026-11-22", dr=True)
    assert dr is not None and dr.attempt == vols.manifest("2026-11-22").attempt  # type: ignore[union-attr]


def test_a_corrupted_chunk_fails_the_drill_and_the_next_night_heals_it(vols: Volumes) -> None:
    vols.write({"site/index.html": content(1_500_000, 7)})
    first = vols.run(backup_key("files"), "2026-11-20")
    assert first.success, failure(first)
    victim = sorted(vols.chunks())[0]
    vols.store.put_bytes(vols.bucket, victim, b"POBKENC1" + os.urandom(200), "de")
    drill = vols.run(backup_key("files"), "2026-11-20", with_checks=True)
    result = checks(drill)["restore_drill"]
    assert not result.passed
    problems = str(result.metadata["problems"].value)
    assert victim in problems and "corrupted in the bucket" in problems

    healed = vols.run(backup_key("files"), "2026-11-21", with_checks=True)
    assert healed.success, failure(healed)
    assert meta(healed)["new_chunks"] >= 1  # the overwritten chunk was written again
    assert checks(healed)["restore_drill"].passed, checks(healed)["restore_drill"].metadata


def _agent_pod(vols: Volumes) -> dict[str, Any] | None:
    for pod in vols.kube.list("v1", "Pod", vols.namespace):
        if (pod.get("status") or {}).get("phase") == "Running" and (
                pod["metadata"].get("labels") or {}).get("job-name"):
            return pod
    return None


def _during_backup(vols: Volumes, partition: str, action: Any) -> dg.ExecuteInProcessResult:
    """Run the backup with S3 slowed down, doing ``action(pod)`` once the agent runs."""
    vols.app.admin.set_fault("s3", latency_ms=300, methods=["PUT"])
    out: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: out.update(r=vols.run(backup_key("files"),
                                                                   partition)))
    runner.start()
    try:
        wait_for(lambda: _agent_pod(vols) is not None, "the agent's pod to run", 60)
        action(_agent_pod(vols))
    finally:
        runner.join(120)
        vols.app.admin.clear_faults()
    return out["r"]


def _by_policy(vols: Volumes, pod: str) -> str:
    """The Job's FailureTarget/Failed message for a pod that had DisruptionTarget."""
    return (f"the Job failed (PodFailurePolicy: Pod {vols.namespace}/{pod} has condition "
            "DisruptionTarget matching FailJob rule at index 0)")


def test_an_evicted_job_fails_naming_the_cause_and_the_next_run_succeeds(vols: Volumes) -> None:
    """Node pressure: the kubelet's eviction leaves the pod Failed, with DisruptionTarget, so
    the Job fails by its policy and the run names the kubelet's reason from the pod."""
    vols.write({f"f{i}.bin": content(200_000, i + 2) for i in range(12)})
    seen: dict[str, Any] = {}

    def pressure(pod: dict[str, Any]) -> None:
        seen.update(pod)
        vols.app.admin.evict(vols.namespace, pod["metadata"]["name"],
                             "The node was low on resource: memory.")

    failed = _during_backup(vols, "2026-11-20", pressure)
    assert not failed.success
    message = failure(failed)
    pod, node = seen["metadata"]["name"], seen["spec"]["nodeName"]
    assert (f"backup files (files of PVC {vols.namespace}/data): pod {pod} of Job "
            f"{vols.namespace}/") in message, message
    assert (f"was evicted (DisruptionTarget: TerminationByKubelet: The node was low on "
            f"resource: memory.) on node {node}; {_by_policy(vols, pod)}") in message, message
    assert vols.manifest("2026-11-20") is None
    again = vols.run(backup_key("files"), "2026-11-20", with_checks=True)
    assert again.success, failure(again)
    assert checks(again)["restore_drill"].passed


def _lose_volume(vols: Volumes) -> None:
    """The claim is deleted and the application with it: pvc-protection keeps a claim while
    a pod uses it, so only then does it go (the backup's own pod goes when the run ends)."""
    vols.kube.delete("v1", "PersistentVolumeClaim", "data", vols.namespace)
    for pod in vols.kube.list("v1", "Pod", vols.namespace):
        if pod["metadata"]["name"].startswith("app-"):
            vols.kube.delete("v1", "Pod", pod["metadata"]["name"], vols.namespace)


def test_a_volume_deleted_mid_backup_fails_and_leaves_no_manifest(vols: Volumes) -> None:
    vols.write({f"f{i}.bin": content(200_000, i + 3) for i in range(12)})
    failed = _during_backup(vols, "2026-11-20", lambda pod: _lose_volume(vols))
    assert not failed.success
    message = failure(failed)
    assert "backup files" in message and "deleted" in message
    assert vols.manifest("2026-11-20") is None
    vols.make_claim()
    vols.write({"new.txt": b"after the loss\n"})
    again = vols.run(backup_key("files"), "2026-11-20")
    assert again.success, failure(again)
    assert meta(again)["files"] == 1


def test_second_region_unreachable_fails_the_copy_then_it_succeeds(vols: Volumes) -> None:
    vols.write({"a.txt": content(100_000, 9)})
    assert vols.run(backup_key("files"), "2026-11-20").success
    vols.app.admin.set_fault("s3", error_rate=1.0, statuses=[503], retry_after=0,
                             path_contains=f"/{vols.dr_bucket}")
    try:
        copy = vols.run(backup_copy_key("files"), "2026-11-20")
    finally:
        vols.app.admin.clear_faults()
    assert not copy.success
    assert "cross-region copy of files" in failure(copy) and "503" in failure(copy)
    assert vols.manifest("2026-11-20", dr=True) is None
    again = vols.run(backup_copy_key("files"), "2026-11-20", with_checks=True)
    assert again.success, failure(again)
    assert checks(again)["manifest_checksums"].passed


def test_chunks_no_retained_night_names_are_collected_after_a_grace_period(
        vols: Volumes) -> None:
    """Retention removes night 1; its own chunks are condemned on the next collection and
    deleted one grace period later (core.chunk_gc, after restic's prune and kopia's
    maintenance), while every chunk a retained night names stays and still restores. A night
    that needs a condemned chunk's content uploads it again rather than reusing it, and the
    cross-region copy copies it again; the DR bucket is collected the same way. Times are
    the collection's ``now`` against the sandbox S3's real LastModified (AWS S3 API reference,
    ListObjectsV2 ``LastModified``)."""
    from datetime import timedelta

    from platform_assets.backups.bucket import remove_partition, where_of
    from platform_assets.backups.engine import now_utc
    from platform_assets.backups.restore_points import collect_chunks
    from platform_assets.core.chunk_gc import condemned_key

    gone, kept = content(1500_000, 3), content(1200_000, 5)
    vols.write({"gone.bin": gone, "kept.bin": kept})
    assert vols.run(backup_key("files"), "2026-11-20").success
    night1 = set(vols.chunks())
    (vols.data / "gone.bin").unlink()
    assert vols.run(backup_key("files"), "2026-11-21").success
    named2 = {o.key for o in (vols.manifest("2026-11-21") or _none()).objects
              if o.details.get("role") == "chunk"}
    only1 = night1 - named2
    assert only1 and named2 <= night1  # night 2 reused every chunk of kept.bin

    for night in ("2026-11-20", "2026-11-21"):
        assert vols.run(backup_copy_key("files"), night).success
    assert set(vols.chunks(dr=True)) == night1
    where = where_of(vols.spec)
    remove_partition(vols.store, where, "files", "2026-11-20")  # what retention does
    remove_partition(vols.store, where_of(vols.spec, True), "files", "2026-11-20")
    t0 = now_utc()
    target = vols.spec.backups.targets[0]
    # The second region's chunks go the same way.
    dr = collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=2), dr=True)
    assert dr is not None and set(dr.condemned) == only1
    young = collect_chunks(vols.spec, target, vols.store, t0)
    assert young is not None and young.delete == () and not young.condemned  # all < 24h old
    marked = collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=2))
    assert marked is not None and set(marked.condemned) == only1 and marked.delete == ()
    assert vols.store.get_bytes(vols.bucket, condemned_key("backups", "files"), "de")

    # Night 3 brings gone.bin back: its chunks are condemned, so they are uploaded again.
    vols.write({"gone.bin": gone})
    third = vols.run(backup_key("files"), "2026-11-22")
    assert third.success, failure(third)
    assert meta(third)["new_chunks"] == len(only1)
    swept = collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=3, hours=1))
    assert swept is not None and swept.delete == ()  # night 3 names them all again
    assert set(vols.chunks()) == night1
    # Night 3's copy writes the chunks the DR bucket condemned again rather than keeping them.
    etags = vols.chunks(dr=True)
    assert vols.run(backup_copy_key("files"), "2026-11-22").success
    dr_swept = collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=3, hours=1),
                              dr=True)
    assert dr_swept is not None and dr_swept.delete == ()
    after = vols.chunks(dr=True)
    assert set(after) == night1
    # Copied again (the agent sealed them anew, so their bytes and ETags differ); the rest kept.
    assert all(after[k] != etags[k] for k in only1)
    assert all(after[k] == etags[k] for k in named2)

    (vols.data / "gone.bin").unlink()
    remove_partition(vols.store, where, "files", "2026-11-22")
    collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=5))
    final = collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=6, hours=1))
    assert final is not None and set(final.delete) == only1
    assert set(vols.chunks()) == named2
    remove_partition(vols.store, where_of(vols.spec, True), "files", "2026-11-22")
    collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=5), dr=True)
    collect_chunks(vols.spec, target, vols.store, t0 + timedelta(days=6, hours=1), dr=True)
    assert set(vols.chunks(dr=True)) == named2

    drill = checks(vols.run(backup_key("files"), "2026-11-21", with_checks=True))
    assert drill["restore_drill"].passed, drill["restore_drill"].metadata


def _none() -> Any:
    raise AssertionError("no manifest")


# A node being drained (kubectl drain, an IONOS node pool upgrade or node replace): cordoned
# through the Kubernetes SDK, its pods evicted through the Eviction API.

FAST = "1m"  # the agent's timeout in these tests: the claim's pod may take 15 s to move


@pytest.fixture
def fast(jobs_sandbox: Any, tmp_path: Path) -> Iterator[Volumes]:
    v = Volumes(jobs_sandbox, tmp_path, timeout=FAST)
    yield v
    jobs_sandbox.admin.clear_faults()


def core_api(vols: Volumes) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=vols.env["KUBECONFIG"]))


def app_pod(vols: Volumes) -> dict[str, Any]:
    """The application's live pod that mounts the claim."""
    pods = [p for p in vols.kube.list("v1", "Pod", vols.namespace)
            if p["metadata"]["name"].startswith("app-")
            and not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


@contextmanager
def patched_node(api: Any, node: str, patch: dict[str, Any],
                 undo: dict[str, Any]) -> Iterator[None]:
    """``kubectl cordon`` (or a taint) for the block, undone after: the nodes are the module's."""
    api.patch_node(node, patch)
    try:
        yield
    finally:
        api.patch_node(node, undo)


def cordoned(api: Any, node: str) -> Any:
    return patched_node(api, node, {"spec": {"unschedulable": True}},
                        {"spec": {"unschedulable": False}})


def evict(api: Any, namespace: str, name: str) -> None:
    """What a drain does to each pod: a pods/eviction POST (kubectl pkg/drain)."""
    from kubernetes import client

    api.create_namespaced_pod_eviction(name, namespace, client.V1Eviction(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace)))


def move_app(vols: Volumes, api: Any) -> str:
    """The drain evicts the application's pod and its ReplicaSet creates another, which the
    scheduler puts on a node that is not cordoned; returns that node."""
    old = app_pod(vols)["metadata"]["name"]
    evict(api, vols.namespace, old)
    name = f"app-{uuid.uuid4().hex[:6]}"
    vols.kube.apply({**claim_user("data"), "metadata": {"name": name,
                                                        "namespace": vols.namespace}})
    wait_for(lambda: vols.kube.get("v1", "Pod", old, vols.namespace) is None,
             "the evicted pod to terminate")
    wait_for(lambda: ((vols.kube.get("v1", "Pod", name, vols.namespace) or {}).get("status")
                      or {}).get("phase") == "Running", "the new pod to run")
    return str(app_pod(vols)["spec"]["nodeName"])


def logged(vols: Volumes, result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(e.message for e in vols.instance.all_logs(result.run_id))


def test_a_cordoned_node_whose_pod_stays_fails_early_and_the_run_after_the_move_succeeds(
        fast: Volumes) -> None:
    """The application's pod stays on the cordoned node (its eviction not yet come): the agent
    cannot be placed beside it, so after a quarter of the agent's timeout the run fails naming
    the node; once the drain has moved the pod, the next run follows it and succeeds."""
    fast.write({"a.txt": content(100_000, 4)})
    api = core_api(fast)
    node = str(app_pod(fast)["spec"]["nodeName"])
    with cordoned(api, node):
        t0 = time.monotonic()
        failed = fast.run(backup_key("files"), "2026-11-20")
        took = time.monotonic() - t0
        assert not failed.success
        message = failure(failed)
        assert "backup files" in message and f"node {node}" in message
        assert "cordoned (being drained)" in message and "within 15s" in message
        assert "next run retries" in message
        assert 15 <= took < 60, took  # failed after the node wait, not the agent's timeout
        assert fast.manifest("2026-11-20") is None
        assert fast.kube.list("batch/v1", "Job", fast.namespace) == []  # none was started
        moved = move_app(fast, api)
        assert moved != node
        again = fast.run(backup_key("files"), "2026-11-20", with_checks=True)
    assert again.success, failure(again)
    assert f"started on node {moved}" in logged(fast, again)
    assert checks(again)["restore_drill"].passed


def test_the_agent_waits_for_the_claims_pod_to_move_and_runs_on_its_new_node(
        vols: Volumes) -> None:
    vols.write({"a.txt": content(100_000, 6)})
    api = core_api(vols)
    node = str(app_pod(vols)["spec"]["nodeName"])
    out: dict[str, Any] = {}
    with cordoned(api, node):
        runner = threading.Thread(target=lambda: out.update(
            r=vols.run(backup_key("files"), "2026-11-20")))
        runner.start()
        try:
            time.sleep(1.0)  # the run is waiting for the pod to leave the cordoned node
            moved = move_app(vols, api)
        finally:
            runner.join(120)
    result = out["r"]
    assert result.success, failure(result)
    said = logged(vols, result)
    assert f"node {node}, where pod" in said and "is cordoned (being drained)" in said
    assert f"started on node {moved}" in said and moved != node
    assert meta(result)["files"] == 1


def test_an_agent_pod_evicted_by_a_drain_fails_naming_the_eviction(vols: Volumes) -> None:
    """The Eviction API marks the pod (DisruptionTarget, EvictionByEvictionAPI) and deletes it;
    it never gets ``status.reason: Evicted`` (that is the kubelet's node-pressure eviction).
    The agent stops at SIGTERM, so the pod may be gone before the run's next look: the Job's
    own condition (reason PodFailurePolicy) names the pod, and the run its node."""
    vols.write({f"f{i}.bin": content(200_000, i + 5) for i in range(12)})
    api = core_api(vols)
    seen: dict[str, Any] = {}

    def drain(pod: dict[str, Any]) -> None:
        seen.update(pod)
        evict(api, vols.namespace, pod["metadata"]["name"])

    failed = _during_backup(vols, "2026-11-20", drain)
    assert not failed.success
    message = failure(failed)
    pod, node = seen["metadata"]["name"], seen["spec"]["nodeName"]
    # The eviction's own reason is read from the pod when the run still sees it.
    assert re.search(rf"backup files .*: pod {pod} of Job {vols.namespace}/\S+ was evicted "
                     rf"\(DisruptionTarget(: EvictionByEvictionAPI: Eviction API: evicting)?\) "
                     rf"on node {node}; {re.escape(_by_policy(vols, pod))}; ", message), message
    assert "next run retries" in message
    assert vols.manifest("2026-11-20") is None
    again = vols.run(backup_key("files"), "2026-11-20", with_checks=True)
    assert again.success, failure(again)
    assert checks(again)["restore_drill"].passed


def test_an_agent_pod_deleted_by_hand_fails_as_deleted_not_evicted(vols: Volumes) -> None:
    """A plain delete sets no DisruptionTarget: the agent stops at SIGTERM and the Job fails
    by its backoffLimit (BackoffLimitExceeded), the pod going once the Job controller has
    counted it; the run says the pod was deleted before it finished, on its node."""
    vols.write({f"f{i}.bin": content(200_000, i + 9) for i in range(12)})
    api = core_api(vols)
    seen: dict[str, Any] = {}

    def delete(pod: dict[str, Any]) -> None:
        seen.update(pod)
        api.delete_namespaced_pod(pod["metadata"]["name"], vols.namespace)

    failed = _during_backup(vols, "2026-11-20", delete)
    assert not failed.success
    message = failure(failed)
    pod, node = seen["metadata"]["name"], seen["spec"]["nodeName"]
    assert (f"pod {pod} of Job {vols.namespace}/") in message, message
    assert (f"was deleted before it finished on node {node} (deleted, not evicted); nothing "
            "of this attempt is kept") in message, message
    assert vols.manifest("2026-11-20") is None


def test_an_agent_pod_the_scheduler_cannot_place_fails_with_the_schedulers_message(
        fast: Volumes) -> None:
    """A NoSchedule taint on the application's node (not a cordon: the claim's pod stays and
    the agent is pinned there) leaves the agent's pod PodScheduled=False, reason
    Unschedulable; the run fails with the scheduler's message after a quarter of the agent's
    timeout rather than at the timeout, and the next run succeeds once the taint is gone."""
    fast.write({"a.txt": content(50_000, 8)})
    api = core_api(fast)
    node = str(app_pod(fast)["spec"]["nodeName"])
    taint = {"key": "platform-ops.test/maintenance", "value": "db", "effect": "NoSchedule"}
    with patched_node(api, node, {"spec": {"taints": [taint]}}, {"spec": {"taints": None}}):
        t0 = time.monotonic()
        failed = fast.run(backup_key("files"), "2026-11-20")
        took = time.monotonic() - t0
    assert not failed.success
    message = failure(failed)
    assert "backup files" in message and "the scheduler cannot place pod" in message
    assert "nodes are available" in message
    assert "untolerated taint {platform-ops.test/maintenance: db}" in message
    assert 15 <= took < 60, took
    assert fast.manifest("2026-11-20") is None
    again = fast.run(backup_key("files"), "2026-11-20")
    assert again.success, failure(again)
