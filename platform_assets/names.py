"""Every name platform-ops shares between modules: jobs, ops, run tags, labels, pools, accounts.

A name that one module writes and another reads (a job a sensor launches, a tag an asset reads
back, a label a prune selects on) is spelled once, here. Pure: no imports beyond the standard
library, so the core, the resources and the Dagster layer can all use it.
"""

from __future__ import annotations

import hashlib

# Jobs (``jobs/``), ``<verb>_<target>``.
RECONCILE_JOB = "reconcile_platform"
DRIFT_JOB = "detect_drift"
SNAPSHOT_JOB = "snapshot_platform"
RPO_JOB = "check_backup_rpo"
AUDIT_CERTIFICATES_JOB = "audit_certificates"
RENEW_CERTIFICATE_JOB = "renew_certificate"
RESTART_ROLLOUT_JOB = "restart_rollout"
EXPAND_PVC_JOB = "expand_pvc"
# The job each remediation action of the spec's rules launches (``escalate`` launches none).
ACTION_JOBS = {
    "reconcile": RECONCILE_JOB,
    "restart_rollout": RESTART_ROLLOUT_JOB,
    "renew_certificate": RENEW_CERTIFICATE_JOB,
    "rerun_backup": SNAPSHOT_JOB,
    "expand_pvc": EXPAND_PVC_JOB,
}
# Where the checks that verify a remediated asset run, by the asset's group: the job that holds
# them (the alert sensor requests them after a remediation run succeeded).
VERIFY_JOB_BY_GROUP = {"infrastructure": RECONCILE_JOB, "platform": RECONCILE_JOB,
                       "applications": RECONCILE_JOB, "backups": SNAPSHOT_JOB,
                       "certificates": AUDIT_CERTIFICATES_JOB}

# Ops whose names appear in run config or in step keys.
RECONCILE_OP = "reconcile_platform_assets"
RENEW_CERTIFICATE_OP = "trigger_certificate_renewal"
RESTART_WORKLOAD_OP = "restart_workload"
EXPAND_VOLUME_CLAIM_OP = "expand_volume_claim"

# Schedules and sensors.
DRIFT_SCHEDULE = "drift_check"
SNAPSHOT_SCHEDULE = "nightly_snapshots"


def tier_schedule(tier: str) -> str:
    """The schedule that backs up the targets of one tier of ``backups.tiers``."""
    return f"snapshots_{tier.replace('-', '_')}"



RPO_SCHEDULE = "backup_rpo"
CERTIFICATE_SCHEDULE = "certificate_audit"
GIT_SENSOR = "git_changes"
ALERT_SENSOR = "alertmanager_alerts"
RUN_FAILURE_SENSOR = "run_failures"
CODE_LOCATION = "platform_ops"

# Run tags (``platform-ops/<what>``): set by sensors, schedules and jobs, read by assets.
TAG_COMMIT = "platform-ops/commit"
TAG_BASE_COMMIT = "platform-ops/base-commit"
TAG_TRIGGER = "platform-ops/trigger"
TAG_DRY_RUN = "platform-ops/dry-run"
TAG_FORCE = "platform-ops/force"
TAG_CLUSTER = "platform-ops/cluster"
TAG_KIND = "platform-ops/kind"
TAG_JOB = "platform-ops/job"
TAG_PARTITION = "platform-ops/partition"
TAG_TARGET = "platform-ops/target"
TAG_TIER = "platform-ops/tier"
TAG_CERTIFICATE = "platform-ops/certificate"
TAG_REMEDIATION = "platform-ops/remediation"
TAG_REMEDIATION_KEY = "platform-ops/remediation-key"
TAG_RULE = "platform-ops/rule"
TAG_ALERT = "platform-ops/alert"
TAG_VERIFIES = "platform-ops/verifies"
# The environment of a fleet a remediation run acts in (``spec.environments``).
TAG_ENVIRONMENT = "platform-ops/environment"
# Read by the K8sRunLauncher and k8s_job_executor (dagster-k8s), not by us.
TAG_K8S_CONFIG = "dagster-k8s/config"

# Kubernetes: the field manager of our server-side applies, and what marks our objects.
FIELD_MANAGER = "platform-ops"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "platform-ops/component"
ANNOTATION_APPLIED_HASH = "platform-ops/applied-hash"
# On an image pull Secret: the id of the registry token whose credentials it holds.
ANNOTATION_REGISTRY_TOKEN = "platform-ops/registry-token-id"
# Flux: its namespace, and the origin labels its controllers put on what they install.
FLUX_NAMESPACE = "flux-system"
LABEL_HELM_RELEASE_NAME = "helm.toolkit.fluxcd.io/name"
LABEL_HELM_RELEASE_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
LABEL_KUSTOMIZATION_NAME = "kustomize.toolkit.fluxcd.io/name"
LABEL_KUSTOMIZATION_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
# Set by ``kubectl rollout restart``; a change of it rolls the pods.
ANNOTATION_RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

