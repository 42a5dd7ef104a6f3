"""The code location loads, and every job, schedule and sensor other issues rely on resolves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.spec.loader import DEFAULT_SPEC

ROOT = Path(__file__).resolve().parents[2]
JOBS = ["reconcile_platform", "snapshot_platform", "audit_certificates", "detect_drift"]
SCHEDULES = ["nightly_snapshots", "certificate_audit", "drift_check"]
SENSORS = ["git_changes", "alertmanager_alerts", "run_failures", "failed_checks"]
# What only runs import: the code location's load time (issue 12) must not pay for them.
RUNTIME_ONLY = [
    "platform_assets.core.alert_routing",  # routing alerts: a sensor tick
    "platform_assets.core.backup_manifest",  # reading and writing manifests: backup runs
    "platform_assets.core.calendar",  # freezes and maintenance windows: a sensor tick
    "platform_assets.core.certs",  # judging certificates: the audit, renewals and probes
    "platform_assets.core.check_alerts",  # alerting on failed checks: a sensor tick
    "platform_assets.core.gitchanges",  # what a commit changed: a sensor tick
    "platform_assets.core.diff",  # diffing objects: the reconcile engine
    "platform_assets.core.manifest_policy",  # judging manifests: the Git sensor and validate
    "platform_assets.core.manifests",  # parsing manifests: a reconcile (load digests bytes)
    "platform_assets.core.ports",  # the Protocols engines type resources as
    "platform_assets.core.remediation",  # deciding remediations: a sensor tick
    "platform_assets.core.retention",  # restore points and RPO: backup checks
    "platform_assets.spec.environments",  # resolving environments: a fleet's spec only
    # A resource's methods: the run or tick that opens it (the Definitions bind its config).
    "resources.alertmanager", "resources.database", "resources.git", "resources.ionos",
    "resources.ionos_dbaas", "resources.ionos_gateways", "resources.ionos_registry",
    "resources.kubernetes", "resources.object_storage", "resources.postgres_dump",
    "resources.tls",
    "resources.credentials",  # reading IONOS credentials: the first IONOS client of a run
    "resources.dump_tools",  # the dump and restore tools' processes: backup runs and drills
    "resources.kubeconfig",  # where Kubernetes credentials come from: the first API client
    "resources.retry",  # retrying API calls: the first call of a run or tick
    "resources.tls_probe",  # TLS handshakes: the certificate audit
]
RUNTIME_PACKAGES = ["platform_assets.backups", "platform_assets.engine", "kubernetes", "boto3",
                    "botocore", "ionoscloud", "psycopg2", "pymysql",
                    "sensors.ticks",  # what a sensor's tick runs: the tick imports it
                    "platform_assets.runs"]  # what an asset, check or op runs: the run does


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions(DEFAULT_SPEC)


def test_every_named_job_schedule_and_sensor_resolves(defs: dg.Definitions) -> None:
    for name in JOBS:
        assert defs.resolve_job_def(name).name == name
    for name in SCHEDULES:
        assert defs.resolve_schedule_def(name).name == name
    for name in SENSORS:
        assert defs.resolve_sensor_def(name).name == name


def test_schedules_state_cron_and_timezone(defs: dg.Definitions) -> None:
    nightly = defs.resolve_schedule_def("nightly_snapshots")
    assert (nightly.cron_schedule, nightly.execution_timezone) == ("0 2 * * *", "UTC")
    assert defs.resolve_schedule_def("certificate_audit").cron_schedule == "0 */6 * * *"
    assert defs.resolve_schedule_def("drift_check").execution_timezone == "UTC"


def test_assets_carry_groups_kinds_owners_descriptions_and_code_versions(
    defs: dg.Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"infrastructure", "platform", "applications", "backups", "certificates"} <= groups
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no description"
        assert node.code_version, f"{key} has no code_version"
        assert node.kinds, f"{key} has no kinds"
    app = graph.get(dg.AssetKey(["applications", "wordpress"]))
    assert "team:web" in app.owners
    assert dg.AssetKey(["platform", "cert-manager-issuers"]) in app.parent_keys


def test_other_spec_builds_its_own_definitions() -> None:
    other = build_definitions(ROOT / "tests" / "fixtures" / "other" / "platform.yaml")
    keys = {k.to_user_string() for k in other.resolve_asset_graph().get_all_asset_keys()}
    assert "applications/shop" in keys and "applications/shop-worker" in keys
    assert not any("wordpress" in k for k in keys)


def test_loading_the_code_location_imports_no_runtime_only_module() -> None:
    code = "import sys, platform_assets.definitions; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PLATFORM_SPEC": str(DEFAULT_SPEC)}, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    assert "platform_assets.spec.models" in loaded  # it did load the code location
    assert sorted(loaded & set(RUNTIME_ONLY)) == []
    assert sorted(m for m in loaded if m in RUNTIME_PACKAGES
                  or m.startswith(tuple(p + "." for p in RUNTIME_PACKAGES))) == []


def test_dagster_definitions_validate_passes() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
         "workspace.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in out.stdout + out.stderr
