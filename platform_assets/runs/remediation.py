"""What the remediation jobs' ops do when a run executes them: restart a workload's rollout
(``restart_rollout``) or grow a PersistentVolumeClaim (``expand_pvc``), each only on an object
that carries the labels of the alert rule's component. The jobs and ops are defined in
``jobs/remediation.py``; this module is imported by the run, not when the code location loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from jobs.remediation import ExpandConfig, WorkloadConfig
from platform_assets.core.remediation import (
    ClaimSize,
    Located,
    claim_mounters,
    claim_size,
    expansion_finished,
    expansion_refusal,
    expansion_stalled,
    plan_expansion,
)
from platform_assets.names import ANNOTATION_RESTARTED_AT

if TYPE_CHECKING:
    from resources.kubernetes import KubernetesResource

# How often the expansion's wait reads the claim.
POLL_SECONDS = 1.0


def _refuse_unowned(obj: dict[str, Any], owner_labels: list[dict[str, str]], what: str) -> None:
    """An alert chose this object: act only when it carries the labels of the rule's component
    (an alert naming another team's PVC or workload in the same namespace is refused)."""
    if not owner_labels:
        return
    labels = (obj.get("metadata") or {}).get("labels") or {}
    owner = Located("", "", "", tuple(tuple(sorted(s.items())) for s in owner_labels))
    if not owner.owned(labels):
        wanted = " or ".join(",".join(f"{k}={v}" for k, v in sorted(s.items()))
                             for s in owner_labels)
        raise dg.Failure(f"refusing {what}: it does not carry the labels of the rule's "
                         f"component ({wanted})")


def restart_workload(context: dg.OpExecutionContext, config: WorkloadConfig,
                     cluster: KubernetesResource) -> dict[str, Any]:
    """Restart a rollout the way ``kubectl rollout restart`` does (a pod-template annotation)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = f"{config.kind} {config.namespace}/{config.name}"
    if config.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        raise dg.Failure(f"cannot restart {where}: kind must be Deployment, StatefulSet or "
                         "DaemonSet")
    live = cluster.get("apps/v1", config.kind, config.name, config.namespace)
    if live is None:
        raise dg.Failure(f"cannot restart {where}: it does not exist")
    _refuse_unowned(live, config.owner_labels, f"to restart {where}")
    patch = {"spec": {"template": {"metadata": {"annotations": {ANNOTATION_RESTARTED_AT: now}}}}}
    cluster.patch_merge("apps/v1", config.kind, config.name, config.namespace, patch)
    context.log.info(f"restarted {where} at {now}")
    context.add_output_metadata({"workload": where, "restarted_at": now})
    return {"workload": where, "restarted_at": now}


def expand_volume_claim(context: dg.OpExecutionContext, config: ExpandConfig,
                        cluster: KubernetesResource,
                        sleep: Callable[[float], None] = time.sleep,
                        clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Grow a PersistentVolumeClaim's volume by ``expand_by`` from what it has
    (``status.capacity``), then wait until the resize has finished: ``status.capacity`` is the
    new size once the CSI driver's resizer and the kubelet have grown volume and filesystem."""
    where = f"PersistentVolumeClaim {config.namespace}/{config.name}"
    pvc = _expandable_claim(config, cluster, where)
    size = claim_size(pvc)
    plan = plan_expansion(size, config.expand_by) if isinstance(size, ClaimSize) else size
    if isinstance(plan, str):
        raise dg.Failure(f"cannot expand {where}: {plan}")
    if plan.grow:
        cluster.patch_merge("v1", "PersistentVolumeClaim", config.name, config.namespace,
                            {"spec": {"resources": {"requests": {"storage": plan.target}}}})
        context.log.info(f"asked {where} to grow from {plan.current} to {plan.target}")
    else:
        context.log.info(f"{where} is already growing from {plan.current} to {plan.target} "
                         "(an earlier run asked for it): waiting for that resize, not growing "
                         "it again")
    t0 = clock()
    _wait_for_capacity(config, cluster, where, plan.target, sleep, clock)
    out = {"pvc": where, "from": plan.current, "to": plan.target, "grown_by_this_run": plan.grow,
           "wait_seconds": round(clock() - t0, 1)}
    context.log.info(f"{where} has {plan.target} (status.capacity)")
    context.add_output_metadata(out)
    return out


def _expandable_claim(config: ExpandConfig, cluster: KubernetesResource,
                      where: str) -> dict[str, Any]:
    """The live claim, if it is the rule's component's and the API server would let it grow."""
    pvc = cluster.get("v1", "PersistentVolumeClaim", config.name, config.namespace)
    if pvc is None:
        raise dg.Failure(f"cannot expand {where}: it does not exist")
    _refuse_unowned(pvc, config.owner_labels, f"to expand {where}")
    cls = (pvc.get("spec") or {}).get("storageClassName")
    storage_class = cluster.get("storage.k8s.io/v1", "StorageClass", cls) if cls else None
    why = expansion_refusal(pvc, storage_class)
    if why is not None:
        phase = (pvc.get("status") or {}).get("phase") or "Pending"
        raise dg.Failure(f"cannot expand {where} (phase {phase}, StorageClass "
                         f"{cls or 'none'}): {why}")
    return pvc


def _wait_for_capacity(config: ExpandConfig, cluster: KubernetesResource, where: str,
                       target: str, sleep: Callable[[float], None],
                       clock: Callable[[], float]) -> None:
    """Poll the claim until its resize to ``target`` has finished; a Failure saying where it
    stands and what to do after ``wait_timeout_seconds``."""
    from platform_assets.backups.errors import cause
    from platform_assets.backups.tools import poll

    def fetch() -> dict[str, Any] | None:
        return cluster.get("v1", "PersistentVolumeClaim", config.name, config.namespace)

    def done(pvc: dict[str, Any] | None) -> bool:
        size = claim_size(pvc) if pvc is not None else None
        return isinstance(size, ClaimSize) and expansion_finished(size, target)

    def timed_out(pvc: dict[str, Any] | None) -> Exception:
        waited = f"{config.wait_timeout_seconds:g} s (wait_timeout_seconds)"
        size = claim_size(pvc) if pvc is not None else "it was deleted"
        if not isinstance(size, ClaimSize):
            return dg.Failure(f"{where} did not grow to {target} within {waited}: {size}")
        try:
            mounters: list[str] | None = claim_mounters(
                config.name, cluster.list("v1", "Pod", config.namespace))
            unread = ""
        except Exception as exc:  # noqa: BLE001 - the report goes on without the pods
            mounters, unread = None, f" (the namespace's pods could not be listed: {cause(exc)})"
        why = expansion_stalled(size, target, mounters)
        return dg.Failure(f"{where} did not grow to {target} within {waited}: {why}{unread}")

    poll(fetch, done, config.wait_timeout_seconds, timed_out, sleep, clock, every=POLL_SECONDS)
