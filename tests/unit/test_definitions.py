"""The code location loads, and every job, schedule and sensor other issues rely on resolves."""

from __future__ import annotations

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


def test_dagster_definitions_validate_passes() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
         "workspace.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in out.stdout + out.stderr