# The least-privilege account runs and step pods use (``python -m platform_assets rbac``). Run
# and step Jobs live in a namespace of their own, apart from the Dagster namespace that holds the
# webservers, the proxies and their secrets.
RUN_NAMESPACE = "platform-ops-runs"
RUN_SERVICE_ACCOUNT = "platform-ops-runner"
RUN_ROLE = "platform-ops-runner"
DRILL_ROLE = "platform-ops-restore-drill"
# The Kubernetes Secret of each job's credentials (deploy/manifests/secrets.yaml, in the run
# namespace): a job's run and step pods get only its own (jobs/k8s_tags.py, jobs/executors.py).
# Jobs not listed (restart_rollout, expand_pvc, renew_certificate) act through the service
# account alone and get only SECRET_COMPUTE_LOGS: keys that can write step output to Dagster's
# compute-log bucket and nothing else (the jobs listed write it with their own S3 keys, or, for
# certificates, with those same log-writer keys). The code server gets SECRET_SENSORS.
SECRET_RECONCILE = "platform-ops-reconcile"
SECRET_BACKUP = "platform-ops-backup"
SECRET_CERTIFICATES = "platform-ops-certificates"
SECRET_SENSORS = "platform-ops-sensors"
SECRET_COMPUTE_LOGS = "dagster-compute-logs-writer"
JOB_SECRETS = {
    RECONCILE_JOB: SECRET_RECONCILE,
    DRIFT_JOB: SECRET_RECONCILE,
    SNAPSHOT_JOB: SECRET_BACKUP,
    RPO_JOB: SECRET_BACKUP,
    AUDIT_CERTIFICATES_JOB: SECRET_CERTIFICATES,
}
# Restore drills restore into a namespace per resources target, created (with its Role and
# RoleBinding) at deploy time by ``python -m platform_assets rbac``: runs create no namespaces.
# The volume agent's Job (file-level volume backups): the Secret it takes its S3 and backup
# keys from, in each volume's namespace, and the label on its Jobs.
SECRET_VOLUME_AGENT = "platform-ops-volume-agent"
LABEL_VOLUME_JOB = "platform-ops/volume-job"
DRILL_NAMESPACE_PREFIX = "drill-"
LABEL_DRILL = "platform-ops/restore-drill"
# The backup target and partition a VolumeSnapshot or a Velero Backup was made for.
LABEL_BACKUP_TARGET = "platform-ops.io/backup-target"
LABEL_BACKUP_PARTITION = "platform-ops.io/partition"


def drill_namespace(target: str) -> str:
    """The scratch namespace of a resources backup target's restore drill (a DNS label)."""
    name = f"{DRILL_NAMESPACE_PREFIX}{target}"
    if len(name) <= 63:
        return name
    return f"{DRILL_NAMESPACE_PREFIX}{hashlib.sha256(target.encode()).hexdigest()[:16]}"


def demo_drill_user(sandbox_dir: str) -> str:
    """The MariaDB account a demo's restore drills use, one per sandbox instance (its state
    directory), so demos and test runs sharing the local server never reset each other's
    password. 21 characters: within MariaDB's 80 and MySQL's 32."""
    return f"po-drill-{hashlib.sha256(sandbox_dir.encode()).hexdigest()[:12]}"

# The graph node kinds the reconcile engine materializes (the rest are backups, certificates).
RECONCILED_KINDS = ("datacenter", "lan", "cluster", "node_pool", "mariadb", "bucket", "component",
                    "postgres", "ip_block", "load_balancer", "dns_zone", "inmemorydb",
                    "nat_gateway", "target_group", "application_load_balancer", "registry")
# Their groups, which the reconcile and drift jobs select.
RECONCILE_GROUPS = ("infrastructure", "platform", "applications")


def cluster_pool(cluster: str, environment: str | None = None) -> str:
    """The concurrency pool of a cluster: one reconcile of it at a time (limit 1). Two
    environments never share a cluster (the loader refuses it), so each has its own pool."""
    return f"platform-ops-{cluster}" if environment is None else \
        f"platform-ops-{environment}-{cluster}"


# Environments (``spec.environments``): each has its own jobs, ops, schedules, sensors,
# resources and asset groups, named ``<name>_<environment>``; a spec without environments keeps
# the bare names. Resources every environment shares (Git, Alertmanager, TLS) keep theirs.
SHARED_RESOURCES = ("git", "alertmanager", "tls")
# The alert label that names a fleet's cluster by default: the external label every cluster's
# Prometheus adds (kubernetes-mixin's ``clusterLabel``), matched against the spec's cluster name.
ALERT_CLUSTER_LABEL = "cluster"
# The labels that name a fleet's environment on the alerts platform-ops posts itself.
ALERT_ENVIRONMENT_LABEL = "environment"


def scoped(name: str, environment: str | None) -> str:
    """The name of a job, op, schedule, sensor, resource or group in ``environment`` (a Dagster
    name: letters, digits and underscores)."""
    if environment is None or name in SHARED_RESOURCES:
        return name
    return f"{name}_{environment.replace('-', '_')}"


def environment_group(group: str, environment: str | None) -> str:
    """The asset group of a layer in ``environment``: ``<environment>_<layer>``, so the UI's
    groups read per environment."""
    return group if environment is None else f"{environment.replace('-', '_')}_{group}"
