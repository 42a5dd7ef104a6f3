"""File-level volume backups driven from the run: a Job that mounts the PVC runs the volume
agent (``platform_assets.backups.agent``), the run waits for it, checks what it wrote and
writes the manifest last; the restore drill restores into a scratch PVC the same way.

The Job runs next to the application's pod (a ReadWriteOnce volume attaches to one node), with
the PodSecurity ``restricted`` settings, takes its keys from the Secret
``names.SECRET_VOLUME_AGENT`` of the namespace, and is deleted afterwards. While that pod is
moving (its node cordoned for a drain, or the pod terminating) the run waits, a bounded time,
for it to land on another node and pins the agent there (``core.agent_pod``). The run fails,
naming the target and the cause, when the claim's pod does not move in that time, the Job's
pod is evicted or deleted, the scheduler cannot place it, the Job fails, the PVC is deleted or
replaced while it runs, or what the agent reports is not what the bucket holds. An eviction
(any pod with DisruptionTarget) fails the Job by its ``podFailurePolicy``, so the Job's own
conditions say so however fast the pod goes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platform_assets import names
from platform_assets.backups.bucket import Where
from platform_assets.backups.errors import BackupError, cause, required
from platform_assets.backups.sources import BackupJob, Produced
from platform_assets.backups.volume_files import Codec, Location, read_index
from platform_assets.core.agent_pod import (
    POLICY_REASON,
    PolicyFailure,
    claim_users,
    disrupted,
    disruption_rule,
    node_unavailable,
    placement,
    policy_failure,
    unschedulable,
)
from platform_assets.core.backup_manifest import (
    BackupRecord,
    Manifest,
    ManifestObject,
    object_key,
)
from platform_assets.core.ports import BackupCluster, BackupStore
from platform_assets.core.volume_index import INDEX_NAME, chunk_key, chunks_prefix
from platform_assets.spec.models import BackupTarget, PlatformSpec, parse_duration

if TYPE_CHECKING:
    from platform_assets.backups.drills import DrillResult

SOURCE_MOUNT = "/var/lib/platform-ops/source"
RESTORE_MOUNT = "/var/lib/platform-ops/restore"
AGENT = ["python", "-m", "platform_assets.backups.agent"]
ROLE_INDEX, ROLE_CHUNK = "index", "chunk"


@dataclass
class AgentRun:
    """A volume agent Job to run: where, on which claim, with which arguments."""

    name: str
    namespace: str
    claim: str
    mount: str
    read_only: bool
    args: list[str]
    describe: str
    pvc_uid: str = ""


def job_name(kind: str, target: str, partition: str, attempt: str) -> str:
    """A DNS label for the Job (the target name may be long)."""
    digest = hashlib.sha256(f"{target}/{partition}/{attempt}".encode()).hexdigest()[:10]
    return f"platform-ops-{kind}-{target[:30].rstrip('-')}-{digest}"


def location_args(where: Where, target: str, endpoint: str | None,
                   spec: PlatformSpec) -> list[str]:
    bk = spec.backups
    assert bk is not None
    out = ["--bucket", where.bucket, "--prefix", where.prefix, "--target", target,
           "--compression", bk.compression.algorithm, "--level", str(bk.compression.chunk_level)]
    if where.region:
        out += ["--region", where.region]
    if endpoint:
        out += ["--endpoint-url", endpoint]
    if bk.encryption is not None:
        out += ["--key-env", bk.encryption.key_env]
    return out


def agent_job(spec: PlatformSpec, run: AgentRun, node: str | None) -> dict[str, Any]:
    """The Job manifest: one pod, no retries (a failure is reported, the next night retries),
    an eviction recorded in the Job by its podFailurePolicy (which needs ``restartPolicy:
    Never``), PodSecurity ``restricted``, the claim mounted at ``run.mount``."""
    bk = spec.backups
    assert bk is not None
    agent = bk.volume_agent
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": agent.run_as_user,
                            "runAsGroup": agent.run_as_user, "fsGroup": agent.run_as_user,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "agent", "image": agent.image, "command": [*AGENT, *run.args],
            "envFrom": [{"secretRef": {"name": names.SECRET_VOLUME_AGENT}}],
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True},
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                          "limits": {"memory": "512Mi"}},
            "volumeMounts": [{"name": "data", "mountPath": run.mount,
                              "readOnly": run.read_only}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": run.claim,
                                                               "readOnly": run.read_only}}],
    }
    if node:
        pod_spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    labels = {names.LABEL_VOLUME_JOB: run.name, names.LABEL_MANAGED_BY: "platform-ops"}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": run.name, "namespace": run.namespace, "labels": labels},
            "spec": {"backoffLimit": 0, "podFailurePolicy": disruption_rule(),
                     "activeDeadlineSeconds": int(parse_duration(agent.timeout).total_seconds()),
                     "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}


def ensure_agent_secret(kube: BackupCluster, namespace: str, store: BackupStore, spec: PlatformSpec,
                        key: bytes | None, bucket: str | None = None) -> None:
    """The agent's Secret comes from deploy time (the run's RBAC only reads it); where it is
    missing and the credentials allow (a local kubeconfig, the sandbox), it is created from
    the run's own S3 keys and backup key, as the drill namespaces are."""
    if kube.get("v1", "Secret", names.SECRET_VOLUME_AGENT, namespace) is not None:
        return
    import base64

    data = dict(store.agent_credentials(bucket))
    bk = spec.backups
    if key is not None and bk is not None and bk.encryption is not None:
        data[bk.encryption.key_env] = base64.b64encode(key).decode()
    try:
        kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": names.SECRET_VOLUME_AGENT, "namespace": namespace,
                                 "labels": {names.LABEL_MANAGED_BY: "platform-ops"}},
                    "stringData": data})
    except Exception as exc:  # noqa: BLE001 - the cause is named, the value never is
        raise BackupError(f"Secret {namespace}/{names.SECRET_VOLUME_AGENT} (the volume agent's "
                          f"S3 and backup keys) is missing and cannot be created "
                          f"({type(exc).__name__}): create it at deploy time "
                          "(docs/backups.md)") from None


