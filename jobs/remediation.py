"""Remediation jobs the alert sensor launches: restart_rollout and expand_pvc.

Each environment of a fleet has its own jobs (``restart_rollout_staging``; ``names.scoped``)
whose ``kubernetes`` is the environment's own resource (``kubernetes_staging``, bound to the job),
so a remediation acts only in its environment's cluster. The ops are built once and shared by
every environment's jobs: each op built adds to the code location's load time. What an op does
when a run executes it is ``platform_assets/runs/remediation.py`` (imported by the run).

Re-reconciling an asset uses ``reconcile_platform`` with an asset selection, re-running a backup
uses ``snapshot_platform`` with a partition key, and renewing a certificate uses
``renew_certificate`` (``jobs/certificates.py``); the sensor targets all of them by name and
builds their run config with each module's ``run_config_for``.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from jobs.k8s_tags import k8s_tags
from platform_assets.core.graph import Graph
from platform_assets.names import (
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
    # How long the run waits for status.capacity to reach the new size (the CSI driver's
    # resizer, then the kubelet of a node where a pod mounting the claim runs).
    wait_timeout_seconds: float = 600.0


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
    from platform_assets.runs.remediation import restart_workload as restart

    return restart(context, config, kubernetes.open())


@dg.op(name=EXPAND_VOLUME_CLAIM_OP)
def expand_volume_claim(context: dg.OpExecutionContext, config: ExpandConfig,
                        kubernetes: KubernetesConfig) -> dict[str, Any]:
    """Grow a PersistentVolumeClaim's volume by ``expand_by`` and wait until it has grown."""
    from platform_assets.runs.remediation import expand_volume_claim as expand

    return expand(context, config, kubernetes.open())


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
        """Grow a PVC's volume and wait until its filesystem has grown (remediation)."""
        expand_volume_claim()

    return [restart_rollout, expand_pvc]
