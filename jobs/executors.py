"""Which executor a job runs its steps with: one Kubernetes Job per step on a cluster.

With ``PLATFORM_EXECUTOR=k8s`` (set in the Helm values) the steps of ``reconcile_platform`` and
``snapshot_platform`` run in pods of their own through ``k8s_job_executor``, sized below.
``snapshot_platform`` has one step per backup target and per cross-region copy (and their
checks), so one slow or memory-hungry dump does not hold the others. ``reconcile_platform`` has
two: the reconcile op, which holds the cluster's pool and reconciles the selected assets in
dependency order (independent ones in parallel threads, ``platform_assets/reconcile_assets.py``),
and the drift checks after it. Elsewhere (``dagster dev``, tests, the sandbox) ``executor_for``
returns None and the job keeps Dagster's default in-process/multiprocess executor.
"""

from __future__ import annotations

import os
from typing import Any

from jobs.k8s_tags import secret_env
from platform_assets.names import RECONCILE_JOB, RUN_SERVICE_ACCOUNT, SNAPSHOT_JOB

EXECUTOR_ENV = "PLATFORM_EXECUTOR"
K8S_STEP_JOBS = (RECONCILE_JOB, SNAPSHOT_JOB)

# Per-step pod sizes; the run worker's own size is in jobs/k8s_tags.py.
STEP_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    RECONCILE_JOB: {"requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"memory": "512Mi"}},
    SNAPSHOT_JOB: {"requests": {"cpu": "500m", "memory": "512Mi"},
                   "limits": {"cpu": "2", "memory": "1Gi"}},
}
MAX_CONCURRENT_STEPS = 4


def step_config(job_name: str) -> dict[str, Any]:
    """The ``k8s_job_executor`` config of a job (what ``executor_for`` applies)."""
    return {
        "max_concurrent": MAX_CONCURRENT_STEPS,
        "service_account_name": RUN_SERVICE_ACCOUNT,
        # Step pods do not inherit the job's dagster-k8s/config tag (dagster_k8s executor:
        # include_run_tags=False), so they get the job's Secret here too.
        "step_k8s_config": {
            "container_config": {"resources": STEP_RESOURCES[job_name], **secret_env(job_name)},
            "pod_spec_config": {"security_context": {"run_as_non_root": True,
                                                     "run_as_user": 10001}},
            "job_spec_config": {"ttl_seconds_after_finished": 3600, "backoff_limit": 0},
        },
    }


def executor_for(job_name: str) -> Any:
    """``k8s_job_executor`` configured for ``job_name`` when ``$PLATFORM_EXECUTOR`` is ``k8s``
    and the job runs its steps as Kubernetes Jobs; otherwise None (the default executor).

    The environment is read when the job is built (when the code location loads), not at import.
    """
    mode = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if mode not in ("", "in_process", "multiprocess", "k8s"):
        raise ValueError(f"${EXECUTOR_ENV}={mode!r} is not an executor: expected 'k8s' or unset")
    if mode != "k8s" or job_name not in K8S_STEP_JOBS:
        return None
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(step_config(job_name), name=f"k8s_{job_name}_executor")