def claim_node(kube: BackupCluster, run: AgentRun, wait: float, log: Callable[[str], Any],
               poll: float = 0.5, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The node the agent must run on: that of a live pod that mounts the claim (a ReadWriteOnce
    volume is attached there), None when no pod does. While the claim's pod is terminating or
    its node cordoned (a drain), its replacement is waited for up to ``wait`` seconds; past
    that the run fails, naming the node: the next run, after the drain, succeeds."""
    deadline, told = clock() + wait, ""
    while True:
        # The agent's own pods (a crashed run's leftover Job) are not the application's.
        users = [p for p in claim_users(kube.list("v1", "Pod", run.namespace), run.claim)
                 if names.LABEL_VOLUME_JOB not in (p["metadata"].get("labels") or {})]
        nodes = {n: read_node(kube, n, log)
                 for n in {str((p.get("spec") or {}).get("nodeName") or "") for p in users} if n}
        where = placement(users, nodes)
        if not where.moving:
            return where.node
        if clock() >= deadline:
            raise BackupError(
                f"{run.describe}: PersistentVolumeClaim {run.namespace}/{run.claim} is moving "
                f"with its pod: {where.moving}; the pod did not come up on another node within "
                f"{wait:.0f}s, and a ReadWriteOnce volume can only be read on the node it is "
                "attached to. Nothing of this attempt is kept; the backup's next run retries "
                "and succeeds once the drain is over (or the node is uncordoned)")
        if where.moving != told:
            log(f"{run.describe}: waiting up to {wait:.0f}s for the claim's pod to move: "
                f"{where.moving}")
            told = where.moving
        sleep(poll)


def read_node(kube: BackupCluster, name: str, log: Callable[[str], Any]) -> dict[str, Any] | None:
    """The Node, None when it is gone. A run account deployed before it could read nodes gets
    a 403: the node is then taken as schedulable (the agent is pinned there, as before) and
    the log says how to let the run see a drain."""
    try:
        return kube.get("v1", "Node", name)
    except Exception as exc:  # noqa: BLE001 - reading the node only refines the placement
        log(f"cannot read Node {name} ({cause(exc)}): whether it is cordoned is not checked; "
            "re-render the run account's RBAC (`platform-ops rbac`, docs/production.md)")
        return {"metadata": {"name": name}}


def node_wait(spec: PlatformSpec) -> float:
    """How long the claim's pod may take to move, and the agent's pod may stay unschedulable:
    a quarter of the agent's timeout, so a drain costs the run a bounded share of it."""
    bk = spec.backups
    assert bk is not None
    return parse_duration(bk.volume_agent.timeout).total_seconds() / 4


def run_agent(kube: BackupCluster, spec: PlatformSpec, run: AgentRun, log: Callable[[str], Any],
              poll: float = 0.5) -> dict[str, Any]:
    """Create the Job, wait for it, return the agent's result; the Job is deleted after."""
    node = claim_node(kube, run, node_wait(spec), log, poll)
    kube.delete("batch/v1", "Job", run.name, run.namespace)  # a leftover of a crashed run
    job = kube.apply(agent_job(spec, run, node))
    log(f"{run.describe}: Job {run.namespace}/{run.name} started"
        + (f" on node {node}" if node else ""))
    try:
        return _wait(kube, spec, run, _Watch(str(job["metadata"]["uid"]), node), poll)
    finally:
        _remove_job(kube, run, log)


def _pods(kube: BackupCluster, run: AgentRun, job_uid: str = "") -> list[dict[str, Any]]:
    """The pods of the run's Job; with ``job_uid``, only this Job's: the garbage collector
    removes a deleted leftover's pods after the delete, so they may still be listed by name."""
    selector = f"job-name={run.name}" + (f",controller-uid={job_uid}" if job_uid else "")
    return list(kube.list("v1", "Pod", run.namespace, label_selector=selector))


@dataclass
class _Watch:
    """What the wait for one Job remembers between polls: its uid, the node it is pinned to,
    the pods seen (a deleted pod may be gone by the next poll) and since when each has been
    unschedulable."""

    job_uid: str
    node: str | None
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    stuck_since: dict[str, float] = field(default_factory=dict)


def _wait(kube: BackupCluster, spec: PlatformSpec, run: AgentRun, watch: _Watch,
          poll: float) -> dict[str, Any]:
    bk = spec.backups
    assert bk is not None
    deadline = time.monotonic() + parse_duration(bk.volume_agent.timeout).total_seconds() + 60
    while True:
        job = kube.get("batch/v1", "Job", run.name, run.namespace)
        if job is None or job["metadata"].get("uid") != watch.job_uid:
            raise BackupError(f"{run.describe}: Job {run.namespace}/{run.name} was deleted "
                              "while it ran")
        pods = _pods(kube, run, watch.job_uid)
        _check_claim(kube, run)
        _check_pods(kube, spec, run, watch, pods)
        evicted = policy_failure(job)
        if evicted is not None:
            raise _evicted(run, watch, pods, evicted)
        conds = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                 if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"}
        if "Failed" in conds:
            _check_vanished(run, watch, pods, conds["Failed"])
        if conds:
            return _result(kube, run, pods, conds.get("Failed"))
        if time.monotonic() > deadline:
            raise BackupError(f"{run.describe}: Job {run.namespace}/{run.name} did not finish "
                              f"within {bk.volume_agent.timeout}")
        time.sleep(poll)


_RETRY = ("nothing of this attempt is kept; the backup's next run retries (after a drain, on "
          "the node the volume moved to)")


def _evicted(run: AgentRun, watch: _Watch, pods: list[dict[str, Any]],
             failure: PolicyFailure) -> BackupError:
    """The Job failed by its podFailurePolicy: the pod and condition its message names, the
    node and the eviction's own reason from the pod when it is still (or was) seen."""
    pod = next((p for p in pods if p["metadata"]["name"] == failure.pod),
               watch.seen.get(failure.pod) or {})
    on = (pod.get("spec") or {}).get("nodeName") or watch.node
    why = disrupted(pod)
    where = f" on node {on}" if on else ""
    job = f"Job {run.namespace}/{run.name}"
    if not failure.condition:
        return BackupError(f"{run.describe}: {job} failed ({POLICY_REASON}: {failure.message})"
                           f"{where}; {_RETRY}")
    return BackupError(f"{run.describe}: pod {failure.pod} of {job} was evicted "
                       f"({failure.condition}{f': {why}' if why else ''}){where}; the Job "
                       f"failed ({POLICY_REASON}: {failure.message}); {_RETRY}")


def _check_pods(kube: BackupCluster, spec: PlatformSpec, run: AgentRun, watch: _Watch,
                pods: list[dict[str, Any]]) -> None:
    """Fail on a pod the scheduler cannot place once that has lasted ``node_wait``, or at once
    when its node is cordoned or gone (it will not come back during this run), with the
    scheduler's own message. An eviction is the Job's to report (``_evicted``)."""
    for pod in pods:
        name = pod["metadata"]["name"]
        watch.seen[name] = pod
        stuck = unschedulable(pod)
        if stuck is None:
            watch.stuck_since.pop(name, None)
            continue
        since = watch.stuck_since.setdefault(name, time.monotonic())
        node_down = (node_unavailable(read_node(kube, watch.node, lambda _: None))
                     if watch.node else "")
        if node_down or time.monotonic() - since >= node_wait(spec):
            where = (f" (pinned to node {watch.node}, where the volume is attached, which is "
                     f"{node_down})" if node_down else "")
            raise BackupError(f"{run.describe}: the scheduler cannot place pod {name} of Job "
                              f"{run.namespace}/{run.name}{where}: {stuck}; {_RETRY}")


def _check_vanished(run: AgentRun, watch: _Watch, pods: list[dict[str, Any]],
                    failed: dict[str, Any]) -> None:
    """A Job failed by its backoffLimit whose pod was deleted before it finished (still
    listed, being deleted, or gone since it was seen running): an eviction would have failed
    the Job by its podFailurePolicy, so this is a plain delete: say so rather than 'no log'."""
    if failed.get("reason") != "BackoffLimitExceeded":
        return
    listed = {p["metadata"]["name"] for p in pods}
    deleted = [p for p in pods if p["metadata"].get("deletionTimestamp")
               and (p.get("status") or {}).get("phase") != "Succeeded"]
    gone = [p for n, p in watch.seen.items() if n not in listed
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    if deleted or (gone and not pods):
        pod = (deleted or gone)[-1]
        on = (pod.get("spec") or {}).get("nodeName") or watch.node
        raise BackupError(f"{run.describe}: pod {pod['metadata']['name']} of Job "
                          f"{run.namespace}/{run.name} was deleted before it finished"
                          f"{f' on node {on}' if on else ''} (deleted, not evicted); "
                          f"{_RETRY}")


def _check_claim(kube: BackupCluster, run: AgentRun) -> None:
    pvc = kube.get("v1", "PersistentVolumeClaim", run.claim, run.namespace)
    if pvc is None or (pvc.get("metadata") or {}).get("deletionTimestamp") or (
            run.pvc_uid and pvc["metadata"].get("uid") != run.pvc_uid):
        raise BackupError(f"{run.describe}: PersistentVolumeClaim {run.namespace}/{run.claim} "
                          "was deleted while the Job ran; nothing of this attempt is kept")


def _result(kube: BackupCluster, run: AgentRun, pods: list[dict[str, Any]],
            failed: dict[str, Any] | None) -> dict[str, Any]:
    last: dict[str, Any] = {}
    tail = ""
    pod = pods[-1] if pods else None
    if pod is not None:
        try:
            lines = kube.pod_log(pod["metadata"]["name"], run.namespace).strip().splitlines()
            tail = lines[-1][:300] if lines else ""
        except Exception as exc:  # noqa: BLE001 - the log is how the agent reports
            raise BackupError(f"{run.describe}: cannot read the log of pod "
                              f"{pod['metadata']['name']}: {cause(exc)}") from exc
        for line in reversed(lines):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict) and ("result" in parsed or "error" in parsed):
                last = parsed
                break
    if failed is not None or "result" not in last:
        why = (last.get("error") or (failed or {}).get("message")
               or f"no result in its log (last line: {tail or 'none'})")
        raise BackupError(f"{run.describe}: Job {run.namespace}/{run.name} failed: {why}")
    return dict(last["result"])


def _remove_job(kube: BackupCluster, run: AgentRun, log: Callable[[str], Any]) -> None:
    try:
        kube.delete("batch/v1", "Job", run.name, run.namespace)
        for pod in _pods(kube, run):
            kube.delete("v1", "Pod", pod["metadata"]["name"], run.namespace)
    except Exception as exc:  # noqa: BLE001 - the outcome is the Job's, not the cleanup's
        log(f"{run.describe}: could not delete Job {run.namespace}/{run.name}: {cause(exc)}")


def backup_files(job: BackupJob) -> Produced:
    """One night of a ``files`` volume target: the agent Job writes chunks and the index; the
    index and every chunk it names are checked in the bucket before the manifest lists them."""
    from platform_assets.backups.bucket import newest_manifest
    from platform_assets.backups.sources import volume_claim

    target, where, store, spec = job.target, job.where, job.store, job.spec
    kube = required(job.kube, "kubernetes", f"backup {target.name}")
    pvc, pv = volume_claim(kube, target)
    describe = f"backup {target.name} (files of PVC {target.namespace}/{target.pvc})"
    index_key = object_key(where.prefix, target.name, job.partition, job.attempt,
                           f"{INDEX_NAME}{job.encoding.suffix}")
    job.written.append(index_key)
    args = ["backup", "--source", SOURCE_MOUNT, "--partition", job.partition, "--attempt",
            job.attempt, "--index-key", index_key, "--pvc", f"{target.namespace}/{target.pvc}",
            "--chunk-mb", str(spec.backups.volume_agent.chunk_mb if spec.backups else 4),
            *location_args(where, target.name, store.endpoint_for(
                where.region or store.default_region, where.bucket), spec)]
    parent = newest_manifest(store, where, target.name)
    parent_index = next((o for o in (parent.objects if parent else ())
                         if o.details.get("role") == ROLE_INDEX), None)
    if parent_index is not None:
        args += ["--parent-key", parent_index.key, "--parent-sha256", parent_index.sha256]
    ensure_agent_secret(kube, target.namespace or "", store, spec, job.key, where.bucket)
    run = AgentRun(job_name("backup", target.name, job.partition, job.attempt),
                   target.namespace or "", target.pvc or "", SOURCE_MOUNT, True, args, describe,
                   pvc_uid=pvc["metadata"].get("uid", ""))
    result = run_agent(kube, spec, run, job.log)
    objects = _checked_objects(job, index_key, result, describe)
    details = {"method": "files", "pvc": f"{target.namespace}/{target.pvc}", "pv": pv,
               **{k: result.get(k) for k in ("files", "bytes", "read_bytes", "reused_files",
                                             "new_chunks", "uploaded_bytes", "chunks")}}
    return objects, details, {"volume-agent": "platform-ops"}


def _checked_objects(job: BackupJob, index_key: str, result: dict[str, Any],
                     describe: str) -> list[ManifestObject]:
    """The index (re-read: the agent's report must match the bucket) and its chunks (each in
    the bucket with the size the index records) as manifest objects."""
    where, store = job.where, job.store
    found = store.sha256_of(where.bucket, index_key, where.region)
    if found is None or found != (result.get("index_size"), result.get("index_sha256")):
        raise BackupError(f"{describe}: the index s3://{where.bucket}/{index_key} is not what "
                          "the agent reported writing")
    loc = Location(where.bucket, where.region, where.prefix, job.target.name)
    index = read_index(store, loc, index_key, Codec(job.encoding, job.key), found[1])
    if (index.partition, index.attempt) != (job.partition, job.attempt):
        raise BackupError(f"{describe}: the index names {index.partition}/{index.attempt}")
    listed = store.list_objects(where.bucket, chunks_prefix(where.prefix, job.target.name),
                                where.region)
    objects = [ManifestObject(
        key=index_key, size=found[0], sha256=found[1], source=f"volume agent {index.source}",
        content_type=job.encoding.content_type,
        details={"role": ROLE_INDEX, "files": len(index.files), "bytes": index.total_bytes,
                 **job.encoding.details()})]
    for cid, rec in sorted(index.chunks.items()):
        key = chunk_key(where.prefix, job.target.name, cid)
        if listed.get(key, (None,))[0] != rec.stored_size:
            raise BackupError(f"{describe}: chunk s3://{where.bucket}/{key} named by the index "
                              "is missing or has another size")
        objects.append(ManifestObject(key=key, size=rec.stored_size, sha256=rec.stored_sha256,
                                      source="volume chunk", details={"role": ROLE_CHUNK}))
    return objects


def volume_size(pvc: dict[str, Any]) -> str:
    """The storage a claim asked for (the scratch claim of a drill asks the same)."""
    return str(((pvc.get("spec") or {}).get("resources") or {}).get("requests", {})
               .get("storage") or "1Gi")


def scratch_claim(target: BackupTarget, partition: str, size: str,
                  storage_class: str | None) -> dict[str, Any]:
    """The drill's scratch PVC in the target's namespace."""
    digest = hashlib.sha256(f"{target.name}/{partition}".encode()).hexdigest()[:10]
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"platform-ops-drill-{target.name[:30].rstrip('-')}-{digest}",
                         "namespace": target.namespace,
                         "labels": {names.LABEL_DRILL: target.name,
                                    names.LABEL_MANAGED_BY: "platform-ops"}},
            "spec": spec}


