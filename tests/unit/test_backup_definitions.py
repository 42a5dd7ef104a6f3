"""The backup assets, checks, job and schedules built from the spec (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from jobs.backups import build as build_jobs
from platform_assets.backup_assets import build_backup_assets
from platform_assets.core.graph import build_graph
from platform_assets.spec import load_spec
from schedules.backups import build as build_schedules
from schedules.backups import partition_for_tick

SPEC = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


def graph():  # type: ignore[no-untyped-def]
    return build_graph(load_spec(SPEC))


def test_one_partitioned_asset_per_target_and_copy_with_checks() -> None:
    g = graph()
    assets, checks = build_backup_assets(g)
    spec = g.spec
    assert spec.backups is not None
    names = {t.name for t in spec.backups.targets}
    keys = {a.key.to_user_string() for a in assets}
    assert keys == {f"backups/{n}" for n in names} | {f"backups/cross_region/{n}" for n in names}
    for a in assets:
        parts = a.partitions_def
        assert isinstance(parts, dg.DailyPartitionsDefinition)
        assert parts.timezone == "UTC" and parts.start.strftime("%Y-%m-%d") == \
            spec.backups.start_date
        assert a.group_names_by_key[a.key] == "backups"
    check_names = {(k.asset_key.to_user_string(), k.name) for c in checks for k in c.check_keys}
    for n in names:
        assert (f"backups/{n}", "rpo") in check_names
        assert (f"backups/{n}", "retention_compliance") in check_names
        assert (f"backups/cross_region/{n}", "manifest_checksums") in check_names
    kinds = {t.name: t.kind for t in spec.backups.targets}
    for n, kind in kinds.items():
        drill = (f"backups/{n}", "restore_drill") in check_names
        assert drill is (kind in ("database", "resources"))


def test_nightly_schedule_requests_the_day_that_ended() -> None:
    from platform_assets.definitions import build_definitions

    g = graph()
    jobs = build_jobs(g)
    assert [j.name for j in jobs] == ["snapshot_platform", "check_backup_rpo"]
    schedules = {s.name: s for s in build_schedules(g)}
    repo = build_definitions(SPEC).get_repository_def()
    nightly = schedules["nightly_snapshots"]
    assert nightly.cron_schedule == "0 2 * * *"
    assert nightly.execution_timezone == "UTC"
    assert nightly.job_name == "snapshot_platform"
    tick = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    request = nightly.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == "2026-11-21"
    assert request.run_key == "snapshot-2026-11-21"
    early = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 1, 2, tzinfo=UTC), repository_def=repo)
    result = nightly.evaluate_tick(early)
    assert not result.run_requests and "start on 2026-11-01" in (result.skip_message or "")
    assert schedules["backup_rpo"].execution_timezone == "UTC"


def test_partition_for_tick_across_timezones() -> None:
    assert partition_for_tick("2026-11-01", datetime(2026, 12, 1, 2, tzinfo=UTC)) == "2026-11-30"
    assert partition_for_tick("2026-11-01", datetime(2026, 11, 1, 2, tzinfo=UTC)) is None


def test_definitions_resolve_backup_job() -> None:
    from platform_assets.definitions import build_definitions

    defs = build_definitions(SPEC)
    job = defs.resolve_job_def("snapshot_platform")
    assert job.partitions_def is not None
    assert defs.resolve_job_def("check_backup_rpo") is not None


class _S3Down:
    """An object store whose every read fails, as an unreachable endpoint does."""

    def list_keys(self, *_a: object, **_k: object) -> list[str]:
        raise ConnectionError("S3 endpoint unreachable")

    get_bytes = list_keys


def test_checks_that_cannot_read_the_backups_fail_with_the_cause() -> None:
    _, checks = build_backup_assets(graph())
    ran = 0
    for check in checks:
        (key,) = check.check_keys
        if key.asset_key.path[:2] != ["backups", "cross_region"]:
            continue  # the copy's checks need only object_storage
        ctx = dg.build_asset_check_context(resources={"object_storage": _S3Down()})
        result = check(ctx)
        assert result.passed is False, key
        assert "S3 endpoint unreachable" in result.metadata["problems"].value, key
        ran += 1
    assert ran >= 3
