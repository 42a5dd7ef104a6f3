"""Kubernetes resources per job, as the ``dagster-k8s/config`` tag the K8sRunLauncher reads.

The run worker of each job gets requests and limits sized for what it does: reconcile and drift
only wait on APIs; the nightly backup streams ``mariadb-dump`` output through gzip into S3 and
gets more CPU and memory and a deadline of its RTO. The step pods of jobs that run on
``k8s_job_executor`` are sized in ``jobs/executors.py``.

Each job's run worker also gets its credentials, and only its own: the Secret
``names.JOB_SECRETS`` names for it, as ``envFrom`` (the run launcher itself passes none).
"""

from __future__ import annotations

import json
from typing import Any

from platform_assets.names import (
    AUDIT_CERTIFICATES_JOB,
    DRIFT_JOB,
    JOB_SECRETS,
    RECONCILE_JOB,
    RPO_JOB,
    SECRET_COMPUTE_LOGS,
    SNAPSHOT_JOB,
    TAG_K8S_CONFIG,
)


def secret_env(job_name: str) -> dict[str, Any]:
    """The ``container_config`` part that hands a job's pods its own Secret."""
    secret = JOB_SECRETS.get(job_name, SECRET_COMPUTE_LOGS)
    return {"env_from": [{"secret_ref": {"name": secret}}]}


def _config(job_name: str, cpu: str, memory: str, memory_limit: str, deadline_seconds: int,
            cpu_limit: str | None = None) -> dict[str, Any]:
    limits = {"memory": memory_limit, **({"cpu": cpu_limit} if cpu_limit else {})}
    return {
        "container_config": {
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
            **secret_env(job_name),
        },
        "pod_spec_config": {
            "security_context": {"run_as_non_root": True, "run_as_user": 10001,
                                 "fs_group": 10001,
                                 "seccomp_profile": {"type": "RuntimeDefault"}},
        },
        "job_spec_config": {"active_deadline_seconds": deadline_seconds,
                            "ttl_seconds_after_finished": 86400, "backoff_limit": 0},
    }


# Keyed by job name; the value is the job's tags.
K8S_JOB_TAGS: dict[str, dict[str, Any]] = {
    RECONCILE_JOB: {TAG_K8S_CONFIG: _config(RECONCILE_JOB, "250m", "512Mi", "1Gi", 4 * 3600)},
    SNAPSHOT_JOB: {TAG_K8S_CONFIG: _config(SNAPSHOT_JOB, "500m", "1Gi", "2Gi", 4 * 3600, "2")},
    AUDIT_CERTIFICATES_JOB: {TAG_K8S_CONFIG: _config(AUDIT_CERTIFICATES_JOB, "100m", "256Mi",
                                                     "512Mi", 3600)},
    DRIFT_JOB: {TAG_K8S_CONFIG: _config(DRIFT_JOB, "100m", "256Mi", "512Mi", 3600)},
    RPO_JOB: {TAG_K8S_CONFIG: _config(RPO_JOB, "100m", "256Mi", "512Mi", 3600)},
}


def k8s_tags(job_name: str) -> dict[str, str]:
    """The job's tags with the config JSON-encoded (tag values are strings on the wire); a job
    without a size gets only its Secret."""
    tags = K8S_JOB_TAGS.get(job_name, {TAG_K8S_CONFIG: {"container_config": secret_env(job_name)}})
    return {k: json.dumps(v, sort_keys=True) for k, v in tags.items()}