def drill_files(spec: PlatformSpec, target: BackupTarget, manifest: Manifest, where: Where,
                store: BackupStore, kube: BackupCluster, record: BackupRecord | None,
                key: bytes | None, log: Callable[[str], Any] = lambda _: None) -> DrillResult:
    """Restore the newest night into a scratch PVC with the agent and compare every file's
    sha256 with the index; the scratch claim is deleted after. Nothing runs unless the
    manifest matches what the backup run recorded; the agent checks every chunk's stored
    sha256 (the index's, whose own sha256 is the record's) before it opens it."""
    from platform_assets.backups.drills import DrillResult, untrusted

    t0 = time.monotonic()
    problems = untrusted(manifest, where, record)
    index = next((o for o in manifest.objects if o.details.get("role") == ROLE_INDEX), None)
    if index is None:
        problems.append(f"{manifest.partition}: the manifest lists no volume index")
    figures: dict[str, int] = {"restored_files": 0, "restored_bytes": 0}
    if problems or index is None or record is None:
        return DrillResult(time.monotonic() - t0, problems, figures)
    source, _pv = _claim_for_drill(kube, target)
    claim = scratch_claim(target, manifest.partition, volume_size(source),
                          (source.get("spec") or {}).get("storageClassName"))
    ns, name = target.namespace or "", claim["metadata"]["name"]
    ensure_agent_secret(kube, ns, store, spec, key, where.bucket)
    args = ["restore", "--dest", RESTORE_MOUNT, "--index-key", index.key,
            "--index-sha256", record.objects[index.key][1],
            *location_args(where, target.name, store.endpoint_for(
                where.region or store.default_region, where.bucket), spec)]
    run = AgentRun(job_name("drill", target.name, manifest.partition, manifest.attempt),
                   ns, name, RESTORE_MOUNT, False, args,
                   f"restore drill of {target.name} ({manifest.partition})")
    try:
        # A crashed drill's Job and pods first: while a pod of it exists, pvc-protection
        # keeps its claim.
        _remove_job(kube, run, log)
        fresh_claim(kube, ns, name, str(spec.backups.volume_agent.timeout)
                    if spec.backups else "10m")
    except BackupError as exc:
        return DrillResult(time.monotonic() - t0, [str(exc)], figures)
    kube.apply(claim)
    try:
        try:
            result = run_agent(kube, spec, run, log)
        except BackupError as exc:
            return DrillResult(time.monotonic() - t0, [str(exc)], figures)
        figures = {"restored_files": int(result.get("files", 0)),
                   "restored_bytes": int(result.get("restored_bytes", 0))}
        return DrillResult(time.monotonic() - t0, [str(p) for p in result.get("problems") or []],
                           figures)
    finally:
        try:
            kube.delete("v1", "PersistentVolumeClaim", name, ns)
        except Exception as exc:  # noqa: BLE001 - reported, the drill's outcome stands
            log(f"scratch claim {ns}/{name} left behind: {cause(exc)}")


