"""What the remediation jobs' ops do when a run executes them: restart a workload's rollout
(``restart_rollout``) or grow a PersistentVolumeClaim (``expand_pvc``), each only on an object
that carries the labels of the alert rule's component. The jobs and ops are defined in
``jobs/remediation.py``; this module is imported by the run, not when the code location loads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from jobs.remediation import ExpandConfig, WorkloadConfig
from platform_assets.core.remediation import Located, expand_quantity, expansion_refusal
from platform_assets.names import ANNOTATION_RESTARTED_AT

if TYPE_CHECKING:
    from resources.kubernetes import KubernetesResource


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
                        cluster: KubernetesResource) -> dict[str, Any]:
    """Grow a PersistentVolumeClaim's storage request by ``expand_by``."""
    where = f"PersistentVolumeClaim {config.namespace}/{config.name}"
    pvc = cluster.get("v1", "PersistentVolumeClaim", config.name, config.namespace)
    if pvc is None:
        raise dg.Failure(f"cannot expand {where}: it does not exist")
    _refuse_unowned(pvc, config.owner_labels, f"to expand {where}")
    current = (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
        "storage")
    if not current:
        raise dg.Failure(f"cannot expand {where}: it has no spec.resources.requests.storage")
    cls = (pvc.get("spec") or {}).get("storageClassName")
    storage_class = cluster.get("storage.k8s.io/v1", "StorageClass", cls) if cls else None
    why = expansion_refusal(pvc, storage_class)
    if why is not None:
        phase = (pvc.get("status") or {}).get("phase") or "Pending"
        raise dg.Failure(f"cannot expand {where} (phase {phase}, StorageClass "
                         f"{cls or 'none'}): {why}")
    new = expand_quantity(str(current), config.expand_by)
    cluster.patch_merge("v1", "PersistentVolumeClaim", config.name, config.namespace,
                           {"spec": {"resources": {"requests": {"storage": new}}}})
    context.log.info(f"expanded {where} from {current} to {new}")
    context.add_output_metadata({"pvc": where, "from": str(current), "to": new})
    return {"pvc": where, "from": str(current), "to": new}
