"""Shared names: every job a sensor, schedule or remediation rule can launch is defined, run
config built by ``run_config_for`` is valid for its job, and run tags are spelled only in
``platform_assets/names.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg
import pytest

from jobs import certificates as certificate_jobs
from jobs import reconcile as reconcile_jobs
from jobs import remediation as remediation_jobs
from platform_assets import names
from platform_assets.definitions import build_definitions
from platform_assets.spec.loader import DEFAULT_SPEC

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("platform_assets", "jobs", "sensors", "schedules", "resources")


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions(DEFAULT_SPEC)


def test_every_job_a_sensor_or_rule_launches_is_defined(defs: dg.Definitions) -> None:
    launched = {*names.ACTION_JOBS.values(), *names.VERIFY_JOB_BY_GROUP.values(),
                names.RECONCILE_JOB}
    for job in sorted(launched):
        assert defs.resolve_job_def(job).name == job
    alert_sensor = defs.resolve_sensor_def(names.ALERT_SENSOR)
    assert launched <= {t.job_name for t in alert_sensor.targets}
    git_sensor = defs.resolve_sensor_def(names.GIT_SENSOR)
    assert {t.job_name for t in git_sensor.targets} == {names.RECONCILE_JOB}


def test_every_schedule_targets_a_defined_job(defs: dg.Definitions) -> None:
    for schedule in defs.schedules or []:
        assert isinstance(schedule, dg.ScheduleDefinition)
        assert defs.resolve_job_def(schedule.job_name).name == schedule.job_name


def test_every_action_launches_a_job() -> None:
    from typing import get_args

    from platform_assets.spec.models import Action

    # "escalate" launches nothing: it only posts an alert.
    assert set(names.ACTION_JOBS) == set(get_args(Action)) - {"escalate"}


@pytest.mark.parametrize(("job", "run_config"), [
    (names.RECONCILE_JOB, reconcile_jobs.run_config_for(dry_run=True)),
    (names.RENEW_CERTIFICATE_JOB, certificate_jobs.run_config_for("web", "tls")),
    (names.RESTART_ROLLOUT_JOB, remediation_jobs.run_config_for(
        remediation_jobs.WorkloadConfig(namespace="web", name="wordpress"))),
    (names.EXPAND_PVC_JOB, remediation_jobs.run_config_for(
        remediation_jobs.ExpandConfig(namespace="web", name="data", expand_by="10Gi"))),
])
def test_run_config_for_is_valid_for_its_job(defs: dg.Definitions, job: str,
                                             run_config: dict[str, object],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Validating a run's config resolves its resources' secrets too: give them placeholders.
    for var in _env_vars(defs):
        monkeypatch.setenv(var, "placeholder")
    dg.validate_run_config(defs.resolve_job_def(job), run_config)


def _env_vars(defs: dg.Definitions) -> set[str]:
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dg.EnvVar):
            found.add(value.env_var_name)
        elif isinstance(value, dg.ConfigurableResource):
            for field in value.__dict__.values():
                walk(field)

    for resource in (defs.resources or {}).values():
        walk(resource)
    return found


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_run_tags_and_labels_are_spelled_only_in_names() -> None:
    found = []
    for folder in PRODUCT_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "platform_assets" / "names.py":
                continue
            for line, value in _literals(path):
                # The spec's apiVersion is a schema name, not a tag.
                if value.startswith("platform-ops/") and value != "platform-ops/v1":
                    found.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    assert not found, "use the constant in platform_assets/names.py:\n" + "\n".join(found)


def test_each_sandbox_instance_has_its_own_demo_drill_account() -> None:
    one = names.demo_drill_user("/tmp/platform-sandbox-a")
    two = names.demo_drill_user("/tmp/platform-sandbox-b")
    assert one != two and one == names.demo_drill_user("/tmp/platform-sandbox-a")
    # MySQL allows 32 characters in a user name, MariaDB 80; no quoting needed.
    assert len(one) <= 32 and one.replace("-", "").isalnum()
