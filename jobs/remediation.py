"""Remediation jobs the alert sensor launches: restart_rollout and expand_pvc.

Each environment of a fleet has its own jobs (``restart_rollout_staging``; ``names.scoped``)
whose ``kubernetes`` is the environment's own resource (``kubernetes_staging``, bound to the job),
so a remediation acts only in its environment's cluster. The ops are built once and shared by
every environment's jobs: each op built adds to the code location's load time.

Re-reconciling an asset uses ``reconcile_platform`` with an asset selection, re-running a backup
uses ``snapshot_platform`` with a partition key, and renewing a certificate uses
``renew_certificate`` (``jobs/certificates.py``); the sensor targets all of them by name and
builds their run config with each module's ``run_config_for``.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from jobs.k8s_tags import k8s_tags
from platform_assets.core.graph import Graph
from platform_assets.names import (
    ANNOTATION_RESTARTED_AT,
    EXPAND_PVC_JOB,
    EXPAND_VOLUME_CLAIM_OP,
    RESTART_ROLLOUT_JOB,
    RESTART_WORKLOAD_OP,
    TAG_KIND,
    scoped,
)
from resources.config import KubernetesConfig


class WorkloadConfig(dg.Config):
    namespace: str
    name: str
    kind: str = "Deployment"
    # Label sets one of which the live object must carry (core.remediation.ownership_labels);
    # empty when the spec itself names the object.
    owner_labels: list[dict[str, str]] = []


class ExpandConfig(dg.Config):
    namespace: str
    name: str
    expand_by: str
    owner_labels: list[dict[str, str]] = []


def _refuse_unowned(obj: dict[str, Any], owner_labels: list[dict[str, str]], what: str) -> None:
    """An alert chose this object: act only when it carries the labels of the rule's component
    (an alert naming another team's PVC or workload in the same namespace is refused)."""
    from platform_assets.core.remediation import Located

    if not owner_labels:
        return
    labels = (obj.get("metadata") or {}).get("labels") or {}
    owner = Located("", "", "", tuple(tuple(sorted(s.items())) for s in owner_labels))
    if not owner.owned(labels):
        wanted = " or ".join(",".join(f"{k}={v}" for k, v in sorted(s.items()))
                             for s in owner_labels)
        raise dg.Failure(f"refusing {what}: it does not carry the labels of the rule's "
                         f"component ({wanted})")


# The op each remediation config configures (one op per job).
_OP_OF_CONFIG: dict[type[dg.Config], str] = {WorkloadConfig: RESTART_WORKLOAD_OP,
                                              ExpandConfig: EXPAND_VOLUME_CLAIM_OP}


def run_config_for(config: WorkloadConfig | ExpandConfig) -> dict[str, Any]:
    """Run config for ``restart_rollout`` (a WorkloadConfig) or ``expand_pvc`` (an ExpandConfig),
    in any environment."""
    return {"ops": {_OP_OF_CONFIG[type(config)]: {"config": config.model_dump()}}}


@dg.op(name=RESTART_WORKLOAD_OP)
def restart_workload(context: dg.OpExecutionContext, config: WorkloadConfig,
                     kubernetes: KubernetesConfig) -> dict[str, Any]:
    """Restart a rollout the way ``kubectl rollout restart`` does (a pod-template annotation)."""
    cluster = kubernetes.open()
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


@dg.op(name=EXPAND_VOLUME_CLAIM_OP)
def expand_volume_claim(context: dg.OpExecutionContext, config: ExpandConfig,
                        kubernetes: KubernetesConfig) -> dict[str, Any]:
    """Grow a PersistentVolumeClaim's storage request by ``expand_by``."""
    cluster = kubernetes.open()
    where = f"PersistentVolumeClaim {config.namespace}/{config.name}"
    pvc = cluster.get("v1", "PersistentVolumeClaim", config.name, config.namespace)
    if pvc is None:
        raise dg.Failure(f"cannot expand {where}: it does not exist")
    _refuse_unowned(pvc, config.owner_labels, f"to expand {where}")
    current = (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
        "storage")
    if not current:
        raise dg.Failure(f"cannot expand {where}: it has no spec.resources.requests.storage")
    from platform_assets.core.remediation import expand_quantity, expansion_refusal

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


def build(graph: Graph, resources: Mapping[str, Any] | None = None) -> list[Any]:
    """``restart_rollout`` and ``expand_pvc`` of ``graph``'s environment. In a fleet each job
    binds, as its ``kubernetes``, the environment's own resource from ``resources`` (the
    Definitions' resources, by scoped key); without environments the Definitions' ``kubernetes``
    serves."""
    env = graph.environment
    own = {} if env is None or resources is None else {
        "kubernetes": resources[scoped("kubernetes", env)]}

    @dg.job(name=scoped(RESTART_ROLLOUT_JOB, env), resource_defs=own,
            tags={TAG_KIND: "remediation", **k8s_tags(RESTART_ROLLOUT_JOB)})
    def restart_rollout() -> None:
        """Restart a Deployment, StatefulSet or DaemonSet rollout (remediation)."""
        restart_workload()

    @dg.job(name=scoped(EXPAND_PVC_JOB, env), resource_defs=own,
            tags={TAG_KIND: "remediation", **k8s_tags(EXPAND_PVC_JOB)})
    def expand_pvc() -> None:
        """Grow a PVC's storage request (remediation)."""
        expand_volume_claim()

    return [restart_rollout, expand_pvc]