def fresh_claim(kube: BackupCluster, ns: str, name: str, timeout: str,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> None:
    """Make room for a new scratch claim ``ns/name``: one of that name left by an earlier drill
    (a crashed run's, or one whose delete pvc-protection still holds until the Job's pods are
    gone) is deleted if it is not already, and waited for within ``timeout`` (a duration), so
    the restore never lands in a claim that is going away or holds another night's files."""
    from platform_assets.backups.tools import wait_gone

    old = kube.get("v1", "PersistentVolumeClaim", name, ns)
    if old is None:
        return
    meta = old.get("metadata") or {}
    if not meta.get("deletionTimestamp"):
        kube.delete("v1", "PersistentVolumeClaim", name, ns)
    held = ", ".join(meta.get("finalizers") or []) or "no finalizer"
    wait_gone(lambda: kube.get("v1", "PersistentVolumeClaim", name, ns),
              f"scratch claim {ns}/{name} of an earlier drill (held by {held})",
              parse_duration(timeout).total_seconds(), timeout, sleep, clock, every=0.5)


def _claim_for_drill(kube: BackupCluster, target: BackupTarget) -> tuple[dict[str, Any], str]:
    from platform_assets.backups.sources import volume_claim

    try:
        return volume_claim(kube, target)
    except BackupError:
        # The source volume may be the one lost: the scratch claim then asks a default size.
        return {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}, ""
